"""What every page of the example CRM shows about the demo's emulated PBXs, when it runs on them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from noojee_django import connections

from . import demo_pbx


def demo(request: HttpRequest) -> dict[str, Any]:
    if not getattr(settings, "DEMO_PBX", False):
        return {}
    user = getattr(request, "user", None)
    return {
        "demo_pbx": {
            "hangup_after": demo_pbx.hangup_after(),
            "pbxes": demo_pbx.of_user(user) if user is not None and user.is_authenticated else None,
            "several": len(connections.names()) > 1,
            "per_pbx": getattr(settings, "CRM_CUSTOMERS_PER_PBX", False),
        }
    }
