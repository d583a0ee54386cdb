"""Authentication: API keys (global and user), the hash method and its expiry, the IP allow-list."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import pytest
import requests

from noojee_django.emulator import ControlClient, EmulatorServer

from .helpers import API_KEY, CALLS, RECORDINGS, TIME, USER_KEY, Api, connected_unique_id, wait_for


def pbx_time(url: str) -> str:
    response = requests.post(url + TIME, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text.strip()


def hashed(url: str, key: str = API_KEY, timestamp: str | None = None) -> dict[str, str]:
    stamp = timestamp or pbx_time(url)
    return {"timeStamp": stamp, "hash": hashlib.sha256(f"{key}:{stamp}".encode()).hexdigest()}


def test_time_needs_no_key_and_is_the_pbx_clock_in_milliseconds(api: Api, control: ControlClient) -> None:
    before = time.time() * 1000
    stamp = int(pbx_time(api.url))
    assert before - 1000 <= stamp <= time.time() * 1000 + 1000
    control.config(clock_offset_ms=3_600_000)
    assert int(pbx_time(api.url)) >= before + 3_600_000 - 1000


def test_global_key_is_accepted(api: Api) -> None:
    assert api.subscribe("101", 0)["Code"] == 0


def test_missing_or_wrong_key_is_refused_in_the_code_by_default(api: Api) -> None:
    for params in ({}, {"apiKey": "wrong"}):
        response = requests.post(
            api.url + CALLS + "subscribe", params={"exten": "101", "lastSequenceNumber": "0", **params}
        )
        assert response.status_code == 200
        assert response.json() == {"Code": -1, "Message": "Invalid apiKey"}


@pytest.mark.parametrize("mode", ["401", "403"])
def test_refusal_status_is_configurable(api: Api, control: ControlClient, mode: str) -> None:
    control.config(auth_refusal=mode)
    response = Api(api.url, "wrong").call("hangup", extenOrUniqueId="101")
    assert response.status_code == int(mode)
    assert response.json()["Code"] == -1


def test_metadata_refusal_is_non_200_and_an_object_never_an_array(api: Api) -> None:
    response = Api(api.url, "wrong").rec("retrieveMetaData", tag="T")
    assert response.status_code == 401
    assert response.json() == {"Code": -1, "Message": "Invalid apiKey"}


def test_user_key_may_dial_and_record_but_not_subscribe(api: Api) -> None:
    user = Api(api.url, USER_KEY)
    assert user.dial()["Code"] == 0
    refused = user.call("subscribe", exten="101", lastSequenceNumber=0, timeOut=0)
    assert refused.json()["Code"] == -1
    assert "subscribe" in refused.json()["Message"]
    assert user.rec("retrieveMetaData", tag="none").json() == []


def test_user_key_names_the_owner_of_legs_it_records(api: Api) -> None:
    user = Api(api.url, USER_KEY)
    user.dial("SIP/103", autoAnswer="Alert-Info: Ring Answer")
    wait_for(lambda: connected_unique_id(api, "103"))
    assert user.call("start", extenOrUniqueId="103", tag="OWNED").status_code == 200
    (row,) = api.rec("retrieveMetaData", tag="OWNED").json()
    assert row["Username"] == "agent1"


def test_hash_method_is_accepted_and_reusable_within_its_validity(api: Api) -> None:
    params = hashed(api.url)
    for _ in range(2):
        response = requests.post(
            api.url + CALLS + "subscribe", params={"exten": "1", "lastSequenceNumber": "0", **params}
        )
        assert response.json()["Code"] == 0


def test_hash_of_a_user_key_is_a_user_key(api: Api) -> None:
    params = hashed(api.url, USER_KEY)
    response = requests.post(
        api.url + CALLS + "subscribe", params={"exten": "1", "lastSequenceNumber": "0", **params}
    )
    assert response.json()["Code"] == -1


def test_wrong_or_upper_case_hash_is_refused(api: Api) -> None:
    params = hashed(api.url, "not-the-key")
    response = requests.post(api.url + CALLS + "hangup", params={"extenOrUniqueId": "1", **params})
    assert response.json() == {"Code": -1, "Message": "Invalid hash"}
    params = hashed(api.url)
    params["hash"] = params["hash"].upper()
    response = requests.post(api.url + CALLS + "hangup", params={"extenOrUniqueId": "1", **params})
    assert response.json()["Message"] == "Invalid hash"


def test_hash_first_used_too_long_after_its_timestamp_is_expired(api: Api) -> None:
    old = str(int(pbx_time(api.url)) - 11_000)
    response = requests.post(
        api.url + CALLS + "hangup", params={"extenOrUniqueId": "1", **hashed(api.url, timestamp=old)}
    )
    assert response.json() == {"Message": "Expired TimeStamp", "Code": -1}
    fresh = str(int(pbx_time(api.url)) - 9_000)
    response = requests.post(
        api.url + CALLS + "hangup", params={"extenOrUniqueId": "1", **hashed(api.url, timestamp=fresh)}
    )
    assert response.json()["Message"] != "Expired TimeStamp"


def test_hash_expires_after_its_validity_from_first_use(
    noojee_emulator_factory: Callable[..., EmulatorServer],
) -> None:
    emulator = noojee_emulator_factory(hash_validity=0.3)
    params = {"exten": "1", "lastSequenceNumber": "0", **hashed(emulator.url)}
    url = emulator.url + CALLS + "subscribe"
    assert requests.post(url, params=params).json()["Code"] == 0
    time.sleep(0.4)
    assert requests.post(url, params=params).json() == {"Message": "Expired TimeStamp", "Code": -1}
    metadata = requests.post(
        emulator.url + RECORDINGS + "retrieveMetaData", params={"tag": "T", **hashed(emulator.url)}
    )
    assert metadata.status_code == 200
    time.sleep(0.4)
    metadata = requests.post(emulator.url + RECORDINGS + "retrieveMetaData", params={"tag": "T", **params})
    assert metadata.status_code == 401
    assert metadata.json()["Message"] == "Expired TimeStamp"


def test_hash_window_follows_the_pbx_clock_not_the_hosts(api: Api, control: ControlClient) -> None:
    control.config(clock_offset_ms=-60_000)
    host_stamp = str(int(time.time() * 1000))
    response = requests.post(
        api.url + CALLS + "hangup", params={"extenOrUniqueId": "1", **hashed(api.url, timestamp=host_stamp)}
    )
    assert response.json()["Message"] == "Expired TimeStamp"
    response = requests.post(api.url + CALLS + "hangup", params={"extenOrUniqueId": "1", **hashed(api.url)})
    assert response.json()["Message"] != "Expired TimeStamp"


def test_ip_allow_list_refuses_other_addresses_but_not_the_control_api(
    api: Api, control: ControlClient
) -> None:
    control.config(allowed_ips=["10.9.9.9"])
    response = api.call("subscribe", exten="101", lastSequenceNumber=0)
    assert response.status_code == 403
    assert response.json()["Code"] == -1
    assert response.json()["Message"].startswith("Access denied")
    assert requests.post(api.url + TIME).status_code == 403
    control.config(allowed_ips=["127.0.0.1"])
    assert api.call("subscribe", exten="101", lastSequenceNumber=0).status_code == 200


def test_request_log_masks_keys_and_hashes(
    noojee_emulator_factory: Callable[..., EmulatorServer], capfd: pytest.CaptureFixture[str]
) -> None:
    emulator = noojee_emulator_factory(log_requests=True)
    Api(emulator.url).call("hangup", extenOrUniqueId="1")
    requests.post(emulator.url + CALLS + "hangup", params={"extenOrUniqueId": "1", **hashed(emulator.url)})
    time.sleep(0.05)
    err = capfd.readouterr().err
    assert "hangup" in err
    assert "apiKey=***" in err and "hash=***" in err
    assert API_KEY not in err
