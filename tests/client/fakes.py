"""A scripted ``requests`` transport adapter: odd transport failures without a server."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import HTTPResponse

from noojee_django.client import NoojeeClient, RetryPolicy

KEY = "f863246a-973e-11e6-8784-08002718f5b5"
BASE = "https://pbx.example.com"


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: close the connection after this many body bytes (a drop mid-body)
    break_after: int | None = None


class _BreakingBody(io.RawIOBase):
    def __init__(self, data: bytes, break_after: int) -> None:
        self._data, self._left, self._pos = data, break_after, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            raise ConnectionResetError("connection reset by peer")
        n = min(len(buffer), self._left, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        self._left -= n
        return n


Outcome = Reply | BaseException


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    timeout: Any
    url: str
    proxies: Any = None


class ScriptedAdapter(HTTPAdapter):
    """Answers each request with ``handler(seen)``: a :class:`Reply` or an exception to raise."""

    def __init__(self, handler: Callable[[Seen], Outcome]) -> None:
        super().__init__()
        self.handler = handler
        self.seen: list[Seen] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        seen = Seen(
            request.method or "",
            parts.path,
            params,
            kwargs.get("timeout"),
            request.url or "",
            kwargs.get("proxies"),
        )
        self.seen.append(seen)
        outcome = self.handler(seen)
        if isinstance(outcome, BaseException):
            raise outcome
        body = outcome.body
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else body
        fp: Any = (
            io.BytesIO(data) if outcome.break_after is None else _BreakingBody(data, outcome.break_after)
        )
        headers = {"Content-Length": str(len(data)), **outcome.headers}
        raw = HTTPResponse(
            body=fp, headers=headers, status=outcome.status, preload_content=False, decode_content=False
        )
        return self.build_response(request, raw)

    def count(self, method: str) -> int:
        return sum(1 for s in self.seen if s.path.rsplit("/", 1)[-1] == method)


def sequence(*outcomes: Outcome) -> Callable[[Seen], Outcome]:
    """Outcomes in order; the last repeats."""
    queue = list(outcomes)

    def handler(seen: Seen) -> Outcome:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


def routes(table: dict[str, Callable[[Seen], Outcome] | Iterable[Outcome]]) -> Callable[[Seen], Outcome]:
    """By PBX method (the last path segment, or ``method=`` for the legacy API)."""
    handlers = {
        name: value if callable(value) else sequence(*value)  # type: ignore[arg-type]
        for name, value in table.items()
    }

    def handler(seen: Seen) -> Outcome:
        name = seen.params.get("method") if seen.path.endswith("njadmin-api-recording") else None
        name = name or seen.path.rsplit("/", 1)[-1]
        return handlers[name](seen)

    return handler


def make_client(
    handler: Callable[[Seen], Outcome], **options: Any
) -> tuple[NoojeeClient, ScriptedAdapter, list[float]]:
    adapter = ScriptedAdapter(handler)
    session = requests.Session()
    session.mount("https://", adapter)
    sleeps: list[float] = []
    options.setdefault("retry", RetryPolicy(max_attempts=3, base=0.0, cap=0.0))
    client = NoojeeClient(BASE, api_key=KEY, session=session, sleep=sleeps.append, **options)
    return client, adapter, sleeps
