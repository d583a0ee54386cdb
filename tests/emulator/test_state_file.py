"""The state file: a restarted emulator is the same PBX (calls, legs, byte-identical audio, events, seq)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from noojee_django.emulator import ControlClient, EmulatorServer
from noojee_django.emulator.pytest_plugin import fixture_config
from noojee_django.emulator.state import StateFileError, load_state
from tests.servers import free_port

from .helpers import CALLS, Api, decode_wav, sha256, statuses, wait_for

REPO = Path(__file__).resolve().parents[2]

Start = Callable[..., EmulatorServer]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """``start(**overrides)``: an emulator on the test's state file; every one is stopped afterwards."""
    running: list[EmulatorServer] = []

    def make(**overrides: Any) -> EmulatorServer:
        settings = {"state_file": str(tmp_path / "state.json"), **overrides}
        emulator = EmulatorServer(fixture_config(**settings)).start()
        running.append(emulator)
        return emulator

    yield make
    for emulator in running:
        emulator.stop()


def leg_audio(api: Api, leg: dict[str, Any]) -> str:
    response = api.rec("retrieveRecording", uniqueId=leg["unique_id"], leg=leg["leg"])
    assert response.status_code == 200, response.text
    return sha256(decode_wav(response.content))


def test_a_restarted_emulator_serves_the_same_metadata_and_byte_identical_audio(start: Start) -> None:
    first = start()
    control = first.control
    scripted = control.add_recording("INV-1", [3, 2, 1], direction="inbound", duplicate_rows=True)
    api = Api(first.url)
    live_call = api.connected_call("150")
    api.call("start", extenOrUniqueId="150", tag="INV-2", agentLoginName="fred")
    time.sleep(1.1)  # a live leg's length comes from the clock: let it be more than one second
    api.call("hangup", extenOrUniqueId=live_call)
    metadata = {tag: api.rec("retrieveMetaData", tag=tag).json() for tag in ("INV-1", "INV-2")}
    legs = control.recordings()
    audio = {leg["call_record_id"]: leg_audio(api, leg) for leg in legs}
    first.stop()

    second = start()
    api = Api(second.url)
    assert {tag: api.rec("retrieveMetaData", tag=tag).json() for tag in ("INV-1", "INV-2")} == metadata
    assert second.control.recordings() == legs
    assert {leg["call_record_id"]: leg_audio(api, leg) for leg in legs} == audio
    # the sha256 the control API announced when the recording was made is the audio served after
    assert [audio[leg["call_record_id"]] for leg in scripted["legs"]] == [
        leg["sha256"] for leg in scripted["legs"]
    ]
    assert len(metadata["INV-1"]) == 6  # duplicate_rows survived too


def test_seq_and_every_id_continue_after_a_restart_instead_of_starting_again(start: Start) -> None:
    first = start()
    api = Api(first.url)
    unique_id = api.connected_call("151")
    before = first.control.add_recording("T-1", [1])
    seq = first.control.stats()["seq"]
    events = first.control.events()
    first.stop()

    second = start()
    assert second.control.stats()["seq"] == seq
    assert second.control.events() == events
    api = Api(second.url)
    # a listener resuming at the old seq gets the new events only, not a snapshot of old calls
    api.call("hangup", extenOrUniqueId=unique_id)
    reply = api.subscribe("151", seq, timeout=2)
    assert reply["seq"] == seq + 1 and statuses(reply, "151") == ["Hungup"]
    after = second.control.add_recording("T-2", [1])
    assert after["legs"][0]["call_record_id"] > before["legs"][0]["call_record_id"]
    assert float(after["unique_id"].split(".")[1]) > float(before["unique_id"].split(".")[1])
    assert api.dial("SIP/152")["SessionID"] == 2  # the first emulator gave out session 1


def test_a_call_ringing_at_shutdown_connects_after_the_restart(start: Start) -> None:
    first = start(answer_delay=0.5, far_end_answer_delay=0.1)
    api = Api(first.url)
    api.dial("SIP/153")
    first.stop()  # the handset had not answered yet

    second = start(answer_delay=0.1, far_end_answer_delay=0.1)
    wait_for(lambda: "Connected" in [e["status"] for e in second.control.events() if e["exten"] == "153"])


