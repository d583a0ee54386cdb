"""Injected faults: what a flaky network or a broken PBX does to a request.

A fault names the PBX method it hits (or ``*``), how many matching requests it hits (``None``: until
cleared) and optionally query parameters a request must carry. Some faults replace the reply
(``http_500``, ``close``, ``huge_json`` ...); others change the normal reply on its way out (``drop``,
``trickle``, ``truncated_base64`` ...); ``latency`` only delays.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

REPLACING = frozenset({"http_500", "http_502", "close", "malformed_json", "negative_code", "huge_json"})
BODY_CHANGING = frozenset({"drop", "trickle", "truncated_base64", "invalid_base64", "bad_wav_header"})
DELAYING = frozenset({"latency"})
KINDS = REPLACING | BODY_CHANGING | DELAYING


@dataclass
class Fault:
    id: int
    kind: str
    method: str = "*"
    count: int | None = 1
    match: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    #: Bytes of reply body handed to the socket for the requests this fault hit.
    sent_bytes: int = 0

    def matches(self, method: str, query: dict[str, str]) -> bool:
        if self.method not in ("*", method):
            return False
        return all(query.get(name) == str(value) for name, value in self.match.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "count": self.count,
            "match": self.match,
            "params": self.params,
            "hits": self.hits,
            "sent_bytes": self.sent_bytes,
        }


class FaultRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str,
        method: str = "*",
        count: int | None = 1,
        match: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
        if count is not None and int(count) < 1:
            raise ValueError("count must be 1 or more, or null for 'until cleared'")
        with self._lock:
            fault = Fault(
                id=next(self._ids),
                kind=kind,
                method=method or "*",
                count=None if count is None else int(count),
                match={str(k): str(v) for k, v in (match or {}).items()},
                params=dict(params or {}),
            )
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, method: str, query: dict[str, str]) -> list[Fault]:
        """The faults that hit this request, each spending one of its count: every matching ``latency``
        and at most one other fault (the oldest)."""
        taken: list[Fault] = []
        with self._lock:
            other_taken = False
            for fault in list(self._faults):
                if not fault.matches(method, query):
                    continue
                if fault.kind not in DELAYING:
                    if other_taken:
                        continue
                    other_taken = True
                fault.hits += 1
                taken.append(fault)
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return taken
