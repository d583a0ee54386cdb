"""Errors the services raise, for entry points to turn into answers.

Bad input is a :class:`django.core.exceptions.ValidationError`; a refused user is a
:class:`NoojeePermissionDenied` (a Django ``PermissionDenied``); the rest derive from
:class:`NoojeeServiceError`, whose ``status_code`` is the HTTP status a view should answer with.
Client errors from the PBX are wrapped in :class:`PbxError` with the original as ``__cause__``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from .client.errors import NoojeeError


class NoojeeServiceError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoojeePermissionDenied(PermissionDenied):
    """The user may not do this (dial, record, hear) for this object."""


class NoAgentPhone(NoojeeServiceError):
    """The user has no active :class:`~noojee_django.models.AgentPhone` to dial or record from."""

    status_code = 409


class InvalidState(NoojeeServiceError):
    """The object is not in a state that allows this (stop a tag that is not recording, ...)."""

    status_code = 409


class PbxError(NoojeeServiceError):
    """The PBX refused the request or could not be reached. ``str()`` says which, in words."""

    status_code = 502

    def __init__(self, message: str, *, cause: NoojeeError) -> None:
        super().__init__(message)
        self.cause = cause
        self.kind = cause.kind
