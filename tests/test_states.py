"""Words for the agent: one for every status, and PBX errors in words without the PBX's diagnostic."""

from __future__ import annotations

import pytest

from noojee_django import states
from noojee_django.client import errors
from noojee_django.models import CallSession, RecordingTag


def test_every_recording_and_call_status_has_words_of_its_own() -> None:
    assert set(states.RECORDING_WORDS) == set(RecordingTag.Status.values)
    assert set(states.CALL_WORDS) == set(CallSession.Status.values)
    assert len({str(w) for w in states.RECORDING_WORDS.values()}) == len(states.RECORDING_WORDS)


def test_a_recording_the_pbx_never_started_says_so() -> None:
    refused = RecordingTag(tag="INV-42", status=RecordingTag.Status.FAILED, start_accepted=False)
    assert states.recording_words(refused) == "Not recorded: the PBX did not start the recording"
    lost = RecordingTag(tag="INV-42", status=RecordingTag.Status.FAILED, start_accepted=True)
    assert states.recording_words(lost) == "Could not be collected — an operator has been told"


@pytest.mark.parametrize(
    "error",
    [
        errors.NotFoundError(
            "start: not found: No active call on 'SIP/101' (method=start, HTTP 404, Code -1)"
        ),
        errors.NoojeeTimeout("dial: the total deadline (1 s) passed"),
        errors.AuthenticationError("Invalid apiKey (method=dial, Code -1)"),
        errors.ApiError("Trunk busy (method=dial, Code -7)"),
    ],
)
def test_pbx_errors_are_told_in_words_without_the_diagnostic(error: errors.NoojeeError) -> None:
    words = states.pbx_error_words("start recording", error)
    assert words.startswith("The PBX could not start recording: ")
    assert "method=" not in words and "Code" not in words and "SIP/101" not in words and "Trunk" not in words
