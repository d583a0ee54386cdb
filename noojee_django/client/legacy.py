"""The deprecated Recording API 2.7.14.x (servers before 4.0), over plain HTTP GET.

``/servicemanager/services/njadmin-api-recording?method=...``: start, stop, and retrieve a recording by
tag or unique id as one base64-encoded WAV. Authentication works as for the current API.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from .client import _HttpClient
from .parsing import parse_reply
from .types import AudioInfo, Reply

LEGACY_PATH = "/servicemanager/services/njadmin-api-recording"
CHUNK = 64 * 1024


class LegacyRecordingClient(_HttpClient):
    def _get(self, method: str, params: dict[str, Any], *, retry: bool, expect: str = "text") -> Any:
        return self._call(
            "GET", LEGACY_PATH, {"method": method, **params}, name=method, retry=retry, expect=expect
        )

    def start(self, exten_or_unique_id: str, *, tag: str | None = None) -> Reply:
        return self._reply(
            self._get("start", {"extenOrUniqueId": exten_or_unique_id, "tag": tag}, retry=False)
        )

    def stop(self, exten_or_unique_id: str) -> Reply:
        return self._reply(self._get("stop", {"extenOrUniqueId": exten_or_unique_id}, retry=False))

    def retrieve(self, out: BinaryIO, *, tag: str, username: str | None = None) -> AudioInfo:
        """The whole recording of ``tag`` (all legs joined) as one WAV, streamed into ``out``."""
        response = self._get("retrieve", {"tag": tag, "username": username}, retry=True, expect="stream")
        return self._stream_audio(
            response, out, name="retrieve", encoding="auto", json_field="Audio", chunk_size=64 * 1024
        )

    def retrieve_by_unique_id(
        self, out: BinaryIO, *, unique_id: str, username: str | None = None
    ) -> AudioInfo:
        response = self._get(
            "retrieveByUniqueId", {"uniqueId": unique_id, "username": username}, retry=True, expect="stream"
        )
        return self._stream_audio(
            response, out, name="retrieveByUniqueId", encoding="auto", json_field="Audio", chunk_size=CHUNK
        )

    @staticmethod
    def _reply(text: str) -> Reply:
        stripped = (text or "").strip()
        if stripped.startswith("{"):
            import json

            return parse_reply(json.loads(stripped))
        return Reply(0, stripped)
