"""The deprecated Recording API 2.7.14.x (servers before 4.0), over plain HTTP GET.

``/servicemanager/services/njadmin-api-recording?method=...``: start and stop a recording, and retrieve
a recording by tag or by unique id as one base64-encoded WAV (all legs joined). It authenticates,
fails and streams exactly like :class:`~.client.NoojeeClient`: both sit on the same
:class:`~.transport.Transport` and the same audio decoder and verifier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, BinaryIO

import requests

from .auth import DEFAULT_PAIR_LIFETIME
from .client import DEFAULT_USER_AGENT, _ApiClient, _path
from .parsing import parse_reply
from .transport import (
    DEFAULT_DOWNLOAD_DEADLINE,
    DEFAULT_DOWNLOAD_MIN_RATE,
    DEFAULT_MAX_REPLY_BYTES,
    RetryPolicy,
    Timeout,
    Transport,
)
from .types import AudioInfo, Reply

LEGACY_PATH = "/servicemanager/services/njadmin-api-recording"
#: The deprecated API predates API keys, let alone user keys, and has no campaigns to filter by: this
#: project assumes a server refuses all of it to a user key.
LEGACY_USER_KEY_REFUSED = frozenset({"start", "stop", "retrieve", "retrieveByUniqueId"})


class LegacyRecordingClient(_ApiClient):
    """For servers older than 4.0. Deprecated by Noojee; use :class:`NoojeeClient` where possible."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        auth: str = "apikey",
        key_kind: str = "global",
        user_key_refused: Collection[str] = LEGACY_USER_KEY_REFUSED,
        timeout: Timeout = 10.0,
        verify: bool | str = True,
        session: requests.Session | None = None,
        path: str = LEGACY_PATH,
        time_path: str = "/servicemanager/rest/Time",
        retry: RetryPolicy | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        hash_pair_lifetime: float = DEFAULT_PAIR_LIFETIME,
        sleep: Callable[[float], None] = time.sleep,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        download_min_rate: float = DEFAULT_DOWNLOAD_MIN_RATE,
        download_deadline: float | None = DEFAULT_DOWNLOAD_DEADLINE,
    ) -> None:
        self.path = _path(path, "path")
        self.transport = Transport(
            base_url,
            api_key=api_key,
            auth=auth,
            timeout=timeout,
            verify=verify,
            session=session,
            retry=retry,
            time_path=_path(time_path, "time_path"),
            user_agent=user_agent,
            hash_pair_lifetime=hash_pair_lifetime,
            sleep=sleep,
            max_reply_bytes=max_reply_bytes,
            download_min_rate=download_min_rate,
            download_deadline=download_deadline,
            key_kind=key_kind,
            user_key_refused=user_key_refused,
        )

    def _get(self, method: str, params: Mapping[str, Any], *, retry: bool, expect: str) -> Any:
        return self.transport.call(
            "GET", self.path, {"method": method, **params}, name=method, retry=retry, expect=expect
        )

    def start(self, exten_or_unique_id: str, *, tag: str | None = None) -> Reply:
        """``tag`` becomes the call record's "External Reference". Never retried."""
        params = {"extenOrUniqueId": exten_or_unique_id, "tag": tag or None}
        return self._reply(self._get("start", params, retry=False, expect="reply"))

    def stop(self, exten_or_unique_id: str) -> Reply:
        params = {"extenOrUniqueId": exten_or_unique_id}
        return self._reply(self._get("stop", params, retry=False, expect="reply"))

    def retrieve(
        self, out: BinaryIO, *, tag: str, username: str | None = None, chunk_size: int = 64 * 1024
    ) -> AudioInfo:
        """Every leg with ``tag``, joined in order as one WAV, streamed into ``out``.

        As with :meth:`NoojeeClient.download_leg`, only failures before the body starts are retried.
        """
        params = {"tag": tag, "username": username or None}
        stream = self._get("retrieve", params, retry=True, expect="stream")
        return self._stream_audio(
            stream, out, name="retrieve", encoding="auto", json_field="Audio", chunk_size=chunk_size
        )

    def retrieve_by_unique_id(
        self, out: BinaryIO, *, unique_id: str, username: str | None = None, chunk_size: int = 64 * 1024
    ) -> AudioInfo:
        params = {"uniqueId": unique_id, "username": username or None}
        stream = self._get("retrieveByUniqueId", params, retry=True, expect="stream")
        return self._stream_audio(
            stream,
            out,
            name="retrieveByUniqueId",
            encoding="auto",
            json_field="Audio",
            chunk_size=chunk_size,
        )

    @staticmethod
    def _reply(body: Any) -> Reply:
        """A JSON envelope (as newer servers answer) or the plain-text message of the 2.7 API."""
        if isinstance(body, str):
            return Reply(0, body)
        return parse_reply(body)
