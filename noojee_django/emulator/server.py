"""The HTTP face of the emulator: Noojee's paths, authentication and reply shapes, the control API under
``/_emulator/``, and :class:`EmulatorServer` to run it all on a thread or in the foreground."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import audio
from .config import FIXED_FIELDS, EmulatorConfig
from .control import ControlClient
from .faults import BODY_CHANGING, Fault, FaultRegistry
from .pbx import Pbx, PbxError, Scope, strip_exten
from .state import StateKeeper

CALL_CONTROL = "/servicemanager/rest/CallManagementAPI"
CALL_METHODS = frozenset({"dial", "hangup", "answer", "subscribe", "start", "stop"})
GET_ALLOWED = frozenset({"start", "stop"})
METADATA_METHODS = frozenset(
    {"retrieveMetaData", "retrieveMetaDataByUniqueId", "retrieveMetaDataByHour", "retrieveRecording"}
)
TIME_PATH = "/servicemanager/rest/Time"
LEGACY_PATH = "/servicemanager/services/njadmin-api-recording"
LEGACY = "njadmin-api-recording"
LEGACY_METHODS = frozenset({"start", "stop", "retrieve", "retrieveByUniqueId"})
CONTROL_PREFIX = "/_emulator"
_SECRET_PARAMS = re.compile(r"((?:apiKey|hash)=)[^&\s\"]+", re.IGNORECASE)

NOT_FOUND_HTML = (
    "<!doctype html><html><head><title>HTTP Status 404 - Not Found</title></head>"
    "<body><h1>HTTP Status 404 - Not Found</h1><p>The requested resource is not available.</p></body></html>"
)


def hash_for(key: str, timestamp: str) -> str:
    return hashlib.sha256(f"{key}:{timestamp}".encode()).hexdigest()


def mask_secrets(text: str) -> str:
    return _SECRET_PARAMS.sub(r"\1***", text)


@dataclass
class Reply:
    status: int
    content_type: str
    length: int
    chunks: Iterable[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    faults_applied: bool = False  # the audio builder already applied the body-changing faults
    declare_length: bool = True  # False: no Content-Length; the body ends when the connection closes


def json_reply(payload: Any, status: int = 200) -> Reply:
    body = json.dumps(payload).encode()
    return Reply(status, "application/json", len(body), [body])


def error_reply(message: str, code: int = -1, status: int = 200) -> Reply:
    return json_reply({"Code": code, "Message": message}, status)


def html_reply(status: int, html: str) -> Reply:
    body = html.encode()
    return Reply(status, "text/html;charset=utf-8", len(body), [body])


def _inject(chunks: Iterable[bytes], offset: int, garbage: bytes) -> Iterator[bytes]:
    """``chunks`` with the bytes at ``offset`` replaced by ``garbage`` (same total length)."""
    position = 0
    for chunk in chunks:
        end = position + len(chunk)
        if position <= offset < end:
            local = offset - position
            piece = garbage[: len(chunk) - local]
            chunk = chunk[:local] + piece + chunk[local + len(piece) :]
        position = end
        yield chunk


_HUGE_ROW = (
    b'{"Source":"400","Leg":"1","Start":"2014-02-13 17:06:52.0","Tag":"HUGE","Duration":"4",'
    b'"Username":"Fred","CallRecordId":"198348","UniqueId":"1392271611.238","DID":"internal",'
    b'"Direction":"2","Destination":"410"}'
)


def huge_json(size: int, shape: str = "array", block: int = 64 * 1024) -> Iterator[bytes]:
    """Exactly ``size`` bytes of valid JSON, generated a block at a time (never held whole): an array
    of metadata rows, or (``shape="object"``) ``{"Code":0,"Message":"xxx..."}``."""
    if shape == "object":
        head, tail, filler = b'{"Code":0,"Message":"', b'"}', b"x" * block
    else:
        head, tail = b"[", b"]"
        rows = max(1, block // (len(_HUGE_ROW) + 1))
        filler = (_HUGE_ROW + b",") * rows
    size = max(size, len(head) + len(tail))
    yield head
    left = size - len(head) - len(tail)
    if shape != "object" and left >= len(_HUGE_ROW):
        # rows, each followed by a comma, then the last row; blanks make up the exact size
        row = len(_HUGE_ROW) + 1
        whole = (left - len(_HUGE_ROW)) // row
        full, rest = divmod(whole, len(filler) // row)
        for _ in range(full):
            yield filler
        if rest:
            yield filler[: rest * row]
        yield _HUGE_ROW
        left -= whole * row + len(_HUGE_ROW)
        filler = b" " * block
    elif shape != "object":
        filler = b" " * block
    while left > 0:
        piece = filler[:left]
        left -= len(piece)
        yield piece
    yield tail


def audio_reply(segments: list[audio.Segment], encoding: str, line_length: int, faults: list[Fault]) -> Reply:
    """Stream the WAV of ``segments`` as base64 text, raw WAV or (compatibility only) a JSON envelope."""
    kinds = {f.kind: f for f in faults}
    raw_size = audio.wav_size(segments)
    chunks: Iterable[bytes] = audio.iter_wav(segments, corrupt_header="bad_wav_header" in kinds)
    if "truncated_base64" in kinds:
        fraction = float(kinds["truncated_base64"].params.get("fraction", 0.5))
        cut = int(raw_size * fraction)
        raw_size = cut if encoding == "raw" else cut - cut % 3  # whole base64 quads: it still decodes
        chunks = audio.limit(chunks, raw_size)
    if encoding == "raw":
        reply = Reply(200, "audio/wav", raw_size, chunks)
    elif encoding == "json":
        encoded = b"".join(audio.iter_base64(chunks, 0))
        body = b'{"Code":0,"Message":"OK","Audio":"' + encoded + b'"}'
        reply = Reply(200, "application/json", len(body), [body])
    else:
        length = audio.base64_size(raw_size, line_length)
        reply = Reply(200, "text/plain;charset=US-ASCII", length, audio.iter_base64(chunks, line_length))
    if "invalid_base64" in kinds:
        offset = min(100, reply.length // 2)
        if encoding == "json":
            offset = min(len('{"Code":0,"Message":"OK","Audio":"') + 100, reply.length // 2)
        reply.chunks = _inject(reply.chunks, offset, b"*!")
    reply.faults_applied = True
    return reply


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds the
    # body back until the client's delayed ACK, adding ~40 ms to every small reply.
    disable_nagle_algorithm = True
    server_version = "Apache-Coyote/1.1"
    server: EmulatorHTTPServer

    def version_string(self) -> str:
        return self.server_version

    # ------------------------------------------------------------------------------------------ plumbing

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.config.log_requests:
            line = mask_secrets(format % args)
            sys.stderr.write(f"emulator {self.address_string()} {line}\n")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        emulator = self.server.emulator
        try:
            split = urlsplit(self.path)
            path = unquote(split.path).rstrip("/") or "/"
            query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            body = self._read_body()
            if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
                self._send(emulator.control_api.handle(self.command, path, query, body), [])
                return
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            params = dict(query)
            if body and content_type in ("application/x-www-form-urlencoded", ""):
                form_text = body.decode("utf-8", "replace")
                form = {k: v[0] for k, v in parse_qs(form_text, keep_blank_values=True).items()}
                params = {**form, **query}
            self._pbx_request(path, params)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # a bug in the emulator: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            try:
                self._send(error_reply("Emulator internal error", status=500), [])
            except OSError:
                self.close_connection = True

    def _send(self, reply: Reply, faults: list[Fault]) -> None:
        kinds = {f.kind: f for f in faults}
        chunks: Iterable[bytes] = reply.chunks
        length = reply.length
        if not reply.faults_applied:
            if "truncated_base64" in kinds:
                length = int(length * float(kinds["truncated_base64"].params.get("fraction", 0.5)))
                chunks = audio.limit(chunks, length)
            if "invalid_base64" in kinds:
                chunks = _inject(chunks, length // 2, b"*!")
        trickle = kinds.get("trickle")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.declare_length:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        for name, value in reply.headers.items():
            self.send_header(name, value)
        head = b""
        if trickle is not None and _flag(str(trickle.params.get("headers", ""))):
            # the status line and headers trickle too: keep them out of the socket for now
            buffered: list[bytes] = getattr(self, "_headers_buffer", [])
            head = b"".join(buffered) + b"\r\n"
            buffered.clear()
        else:
            self.end_headers()
        if self.command == "HEAD":
            return
        if "drop" in kinds:
            chunks = audio.limit(chunks, int(kinds["drop"].params.get("after_bytes", 0)))
            self.close_connection = True
        if trickle is not None:
            self._trickle(head, chunks, trickle)
            return
        for chunk in chunks:
            self.wfile.write(chunk)
            for fault in faults:
                fault.sent_bytes += len(chunk)

    def _trickle(self, head: bytes, chunks: Iterable[bytes], fault: Fault) -> None:
        """``params.bytes`` (default 1) every ``params.interval`` seconds (default 0.5); after
        ``params.seconds`` (when given) the rest at once."""
        step = max(1, int(fault.params.get("bytes", 1)))
        interval = max(0.0, float(fault.params.get("interval", 0.5)))
        seconds = fault.params.get("seconds")
        stop = None if seconds is None else time.monotonic() + float(seconds)
        pending = bytearray(head)
        for chunk in itertools.chain(chunks, [b""]):
            pending += chunk
            while len(pending) >= step or (not chunk and pending):
                if stop is not None and time.monotonic() >= stop:
                    piece = bytes(pending)
                else:
                    piece = bytes(pending[:step])
                del pending[: len(piece)]
                self.wfile.write(piece)
                fault.sent_bytes += len(piece)
                if pending or chunk:
                    time.sleep(interval)

    # ------------------------------------------------------------------------------------------ PBX

    def _resolve(self, path: str) -> tuple[str, str] | None:
        """``(method name, family)`` for a PBX path, None for an unknown one."""
        if path == TIME_PATH:
            return "Time", "time"
        if path == LEGACY_PATH:
            return LEGACY, "legacy"
        prefix, _, method = path.rpartition("/")
        if prefix == CALL_CONTROL and method in CALL_METHODS:
            return method, "call"
        if method in METADATA_METHODS:
            served = {p.rstrip("/") for p in self.server.emulator.config.recording_api_paths}
            if prefix in served:
                return method, "recording"
        return None

    def _pbx_request(self, path: str, params: dict[str, str]) -> None:
        emulator = self.server.emulator
        config = emulator.config
        resolved = self._resolve(path)
        if resolved is None:
            self._send(html_reply(404, NOT_FOUND_HTML), [])
            return
        method, family = resolved
        if family == "legacy":
            method = f"{LEGACY}.{params.get('method', '')}"
        emulator.pbx.count_request(method)

        allowed = {"GET"} if family == "legacy" else ({"GET", "POST"} if method in GET_ALLOWED else {"POST"})
        if self.command not in allowed:
            reply = error_reply(f"HTTP method {self.command} is not supported by this URL", status=405)
            reply.headers["Allow"] = ", ".join(sorted(allowed))
            self._send(reply, [])
            return
        if config.latency > 0:
            time.sleep(config.latency)

        faults = emulator.faults.take(method, params)
        for fault in faults:
            if fault.kind == "latency":
                time.sleep(float(fault.params.get("seconds", 1.0)))
        replacing = next((f for f in faults if f.kind not in ("latency",)), None)
        if replacing is not None and self._replace(replacing):
            return
        body_faults = [f for f in faults if f.kind in BODY_CHANGING]

        refusal_status = self._refusal_status(family)
        client_ip = self.client_address[0]
        if config.allowed_ips is not None and client_ip not in config.allowed_ips:
            message = f"Access denied: {client_ip} is not an allowed client address"
            self._send(error_reply(message, status=403), [])
            return
        if family == "time":
            now_ms = int(emulator.pbx.now() * 1000)
            body = str(now_ms).encode()
            self._send(Reply(200, "text/plain", len(body), [body]), body_faults)
            return
        identity = self._authenticate(params, refusal_status)
        if identity is None:
            return
        key, login = identity
        if login is not None and config.refuses_user_key(method):
            message = (
                f"Access denied: a user API key may not call {method}; user keys have campaign methods only"
            )
            self._send(error_reply(message, status=self._scope_status(family)), [])
            return
        scope = None if login is None else frozenset(config.campaigns_for(key))
        try:
            reply = self._dispatch(method, family, params, key, login, scope, body_faults)
        except PbxError as exc:
            status = exc.status
            if family == "call" and method not in ("start", "stop"):
                status = 200  # call control answers its errors in the Code
            elif status == 200:
                status = 400
            reply = error_reply(exc.message, exc.code, status)
        self._send(reply, body_faults)

    def _refusal_status(self, family: str) -> int:
        mode = self.server.emulator.config.auth_refusal
        if mode == "code":
            return 200 if family == "call" else 401
        return int(mode)

    def _scope_status(self, family: str) -> int:
        """A good key on a method it may not call: like a bad key on call control, 403 elsewhere."""
        mode = self.server.emulator.config.auth_refusal
        if mode == "code":
            return 200 if family == "call" else 403
        return int(mode)

    def _replace(self, fault: Fault) -> bool:
        """Answer in place of the PBX; False when the fault only changes the normal reply."""
        if fault.kind == "close":
            self.close_connection = True
            return True
        if fault.kind in ("http_500", "http_502"):
            status = 500 if fault.kind == "http_500" else 502
            phrase = "Internal Server Error" if status == 500 else "Bad Gateway"
            if fault.params.get("body") == "json":
                self._send(error_reply(str(fault.params.get("message", phrase)), status=status), [])
            else:
                html = f"<html><head><title>{status} {phrase}</title></head>"
                html += f"<body><h1>{phrase}</h1></body></html>"
                self._send(html_reply(status, html), [])
            return True
        if fault.kind == "malformed_json":
            body = b'{"Code": 0, "Mess'
            self._send(Reply(200, "application/json", len(body), [body]), [])
            return True
        if fault.kind == "huge_json":
            size = int(fault.params.get("bytes", 64 * 1024 * 1024))
            shape = str(fault.params.get("shape", "array"))
            reply = Reply(200, "application/json", size, huge_json(size, shape))
            reply.declare_length = fault.params.get("length", True) not in (False, "false", 0, "0")
            self._send(reply, [fault])
            return True
        if fault.kind == "negative_code":
            code = int(fault.params.get("code") or -5)
            message = str(fault.params.get("message") or "Error")
            self._send(error_reply(message, code, int(fault.params.get("status") or 200)), [])
            return True
        return False

    def _authenticate(self, params: dict[str, str], refusal_status: int) -> tuple[str, str | None] | None:
        """``(key, login name or None for the global key)``, or None after sending the refusal."""
        config = self.server.emulator.config
        keys = [config.api_key, *config.user_keys]
        api_key = params.get("apiKey")
        timestamp, digest = params.get("timeStamp"), params.get("hash")
        key: str | None = None
        if api_key:
            if api_key in keys:
                key = api_key
            else:
                self._send(error_reply("Invalid apiKey", status=refusal_status), [])
                return None
        elif timestamp and digest:
            key = next((k for k in keys if hash_for(k, timestamp) == digest), None)
            if key is None:
                self._send(error_reply("Invalid hash", status=refusal_status), [])
                return None
            if not self.server.emulator.pbx.use_hash(timestamp, digest):
                self._send(json_reply({"Message": "Expired TimeStamp", "Code": -1}, refusal_status), [])
                return None
        else:
            self._send(error_reply("Invalid apiKey", status=refusal_status), [])
            return None
        return key, (None if key == config.api_key else config.login_for(key))

    def _dispatch(
        self,
        method: str,
        family: str,
        params: dict[str, str],
        key: str,
        login: str | None,
        scope: Scope,
        body_faults: list[Fault],
    ) -> Reply:
        pbx = self.server.emulator.pbx
        config = self.server.emulator.config

        def need(name: str) -> str:
            value = params.get(name, "").strip()
            if not value:
                raise PbxError(f"Missing parameter: {name}", status=400)
            return value

        if family == "legacy":
            return self._legacy(params, login, scope, body_faults, need)
        if method == "dial":
            campaign = self._dial_campaign(params.get("campaign", "").strip(), key, scope)
            session_id = pbx.dial(
                need("number"),
                need("extenOrUniqueId"),
                auto_answer=bool(params.get("autoAnswer", "").strip()),
                caller_id=params.get("callerId", "").strip(),
                record=_flag(params.get("record")),
                tag=params.get("tag", ""),
                username=login or "",
                campaign=campaign,
            )
            queued = "Originate successfully queued"
            return json_reply({"SessionID": session_id, "Message": queued, "Code": 0})
        if method == "hangup":
            pbx.hangup(need("extenOrUniqueId"), scope)
            return json_reply({"Message": "Channel Hungup", "Code": 0})
        if method == "answer":
            pbx.answer(need("uniqueId"), need("exten"), scope)
            return json_reply({"Message": "Call answered", "Code": 0})
        if method == "subscribe":
            return self._subscribe(params, need)
        if method == "start":
            tag = params.get("tag", params.get("Tag", ""))
            username = params.get("agentLoginName", "").strip() or login or ""
            message = pbx.start_recording(need("extenOrUniqueId"), tag, username, scope)
            return json_reply({"Code": 0, "Message": message})
        if method == "stop":
            return json_reply({"Code": 0, "Message": pbx.stop_recording(need("extenOrUniqueId"), scope)})
        if method == "retrieveMetaData":
            return json_reply(pbx.metadata_by_tag(need("tag"), scope))
        if method == "retrieveMetaDataByUniqueId":
            return json_reply(pbx.metadata_by_unique_id(need("uniqueId"), scope))
        if method == "retrieveMetaDataByHour":
            day, hour = _parse_hour(need("date"), need("hour"))
            pbx.check_rate_limit(key, method)
            return json_reply(pbx.metadata_by_hour(day, hour, scope))
        if method == "retrieveRecording":
            if params.get("callRecordId", "").strip():
                record_id = _int(params["callRecordId"], "callRecordId")
                segment = pbx.leg_segment(call_record_id=record_id, scope=scope)
            else:
                leg = _int(need("leg"), "leg")
                segment = pbx.leg_segment(unique_id=need("uniqueId"), leg=leg, scope=scope)
            return audio_reply([segment], config.audio_encoding, config.audio_line_length, body_faults)
        raise PbxError(f"Unknown method {method}", status=404)

    def _dial_campaign(self, asked: str, key: str, scope: Scope) -> str:
        """The campaign of a dialled call: the ``campaign`` parameter (an emulator extension: Noojee
        publishes none), else for a user key the first of its campaigns, else none."""
        if scope is None:
            return asked
        if asked:
            if asked not in scope:
                raise PbxError(f"Access denied: campaign '{asked}' is not one of this user key's campaigns")
            return asked
        campaigns = self.server.emulator.config.campaigns_for(key)
        if not campaigns:
            raise PbxError("Access denied: the user of this user key is in no campaign")
        return campaigns[0]

    def _subscribe(self, params: dict[str, str], need: Callable[[str], str]) -> Reply:
        emulator = self.server.emulator
        config = emulator.config
        extens = [strip_exten(x) for x in need("exten").split(",") if x.strip()]
        last_seq = _int(need("lastSequenceNumber"), "lastSequenceNumber")
        raw_timeout = params.get("timeOut", "").strip()
        timeout = config.subscribe_default_timeout
        if raw_timeout:
            try:
                timeout = float(raw_timeout)
            except ValueError:
                raise PbxError(f"Invalid timeOut '{raw_timeout}'") from None
        timeout = max(0.0, min(timeout, config.subscribe_max_timeout))
        wait = emulator.pbx.pace_poll(f"{self.client_address[0]}|{','.join(extens)}")
        if wait > 0:
            time.sleep(wait)
        data, seq = emulator.pbx.subscribe(extens, last_seq, timeout)
        if not data and config.empty_poll_omits_data:
            return json_reply({"seq": seq, "Code": 0})
        return json_reply({"Data": data, "seq": seq, "Code": 0})

    def _legacy(
        self,
        params: dict[str, str],
        login: str | None,
        scope: Scope,
        body_faults: list[Fault],
        need: Callable[[str], str],
    ) -> Reply:
        pbx = self.server.emulator.pbx
        config = self.server.emulator.config
        method = params.get("method", "")
        if method == "start":
            tag = params.get("tag", params.get("Tag", ""))
            message = pbx.start_recording(need("extenOrUniqueId"), tag, login or "", scope)
            return json_reply({"Code": 0, "Message": message})
        if method == "stop":
            return json_reply({"Code": 0, "Message": pbx.stop_recording(need("extenOrUniqueId"), scope)})
        if method == "retrieve":
            segments = pbx.joined_segments(tag=need("tag"), scope=scope)
        elif method == "retrieveByUniqueId":
            segments = pbx.joined_segments(unique_id=need("uniqueId"), scope=scope)
        else:
            raise PbxError(f"Unknown method '{method}': expected one of {', '.join(sorted(LEGACY_METHODS))}")
        return audio_reply(segments, "base64", config.audio_line_length, body_faults)


def _int(value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise PbxError(f"Invalid {name} '{value}': a whole number is needed", status=400) from None


def _parse_hour(date: str, hour: str) -> tuple[dt.date, int]:
    for pattern in ("%Y/%m/%d", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(date.strip(), pattern).date()
            break
        except ValueError:
            continue
    else:
        raise PbxError(f"Invalid date '{date}': expected yyyy/MM/dd", status=400)
    number = _int(hour, "hour")
    if not 0 <= number <= 23:
        raise PbxError(f"Invalid hour '{hour}': expected 0 to 23", status=400)
    return day, number


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: EmulatorServer) -> None:
        self.emulator = emulator
        super().__init__(address, Handler)


class EmulatorServer:
    """A running emulator: ``start()``/``stop()``, or ``with EmulatorServer(config) as emulator:``."""

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        from .control_api import ControlApi

        self.config = config or EmulatorConfig()
        if overrides:
            merged = {**self.config.to_dict(), **overrides}
            self.config = EmulatorConfig(**merged)
        self.initial_config = self.config.copy()
        self.pbx = Pbx(self.config)
        self.state: StateKeeper | None = None
        if self.config.state_file:
            self.state = StateKeeper(self.pbx, self.config.state_file)
            self.state.load()
        self.faults = FaultRegistry()
        self.control_api = ControlApi(self)
        self._httpd: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the emulator is not started")
        return int(self._httpd.server_address[1])

    @property
    def control(self) -> ControlClient:
        """A control API client for this emulator."""
        return ControlClient(self.url)

    @property
    def url(self) -> str:
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        if self._httpd is None:
            self._httpd = EmulatorHTTPServer((self.config.host, self.config.port), self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="noojee-emulator", daemon=True
            )
            self._thread.start()
            if self.state is not None:
                self.state.start()
        return self

    def serve_forever(self) -> None:
        """Serve until :meth:`stop`, which a signal handler of the calling thread may call."""
        self.start()
        while not self._stopped.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop serving; with a state file, write the state one last time.

        Safe to call again while a first call is still stopping: Ctrl-C in a terminal reaches the
        emulator as SIGINT twice (from the terminal and from the demo that started it), and the second
        signal's handler runs in the middle of the first's.
        """
        httpd, self._httpd = self._httpd, None
        thread, self._thread = self._thread, None
        self.pbx.close()
        if httpd is not None:
            httpd.shutdown()
            if thread is not None:
                thread.join(5)
            httpd.server_close()
        if self.state is not None:
            self.state.stop()
        self._stopped.set()

    def reset(self, *, config: bool = False) -> None:
        """Forget calls, legs, events, faults and counters; with ``config``, also restore the configuration
        the server started with."""
        self.pbx.reset()
        self.faults.clear()
        if config:
            initial = self.initial_config.to_dict()
            for name in FIXED_FIELDS:
                initial.pop(name)
            self.config.update(initial)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
