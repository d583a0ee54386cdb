"""Call control and call state: dial, answer, hangup, and what subscribe shows of them."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from noojee_django.emulator import ControlClient

from .helpers import Api, statuses, wait_for

CALL_DATA_FIELDS = {
    "canAnswer",
    "callerId",
    "uniqueCallId",
    "callStartTime",
    "isQueueCall",
    "isClickToDialCall",
    "inbound",
    "status",
    "otherPartyCallerId",
    "connectedCallerIdNum",
    "outboundDestination",
}


def current_seq(api: Api, control: ControlClient, exten: str) -> int:
    """The PBX's seq, made non-zero first (a poll with seq 0 asks for a snapshot)."""
    control.inbound_call("0398765432", "998")
    return int(api.subscribe(exten, 0)["seq"])


def test_dial_queues_an_originate_with_a_session_id(api: Api) -> None:
    first, second = api.dial(), api.dial("PJSIP/102")
    assert first["Message"] == "Originate successfully queued" and first["Code"] == 0
    assert isinstance(first["SessionID"], int)
    assert second["SessionID"] > first["SessionID"]


@pytest.mark.parametrize(
    ("number", "exten"),
    [
        ("0383&208100", "SIP/101"),
        ("SIP/1", "SIP/101"),
        ("", "SIP/101"),
        ("12 34", "SIP/101"),
        ("0383208100", "101"),
        ("0383208100", "DAHDI/1"),
        ("0383208100", ""),
    ],
)
def test_dial_refuses_bad_numbers_and_extensions_without_technology(
    api: Api, number: str, exten: str
) -> None:
    response = api.call("dial", number=number, extenOrUniqueId=exten)
    assert response.status_code == 200
    body = response.json()
    assert body["Code"] == -1 and body["Message"]


@pytest.mark.parametrize("exten", ["SIP/106", "PJSIP/106", "IAX2/106"])
def test_dial_accepts_every_technology_and_an_international_number(api: Api, exten: str) -> None:
    assert api.dial(exten, number="+61383208100")["Code"] == 0


def test_click_to_dial_shows_dialing_out_then_connected(api: Api, control: ControlClient) -> None:
    control.config(answer_delay=0.2, far_end_answer_delay=0.1)
    api.dial("SIP/110")
    snapshot = api.subscribe("110", 0)
    (entry,) = snapshot["Data"]["110"]
    data = entry["CallData"]
    assert set(data) == CALL_DATA_FIELDS
    assert data["status"] == "Dialing Out"
    assert data["isClickToDialCall"] is True and data["inbound"] is False and data["canAnswer"] is False
    assert data["callStartTime"] == ""
    assert data["outboundDestination"] == "0383208100"
    assert entry["Code"] == 0 and isinstance(entry["CallID"], int)
    time.sleep(0.15)
    assert statuses(api.subscribe("110", 0), "110") == ["Dialing Out"]  # the handset has not answered yet
    reply = api.subscribe("110", snapshot["seq"], timeout=2)
    assert statuses(reply, "110") == ["Connected"]
    connected = reply["Data"]["110"][0]["CallData"]
    assert (
        len(connected["callStartTime"]) == len("2021/09/14 15:03:30") and connected["callStartTime"][4] == "/"
    )
    assert connected["connectedCallerIdNum"] == "0383208100"


def test_auto_answer_skips_the_answer_delay(api: Api, control: ControlClient) -> None:
    control.config(answer_delay=5, far_end_answer_delay=0)
    api.dial("SIP/111", autoAnswer="Call-Info:\\; answer-after=0")
    assert wait_for(lambda: statuses(api.subscribe("111", 0), "111") == ["Connected"], timeout=2)


def test_snapshot_lists_current_calls_of_listed_extensions_only(api: Api) -> None:
    api.connected_call("112")
    api.dial("SIP/113")
    reply = api.subscribe("112,114", 0)
    assert set(reply["Data"]) == {"112"}
    assert reply["seq"] == api.subscribe("112", 0)["seq"] > 0
    assert reply["Code"] == 0


def test_long_poll_returns_as_soon_as_an_event_arrives(api: Api, control: ControlClient) -> None:
    seq = current_seq(api, control, "115")
    threading.Timer(0.3, lambda: control.inbound_call("0398765432", "115")).start()
    started = time.monotonic()
    reply = api.subscribe("115", seq, timeout=5)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 2
    assert statuses(reply, "115") == ["Ringing"]
    assert reply["seq"] == seq + 1


