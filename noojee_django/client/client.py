"""The Noojee PBX client: one method per API method, typed replies, typed errors.

Pure Python (``requests``), no Django: usable from a plain script::

    client = NoojeeClient("https://pbx.example.com", api_key=os.environ["NOOJEE_API_KEY"])
    client.dial("0383208100", "SIP/101", auto_answer="Call-Info:\\\\; answer-after=0")

Reads (metadata, subscribe, audio) are retried on errors that may pass, with capped exponential
backoff and full jitter. Methods that change the PBX (``dial``, ``hangup``, ``answer``, ``start``,
``stop``) are never retried: a second ``dial`` would ring the customer twice. The one exception is an
authentication refusal, after which the request provably did nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .audio import Base64StreamDecoder, WavVerifier
from .auth import Authenticator
from .errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InvalidAudioError,
    NoojeeError,
    NoojeeTimeout,
    NotFoundError,
    ProtocolError,
    RateLimited,
    RecordingNotReady,
    ServerError,
    TransportError,
)
from .parsing import parse_dial, parse_metadata, parse_reply, parse_subscribe
from .redact import install_log_filter, redact_text
from .types import AudioInfo, DialResult, LegMetadata, Reply, SubscribeResult

logger = logging.getLogger("noojee_django.client")

_AUTH_WORDS = (
    "apikey",
    "api key",
    "user key",
    "hash",
    "timestamp",
    "access denied",
    "authori",
    "authenti",
    "invalid key",
)
_ERROR_BODY_LIMIT = 64 * 1024
AUDIO_ENCODINGS = ("auto", "base64", "raw", "json")
SELECTORS = ("unique_id_leg", "call_record_id")


@dataclass(frozen=True)
class RetryPolicy:
    """How reads are retried: ``max_attempts`` in all, waiting up to ``base * 2**n`` (capped) between."""

    max_attempts: int = 3
    base: float = 0.25
    cap: float = 5.0

    def delay(self, retry_number: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** min(retry_number, 30)))


class _HttpClient:
    """What the current and the deprecated APIs share: base URL, session, auth, errors, retries."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        auth: str = "apikey",
        timeout: float | tuple[float, float] = 10.0,
        verify: bool | str = True,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        time_path: str = "/servicemanager/rest/Time",
        user_agent: str = "noojee-django",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(base_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"base_url must be an http(s) URL such as https://pbx.example.com, not {base_url!r}"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.time_path = time_path
        self._sleep = sleep
        self.session = session or self._default_session()
        self.session.headers.setdefault("User-Agent", user_agent)
        self.auth = Authenticator(api_key, auth, self.server_time)
        install_log_filter()

    @staticmethod
    def _default_session() -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url} auth={self.auth.mode}>"

    # ------------------------------------------------------------------------------------------ time

    def server_time(self) -> int:
        """The PBX clock in epoch milliseconds (``Time``, plain text, no authentication)."""
        response = self._send("POST", self.time_path, {}, name="Time", authenticate=False)
        text = response.text.strip()
        if not text.isdigit():
            raise ProtocolError(f"Time: the PBX clock is not a number: {text[:40]!r}", method="Time")
        return int(text)

    # ------------------------------------------------------------------------------------------ transport

    def _timeout(self, extra: float = 0.0) -> float | tuple[float, float]:
        if isinstance(self.timeout, tuple):
            return (self.timeout[0], self.timeout[1] + extra)
        return (self.timeout, self.timeout + extra)

    def _send(
        self,
        http_method: str,
        path: str,
        params: Mapping[str, Any],
        *,
        name: str,
        authenticate: bool = True,
        stream: bool = False,
        read_extra: float = 0.0,
    ) -> requests.Response:
        query = {k: v for k, v in params.items() if v is not None}
        if authenticate:
            query.update(self.auth.params())
        url = self.base_url + path
        started = time.monotonic()
        try:
            response = self.session.request(
                http_method,
                url,
                params=query,
                timeout=self._timeout(read_extra),
                verify=self.verify,
                stream=True,
            )
        except requests.Timeout:
            raise NoojeeTimeout(f"{name}: the PBX did not answer in time", method=name) from None
        except requests.RequestException as exc:
            raise TransportError(
                f"{name}: could not reach the PBX ({type(exc).__name__}: {self._redact(str(exc))[:200]})",
                method=name,
            ) from None
        logger.debug(
            "%s %s -> HTTP %s in %d ms",
            http_method,
            self._redact(response.url),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code >= 400:
            body = self._read_limited(response, name)
            response.close()
            raise self._error(response.status_code, body, name)
        if not stream:
            try:
                response.content  # noqa: B018  (read it now, inside the error handling)
            except requests.RequestException as exc:
                raise TransportError(
                    f"{name}: the connection broke during the reply ({type(exc).__name__})", method=name
                ) from None
        return response

    def _read_limited(self, response: requests.Response, name: str) -> bytes:
        body = b""
        try:
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) >= _ERROR_BODY_LIMIT:
                    break
        except requests.RequestException:
            pass
        return body

    def _redact(self, text: str) -> str:
        return redact_text(text, self.auth.secrets)

    def _error(self, status: int | None, body: bytes | Mapping[str, Any], name: str) -> NoojeeError:
        code: int | None = None
        pbx_message: str | None = None
        parsed: Any = body
        if isinstance(body, bytes):
            try:
                parsed = json.loads(body.decode("utf-8", "replace")) if body.strip() else None
            except ValueError:
                parsed = None
        if isinstance(parsed, Mapping):
            raw_code = parsed.get("Code")
            if isinstance(raw_code, int) and not isinstance(raw_code, bool):
                code = raw_code
            elif isinstance(raw_code, str) and raw_code.lstrip("-").isdigit():
                code = int(raw_code)
            if parsed.get("Message") is not None:
                pbx_message = self._redact(str(parsed.get("Message")))[:500]
        elif isinstance(body, bytes) and body.strip() and not body.lstrip().startswith(b"<"):
            pbx_message = self._redact(body.decode("utf-8", "replace").strip())[:500]
        lowered = (pbx_message or "").lower()
        kwargs: dict[str, Any] = {
            "code": code,
            "pbx_message": pbx_message,
            "http_status": status,
            "method": name,
        }
        said = f": {pbx_message}" if pbx_message else ""
        if status in (401, 403) or (code == -1 and any(word in lowered for word in _AUTH_WORDS)):
            return AuthenticationError(f"{name}: the PBX refused the credentials{said}", **kwargs)
        if status == 429:
            return RateLimited(
                f"{name}: the PBX refused a request made too soon after another{said}", **kwargs
            )
        if status == 409 or (code == -2 and name in _AUDIO_METHODS):
            return RecordingNotReady(
                f"{name}: the recording is not ready (call still in progress){said}", **kwargs
            )
        if status == 404:
            what = said or " (no such method on this server)"
            return NotFoundError(f"{name}: not found{what}", **kwargs)
        if status is not None and status >= 500:
            return ServerError(f"{name}: the PBX failed with HTTP {status}{said}", **kwargs)
        if code is not None and code < 0:
            return ApiError(f"{name}: the PBX refused the request{said}", **kwargs)
        return ProtocolError(f"{name}: unexpected reply{said}", **kwargs)

    def _json(self, response: requests.Response, name: str) -> Any:
        text = response.content
        if not text.strip():
            return None
        try:
            return json.loads(text.decode("utf-8", "replace"))
        except ValueError:
            raise ProtocolError(
                f"{name}: the reply is not JSON ({len(text)} bytes)",
                http_status=response.status_code,
                method=name,
            ) from None

    def _call(
        self,
        http_method: str,
        path: str,
        params: Mapping[str, Any],
        *,
        name: str,
        retry: bool,
        expect: str = "json",
        read_extra: float = 0.0,
    ) -> Any:
        """One API call with auth renewal and, for reads, retries. ``expect``: json | stream | text."""
        attempts = self.retry.max_attempts if retry else 1
        attempt = 0
        auth_retried = False
        while True:
            try:
                response = self._send(
                    http_method, path, params, name=name, stream=expect == "stream", read_extra=read_extra
                )
                if expect == "stream":
                    return response
                if expect == "text":
                    return response.text
                body = self._json(response, name)
                if isinstance(body, Mapping) and "Code" in body:
                    reply = parse_reply(body)
                    if reply.code < 0:
                        raise self._error(response.status_code, body, name)
                    if reply.code > 0:
                        logger.warning(
                            "%s: the PBX answered with notice %s: %s", name, reply.code, reply.message
                        )
                return body
            except AuthenticationError as exc:
                if auth_retried:
                    raise
                if self.auth.using_hash and "expired timestamp" in (exc.pbx_message or "").lower():
                    self.auth.renew()
                elif not self.auth.fall_back():
                    raise
                auth_retried = True  # the refused request did nothing: safe to send again, once
            except NoojeeError as exc:
                attempt += 1
                if not exc.retryable or attempt >= attempts:
                    raise
                delay = self.retry.delay(attempt - 1)
                logger.info("%s failed (%s); retry %d in %.2f s", name, exc.kind, attempt, delay)
                self._sleep(delay)

    # ------------------------------------------------------------------------------------------ audio

    def _stream_audio(
        self,
        response: requests.Response,
        out: BinaryIO,
        *,
        name: str,
        encoding: str,
        json_field: str,
        chunk_size: int,
    ) -> AudioInfo:
        verifier = WavVerifier()
        received = 0

        def emit(data: bytes) -> None:
            if data:
                verifier.feed(data)
                out.write(data)

        chunks = self._iter_body(response, name, chunk_size)
        try:
            first = b""
            for chunk in chunks:
                received += len(chunk)
                first += chunk
                if first.strip():
                    break
            mode = encoding
            if mode == "auto":
                stripped = first.lstrip()
                mode = (
                    "raw"
                    if stripped.startswith(b"RIFF")
                    else "json"
                    if stripped.startswith(b"{")
                    else "base64"
                )
            if mode == "raw":
                emit(first)
                for chunk in chunks:
                    emit(chunk)
            elif mode == "json":
                body = first + b"".join(chunks)
                emit(self._audio_from_json(body, name, json_field))
            else:
                decoder = Base64StreamDecoder()
                emit(decoder.feed(first))
                for chunk in chunks:
                    emit(decoder.feed(chunk))
                decoder.finish()
        finally:
            response.close()
        return verifier.finish()

    def _iter_body(self, response: requests.Response, name: str, chunk_size: int) -> Iterator[bytes]:
        got = 0
        try:
            for chunk in response.iter_content(chunk_size):
                got += len(chunk)
                yield chunk
        except requests.RequestException as exc:
            raise TransportError(
                f"{name}: the connection broke after {got} bytes of audio ({type(exc).__name__})", method=name
            ) from None

    def _audio_from_json(self, body: bytes, name: str, json_field: str) -> bytes:
        try:
            parsed = json.loads(body.decode("utf-8", "replace"))
        except ValueError:
            raise InvalidAudioError(f"{name}: the JSON audio body does not parse", method=name) from None
        if not isinstance(parsed, Mapping):
            raise InvalidAudioError(f"{name}: the JSON audio body is not an object", method=name)
        if "Code" in parsed and parse_reply(parsed).code < 0:
            raise self._error(200, parsed, name)
        for key in (json_field, "Audio", "audio", "Recording", "Data", "data"):
            value = parsed.get(key)
            if isinstance(value, str):
                decoder = Base64StreamDecoder()
                data = decoder.feed(value.encode("ascii", "replace"))
                decoder.finish()
                return data
        raise InvalidAudioError(f"{name}: the JSON reply carries no audio field", method=name)


