"""The emulator's own API under ``/_emulator/``: JSON in, JSON out, no PBX authentication.

It scripts what a test cannot make a real PBX do on demand: recorded calls, inbound calls, transfers,
faults, configuration changes. See ``docs/emulator.md`` for the table of endpoints.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from . import audio
from .pbx import PbxError
from .server import Reply, json_reply

if TYPE_CHECKING:
    from .server import EmulatorServer

_CALL_ACTION = re.compile(r"^/_emulator/calls/(?P<unique_id>[^/]+)/(?P<action>answer|transfer|hangup)$")
_AUDIO = re.compile(r"^/_emulator/audio/(?P<call_record_id>[0-9]+)$")


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ControlApi:
    def __init__(self, emulator: EmulatorServer) -> None:
        self.emulator = emulator

    def handle(self, command: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        try:
            payload = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise ControlError("the request body must be a JSON object")
            return self._route(command, path, query, payload)
        except ControlError as exc:
            return json_reply({"error": str(exc)}, exc.status)
        except PbxError as exc:
            return json_reply({"error": exc.message}, exc.status if exc.status != 200 else 400)
        except (ValueError, TypeError, KeyError) as exc:
            return json_reply({"error": f"{type(exc).__name__}: {exc}"}, 400)

    def _route(self, command: str, path: str, query: dict[str, str], data: dict[str, Any]) -> Reply:
        emulator = self.emulator
        pbx = emulator.pbx

        def allow(*methods: str) -> None:
            if command not in methods:
                raise ControlError(f"{command} not allowed on {path}; use {' or '.join(methods)}", 405)

        if path == "/_emulator/reset":
            allow("POST")
            emulator.reset(config=bool(data.get("config")))
            return json_reply({})
        if path == "/_emulator/stats":
            allow("GET")
            return json_reply(pbx.stats())
        if path == "/_emulator/config":
            allow("GET", "PATCH", "POST")
            if command != "GET":
                emulator.config.update(data)
                if "user_keys" in data:
                    pbx.touch()  # the state file keeps the user keys
            return json_reply(emulator.config.to_dict())
        if path == "/_emulator/user-keys":
            allow("GET", "POST")
            if command == "POST":
                self._add_user_key(data)
            return json_reply(emulator.config.user_keys)
        if path == "/_emulator/recordings":
            allow("GET", "POST")
            if command == "GET":
                return json_reply(pbx.recordings(tag=query.get("tag"), unique_id=query.get("unique_id")))
            return json_reply(self._add_recording(data))
        found = _AUDIO.match(path)
        if found:
            allow("GET")
            segment = pbx.leg_wav_segment(int(found.group("call_record_id")))
            return Reply(200, "audio/wav", audio.wav_size([segment]), audio.iter_wav([segment]))
        if path == "/_emulator/calls":
            allow("GET")
            return json_reply(pbx.calls())
        if path == "/_emulator/calls/inbound":
            allow("POST")
            unique_id = pbx.inbound_call(
                str(data.get("caller_id") or "0398765432"),
                str(data.get("exten") or "101"),
                queue=str(data.get("queue") or ""),
                did=str(data.get("did") or ""),
                campaign=str(data.get("campaign") or ""),
            )
            return json_reply({"unique_id": unique_id})
        found = _CALL_ACTION.match(path)
        if found:
            allow("POST")
            unique_id, action = found.group("unique_id"), found.group("action")
            if action == "answer":
                pbx.answer(unique_id, str(data.get("exten") or ""))
            elif action == "transfer":
                if not data.get("exten"):
                    raise ControlError("transfer needs an 'exten'")
                pbx.transfer(unique_id, str(data["exten"]), username=str(data.get("username") or ""))
            else:
                pbx.hangup(unique_id)
            return json_reply({"unique_id": unique_id})
        if path == "/_emulator/events":
            allow("GET")
            after = int(query.get("after") or 0)
            return json_reply([e for e in pbx.events() if e["seq"] > after])
        if path == "/_emulator/faults":
            allow("GET", "POST", "DELETE")
            if command == "GET":
                return json_reply(emulator.faults.snapshot())
            if command == "DELETE":
                emulator.faults.clear()
                return json_reply({})
            if "kind" not in data:
                raise ControlError("a fault needs a 'kind'")
            fault = emulator.faults.add(
                str(data["kind"]),
                method=str(data.get("method") or "*"),
                count=data.get("count", 1),
                match=data.get("match"),
                params=data.get("params"),
            )
            return json_reply({"id": fault.id})
        raise ControlError(f"no control endpoint {path}", 404)

    def _add_user_key(self, data: dict[str, Any]) -> None:
        """Add (or replace) one user key: ``{"key", "login", "campaigns"}``."""
        key = data.get("key")
        if not isinstance(key, str) or not key.strip():
            raise ControlError("a user key needs a 'key'")
        tenant = {"login": data.get("login") or "user", "campaigns": data.get("campaigns") or []}
        self.emulator.config.update({"user_keys": {**self.emulator.config.user_keys, key: tenant}})
        self.emulator.pbx.touch()

    def _add_recording(self, data: dict[str, Any]) -> dict[str, Any]:
        if "legs" not in data or not isinstance(data["legs"], list):
            raise ControlError("'legs' must be a list of leg durations in seconds")

        def text(name: str, default: str) -> str:
            value = data.get(name)
            return default if value is None else str(value)

        return self.emulator.pbx.add_recording(
            text("tag", ""),
            [int(x) for x in data["legs"]],
            exten=text("exten", "101"),
            number=text("number", "0383208100"),
            username=text("username", "agent1"),
            direction=text("direction", "outbound"),
            did=text("did", ""),
            in_progress=bool(data.get("in_progress")),
            late=data.get("late"),
            duplicate_rows=bool(data.get("duplicate_rows")),
            ended_at=None if data.get("ended_at") is None else float(data["ended_at"]),
            campaign=text("campaign", ""),
        )
