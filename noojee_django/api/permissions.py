"""DRF permission classes for the few API actions that need a Django model permission of their own.

Everything else is decided by the services (dial, record, hear hooks), which raise
``NoojeePermissionDenied``; the viewsets turn that into a 403.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class MayChangeRecordings(BasePermission):
    """Operators who may change recording tags may ask the PBX again for a tag's legs (``poll``)."""

    message = _(
        "You may not ask the PBX again for recordings: that needs the 'change recording tag' permission."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("noojee_django.change_recordingtag"))


class MayExportEvidence(BasePermission):
    """Who may export signed evidence bundles; asked before the recording is looked up."""

    message = _("You may not export evidence bundles: that needs the 'export evidence' permission.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("noojee_django.export_evidence"))
