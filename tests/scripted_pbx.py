"""A loopback HTTP server that answers each PBX method with whatever a test scripts: a broken PBX.

The emulator is a faithful PBX with a fixed repertoire of faults; this one says anything at all (any
status, any headers, any body, or bytes that are not HTTP), so a property test can put a hostile reply
on the wire and watch the real client, over a real socket, read it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Scripted:
    """One reply: a status, headers and a body; or ``raw`` bytes written as the whole response."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


def method_of(path: str, query: dict[str, list[str]]) -> str:
    """The PBX method a request calls: the last path segment, or ``method=`` on the deprecated API."""
    if path.endswith("njadmin-api-recording"):
        return query.get("method", ["?"])[0]
    return path.rstrip("/").rsplit("/", 1)[-1]


class ScriptedPbx:
    def __init__(self) -> None:
        self.replies: dict[str, Scripted] = {}
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, method: str, reply: Scripted) -> None:
        with self._lock:
            self.replies[method] = reply

    def _reply_for(self, method: str) -> Scripted:
        with self._lock:
            self.requests[method] += 1
            return self.replies.get(method, Scripted(404, b"<html>no such method</html>", "text/html"))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        pbx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                reply = pbx._reply_for(method_of(parts.path, parse_qs(parts.query)))
                if reply.raw is not None:
                    self.wfile.write(reply.raw)
                    self.close_connection = True
                    return
                # One connection per request: a body the client leaves unread (after a 204, say)
                # must not be taken for the start of the next reply.
                self.close_connection = True
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                headers = {"Content-Length": str(len(reply.body)), "Connection": "close", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_HEAD = _answer

        return Handler

    def start(self) -> ScriptedPbx:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def scripted_pbx() -> Iterator[ScriptedPbx]:
    pbx = ScriptedPbx().start()
    try:
        yield pbx
    finally:
        pbx.stop()
