"""A small client for the emulator's control API, on the standard library only."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode


class ControlError(RuntimeError):
    """The control API refused a request; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"emulator control API: HTTP {status}: {message}")
        self.status = status
        self.message = message


class ControlClient:
    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _raw(self, method: str, path: str, payload: dict[str, Any] | None = None) -> bytes:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            try:
                message = str(json.loads(body).get("error", body))
            except (ValueError, AttributeError):
                message = body
            raise ControlError(exc.code, message) from None

    def _json(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        return json.loads(self._raw(method, path, payload))

    # ------------------------------------------------------------------------------------------ state

    def reset(self, *, config: bool = False) -> None:
        """Forget calls, legs, events, faults and counters; ``config=True`` also restores the start-up
        configuration."""
        self._json("POST", "reset", {"config": True} if config else {})

    def stats(self) -> dict[str, Any]:
        return dict(self._json("GET", "stats"))

    def config(self, **changes: Any) -> dict[str, Any]:
        """The configuration, after applying ``changes`` when given."""
        if changes:
            return dict(self._json("PATCH", "config", changes))
        return dict(self._json("GET", "config"))

    def events(self, after: int = 0) -> list[dict[str, Any]]:
        return list(self._json("GET", f"events?after={after}" if after else "events"))

    def calls(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "calls"))

    # ------------------------------------------------------------------------------------------ tenants

    def user_keys(self) -> dict[str, dict[str, Any]]:
        """Every user key: ``{key: {"login", "campaigns"}}``."""
        return dict(self._json("GET", "user-keys"))

    def add_user_key(self, key: str, login: str, campaigns: list[str]) -> dict[str, dict[str, Any]]:
        """Add (or replace) a user key of ``login``, whose teams are in ``campaigns`` (the first is the
        campaign its dials go to); kept in the state file. Returns every user key."""
        payload = {"key": key, "login": login, "campaigns": list(campaigns)}
        return dict(self._json("POST", "user-keys", payload))

    # ------------------------------------------------------------------------------------------ recordings

    def add_recording(
        self,
        tag: str,
        legs: list[int],
        *,
        exten: str | None = None,
        number: str | None = None,
        username: str | None = None,
        direction: str | None = None,
        did: str | None = None,
        in_progress: bool = False,
        late: dict[int | str, float] | None = None,
        duplicate_rows: bool = False,
        ended_at: float | dt.datetime | None = None,
        campaign: str | None = None,
    ) -> dict[str, Any]:
        """A finished recorded call; ``ended_at`` (epoch seconds, or an aware datetime) puts its end
        in the past instead of now; ``campaign``: the campaign it belongs to (default none: only the
        global key sees it)."""
        payload: dict[str, Any] = {
            "tag": tag,
            "legs": list(legs),
            "in_progress": in_progress,
            "duplicate_rows": duplicate_rows,
            "late": {str(k): v for k, v in (late or {}).items()},
        }
        if ended_at is not None:
            payload["ended_at"] = ended_at.timestamp() if isinstance(ended_at, dt.datetime) else ended_at
        for name, value in (
            ("exten", exten),
            ("number", number),
            ("username", username),
            ("direction", direction),
            ("did", did),
            ("campaign", campaign),
        ):
            if value is not None:
                payload[name] = value
        return dict(self._json("POST", "recordings", payload))

    def recordings(self, tag: str | None = None, unique_id: str | None = None) -> list[dict[str, Any]]:
        query = urlencode({k: v for k, v in (("tag", tag), ("unique_id", unique_id)) if v is not None})
        return list(self._json("GET", f"recordings?{query}" if query else "recordings"))

    def audio(self, call_record_id: int | str) -> bytes:
        """The leg's WAV, raw (whole in memory: for tests of short legs)."""
        return self._raw("GET", f"audio/{int(call_record_id)}")

    # ------------------------------------------------------------------------------------------ calls

    def inbound_call(
        self,
        caller_id: str = "0398765432",
        exten: str = "101",
        queue: str | None = None,
        did: str | None = None,
        campaign: str | None = None,
    ) -> str:
        payload = {
            "caller_id": caller_id,
            "exten": exten,
            "queue": queue or "",
            "did": did or "",
            "campaign": campaign or "",
        }
        return str(self._json("POST", "calls/inbound", payload)["unique_id"])

    def answer(self, unique_id: str, exten: str | None = None) -> None:
        self._json("POST", f"calls/{quote(unique_id, safe='')}/answer", {"exten": exten or ""})

    def transfer(self, unique_id: str, exten: str, username: str | None = None) -> None:
        payload = {"exten": exten, "username": username or ""}
        self._json("POST", f"calls/{quote(unique_id, safe='')}/transfer", payload)

    def hangup(self, unique_id: str) -> None:
        self._json("POST", f"calls/{quote(unique_id, safe='')}/hangup", {})

    # ------------------------------------------------------------------------------------------ faults

    def add_fault(
        self,
        kind: str,
        method: str = "*",
        count: int | None = 1,
        match: dict[str, Any] | None = None,
        **params: Any,
    ) -> int:
        payload = {"kind": kind, "method": method, "count": count, "match": match or {}, "params": params}
        return int(self._json("POST", "faults", payload)["id"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "faults"))

    def clear_faults(self) -> None:
        self._json("DELETE", "faults")
