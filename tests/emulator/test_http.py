"""Transport: paths, HTTP methods, parameters, the control API and concurrency."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from noojee_django.emulator import ControlClient, ControlError, EmulatorConfig, EmulatorServer

from .helpers import API_KEY, CALLS, LEGACY, RECORDINGS, TIME, Api


@pytest.mark.parametrize(
    "path", ["/nothing", CALLS + "nosuchmethod", "/njadmin/rest/RecordingAPI/dial", "/servicemanager/rest"]
)
def test_unknown_path_is_404_with_an_html_body(api: Api, path: str) -> None:
    response = requests.post(api.url + path, params={"apiKey": API_KEY})
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!doctype html>")


@pytest.mark.parametrize("method", ["dial", "hangup", "answer", "subscribe"])
def test_get_on_a_post_only_call_method_is_405(api: Api, method: str) -> None:
    response = requests.get(api.url + CALLS + method, params={"apiKey": API_KEY})
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("method", ["retrieveMetaData", "retrieveMetaDataByUniqueId", "retrieveRecording"])
def test_get_on_metadata_methods_is_405(api: Api, method: str) -> None:
    assert requests.get(api.url + RECORDINGS + method, params={"apiKey": API_KEY}).status_code == 405


def test_time_is_post_only(api: Api) -> None:
    assert requests.get(api.url + TIME).status_code == 405


def test_start_and_stop_accept_get_like_the_java_client(api: Api) -> None:
    api.connected_call("104")
    params = {"apiKey": API_KEY, "extenOrUniqueId": "SIP/104", "tag": "GET-1"}
    assert requests.get(api.url + CALLS + "start", params=params).json()["Code"] == 0
    assert requests.get(api.url + CALLS + "stop", params=params).json()["Code"] == 0


def test_deprecated_api_is_get_only(api: Api) -> None:
    assert (
        requests.post(
            api.url + LEGACY, params={"apiKey": API_KEY, "method": "retrieve", "tag": "x"}
        ).status_code
        == 405
    )


def test_parameters_may_come_in_a_form_encoded_body(api: Api) -> None:
    response = requests.post(
        api.url + CALLS + "dial",
        data={"apiKey": API_KEY, "number": "0383208100", "extenOrUniqueId": "SIP/105"},
    )
    assert response.json()["Code"] == 0


def test_parameter_names_are_case_sensitive(api: Api) -> None:
    response = requests.post(
        api.url + CALLS + "dial", params={"apikey": API_KEY, "number": "1", "extenOrUniqueId": "SIP/1"}
    )
    assert response.json() == {"Code": -1, "Message": "Invalid apiKey"}


def test_stats_count_requests_by_pbx_method_and_reset_clears_them(api: Api, control: ControlClient) -> None:
    api.dial()
    api.dial()
    api.subscribe("101", 0)
    requests.post(api.url + TIME)
    requests.post(api.url + "/nowhere")
    stats = control.stats()
    assert stats["requests"] == {"dial": 2, "subscribe": 1, "Time": 1}
    assert stats["total"] == 4
    control.reset()
    assert control.stats()["requests"] == {}
    assert control.calls() == []


@pytest.mark.parametrize("prefix", ["/njadmin/rest/RecordingAPI/", CALLS, "/rest/RecordingAPI/"])
def test_metadata_is_served_under_all_three_historic_prefixes(
    api: Api, control: ControlClient, prefix: str
) -> None:
    control.add_recording("PFX", [1])
    assert len(api.rec("retrieveMetaData", prefix=prefix, tag="PFX").json()) == 1


def test_recording_api_paths_can_be_narrowed(api: Api, control: ControlClient) -> None:
    control.config(recording_api_paths=["/rest/RecordingAPI"])
    assert api.rec("retrieveMetaData", tag="x").status_code == 404
    assert api.rec("retrieveMetaData", prefix="/rest/RecordingAPI/", tag="x").json() == []


def test_config_changes_are_validated_and_reset_can_restore_them(control: ControlClient) -> None:
    assert control.config(latency=0.01)["latency"] == 0.01
    for bad in ({"no_such_field": 1}, {"port": 1}, {"audio_encoding": "mp3"}, {"pbx_time_zone": "Mars/Base"}):
        with pytest.raises(ControlError) as refused:
            control.config(**bad)
        assert refused.value.status == 400
    control.reset()
    assert control.config()["latency"] == 0.01
    control.reset(config=True)
    assert control.config()["latency"] == 0.0


def test_unknown_control_endpoint_is_404(control: ControlClient) -> None:
    with pytest.raises(ControlError) as refused:
        control._json("GET", "nothing")
    assert refused.value.status == 404


def test_global_latency_delays_every_pbx_request(api: Api, control: ControlClient) -> None:
    control.config(latency=1.0)
    started = time.monotonic()
    requests.post(api.url + TIME)
    assert time.monotonic() - started >= 1.0
    started = time.monotonic()
    control.stats()
    assert time.monotonic() - started < 1.0  # the control API is never delayed


def test_long_polls_do_not_block_other_requests(api: Api, control: ControlClient) -> None:
    control.inbound_call(exten="500")  # an event elsewhere, so that seq is past the snapshot value 0
    seq = str(control.stats()["seq"])

    def poll(_: int) -> float:
        session = requests.Session()
        started = time.monotonic()
        reply = session.post(
            api.url + CALLS + "subscribe",
            params={"apiKey": API_KEY, "exten": f"9{_}", "lastSequenceNumber": seq, "timeOut": "3"},
        )
        assert reply.status_code == 200
        return time.monotonic() - started

    with ThreadPoolExecutor(60) as pool:
        futures = [pool.submit(poll, i) for i in range(60)]
        time.sleep(0.5)
        started = time.monotonic()
        assert requests.post(api.url + TIME, timeout=5).status_code == 200
        answered_in = time.monotonic() - started
        held = [f.result() for f in futures]
    assert min(held) >= 2.5  # the polls really were held
    assert answered_in < 2  # and the other request was not queued behind them


def test_two_hundred_concurrent_requests_are_all_served(api: Api) -> None:
    barrier = threading.Barrier(200)

    def hit(_: int) -> int:
        barrier.wait()
        return requests.post(api.url + TIME, timeout=20).status_code

    with ThreadPoolExecutor(200) as pool:
        assert set(pool.map(hit, range(200))) == {200}


def test_server_binds_a_free_port_and_stops_cleanly() -> None:
    with EmulatorServer(EmulatorConfig(api_key="k", port=0)) as emulator:
        url = emulator.url
        assert url.startswith("http://127.0.0.1:")
        assert requests.post(url + TIME).status_code == 200
        assert emulator.control.stats()["requests"] == {"Time": 1}
    with pytest.raises(requests.ConnectionError):
        requests.post(url + TIME, timeout=2)
