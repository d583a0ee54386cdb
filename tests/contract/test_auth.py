"""Both authentication methods, ``auto``, hash renewal and every refusal style, against the emulator."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from noojee_django.client import AuthenticationError, ServerError

from .conftest import make_client, requests_for


def test_hash_authentication_reuses_its_pair(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    client = make_client(noojee_emulator, auth="hash")
    client.retrieve_metadata("x")
    client.dial("0383208100", "SIP/101")
    client.subscribe(["101"], 0, timeout=0)
    assert requests_for(noojee_emulator_control, "Time") == 1


def test_hash_authentication_follows_the_pbx_clock_not_ours(
    noojee_emulator_factory: Callable[..., Any],
) -> None:
    emulator = noojee_emulator_factory(clock_offset_ms=-7_200_000)
    assert make_client(emulator, auth="hash").retrieve_metadata("x") == []


def test_an_expired_hash_pair_is_renewed_once(noojee_emulator_factory: Callable[..., Any]) -> None:
    emulator = noojee_emulator_factory(hash_validity=0.5)
    client = make_client(emulator, auth="hash")
    client.retrieve_metadata("x")
    time.sleep(0.7)
    assert client.retrieve_metadata("x") == []  # recording methods refuse with 401
    time.sleep(0.7)
    assert client.dial("0383208100", "SIP/101").code == 0  # call control refuses with 200 Code -1
    stats = emulator.control.stats()["requests"]
    assert stats["Time"] == 3 and stats["retrieveMetaData"] == 3 and stats["dial"] == 2


def test_a_pair_is_renewed_locally_before_the_pbx_refuses_it(
    noojee_emulator_factory: Callable[..., Any],
) -> None:
    emulator = noojee_emulator_factory(hash_validity=0.5)
    client = make_client(emulator, auth="hash", hash_pair_lifetime=0.3)
    client.retrieve_metadata("x")
    time.sleep(0.4)
    client.retrieve_metadata("x")
    stats = emulator.control.stats()["requests"]
    assert stats["Time"] == 2 and stats["retrieveMetaData"] == 2  # no refusal on the way


@pytest.mark.parametrize("refusal", ["code", "401", "403"])
@pytest.mark.parametrize("method", ["dial", "retrieveMetaData", "subscribe", "retrieveRecording"])
def test_a_wrong_key_is_an_authentication_error_whatever_the_refusal_style(
    noojee_emulator_factory: Callable[..., Any], refusal: str, method: str
) -> None:
    emulator = noojee_emulator_factory(auth_refusal=refusal)
    client = make_client(emulator, api_key="wrong-key-1234")
    call = {
        "dial": lambda: client.dial("0383208100", "SIP/101"),
        "retrieveMetaData": lambda: client.retrieve_metadata("x"),
        "subscribe": lambda: client.subscribe(["101"], 0, timeout=0),
        "retrieveRecording": lambda: client.download_leg(_null(), unique_id="1.1", leg=1),
    }[method]
    with pytest.raises(AuthenticationError) as refused:
        call()
    assert "wrong-key-1234" not in str(refused.value)
    assert emulator.control.stats()["requests"][method] == 1  # a refusal is not retried


@pytest.mark.parametrize("refusal", ["code", "401", "403"])
def test_a_wrong_key_is_refused_by_the_hash_method_too(
    noojee_emulator_factory: Callable[..., Any], refusal: str
) -> None:
    emulator = noojee_emulator_factory(auth_refusal=refusal)
    client = make_client(emulator, api_key="wrong-key-1234", auth="hash")
    with pytest.raises(AuthenticationError, match="Invalid hash"):
        client.retrieve_metadata("x")


def test_auto_falls_back_to_the_hash_method_and_remembers(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator, auth="auto")
    noojee_emulator_control.add_fault(
        "negative_code", method="retrieveMetaData", count=1, code=-1, message="Invalid apiKey", status=401
    )
    assert client.retrieve_metadata("x") == []
    assert client.auth.using_hash
    client.retrieve_metadata("x")
    client.dial("0383208100", "SIP/101")
    assert requests_for(noojee_emulator_control, "Time") == 1
    assert requests_for(noojee_emulator_control, "retrieveMetaData") == 3


def test_auto_falls_back_on_a_dial_refused_in_the_code(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator, auth="auto")
    noojee_emulator_control.add_fault("negative_code", method="dial", code=-1, message="Invalid apiKey")
    assert client.dial("0383208100", "SIP/101").code == 0
    assert requests_for(noojee_emulator_control, "dial") == 2  # the refused one did nothing


def test_an_address_not_on_the_whitelist_is_an_authentication_error(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.config(allowed_ips=["10.9.9.9"])
    with pytest.raises(AuthenticationError, match="Access denied") as refused:
        make_client(noojee_emulator).dial("0383208100", "SIP/101")
    assert refused.value.http_status == 403


def test_no_key_or_hash_in_logs_or_errors(
    noojee_emulator: Any, noojee_emulator_control: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = noojee_emulator.config.api_key
    for mode in ("apikey", "hash"):
        client = make_client(noojee_emulator, auth=mode)
        client.retrieve_metadata("x")
        noojee_emulator_control.add_fault("http_500", method="*", count=3)
        with pytest.raises(ServerError) as failed:
            client.retrieve_metadata("x")
        secrets = [key] + ([client.auth.params()["hash"]] if mode == "hash" else [])
        texts = [r.getMessage() for r in caplog.records] + [str(failed.value), repr(client)]
        assert any("RecordingAPI" in t and "***" in t for t in texts)
        for text in texts:
            for secret in secrets:
                assert secret not in text


def _null() -> Any:
    import io

    return io.BytesIO()


@pytest.mark.parametrize("mode", ["apikey", "hash"])
def test_a_notice_that_quotes_the_credentials_is_logged_masked(
    noojee_emulator: Any, noojee_emulator_control: Any, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.DEBUG)
    key = noojee_emulator.config.api_key
    client = make_client(noojee_emulator, auth=mode)
    digest = client.auth.params().get("hash", "")
    quoted = f"Deprecated call for apiKey={key} {key} {digest or ''}"
    noojee_emulator_control.add_fault("negative_code", method="hangup", code=3, message=quoted)
    assert client.hangup("101").code == 3
    [notice] = [r.getMessage() for r in caplog.records if "notice Code 3" in r.getMessage()]
    assert "Deprecated call" in notice and "***" in notice
    assert key not in notice and (not digest or digest not in notice)
