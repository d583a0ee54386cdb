"""The demo's emulated PBXs: how long the emulated customer stays on the line after answering, and
which PBX (which client company) each user is on.

The emulator's ``far_end_hangup_after``: with it, a recorded call ends by itself and its voice
signature is attached without anybody pressing Hang up. The demo starts its emulators with
``DEMO_HANGUP_AFTER`` seconds; any page can change it (``crm:demo-pbx``), on every emulator of the
demo at once. The value last set is kept in the cache, so pages show it without asking the emulators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from noojee_django import connections
from noojee_django.emulator import ControlClient
from noojee_django.models import AgentPhone

CACHE_KEY = "example_crm:demo-hangup-after"


def hangup_after() -> int:
    """Seconds after answering the emulated customer hangs up; 0: never."""
    value = cache.get(CACHE_KEY)
    return int(value if value is not None else getattr(settings, "DEMO_HANGUP_AFTER", 0))


def set_hangup_after(seconds: int) -> None:
    for name in connections.names():
        ControlClient(connections.get(name).BASE_URL, timeout=5).config(far_end_hangup_after=seconds or None)
    cache.set(CACHE_KEY, seconds, timeout=None)


@dataclass(frozen=True)
class UserPbxes:
    """The PBXs of the demo, and the ones a user deals with."""

    #: every connection of the demo, "default" first
    all: list[str]
    #: the connections the user may deal with (``USER_PBXES``), in the same order
    theirs: list[str]
    #: the user's active phone, if they have one
    phone: AgentPhone | None

    @property
    def several(self) -> bool:
        return len(self.all) > 1

    @property
    def every_one(self) -> bool:
        return self.theirs == self.all


def of_user(user: Any) -> UserPbxes:
    every = connections.names()
    allowed = connections.of_user(user)
    phone = None
    if getattr(user, "pk", None):
        phone = AgentPhone.objects.filter(user_id=user.pk, is_active=True).first()
    return UserPbxes(
        all=every,
        theirs=every if allowed is None else [name for name in every if name in allowed],
        phone=phone,
    )
