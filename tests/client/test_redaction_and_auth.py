from __future__ import annotations

import hashlib
import logging

import pytest

from noojee_django.client import AuthenticationError, ConfigurationError, NoojeeClient
from noojee_django.client.auth import Authenticator, hash_pair
from noojee_django.client.redact import RedactingFilter, redact_url

KEY = "f863246a-973e-11e6-8784-08002718f5b5"


def test_hash_is_lower_case_sha256_of_key_colon_timestamp() -> None:
    expected = hashlib.sha256(f"{KEY}:1412750652000".encode()).hexdigest()
    assert hash_pair(KEY, 1412750652000) == expected == expected.lower()
    assert len(expected) == 64


def test_urls_are_masked() -> None:
    url = f"https://pbx/x?apiKey={KEY}&tag=1&timeStamp=1&hash=abcdef"
    assert redact_url(url) == "https://pbx/x?apiKey=***&tag=1&timeStamp=1&hash=***"


def test_log_records_are_masked_after_formatting() -> None:
    record = logging.LogRecord("urllib3", logging.DEBUG, "", 0, '"POST /x?apiKey=%s HTTP/1.1"', (KEY,), None)
    RedactingFilter().filter(record)
    assert KEY not in record.getMessage() and "apiKey=***" in record.getMessage()


def test_the_key_is_not_in_the_clients_repr() -> None:
    client = NoojeeClient("https://pbx.example.com", api_key=KEY)
    assert KEY not in repr(client)


@pytest.mark.parametrize("url", ["pbx.example.com", "ftp://pbx", "", "https://"])
def test_a_bad_base_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        NoojeeClient(url, api_key=KEY)


def test_hash_pair_is_reused_within_its_validity_and_renewed_after() -> None:
    now = [0.0]
    calls: list[int] = []

    def server_time() -> int:
        calls.append(1)
        return 1000 + len(calls)

    auth = Authenticator(KEY, "hash", server_time, pair_lifetime=3600, clock=lambda: now[0])
    first = auth.params()
    now[0] = 3000
    assert auth.params() == first
    assert len(calls) == 1
    now[0] = 3601
    assert auth.params() != first
    assert len(calls) == 2
    auth.renew()
    auth.params()
    assert len(calls) == 3


def test_replaced_hash_pairs_stay_secret() -> None:
    """A dropped pair is still valid on the PBX for up to an hour: it is masked like the current one."""
    stamps = iter(range(1000, 2000))
    auth = Authenticator(KEY, "hash", lambda: next(stamps))
    hashes = []
    for _ in range(3):
        hashes.append(auth.params()["hash"])
        auth.renew()
    assert len(set(hashes)) == 3
    assert set(hashes) <= set(auth.secrets) and KEY in auth.secrets


def test_auto_falls_back_to_hash_once_and_remembers() -> None:
    auth = Authenticator(KEY, "auto", lambda: 1)
    used = auth.params()
    assert "apiKey" in used
    refusal = AuthenticationError("refused", code=-1, pbx_message="Invalid apiKey")
    assert auth.recover(refusal, used) is True
    pair = auth.params()
    assert pair == {"timeStamp": "1", "hash": hash_pair(KEY, 1)}
    assert auth.using_hash
    # the hash refused for another reason than expiry: give up, do not loop
    assert auth.recover(AuthenticationError("refused", code=-1, pbx_message="Access denied"), pair) is False
    assert Authenticator(KEY, "apikey", lambda: 1).recover(refusal, {"apiKey": KEY}) is False
