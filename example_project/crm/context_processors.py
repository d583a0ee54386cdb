"""What every page of the example CRM shows about the demo's emulated PBX, when it runs on one."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from . import demo_pbx


def demo(request: HttpRequest) -> dict[str, Any]:
    if not getattr(settings, "DEMO_PBX", False):
        return {}
    return {"demo_pbx": {"hangup_after": demo_pbx.hangup_after()}}
