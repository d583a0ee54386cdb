"""Which client company's calls and recordings a user of the example CRM deals with.

The hook of docs/deployment.md ("Several PBXs"), as a project writes it: ``NOOJEE["USER_PBXES"]``
names it when the example runs with a second PBX (``make demo``). The demo's ``acme-manager``, who has
no phone, is in the group ``pbx:acme``; the intern, in ``pbx:default``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from noojee_django.connections import default_user_pbxes


def user_pbxes(user: Any) -> Collection[str] | None:
    """Groups named "pbx:<connection>" give theirs; else the phone's (a superuser: every one)."""
    groups = [g.name.removeprefix("pbx:") for g in user.groups.all() if g.name.startswith("pbx:")]
    return groups or default_user_pbxes(user)
