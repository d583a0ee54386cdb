"""A web request that dials is bounded by ``NOOJEE['TIMEOUT']``, however slowly the PBX answers."""

from __future__ import annotations

import time
from typing import Any

import pytest

from noojee_django import services
from noojee_django.exceptions import PbxError
from noojee_django.models import CallSession

pytestmark = pytest.mark.django_db


def test_a_trickling_dial_reply_fails_the_dial_within_the_timeout(
    pbx: Any, settings: Any, agent: Any, customer: Any
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "TIMEOUT": 1}
    pbx.control.add_fault("trickle", method="dial", count=None, bytes=1, interval=0.5, seconds=6)
    started = time.monotonic()
    with pytest.raises(PbxError) as failed:
        services.dial(agent, customer.phone, obj=customer)
    assert time.monotonic() - started < 2.5
    assert failed.value.kind == "timeout" and "total deadline" in str(failed.value.cause)
    assert pbx.control.stats()["requests"]["dial"] == 1  # never resent
    assert CallSession.objects.get().status == CallSession.Status.FAILED


def test_the_reply_cap_comes_from_the_settings(pbx: Any, settings: Any, agent: Any, invoice: Any) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "MAX_REPLY_BYTES": 10_000}
    pbx.control.add_fault("huge_json", method="retrieveMetaData", count=None, bytes=50_000)
    recording_tag = services.watch_tag(invoice, "INV-42")
    result = services.poll_tag(recording_tag.pk)
    assert result.outcome == "error"
    recording_tag.refresh_from_db()
    assert "larger than 10000 bytes" in recording_tag.last_error