def test_long_poll_times_out_with_empty_data_and_the_current_seq(api: Api, control: ControlClient) -> None:
    seq = current_seq(api, control, "116")
    threading.Timer(
        0.1, lambda: control.inbound_call("0398765432", "999")
    ).start()  # an event elsewhere: not for this poll
    started = time.monotonic()
    reply = api.subscribe("116", seq, timeout=0.5)
    assert 0.45 <= time.monotonic() - started < 2
    assert reply == {"Data": {}, "seq": seq + 1, "Code": 0}  # the PBX's seq, moved on by the other call
    control.config(empty_poll_omits_data=True)
    assert api.subscribe("116", seq, timeout=0) == {"seq": seq + 1, "Code": 0}


def test_one_reply_carries_every_event_since_the_given_seq(api: Api, control: ControlClient) -> None:
    seq = current_seq(api, control, "117,118")
    unique_id = control.inbound_call("0398765432", "117")
    control.answer(unique_id, "117")
    control.inbound_call("0398765433", "118")
    reply = api.subscribe("117,118", seq, timeout=1)
    assert statuses(reply, "117") == ["Ringing", "Connected"]
    assert statuses(reply, "118") == ["Ringing"]
    assert reply["seq"] == seq + 3
    assert api.subscribe("117,118", reply["seq"], timeout=0)["Data"] == {}
    assert statuses(api.subscribe("117", seq + 1, timeout=0), "117") == ["Connected"]


