"""Tenants: user keys tied to campaigns, and what each key sees; two emulators side by side."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from noojee_django.emulator import ControlClient, ControlError, EmulatorServer
from noojee_django.emulator.pytest_plugin import (
    TEST_CAMPAIGN,
    TEST_OTHER_CAMPAIGN,
    TEST_OTHER_USER_KEY,
    TEST_USER_KEY,
)

from .helpers import Api, connected_unique_id, decode_wav, sha256, wait_for
from .test_cli import running

A, B = TEST_CAMPAIGN, TEST_OTHER_CAMPAIGN


@pytest.fixture
def user_a(api: Api) -> Api:
    return Api(api.url, TEST_USER_KEY)


@pytest.fixture
def user_b(api: Api) -> Api:
    return Api(api.url, TEST_OTHER_USER_KEY)


def record_ids(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["CallRecordId"] for row in response.json()]


def ids(made: dict[str, Any]) -> list[str]:
    return [str(leg["call_record_id"]) for leg in made["legs"]]


def test_metadata_by_tag_and_by_unique_id_show_a_user_key_only_its_campaigns(
    api: Api, user_a: Api, user_b: Api, control: ControlClient
) -> None:
    """Two client companies with the same invoice number: each user key sees its own legs only."""
    of_a = control.add_recording("INV-1", [2, 3], campaign=A)
    of_b = control.add_recording("INV-1", [4], campaign=B)
    outside = control.add_recording("INV-1", [5])  # in no campaign: the global key's alone
    assert record_ids(api.rec("retrieveMetaData", tag="INV-1")) == ids(of_a) + ids(of_b) + ids(outside)
    assert record_ids(user_a.rec("retrieveMetaData", tag="INV-1")) == ids(of_a)
    assert record_ids(user_b.rec("retrieveMetaData", tag="INV-1")) == ids(of_b)
    assert record_ids(user_a.rec("retrieveMetaDataByUniqueId", uniqueId=of_a["unique_id"])) == ids(of_a)
    for other in (of_b, outside):
        # another tenant's call is not refused but empty, exactly as a unique id nobody used
        by_id = user_a.rec("retrieveMetaDataByUniqueId", uniqueId=other["unique_id"])
        unknown = user_a.rec("retrieveMetaDataByUniqueId", uniqueId="1.1")
        assert (by_id.status_code, by_id.content) == (unknown.status_code, unknown.content) == (200, b"[]")
    assert record_ids(api.rec("retrieveMetaDataByUniqueId", uniqueId=of_b["unique_id"])) == ids(of_b)


def test_metadata_by_hour_is_filtered_to_the_keys_campaigns(
    api: Api, user_a: Api, user_b: Api, control: ControlClient
) -> None:
    control.config(metadata_rate_limit_seconds=0, pbx_time_zone="Australia/Melbourne")
    zone = ZoneInfo("Australia/Melbourne")
    ended = (dt.datetime.now(zone) - dt.timedelta(days=1)).replace(minute=30, second=0, microsecond=0)
    of_a = control.add_recording("H-A", [60], campaign=A, ended_at=ended)
    of_b = control.add_recording("H-B", [60, 30], campaign=B, ended_at=ended)
    hour = {"date": ended.strftime("%Y/%m/%d"), "hour": ended.hour}
    assert record_ids(api.rec("retrieveMetaDataByHour", **hour)) == ids(of_a) + ids(of_b)
    assert record_ids(user_a.rec("retrieveMetaDataByHour", **hour)) == ids(of_a)
    assert record_ids(user_b.rec("retrieveMetaDataByHour", **hour)) == ids(of_b)


def test_another_campaigns_audio_is_not_found_exactly_as_an_unknown_leg(
    api: Api, user_a: Api, user_b: Api, control: ControlClient
) -> None:
    mine = control.add_recording("AUD", [2], campaign=A)
    theirs = control.add_recording("AUD", [2], campaign=B)
    live = control.add_recording("AUD", [2], campaign=B, in_progress=True)  # would say 409 to its owner
    own = user_a.rec("retrieveRecording", uniqueId=mine["unique_id"], leg=1)
    assert own.status_code == 200 and sha256(decode_wav(own.content)) == mine["legs"][0]["sha256"]
    unknown = user_a.rec("retrieveRecording", uniqueId="1.1", leg=1)
    unknown_id = user_a.rec("retrieveRecording", callRecordId=1)
    assert unknown.status_code == 404 and unknown.json() == {"Code": -1, "Message": "No such recording leg"}
    for other in (theirs, live):
        by_leg = user_a.rec("retrieveRecording", uniqueId=other["unique_id"], leg=1)
        by_id = user_a.rec("retrieveRecording", callRecordId=other["legs"][0]["call_record_id"])
        assert (by_leg.status_code, by_leg.content) == (unknown.status_code, unknown.content)
        assert (by_id.status_code, by_id.content) == (unknown_id.status_code, unknown_id.content)
    assert user_b.rec("retrieveRecording", uniqueId=live["unique_id"], leg=1).status_code == 409
    assert api.rec("retrieveRecording", uniqueId=theirs["unique_id"], leg=1).status_code == 200


def test_a_user_keys_dial_is_in_its_first_campaign_unless_it_names_another_of_its_own(
    api: Api, user_a: Api, control: ControlClient
) -> None:
    control.add_user_key("both-key", "carol", [B, A])
    both = Api(api.url, "both-key")
    assert user_a.dial("SIP/201")["Code"] == 0
    assert both.dial("SIP/202")["Code"] == 0
    assert both.dial("SIP/203", campaign=A)["Code"] == 0
    assert api.dial("SIP/204")["Code"] == 0  # the global key: in no campaign unless it names one
    assert api.dial("SIP/205", campaign=B)["Code"] == 0
    by_exten = {call["exten"]: call["campaign"] for call in control.calls()}
    assert by_exten == {"201": A, "202": B, "203": A, "204": "", "205": B}
    refused = user_a.dial("SIP/206", campaign=B)
    assert refused["Code"] == -1 and "not one of this user key's campaigns" in refused["Message"]
    control.add_user_key("lonely-key", "dave", [])
    nowhere = Api(api.url, "lonely-key").dial("SIP/207")
    assert nowhere["Code"] == -1 and "in no campaign" in nowhere["Message"]
    assert {call["exten"] for call in control.calls()} == {"201", "202", "203", "204", "205"}


def connected_by(user: Api, api: Api, exten: str) -> str:
    """``user`` dials from ``exten`` (a user key may not subscribe: the global key watches)."""
    assert user.dial(f"SIP/{exten}", autoAnswer="Call-Info:\\; answer-after=0")["Code"] == 0
    return str(wait_for(lambda: connected_unique_id(api, exten)))


def test_a_user_key_cannot_touch_another_campaigns_call(
    api: Api, user_a: Api, user_b: Api, control: ControlClient
) -> None:
    unique_id = connected_by(user_b, api, "301")  # in campaign B
    assert control.calls()[0]["campaign"] == B
    for method, foreign, unknown in (
        ("hangup", {"extenOrUniqueId": unique_id}, {"extenOrUniqueId": "1.1"}),
        ("hangup", {"extenOrUniqueId": "301"}, {"extenOrUniqueId": "399"}),
        ("start", {"extenOrUniqueId": "301", "tag": "SPY"}, {"extenOrUniqueId": "399", "tag": "SPY"}),
        ("stop", {"extenOrUniqueId": "301"}, {"extenOrUniqueId": "399"}),
        ("answer", {"uniqueId": unique_id, "exten": "SIP/302"}, {"uniqueId": "1.1", "exten": "SIP/302"}),
    ):
        # the same answer as for a channel that does not exist, word for word
        theirs, nobodys = user_a.call(method, **foreign), user_a.call(method, **unknown)
        assert theirs.status_code == nobodys.status_code, method
        said = theirs.json()["Message"].replace(unique_id, "1.1").replace("301", "399")
        assert (theirs.json()["Code"], said) == (nobodys.json()["Code"], nobodys.json()["Message"])
        assert theirs.json()["Code"] == -1
    assert control.calls()[0]["recording"] is False and control.calls()[0]["phase"] == "connected"
    assert user_b.call("start", extenOrUniqueId="301", tag="OWN").status_code == 200
    assert user_a.call("stop", extenOrUniqueId="301").status_code == 404
    assert user_b.call("stop", extenOrUniqueId="301").status_code == 200
    assert user_b.call("hangup", extenOrUniqueId=unique_id).json()["Code"] == 0
    (leg,) = control.recordings(tag="OWN")
    assert leg["campaign"] == B
    assert record_ids(user_b.rec("retrieveMetaData", tag="OWN")) == [str(leg["call_record_id"])]
    assert user_a.rec("retrieveMetaData", tag="OWN").json() == []


def test_an_inbound_call_carries_the_campaign_of_its_queue(
    user_a: Api, user_b: Api, control: ControlClient
) -> None:
    unique_id = control.inbound_call("0398765432", "401", queue="sales", campaign=A)
    assert user_b.call("answer", uniqueId=unique_id, exten="SIP/401").json()["Code"] == -1
    assert user_a.call("answer", uniqueId=unique_id, exten="SIP/401").json()["Code"] == 0
    assert user_a.call("start", extenOrUniqueId=unique_id, tag="IN-1").status_code == 200
    control.hangup(unique_id)
    assert [leg["campaign"] for leg in control.recordings(tag="IN-1")] == [A]


def test_subscribe_and_the_deprecated_api_are_refused_to_user_keys(
    api: Api, user_a: Api, control: ControlClient
) -> None:
    control.add_recording("OLD", [1], campaign=A)
    refused = user_a.call("subscribe", exten="101", lastSequenceNumber=0, timeOut=0)
    assert refused.status_code == 200 and refused.json()["Code"] == -1
    assert "user API key may not call subscribe" in refused.json()["Message"]
    legacy = Api(api.url, TEST_USER_KEY).legacy(method="retrieve", tag="OLD")
    assert legacy.status_code == 403 and legacy.json()["Code"] == -1
    assert api.legacy(method="retrieve", tag="OLD").status_code == 200
    control.config(auth_refusal="401")
    assert user_a.call("subscribe", exten="101", lastSequenceNumber=0, timeOut=0).status_code == 401
    control.config(user_key_refused=["subscribe"])  # a server that opens the deprecated API to them
    assert Api(api.url, TEST_USER_KEY).legacy(method="retrieve", tag="OLD").status_code == 200
    control.add_recording("OLD-B", [1], campaign=B)
    assert Api(api.url, TEST_USER_KEY).legacy(method="retrieve", tag="OLD-B").status_code == 404


def test_user_keys_are_configured_through_the_control_api_and_checked(
    api: Api, control: ControlClient
) -> None:
    keys = control.add_user_key("new-key", "erin", [A, B, A])
    assert keys["new-key"] == {"login": "erin", "campaigns": [A, B]}
    assert control.user_keys()["new-key"] == keys["new-key"]
    assert control.config()["user_keys"]["new-key"] == keys["new-key"]
    control.add_recording("CFG", [1], campaign=B)
    assert len(Api(api.url, "new-key").rec("retrieveMetaData", tag="CFG").json()) == 1
    for bad in (
        {"user_keys": {"k": {"login": "x", "campaigns": "campaign-a"}}},
        {"user_keys": {"k": {"login": "x", "teams": []}}},
        {"user_keys": {control.config()["api_key"]: "x"}},
        {"user_keys": ["k"]},
        {"user_key_refused": [""]},
    ):
        with pytest.raises(ControlError) as refused:
            control.config(**bad)
        assert refused.value.status == 400
    assert "new-key" in control.user_keys()  # a refused change changed nothing
    with pytest.raises(ControlError):
        control.add_user_key("", "x", [])
    assert control.config(user_keys={"old-form": "fred"})["user_keys"] == {
        "old-form": {"login": "fred", "campaigns": []}
    }


def test_the_command_line_configures_user_keys_with_campaigns() -> None:
    command = [
        sys.executable, "-m", "noojee_django.emulator", "--port", "0", "--api-key", "g", "--quiet",
        "--user-key", "k1=fred:acme-sales,acme-support", "--user-key", "k2=gina", "--user-key", "k3",
    ]  # fmt: skip
    with running(command) as (_process, url):
        assert ControlClient(url).user_keys() == {
            "k1": {"login": "fred", "campaigns": ["acme-sales", "acme-support"]},
            "k2": {"login": "gina", "campaigns": []},
            "k3": {"login": "user", "campaigns": []},
        }
        assert Api(url, "k1").dial("SIP/101")["Code"] == 0
        assert ControlClient(url).calls()[0]["campaign"] == "acme-sales"


def test_the_state_file_keeps_user_keys_added_at_run_time_and_every_legs_campaign(tmp_path: Path) -> None:
    from noojee_django.emulator.pytest_plugin import fixture_config

    state = tmp_path / "state.json"
    first = EmulatorServer(fixture_config(state_file=str(state))).start()
    try:
        first.control.add_user_key("late-key", "fred", [B])
        made = first.control.add_recording("KEPT", [2], campaign=B)
        connected_by(Api(first.url, TEST_OTHER_USER_KEY), Api(first.url), "501")
    finally:
        first.stop()
    saved = json.loads(state.read_text())["state"]
    assert saved["user_keys"]["late-key"] == {"login": "fred", "campaigns": [B]}
    second = EmulatorServer(fixture_config(state_file=str(state))).start()
    try:
        late = Api(second.url, "late-key")
        assert record_ids(late.rec("retrieveMetaData", tag="KEPT")) == ids(made)
        assert Api(second.url, TEST_USER_KEY).rec("retrieveMetaData", tag="KEPT").json() == []
        assert [call["campaign"] for call in second.control.calls()] == [B]
        assert late.call("hangup", extenOrUniqueId="501").json()["Code"] == 0  # the call of B is B's
        # a key given at start keeps the tenant it was given, whatever the file says
        assert second.control.user_keys()[TEST_USER_KEY]["campaigns"] == [A]
    finally:
        second.stop()


def test_two_emulators_side_by_side_with_the_same_ids_stay_independent(
    noojee_emulator_factory: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    """Two PBXs hand out the same CallRecordIds and unique ids (their counters start alike): nothing of
    one shows on the other."""
    ended = float(int(time.time()) - 60)
    one = noojee_emulator_factory(api_key="key-one", state_file=str(tmp_path / "one.json"))
    two = noojee_emulator_factory(api_key="key-two", state_file=str(tmp_path / "two.json"))
    made_one = one.control.add_recording("SAME", [2, 3], ended_at=ended, campaign=A)
    made_two = two.control.add_recording("SAME", [4, 1], ended_at=ended, campaign=A)
    assert made_one["unique_id"] == made_two["unique_id"]
    assert ids(made_one) == ids(made_two)
    api_one, api_two = Api(one.url, "key-one"), Api(two.url, "key-two")
    assert api_one.rec("retrieveMetaData", tag="SAME").status_code == 200
    assert api_one.rec("retrieveMetaData", tag="x").json() == []
    assert Api(one.url, "key-two").rec("retrieveMetaData", tag="SAME").status_code == 401
    rows_one = api_one.rec("retrieveMetaData", tag="SAME").json()
    rows_two = api_two.rec("retrieveMetaData", tag="SAME").json()
    assert [r["Duration"] for r in rows_one] == ["2", "3"] and [r["Duration"] for r in rows_two] == ["4", "1"]
    unique_id = made_one["unique_id"]
    audio_one = api_one.rec("retrieveRecording", uniqueId=unique_id, leg=1)
    audio_two = api_two.rec("retrieveRecording", uniqueId=unique_id, leg=1)
    assert sha256(decode_wav(audio_one.content)) == made_one["legs"][0]["sha256"]
    assert (
        sha256(decode_wav(audio_two.content))
        == made_two["legs"][0]["sha256"]
        != made_one["legs"][0]["sha256"]
    )
    # a call, a fault and a user key on one leave the other alone
    live = api_one.connected_call("601")
    one.control.add_fault("http_500", method="retrieveMetaData", count=None)
    one.control.add_user_key("only-on-one", "fred", [A])
    assert two.control.calls() == []
    assert api_two.rec("retrieveMetaData", tag="SAME").status_code == 200
    assert api_one.rec("retrieveMetaData", tag="SAME").status_code == 500
    assert Api(two.url, "only-on-one").rec("retrieveMetaData", tag="SAME").status_code == 401
    assert api_two.subscribe("601", 0)["Data"] in ({}, {"601": []})
    api_one.call("hangup", extenOrUniqueId=live)
    wait_for(lambda: not one.control.calls())
    assert one.pbx.stats()["legs"] == two.pbx.stats()["legs"] == 2
    # and each keeps its own state file
    one.stop()
    two.stop()
    saved = {n: json.loads((tmp_path / f"{n}.json").read_text())["state"] for n in ("one", "two")}
    assert [leg["fixed_duration"] for leg in saved["one"]["legs"]] == [2, 3]
    assert [leg["fixed_duration"] for leg in saved["two"]["legs"]] == [4, 1]
    assert "only-on-one" in saved["one"]["user_keys"] and "only-on-one" not in saved["two"]["user_keys"]
