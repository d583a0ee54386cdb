"""The Noojee PBX client: one method per API method, typed replies, typed errors.

Pure Python (``requests``), no Django: usable from a plain script::

    client = NoojeeClient("https://pbx.example.com", api_key=os.environ["NOOJEE_API_KEY"])
    client.dial("0383208100", "SIP/101", auto_answer="Call-Info:\\\\; answer-after=0")

Every point the published protocol leaves open ([assumed] in the protocol reference) is a constructor
argument, so a real server that differs is met by a setting, not a code change. Which calls are
retried, and why, is explained in :mod:`.transport`; in short: reads yes, ``dial``, ``hangup``,
``answer``, ``start_recording`` and ``stop_recording`` never.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, BinaryIO

import requests

from .audio import AUDIO_ENCODINGS, write_audio
from .auth import DEFAULT_PAIR_LIFETIME, Authenticator
from .errors import ConfigurationError, ProtocolError
from .parsing import parse_dial, parse_metadata, parse_reply, parse_subscribe
from .transport import (
    DEFAULT_DOWNLOAD_DEADLINE,
    DEFAULT_DOWNLOAD_MIN_RATE,
    DEFAULT_MAX_REPLY_BYTES,
    RetryPolicy,
    Stream,
    Timeout,
    Transport,
    check_positive,
)
from .types import AudioInfo, DialResult, LegMetadata, Reply, SubscribeResult

logger = logging.getLogger("noojee_django.client")

SELECTORS = ("unique_id_leg", "call_record_id")
#: ``retrieveMetaDataByHour`` lists every leg of a whole hour of the PBX: a busy one is megabytes.
DEFAULT_MAX_HOURLY_METADATA_BYTES = 32 * 1024 * 1024
DEFAULT_USER_AGENT = "noojee-django (python-requests)"
#: What a user key may not call on the REST API: ``subscribe``, the one non-campaign method Noojee
#: names. Everything else is filtered by the PBX to the campaigns of the user's teams.
USER_KEY_REFUSED = frozenset({"subscribe"})


def _path(value: str, setting: str) -> str:
    if not isinstance(value, str) or not value.strip("/"):
        raise ConfigurationError(f"{setting} must be a URL path such as /njadmin/rest/RecordingAPI")
    return "/" + value.strip("/")


def _time_zone(value: str | dt.tzinfo) -> dt.tzinfo:
    if isinstance(value, dt.tzinfo):
        return value
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigurationError(f"unknown PBX time zone {value!r} (a zoneinfo name such as UTC)") from None


def _bare_extension(exten: str) -> str:
    """``SIP/410-12FA7B`` -> ``410``: subscribe wants extension numbers without tech."""
    if "/" not in exten:
        return exten.strip()
    return exten.split("/", 1)[1].split("-", 1)[0].strip()


class _ApiClient:
    """What both clients share: a :class:`Transport`, a redacting repr, and streamed audio."""

    transport: Transport

    def __repr__(self) -> str:
        t = self.transport
        return f"<{type(self).__name__} {t.base_url} auth={t.auth.mode} key={t.key_kind}>"

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def key_kind(self) -> str:
        """``global`` or ``user``, as the client was built."""
        return self.transport.key_kind

    def may_call(self, method: str) -> bool:
        """Whether this client's key may call the PBX method ``method`` (``subscribe``, ``dial``...).

        A client with a user key answers False for the methods Noojee closes to user keys, and
        raises :class:`~.errors.KeyScopeError` if one is called anyway, without sending anything.
        """
        return self.transport.may_call(method)

    @property
    def auth(self) -> Authenticator:
        return self.transport.auth

    @property
    def session(self) -> requests.Session:
        return self.transport.session

    def server_time(self) -> int:
        """The PBX clock in epoch milliseconds."""
        return self.transport.server_time()

    def _stream_audio(
        self,
        stream: Stream,
        out: BinaryIO,
        *,
        name: str,
        encoding: str,
        json_field: str,
        chunk_size: int,
    ) -> AudioInfo:
        response = stream.response
        return write_audio(
            self.transport.iter_body(response, name, chunk_size, stream.deadline),
            out,
            encoding=encoding,
            json_field=json_field,
            json_error=lambda body: self.transport.error_for(response.status_code, body, name),
        )


class NoojeeClient(_ApiClient):
    """A client for the Noojee REST API: call control, subscribe, recording metadata and audio.

    One instance may be shared by threads (a worker's pool): ``requests.Session`` pools connections,
    and the authentication state sits behind a lock.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        auth: str = "apikey",
        key_kind: str = "global",
        user_key_refused: Collection[str] = USER_KEY_REFUSED,
        timeout: Timeout = 10.0,
        verify: bool | str = True,
        session: requests.Session | None = None,
        pbx_time_zone: str | dt.tzinfo = "UTC",
        recording_api_path: str = "/njadmin/rest/RecordingAPI",
        call_api_path: str = "/servicemanager/rest/CallManagementAPI",
        time_path: str = "/servicemanager/rest/Time",
        retrieve_recording_method: str = "retrieveRecording",
        retrieve_recording_selector: str = "unique_id_leg",
        audio_encoding: str = "auto",
        audio_json_field: str = "Audio",
        retry: RetryPolicy | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        hash_pair_lifetime: float = DEFAULT_PAIR_LIFETIME,
        sleep: Callable[[float], None] = time.sleep,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_hourly_metadata_bytes: int = DEFAULT_MAX_HOURLY_METADATA_BYTES,
        download_min_rate: float = DEFAULT_DOWNLOAD_MIN_RATE,
        download_deadline: float | None = DEFAULT_DOWNLOAD_DEADLINE,
    ) -> None:
        if retrieve_recording_selector not in SELECTORS:
            raise ConfigurationError(f"retrieve_recording_selector must be one of {', '.join(SELECTORS)}")
        if audio_encoding not in AUDIO_ENCODINGS:
            raise ConfigurationError(f"audio_encoding must be one of {', '.join(AUDIO_ENCODINGS)}")
        if not retrieve_recording_method or "/" in retrieve_recording_method:
            raise ConfigurationError(
                "retrieve_recording_method must be a method name such as retrieveRecording"
            )
        self.pbx_time_zone = _time_zone(pbx_time_zone)
        self.call_api_path = _path(call_api_path, "call_api_path")
        self.recording_api_path = _path(recording_api_path, "recording_api_path")
        self.retrieve_recording_method = retrieve_recording_method
        self.retrieve_recording_selector = retrieve_recording_selector
        self.audio_encoding = audio_encoding
        self.audio_json_field = audio_json_field
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
        self.max_hourly_metadata_bytes: int = check_positive(
            max_hourly_metadata_bytes, "max_hourly_metadata_bytes", integer=True
        )
        self.transport.audio_methods.add(retrieve_recording_method)

    def _call_api(self, method: str, params: Mapping[str, Any], *, retry: bool, **kwargs: Any) -> Any:
        return self.transport.call(
            "POST", f"{self.call_api_path}/{method}", params, name=method, retry=retry, **kwargs
        )

    def _recording_api(self, method: str, params: Mapping[str, Any], **kwargs: Any) -> Any:
        return self.transport.call(
            "POST", f"{self.recording_api_path}/{method}", params, name=method, retry=True, **kwargs
        )

    # ------------------------------------------------------------------------------------------ calls

    def dial(
        self,
        number: str,
        exten: str,
        *,
        auto_answer: str | None = None,
        caller_id: str | None = None,
        phone_caption: str | None = None,
        monitored: bool = False,
        record: bool = False,
        tag: str | None = None,
    ) -> DialResult:
        """Ring ``exten`` (with tech: ``SIP/101``), then ``number``.

        Never retried, not even after a connect failure: the only resend is after an authentication
        refusal, when the PBX provably did nothing.
        """
        params = {
            "number": number,
            "extenOrUniqueId": exten,
            "autoAnswer": auto_answer or None,
            "callerId": caller_id or None,
            "phoneCaption": phone_caption or None,
            "monitored": "yes" if monitored else None,
            "record": "true" if record else None,
            "tag": tag or None,
        }
        return parse_dial(self._call_api("dial", params, retry=False))

    def hangup(self, exten_or_unique_id: str) -> Reply:
        """By channel unique id when you have it: by extension may drop the wrong one of several calls."""
        return parse_reply(self._call_api("hangup", {"extenOrUniqueId": exten_or_unique_id}, retry=False))

    def answer(self, unique_id: str, exten: str, answer_string: str | None = None) -> Reply:
        params = {"uniqueId": unique_id, "exten": exten, "answerString": answer_string or None}
        return parse_reply(self._call_api("answer", params, retry=False))

    def subscribe(
        self, extensions: Sequence[str], last_sequence_number: int, timeout: int = 10
    ) -> SubscribeResult:
        """Long poll: the PBX may hold the request ``timeout`` seconds, so the read timeout is that
        plus the client's own. Pass the returned ``seq`` to the next poll, or events are lost.

        Not for a user key: :class:`~.errors.KeyScopeError` before anything is sent."""
        if isinstance(extensions, str):
            extensions = [extensions]
        params = {
            "exten": ",".join(_bare_extension(e) for e in extensions),
            "lastSequenceNumber": int(last_sequence_number),
            "timeOut": int(timeout),
            "instanceId": 1,
        }
        body = self._call_api("subscribe", params, retry=True, read_extra=float(max(0, timeout)))
        result = parse_subscribe(body, self.pbx_time_zone)
        if result.unreadable:
            logger.warning(
                "subscribe: %d event(s) could not be read and were left out: %s",
                len(result.unreadable),
                self.transport.redact("; ".join(result.unreadable))[:500],
            )
        return result

    def start_recording(
        self, exten_or_unique_id: str, *, agent_login_name: str | None = None, tag: str | None = None
    ) -> Reply:
        params = {
            "extenOrUniqueId": exten_or_unique_id,
            "agentLoginName": agent_login_name or None,
            "tag": tag or None,
        }
        return parse_reply(self._call_api("start", params, retry=False))

    def stop_recording(self, exten_or_unique_id: str, *, agent_login_name: str | None = None) -> Reply:
        params = {"extenOrUniqueId": exten_or_unique_id, "agentLoginName": agent_login_name or None}
        return parse_reply(self._call_api("stop", params, retry=False))

    # ------------------------------------------------------------------------------------------ metadata

    def _metadata(
        self, method: str, params: Mapping[str, Any], max_bytes: int | None = None
    ) -> list[LegMetadata]:
        body = self._recording_api(method, params, max_bytes=max_bytes)
        if body is None:
            return []
        if isinstance(body, Mapping):
            # Refusals are objects, never arrays: tell them apart from "no legs".
            raise self.transport.error_for(200, body, method)
        try:
            return parse_metadata(body, self.pbx_time_zone)
        except ProtocolError as exc:
            exc.method = method
            raise

    def retrieve_metadata(self, tag: str) -> list[LegMetadata]:
        return self._metadata("retrieveMetaData", {"tag": tag})

    def retrieve_metadata_by_unique_id(self, unique_id: str) -> list[LegMetadata]:
        return self._metadata("retrieveMetaDataByUniqueId", {"uniqueId": unique_id})

    def retrieve_metadata_by_hour(self, date: dt.date, hour: int) -> list[LegMetadata]:
        """Legs that *ended* in that hour of the PBX's day. The PBX allows one call a minute."""
        if not 0 <= hour <= 23:
            raise ValueError("hour must be 0..23")
        params = {"date": date.strftime("%Y/%m/%d"), "hour": hour}
        return self._metadata("retrieveMetaDataByHour", params, self.max_hourly_metadata_bytes)

    # ------------------------------------------------------------------------------------------ audio

    def download_leg(
        self,
        out: BinaryIO,
        *,
        unique_id: str | None = None,
        leg: int | None = None,
        call_record_id: int | None = None,
        chunk_size: int = 64 * 1024,
    ) -> AudioInfo:
        """Stream one leg's WAV into ``out``, verifying it as it goes; returns its measurements.

        Failures before the body starts (connect errors, 5xx) are retried. Once bytes may have been
        written to ``out`` nothing is retried: ``out`` belongs to the caller, who starts again with a
        fresh file (the pipeline downloads into a temporary file and stores it only after success).
        """
        if self.retrieve_recording_selector == "call_record_id":
            if call_record_id is None:
                raise ValueError("call_record_id is required with the call_record_id selector")
            params: dict[str, Any] = {"callRecordId": int(call_record_id)}
        else:
            if unique_id is None or leg is None:
                raise ValueError("unique_id and leg are required with the unique_id_leg selector")
            params = {"uniqueId": unique_id, "leg": int(leg)}
        method = self.retrieve_recording_method
        stream = self._recording_api(method, params, expect="stream")
        return self._stream_audio(
            stream,
            out,
            name=method,
            encoding=self.audio_encoding,
            json_field=self.audio_json_field,
            chunk_size=chunk_size,
        )
