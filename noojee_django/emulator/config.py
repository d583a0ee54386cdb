"""The emulator's settings: one dataclass, changeable at run time through ``PATCH /_emulator/config``.

Every [assumed] point of the protocol reference is a field here, so a test can serve each variant a real
PBX might show without a code change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

RECORDING_API_PATHS: tuple[str, ...] = (
    "/njadmin/rest/RecordingAPI",
    "/servicemanager/rest/CallManagementAPI",
    "/rest/RecordingAPI",
)
AUTH_REFUSALS = ("code", "401", "403")
AUDIO_ENCODINGS = ("base64", "raw", "json")
#: Methods a user key may not call: ``subscribe`` [doc], and the deprecated Recording API, which has no
#: campaigns to filter by [assumed]. Names as counted in ``stats``; ``njadmin-api-recording`` covers
#: every method of the deprecated API.
USER_KEY_REFUSED = ("subscribe", "njadmin-api-recording")
# Changing where the server listens, or the file its state lives in, needs a restart, not a PATCH.
FIXED_FIELDS = frozenset({"host", "port", "state_file"})


@dataclass
class EmulatorConfig:
    api_key: str = "emulator-key"
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    # user key -> its tenant: {"login": name, "campaigns": [campaign, ...]} (the campaigns of the
    # user's teams); a bare login name (or a list: the first name is used) is a user in no campaign
    user_keys: dict[str, Any] = field(default_factory=dict)
    user_key_refused: list[str] = field(default_factory=lambda: list(USER_KEY_REFUSED))
    allowed_ips: list[str] | None = None  # None: every client address
    latency: float = 0.0  # seconds added to every PBX request
    answer_delay: float = 1.0  # the agent's handset answers a dial after this (at once with autoAnswer)
    far_end_answer_delay: float = 0.5  # then the dialled number answers after this
    far_end_hangup_after: float | None = None  # then hangs up after this (None: stays until hung up)
    hangup_settle: float = 0.0  # after "Channel Hungup", seconds until the call has fully ended
    pbx_time_zone: str = "Australia/Melbourne"
    hash_first_use_window: float = 10.0
    hash_validity: float = 3600.0
    clock_offset_ms: int = 0  # the PBX clock runs this far ahead of the host's
    auth_refusal: str = "code"  # "code": HTTP 200 {"Code":-1}; "401" / "403": that status
    metadata_rate_limit_seconds: float = 60.0  # retrieveMetaDataByHour, per key
    rate_limit_status: int = 429
    min_poll_interval: float = 0.1  # faster subscribe polls of one client are delayed, not refused
    subscribe_default_timeout: float = 10.0
    subscribe_max_timeout: float = 300.0
    audio_encoding: str = "base64"  # "base64" (text/plain), "raw" (audio/wav), "json" ({"Audio": ...})
    audio_line_length: int = 76  # base64 line length; 0: one line
    recording_api_paths: list[str] = field(default_factory=lambda: list(RECORDING_API_PATHS))
    empty_poll_omits_data: bool = False  # a timed-out poll answers {"seq":n,"Code":0} without "Data"
    log_requests: bool = False  # one line per request on stderr, keys masked
    # calls, legs, events and counters are loaded from this JSON file at start and kept in it
    state_file: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self.user_keys = normalise_user_keys(self.user_keys)
        if self.api_key in self.user_keys:
            raise ValueError("user_keys: a user key cannot also be the global key")
        if not all(isinstance(name, str) and name for name in self.user_key_refused):
            raise ValueError("user_key_refused must be a list of PBX method names")
        if self.auth_refusal not in AUTH_REFUSALS:
            raise ValueError(f"auth_refusal must be one of {AUTH_REFUSALS}, not {self.auth_refusal!r}")
        if self.audio_encoding not in AUDIO_ENCODINGS:
            raise ValueError(f"audio_encoding must be one of {AUDIO_ENCODINGS}, not {self.audio_encoding!r}")
        if self.far_end_hangup_after is not None and not self.far_end_hangup_after >= 0:
            raise ValueError("far_end_hangup_after must be a number of seconds, 0 or more, or null")
        if self.audio_line_length < 0:
            raise ValueError("audio_line_length must be 0 or more")
        unknown = [p for p in self.recording_api_paths if p.rstrip("/") not in RECORDING_API_PATHS]
        if unknown:
            raise ValueError(f"recording_api_paths: unknown prefixes {unknown}; known: {RECORDING_API_PATHS}")
        from zoneinfo import ZoneInfo

        ZoneInfo(self.pbx_time_zone)  # raises on an unknown zone

    def login_for(self, user_key: str) -> str:
        return str(self.user_keys[user_key]["login"])

    def campaigns_for(self, user_key: str) -> list[str]:
        """The campaigns a user key may see and dial in, its default (the first) first."""
        return list(self.user_keys[user_key]["campaigns"])

    def refuses_user_key(self, method: str) -> bool:
        """Whether ``method`` (as counted in ``stats``) is closed to user keys."""
        return method in self.user_key_refused or method.split(".", 1)[0] in self.user_key_refused

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` all or nothing; unknown or fixed fields raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown configuration field(s): {', '.join(unknown)}")
        fixed = sorted(set(changes) & FIXED_FIELDS)
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot change while the emulator runs")
        merged = {**self.to_dict(), **{k: _coerce(getattr(self, k), v) for k, v in changes.items()}}
        candidate = EmulatorConfig(**merged)  # validates
        for name in changes:
            setattr(self, name, getattr(candidate, name))

    def copy(self) -> EmulatorConfig:
        return EmulatorConfig(**self.to_dict())


def normalise_user_keys(raw: Any) -> dict[str, dict[str, Any]]:
    """Every accepted form of ``user_keys`` as ``{key: {"login": str, "campaigns": [str, ...]}}``."""
    if not isinstance(raw, dict):
        raise ValueError("user_keys must be an object: user key -> login name or {login, campaigns}")
    tenants: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError("user_keys: every user key must be a non-empty string")
        campaigns: Any = []
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"login", "campaigns"})
            if unknown:
                raise ValueError(f"user_keys: unknown field(s) {', '.join(unknown)}; known: login, campaigns")
            login, campaigns = value.get("login") or "user", value.get("campaigns") or []
        elif isinstance(value, list):
            login = value[0] if value else "user"
        else:
            login = value or "user"
        if not isinstance(login, str):
            raise ValueError("user_keys: a login name must be a string")
        if isinstance(campaigns, str) or not all(isinstance(c, str) and c for c in campaigns):
            raise ValueError("user_keys: campaigns must be a list of campaign names")
        tenants[key] = {"login": login, "campaigns": list(dict.fromkeys(campaigns))}
    return tenants


def _coerce(current: Any, value: Any) -> Any:
    """Numbers sent as strings (a CLI, a query string) become the field's type."""
    if value is None or isinstance(current, bool | list | dict) or current is None:
        return value
    if isinstance(current, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(current, float) and not isinstance(value, bool):
        return float(value)
    if isinstance(current, str):
        return str(value)
    return value