def test_seq_is_one_counter_for_the_whole_pbx(api: Api, control: ControlClient) -> None:
    control.inbound_call("0398765432", "119")
    control.inbound_call("0398765432", "120")
    seqs = [e["seq"] for e in control.events()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert api.subscribe("119", 0)["seq"] == seqs[-1]


def test_seq_keeps_increasing_across_a_reset(api: Api, control: ControlClient) -> None:
    api.dial("SIP/121")
    before = api.subscribe("121", 0)["seq"]
    control.reset()
    api.dial("SIP/121")
    assert api.subscribe("121", 0)["seq"] == before + 1


def test_a_seq_ahead_of_the_pbx_gets_a_snapshot_at_once(api: Api) -> None:
    api.dial("SIP/122")
    started = time.monotonic()
    reply = api.subscribe("122", 10**9, timeout=5)
    assert time.monotonic() - started < 1
    assert statuses(reply, "122") == ["Dialing Out"]


def test_polls_faster_than_the_minimum_period_are_delayed_not_refused(
    api: Api, control: ControlClient
) -> None:
    control.config(min_poll_interval=0.3)
    api.subscribe("123", 0)
    started = time.monotonic()
    reply = api.subscribe("123", 0)
    assert time.monotonic() - started >= 0.25
    assert reply["Code"] == 0


def test_subscribe_default_timeout_applies_without_timeout(api: Api, control: ControlClient) -> None:
    control.config(subscribe_default_timeout=0.3)
    seq = current_seq(api, control, "124")
    started = time.monotonic()
    reply = api.call("subscribe", exten="124", lastSequenceNumber=seq).json()
    assert 0.25 <= time.monotonic() - started < 2
    assert reply["Data"] == {}


def test_subscribe_needs_its_parameters(api: Api) -> None:
    assert api.call("subscribe", exten="101").json()["Code"] == -1
    assert api.call("subscribe", lastSequenceNumber=0).json()["Code"] == -1


def test_hangup_by_extension_ends_the_call_with_hungup(api: Api, control: ControlClient) -> None:
    api.connected_call("125")
    seq = api.subscribe("125", 0)["seq"]
    assert api.call("hangup", extenOrUniqueId="125").json() == {"Message": "Channel Hungup", "Code": 0}
    assert statuses(api.subscribe("125", seq, timeout=1), "125") == ["Hungup"]
    assert api.subscribe("125", 0)["Data"] == {}
    assert control.calls() == []


def test_hangup_by_unique_id_drops_only_that_call(api: Api, control: ControlClient) -> None:
    first = control.inbound_call("0398765432", "126")
    second = control.inbound_call("0398765433", "126")
    assert api.call("hangup", extenOrUniqueId=first).json()["Code"] == 0
    assert [c["unique_id"] for c in control.calls()] == [second]


def test_hangup_tolerates_technology_and_refuses_unknown_channels(api: Api) -> None:
    api.dial("SIP/127")
    assert api.call("hangup", extenOrUniqueId="SIP/127").json()["Code"] == 0
    refused = api.call("hangup", extenOrUniqueId="127")
    assert refused.status_code == 200
    assert refused.json()["Code"] == -1
    assert api.call("hangup", extenOrUniqueId="1412749510.488").json()["Code"] == -1


def test_hangup_while_the_handset_rings_stops_the_call(api: Api, control: ControlClient) -> None:
    control.config(answer_delay=0.2)
    api.dial("SIP/128")
    api.call("hangup", extenOrUniqueId="128")
    time.sleep(0.4)
    assert [e["status"] for e in control.events()] == ["Dialing Out", "Hungup"]


def test_inbound_call_rings_can_be_answered_with_or_without_technology(
    api: Api, control: ControlClient
) -> None:
    for exten in ("130", "SIP/130"):
        unique_id = control.inbound_call("0398765432", "130", queue="sales")
        ringing = api.subscribe("130", 0)["Data"]["130"][-1]["CallData"]
        assert ringing["status"] == "Ringing"
        assert ringing["canAnswer"] is True and ringing["inbound"] is True and ringing["isQueueCall"] is True
        assert ringing["callerId"] == "0398765432"
        response = api.call(
            "answer", uniqueId=unique_id, exten=exten, answerString="Call-Info:\\; answer-after=0"
        )
        assert response.json()["Code"] == 0
        answered = [
            e for e in api.subscribe("130", 0)["Data"]["130"] if e["CallData"]["uniqueCallId"] == unique_id
        ]
        assert answered[0]["CallData"]["status"] == "Connected"
        assert answered[0]["CallData"]["canAnswer"] is False


def test_answer_by_another_extension_moves_the_call(api: Api, control: ControlClient) -> None:
    unique_id = control.inbound_call("0398765432", "131")
    api.call("answer", uniqueId=unique_id, exten="SIP/132")
    events = [(e["exten"], e["status"]) for e in control.events() if e["uniqueCallId"] == unique_id]
    assert events == [("131", "Ringing"), ("131", "Unlinked"), ("132", "Connected")]


def test_answer_of_an_unknown_or_answered_call_is_refused_in_the_code(
    api: Api, control: ControlClient
) -> None:
    assert api.call("answer", uniqueId="1.1", exten="101").json()["Code"] == -1
    unique_id = control.inbound_call("0398765432", "133")
    control.answer(unique_id)
    response = api.call("answer", uniqueId=unique_id, exten="133")
    assert response.status_code == 200 and response.json()["Code"] == -1


def test_transfer_unlinks_the_old_extension_and_connects_the_new(api: Api, control: ControlClient) -> None:
    unique_id = api.connected_call("134")
    control.transfer(unique_id, "135")
    events: list[dict[str, Any]] = [e for e in control.events() if e["uniqueCallId"] == unique_id]
    assert [(e["exten"], e["status"]) for e in events][-2:] == [("134", "Unlinked"), ("135", "Connected")]
    assert api.subscribe("134", 0)["Data"] == {}
    assert statuses(api.subscribe("135", 0), "135") == ["Connected"]


def test_event_log_records_seq_extension_status_and_call(api: Api, control: ControlClient) -> None:
    unique_id = api.connected_call("136")
    api.call("hangup", extenOrUniqueId=unique_id)
    events = control.events()
    assert [e["status"] for e in events] == ["Dialing Out", "Connected", "Hungup"]
    assert {e["exten"] for e in events} == {"136"}
    assert {e["uniqueCallId"] for e in events} == {unique_id}
    assert all(isinstance(e["time"], float) for e in events)
    assert control.events(after=events[0]["seq"]) == events[1:]


def test_the_customer_hangs_up_after_the_configured_seconds(api: Api, control: ControlClient) -> None:
    """``far_end_hangup_after``: the demo's calls end by themselves, so their recordings attach."""
    control.config(answer_delay=0, far_end_answer_delay=0, far_end_hangup_after=0.4)
    api.dial("SIP/112", autoAnswer="Call-Info:\\; answer-after=0")
    assert wait_for(lambda: statuses(api.subscribe("112", 0), "112") == ["Connected"], timeout=2)
    (call,) = control.calls()
    connected_at = time.monotonic()
    assert wait_for(lambda: not control.calls(), timeout=3)
    assert time.monotonic() - connected_at >= 0.2
    assert call["unique_id"]


def test_without_the_setting_the_customer_stays_on_the_line(api: Api, control: ControlClient) -> None:
    control.config(answer_delay=0, far_end_answer_delay=0)
    assert control.config()["far_end_hangup_after"] is None
    api.dial("SIP/113", autoAnswer="Call-Info:\\; answer-after=0")
    assert wait_for(lambda: statuses(api.subscribe("113", 0), "113") == ["Connected"], timeout=2)
    time.sleep(0.6)
    assert len(control.calls()) == 1


def test_a_negative_hangup_delay_is_refused(control: ControlClient) -> None:
    with pytest.raises(Exception, match="far_end_hangup_after must be"):
        control.config(far_end_hangup_after=-1)