def test_a_recording_in_progress_is_still_in_progress_after_the_restart(start: Start) -> None:
    first = start()
    recording = first.control.add_recording("LIVE-1", [2], in_progress=True)
    first.stop()

    second = start()
    api = Api(second.url)
    (leg,) = recording["legs"]
    assert api.rec("retrieveRecording", uniqueId=leg["unique_id"], leg=1).status_code == 409
    second.control.hangup(recording["unique_id"])
    assert api.rec("retrieveRecording", uniqueId=leg["unique_id"], leg=1).status_code == 200


def test_the_file_is_written_soon_after_a_change_not_only_at_shutdown(start: Start, tmp_path: Path) -> None:
    emulator = start()
    emulator.control.add_recording("EARLY", [1])
    state_file = tmp_path / "state.json"
    wait_for(lambda: (load_state(state_file) or {}).get("legs"), timeout=3)
    # what a crash would leave behind is a whole, loadable file
    copy = tmp_path / "copy.json"
    copy.write_bytes(state_file.read_bytes())
    other = start(state_file=str(copy))
    assert [leg["tag"] for leg in other.control.recordings()] == ["EARLY"]
    assert not list(tmp_path.glob(".state.json.*"))  # no temporary file left beside it


def test_a_reset_empties_the_file_but_not_the_counters(start: Start, tmp_path: Path) -> None:
    first = start()
    first.control.add_recording("GONE", [1])
    api = Api(first.url)
    api.connected_call("154")
    seq = first.control.stats()["seq"]
    first.control.reset()
    first.stop()

    second = start()
    assert second.control.recordings() == [] and second.control.calls() == []
    assert second.control.stats()["seq"] == seq


def test_a_state_file_that_is_not_one_is_refused_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "noojee-emulator-state", "version": 1, "st')
    with pytest.raises(StateFileError, match=r"broken\.json"):
        EmulatorServer(fixture_config(state_file=str(broken)))
    broken.write_text(json.dumps({"something": "else"}))
    with pytest.raises(StateFileError, match="not an emulator state file"):
        EmulatorServer(fixture_config(state_file=str(broken)))


def test_the_state_file_cannot_change_while_the_emulator_runs(start: Start, tmp_path: Path) -> None:
    emulator = start()
    with pytest.raises(Exception, match="cannot change"):
        emulator.control.config(state_file=str(tmp_path / "other.json"))
    assert emulator.control.config()["state_file"] == str(tmp_path / "state.json")


def _serve(port: int, state_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    command = [
        sys.executable, "-m", "noojee_django.emulator", "--port", str(port), "--api-key", "state-key",
        "--state-file", str(state_file), "--quiet", "--answer-delay", "0.05",
        "--far-end-answer-delay", "0.05",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert process.stdout is not None
    return process, process.stdout.readline().decode().strip()


def test_the_command_line_emulator_keeps_its_state_across_sigterm_and_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "pbx.json"
    port = free_port()
    process, url = _serve(port, state_file)
    try:
        control = ControlClient(url)
        recording = control.add_recording("CLI-1", [2, 1])
        params = {"apiKey": "state-key", "number": "0383208100", "extenOrUniqueId": "SIP/155"}
        assert requests.post(url + CALLS + "dial", params=params, timeout=5).json()["Code"] == 0
        wait_for(lambda: control.stats()["seq"] >= 2)
        seq = control.stats()["seq"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    process, again = _serve(port, state_file)
    try:
        assert again == url  # same port: clients find it where it was
        control = ControlClient(again)
        assert control.stats()["seq"] == seq
        for leg in recording["legs"]:
            assert sha256(control.audio(leg["call_record_id"])) == leg["sha256"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def test_a_bad_state_file_stops_the_command_line_emulator_with_a_message(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("not json")
    result = subprocess.run(
        [sys.executable, "-m", "noojee_django.emulator", "--port", "0", "--api-key", "k",
         "--state-file", str(broken)],
        capture_output=True, cwd=REPO, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert b"broken.json" in result.stderr and b"Traceback" not in result.stderr
