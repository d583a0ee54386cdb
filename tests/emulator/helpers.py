"""Plain-``requests`` access to the emulator, independent of the app's own client."""

from __future__ import annotations

import base64
import hashlib
import io
import wave
from typing import Any

import requests

from noojee_django.emulator.pytest_plugin import TEST_API_KEY, TEST_USER_KEY
from tests.polling import wait_for

API_KEY = TEST_API_KEY
USER_KEY = TEST_USER_KEY
CALLS = "/servicemanager/rest/CallManagementAPI/"
RECORDINGS = "/njadmin/rest/RecordingAPI/"
TIME = "/servicemanager/rest/Time"
LEGACY = "/servicemanager/services/njadmin-api-recording"


class Api:
    """One PBX, one key: each method posts to the path Noojee documents and returns the response."""

    def __init__(self, url: str, key: str = API_KEY) -> None:
        self.url = url
        self.key = key
        self.session = requests.Session()

    def call(self, method: str, **params: Any) -> requests.Response:
        return self.session.post(self.url + CALLS + method, params={"apiKey": self.key, **params}, timeout=30)

    def rec(self, method: str, prefix: str = RECORDINGS, **params: Any) -> requests.Response:
        return self.session.post(
            self.url + prefix + method, params={"apiKey": self.key, **params}, timeout=60
        )

    def legacy(self, **params: Any) -> requests.Response:
        return self.session.get(self.url + LEGACY, params={"apiKey": self.key, **params}, timeout=60)

    def subscribe(self, exten: str, last: int, timeout: float = 0) -> dict[str, Any]:
        response = self.call("subscribe", exten=exten, lastSequenceNumber=last, timeOut=timeout, instanceId=1)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def dial(self, exten: str = "SIP/101", number: str = "0383208100", **params: Any) -> dict[str, Any]:
        response = self.call("dial", number=number, extenOrUniqueId=exten, **params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def connected_call(self, exten: str = "101", **params: Any) -> str:
        """Dial from ``exten`` and wait until it is connected; returns the call's unique id."""
        self.dial(f"SIP/{exten}", autoAnswer="Call-Info:\\; answer-after=0", **params)
        return wait_for(lambda: connected_unique_id(self, exten))


def statuses(reply: dict[str, Any], exten: str) -> list[str]:
    return [entry["CallData"]["status"] for entry in reply.get("Data", {}).get(exten, [])]


def connected_unique_id(api: Api, exten: str) -> str | None:
    for entry in api.subscribe(exten, 0)["Data"].get(exten, []):
        if entry["CallData"]["status"] == "Connected":
            return str(entry["CallData"]["uniqueCallId"])
    return None


def decode_wav(body: bytes) -> bytes:
    """The WAV inside a base64 text body (any line breaks)."""
    return base64.b64decode(b"".join(body.split()), validate=True)


def wav_info(data: bytes) -> tuple[int, int, int, int]:
    """(rate, width, channels, frames) read by the standard library's WAV reader."""
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getframerate(), reader.getsampwidth(), reader.getnchannels(), reader.getnframes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
