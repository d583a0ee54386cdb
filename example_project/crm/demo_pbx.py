"""The demo's emulated customer: how long they stay on the line after answering.

The emulator's ``far_end_hangup_after``: with it, a recorded call ends by itself and its voice
signature is attached without anybody pressing Hang up. The demo starts the emulator with
``DEMO_HANGUP_AFTER`` seconds; any page can change it (``crm:demo-pbx``). The value last set is kept in
the cache, so pages show it without asking the emulator.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from noojee_django.conf import noojee_settings
from noojee_django.emulator import ControlClient

CACHE_KEY = "example_crm:demo-hangup-after"


def hangup_after() -> int:
    """Seconds after answering the emulated customer hangs up; 0: never."""
    value = cache.get(CACHE_KEY)
    return int(value if value is not None else getattr(settings, "DEMO_HANGUP_AFTER", 0))


def set_hangup_after(seconds: int) -> None:
    ControlClient(noojee_settings.BASE_URL, timeout=5).config(far_end_hangup_after=seconds or None)
    cache.set(CACHE_KEY, seconds, timeout=None)