_AUDIO_METHODS = {"retrieveRecording", "retrieve", "retrieveByUniqueId"}


class NoojeeClient(_HttpClient):
    """A client for the Noojee REST API (call control, subscribe, recording metadata and audio).

    Every point the published API leaves open is a constructor argument (see ``docs/client.md``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        auth: str = "apikey",
        timeout: float | tuple[float, float] = 10.0,
        verify: bool | str = True,
        session: requests.Session | None = None,
        pbx_time_zone: str | dt.tzinfo = "UTC",
        call_api_path: str = "/servicemanager/rest/CallManagementAPI",
        recording_api_path: str = "/njadmin/rest/RecordingAPI",
        time_path: str = "/servicemanager/rest/Time",
        retrieve_recording_method: str = "retrieveRecording",
        retrieve_recording_selector: str = "unique_id_leg",
        audio_encoding: str = "auto",
        audio_json_field: str = "Audio",
        retry: RetryPolicy | None = None,
        user_agent: str = "noojee-django",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            base_url,
            api_key=api_key,
            auth=auth,
            timeout=timeout,
            verify=verify,
            session=session,
            retry=retry,
            time_path=time_path,
            user_agent=user_agent,
            sleep=sleep,
        )
        if retrieve_recording_selector not in SELECTORS:
            raise ConfigurationError(f"retrieve_recording_selector must be one of {', '.join(SELECTORS)}")
        if audio_encoding not in AUDIO_ENCODINGS:
            raise ConfigurationError(f"audio_encoding must be one of {', '.join(AUDIO_ENCODINGS)}")
        try:
            self.pbx_time_zone = (
                zoneinfo.ZoneInfo(pbx_time_zone) if isinstance(pbx_time_zone, str) else pbx_time_zone
            )
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"unknown PBX time zone {pbx_time_zone!r}") from None
        self.call_api_path = "/" + call_api_path.strip("/")
        self.recording_api_path = "/" + recording_api_path.strip("/")
        self.retrieve_recording_method = retrieve_recording_method
        self.retrieve_recording_selector = retrieve_recording_selector
        self.audio_encoding = audio_encoding
        self.audio_json_field = audio_json_field

    def _call_api(self, method: str, params: Mapping[str, Any], *, retry: bool, **kwargs: Any) -> Any:
        return self._call(
            "POST", f"{self.call_api_path}/{method}", params, name=method, retry=retry, **kwargs
        )

    def _recording_api(self, method: str, params: Mapping[str, Any], **kwargs: Any) -> Any:
        return self._call(
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
        """Ring ``exten`` (with tech: ``SIP/101``), then ``number``. Never retried."""
        params = {
            "number": number,
            "extenOrUniqueId": exten,
            "autoAnswer": auto_answer or None,
            "callerId": caller_id or None,
            "phoneCaption": phone_caption or None,
            "monitored": "yes" if monitored else None,
            "record": "true" if record else None,
            "tag": tag if record and tag else None,
        }
        return parse_dial(self._call_api("dial", params, retry=False))

    def hangup(self, exten_or_unique_id: str) -> Reply:
        return parse_reply(self._call_api("hangup", {"extenOrUniqueId": exten_or_unique_id}, retry=False))

    def answer(self, unique_id: str, exten: str, answer_string: str | None = None) -> Reply:
        params = {"uniqueId": unique_id, "exten": exten, "answerString": answer_string or None}
        return parse_reply(self._call_api("answer", params, retry=False))

    def subscribe(
        self, extensions: Sequence[str], last_sequence_number: int, timeout: int = 10
    ) -> SubscribeResult:
        """Long poll for call events; the PBX may hold the request ``timeout`` seconds."""
        params = {
            "exten": ",".join(e.split("/", 1)[-1] for e in extensions),
            "lastSequenceNumber": str(int(last_sequence_number)),
            "timeOut": str(int(timeout)),
            "instanceId": "1",
        }
        body = self._call_api("subscribe", params, retry=True, read_extra=float(timeout))
        return parse_subscribe(body, self.pbx_time_zone)

    def start_recording(
        self, exten_or_unique_id: str, *, agent_login_name: str | None = None, tag: str | None = None
    ) -> Reply:
        params = {"extenOrUniqueId": exten_or_unique_id, "agentLoginName": agent_login_name, "tag": tag}
        return parse_reply(self._call_api("start", params, retry=False))

    def stop_recording(self, exten_or_unique_id: str, *, agent_login_name: str | None = None) -> Reply:
        params = {"extenOrUniqueId": exten_or_unique_id, "agentLoginName": agent_login_name}
        return parse_reply(self._call_api("stop", params, retry=False))

    # ------------------------------------------------------------------------------------------ metadata

    def _metadata(self, method: str, params: Mapping[str, Any]) -> list[LegMetadata]:
        body = self._recording_api(method, params)
        if isinstance(body, Mapping):
            # Refusals are objects, never arrays: tell them apart from "no legs".
            raise self._error(200, body, method)
        if body is None:
            return []
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
        if not 0 <= hour <= 23:
            raise ValueError("hour must be 0..23")
        return self._metadata(
            "retrieveMetaDataByHour", {"date": date.strftime("%Y/%m/%d"), "hour": str(hour)}
        )

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

        Failures before the body starts are retried; once bytes were written to ``out`` the error is
        raised, and the caller starts again with a fresh file (the pipeline uses a temporary file).
        """
        method = self.retrieve_recording_method
        if self.retrieve_recording_selector == "call_record_id":
            if call_record_id is None:
                raise ValueError("call_record_id is required with the call_record_id selector")
            params: dict[str, Any] = {"callRecordId": str(call_record_id)}
        else:
            if unique_id is None or leg is None:
                raise ValueError("unique_id and leg are required with the unique_id_leg selector")
            params = {"uniqueId": unique_id, "leg": str(leg)}
        response = self._recording_api(method, params, expect="stream")
        return self._stream_audio(
            response,
            out,
            name=method,
            encoding=self.audio_encoding,
            json_field=self.audio_json_field,
            chunk_size=chunk_size,
        )
