"""Errors the services raise, and the one place that says which HTTP status each one is.

Bad input is a :class:`django.core.exceptions.ValidationError`; a refused user is a
:class:`NoojeePermissionDenied` (a Django ``PermissionDenied``); the rest derive from
:class:`NoojeeServiceError`, whose ``status_code`` is the HTTP status an entry point answers with.
Client errors from the PBX are wrapped in :class:`PbxError` with the original as ``cause``.
:func:`http_status_for` and :func:`message_for` are what views, the REST API and the admin ask, so a
new error class needs no change in any entry point.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from .client.errors import NoojeeError


class NoojeeServiceError(Exception):
    status_code = 400

    def __init__(self, message: str | Promise) -> None:
        # A lazy message is read now, in the language of the request that met the error.
        message = str(message)
        super().__init__(message)
        self.message = message


class NoojeePermissionDenied(PermissionDenied):
    """The user may not do this (dial, record, hear) for this object."""


class NotFound(NoojeeServiceError):
    """No such record, or none the user may see: both answer alike, so ids tell nobody anything."""

    status_code = 404


class NoAgentPhone(NoojeeServiceError):
    """The user has no active :class:`~noojee_django.models.AgentPhone` to dial or record from."""

    status_code = 409


class InvalidAgentPhone(NoAgentPhone):
    """The user's phone row holds text the PBX would read as commands (written around its form)."""


class InvalidState(NoojeeServiceError):
    """The object is not in a state that allows this (stop a tag that is not recording, ...)."""

    status_code = 409


class TransitionRefused(InvalidState):
    """The recording lifecycle does not allow this status change from the row's current status."""


class ConsentRequired(NoojeeServiceError):
    """``REQUIRE_CONSENT`` is on and the agent did not confirm the customer was told the call is
    recorded: nothing is started, nothing is sent to the PBX."""


class ScriptChanged(NoojeeServiceError):
    """The script text a start names is not the text its version renders to now (the script got a new
    version, or the record's fields changed since the page was rendered): nothing is started."""


class PauseRefused(InvalidState):
    """Pause of a recording that is not recording, or resume of one that is not paused: bad input
    (HTTP 400), with what the recording is doing instead."""

    status_code = 400


class EvidenceUnavailable(InvalidState):
    """No evidence bundle can be made of this recording: it has no attached audio, or its stored audio
    is not what the ledger recorded (missing, or of another size). Nothing is exported."""


class EvidenceAltered(EvidenceUnavailable):
    """A stored object's bytes are not the ones the ledger recorded, found while the bundle streams:
    the answer has begun, so the bundle ends there, before any manifest is written or signed."""


class EvidenceSigningUnavailable(NoojeeServiceError):
    """Evidence bundles cannot be signed here: no signing key is configured, or it cannot be read."""

    status_code = 503


class RateLimited(NoojeeServiceError):
    """Too many requests of one kind by one user (dialling): wait, then try again."""

    status_code = 429


class PbxError(NoojeeServiceError):
    """The PBX refused the request or could not be reached. ``str()`` says which, in words."""

    status_code = 502

    def __init__(self, message: str | Promise, *, cause: NoojeeError) -> None:
        super().__init__(message)
        self.cause = cause
        self.kind = cause.kind


def http_status_for(exc: BaseException) -> int | None:
    """The HTTP status an entry point answers ``exc`` with, or ``None`` for an error that is a bug."""
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, ObjectDoesNotExist):
        return 404
    if isinstance(exc, NoojeeServiceError):
        return exc.status_code
    return None


def message_for(exc: BaseException) -> str:
    """What an entry point tells the user about ``exc``, in words."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            errors = next(iter(exc.error_dict.values()))
            return " ".join(errors[0].messages)
        return " ".join(exc.messages)
    if isinstance(exc, NoojeeServiceError):
        return exc.message
    if isinstance(exc, PermissionDenied):
        return str(exc) or _("You may not do this.")
    if isinstance(exc, ObjectDoesNotExist):
        return str(exc) or _("No such record.")
    return str(exc)
