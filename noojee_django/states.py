"""What the agent is told: words for every status of a recording and a call, and for the PBX's errors.

Written once, beside the lifecycle table (``lifecycle.py``), and used by the widget's answers, the
template tags and the REST API (``status_words``). The PBX's own diagnostic ("start: not found: No
active call on 'SIP/101' (method=start, HTTP 404, Code -1)") is for the log and the admin: an agent
reads what happened and what to do.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from .client import errors as client_errors
from .conf import noojee_settings
from .models import CallSession, RecordingTag
from .validation import normalize_number

Tag = RecordingTag.Status
Call = CallSession.Status

#: A recording's status, as the agent reads it.
RECORDING_WORDS: dict[str, str | Promise] = {
    Tag.RECORDING: _("Recording"),
    Tag.PAUSED: _("Paused"),
    Tag.WAITING: _("Waiting for the call to end"),
    Tag.FETCHING: _("Collecting the audio"),
    Tag.ATTACHED: _("Attached"),
    Tag.ABSENT: _("No recording found on the PBX"),
    Tag.FAILED: _("Could not be collected — an operator has been told"),
}

#: A recording the PBX never started (``start_accepted`` false, status failed).
NOT_STARTED_WORDS = _("Not recorded: the PBX did not start the recording")

#: A call's status, as the agent reads it.
CALL_WORDS: dict[str, str | Promise] = {
    Call.QUEUED: _("Placing the call"),
    Call.DIALING: _("Ringing your phone"),
    Call.RINGING: _("Ringing"),
    Call.CONNECTED: _("On the call"),
    Call.HUNG_UP: _("Call ended"),
    Call.FAILED: _("Call not connected"),
    Call.PLACED: _("Call placed: this PBX does not tell the CRM when it is answered or ends"),
}


def recording_words(recording_tag: RecordingTag) -> str:
    if recording_tag.status == Tag.FAILED and not recording_tag.start_accepted:
        return str(NOT_STARTED_WORDS)
    return str(RECORDING_WORDS.get(recording_tag.status, recording_tag.get_status_display()))


def call_words(call: CallSession) -> str:
    return str(CALL_WORDS.get(call.status, call.get_status_display()))


#: Why the PBX failed, by the client error's ``kind``, and what to do about it.
_PBX_REASONS: dict[str, str | Promise] = {
    "timeout": _("it did not answer in time. Try again in a moment."),
    "transport": _(
        "it could not be reached. Try again in a moment; if it keeps failing, tell an administrator."
    ),
    "auth": _("it refused the CRM's credentials. Tell an administrator."),
    "configuration": _("the CRM's PBX settings are incomplete. Tell an administrator."),
    "not_found": _("it found nothing to act on."),
    "server_error": _("it had an internal error. Try again in a moment."),
    "rate_limited": _("it is busy. Try again in a minute."),
}
_DEFAULT_REASON = _("it refused. Try again; if it keeps failing, tell an administrator.")

#: Some refusals say more for one action than the generic words do.
_ACTION_REASONS: dict[tuple[str, str], str | Promise] = {
    ("start recording", "not_found"): _("there is no call on your phone to record. Call the customer first."),
    ("stop the recording", "not_found"): _("it no longer finds the call on your phone."),
    ("pause the recording", "not_found"): _("it no longer finds the call on your phone."),
    ("resume the recording", "not_found"): _("it no longer finds the call on your phone."),
    ("hang up", "not_found"): _("it no longer has that call."),
    ("answer the call", "not_found"): _("the call is no longer ringing."),
}


#: What the PBX was asked, as it ends "The PBX could not ...", by the action the services name it by.
_ACTION_WORDS: dict[str, str | Promise] = {
    "place the call": pgettext_lazy("The PBX could not ...", "place the call"),
    "hang up": pgettext_lazy("The PBX could not ...", "hang up"),
    "look at your phone's calls": pgettext_lazy("The PBX could not ...", "look at your phone's calls"),
    "answer the call": pgettext_lazy("The PBX could not ...", "answer the call"),
    "start recording": pgettext_lazy("The PBX could not ...", "start recording"),
    "stop the recording": pgettext_lazy("The PBX could not ...", "stop the recording"),
    "pause the recording": pgettext_lazy("The PBX could not ...", "pause the recording"),
    "resume the recording": pgettext_lazy("The PBX could not ...", "resume the recording"),
    "list the hour's recordings": pgettext_lazy("The PBX could not ...", "list the hour's recordings"),
}


def pbx_reason(action: str, exc: client_errors.NoojeeError) -> str:
    """What happened and what to do, for a PBX error met doing ``action``."""
    return str(_ACTION_REASONS.get((action, exc.kind)) or _PBX_REASONS.get(exc.kind) or _DEFAULT_REASON)


def pbx_error_words(action: str, exc: client_errors.NoojeeError) -> str:
    """``The PBX could not <action>: <what happened, and what to do>``, without the PBX's diagnostic."""
    return gettext("The PBX could not %(action)s: %(reason)s") % {
        "action": str(_ACTION_WORDS.get(action, action)),
        "reason": pbx_reason(action, exc),
    }


def format_number(number: str) -> str:
    """The default ``FORMAT_NUMBER``: the number as it is dialled (``"03 8320 8100"`` ->
    ``"0383208100"``), so the button, the call bar and every answer show it the same way."""
    return normalize_number(number)


def display_number(number: str) -> str:
    """A phone number as every page and answer shows it (the ``FORMAT_NUMBER`` hook); a number that
    cannot be dialled is shown as it was written."""
    try:
        normalize_number(number)
    except ValidationError:
        return str(number).strip()
    hook = noojee_settings.hook("FORMAT_NUMBER")
    return str(hook(number)) if hook is not None else normalize_number(number)
