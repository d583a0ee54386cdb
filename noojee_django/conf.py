"""One place where the ``NOOJEE = {...}`` setting is read, checked, defaulted and explained.

Every key is declared once, as a typed field of :class:`Snapshot` with its default and its rule (what
kind of value it takes, the least number, whether ``None`` means something, the environment variable it
falls back to). From those fields come :data:`DEFAULTS`, the values the app reads, and the problems
``manage.py check`` reports (:func:`problems`), so a rule is never written twice.

The app reads :data:`noojee_settings` (``noojee_settings.POLL_DELAY``): the current snapshot of the
setting, built once and built again whenever ``settings.NOOJEE`` (``override_settings`` included) or one
of the environment fallbacks changes. A snapshot's values have their declared types: the code that uses
them never converts.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Rule:
    """What one key accepts."""

    types: tuple[type, ...]
    #: whole numbers only (numbers)
    whole: bool = False
    #: the least number allowed; ``above`` makes it "more than" instead of "at least"
    least: float | None = None
    above: bool = False
    #: ``None`` is a value of its own ("no limit", "keep forever"); elsewhere it means "the default"
    none: bool = False
    #: the only values allowed
    choices: tuple[str, ...] = ()
    #: the environment variable read when the key is unset or empty
    env: str | None = None
    #: reading the key without a value raises ``ImproperlyConfigured``
    required: bool = False
    #: a secret (a key): never in a snapshot's ``repr`` nor in a check's message
    secret: bool = False

    @property
    def is_number(self) -> bool:
        return self.least is not None


def _key(default: Any, rule: Rule) -> Any:
    return field(default=default, metadata={"rule": rule}, repr=not rule.secret)


def _number(
    default: float | None, *, least: float, whole: bool = False, above: bool = False, none: bool = False
) -> Any:
    types: tuple[type, ...] = (int,) if whole else (int, float)
    return _key(default, Rule(types, whole=whole, least=least, above=above, none=none))


def _text(
    default: str | None, *, env: str | None = None, required: bool = False, secret: bool = False
) -> Any:
    return _key(default, Rule((str,), env=env, required=required, secret=secret))


def _choice(default: str, *choices: str) -> Any:
    return _key(default, Rule((str,), choices=choices))


def _flag(default: bool) -> Any:
    return _key(default, Rule((bool,)))


def _hook(default: str | None) -> Any:
    return _key(default, Rule((str, Callable), none=default is None))  # type: ignore[arg-type]


Hook = str | Callable[..., Any]


@dataclass(frozen=True)
class Snapshot:
    """The ``NOOJEE`` setting as the app reads it: every key, typed, defaulted. ``docs/settings.md``
    explains each one."""

    # Where the PBX is and how to authenticate (the connection "default")
    BASE_URL: str = _text("", env="NOOJEE_BASE_URL", required=True)
    API_KEY: str = _text("", env="NOOJEE_API_KEY", required=True, secret=True)
    KEY_KIND: str = _choice("global", "global", "user")  # Noojee's global key, or a user's (campaigns only)
    AUTH: str = _choice("apikey", "apikey", "hash", "auto")
    VERIFY_TLS: bool | str = _key(True, Rule((bool, str)))  # or the path of a CA bundle
    TIMEOUT: float = _number(10.0, least=0, above=True)  # seconds: the whole of a request, not one read
    DOWNLOAD_MIN_RATE: float = _number(32 * 1024, least=1)  # bytes/s a download must keep up
    DOWNLOAD_DEADLINE: float | None = _number(3600, least=0, above=True, none=True)  # None: no cap
    MAX_REPLY_BYTES: int = _number(4 * 1024 * 1024, least=1024, whole=True)  # larger JSON is refused unread
    PBX_TIME_ZONE: str = _text("UTC")
    # Protocol variants the published API leaves open
    CALL_API_PATH: str = _text("/servicemanager/rest/CallManagementAPI")
    RECORDING_API_PATH: str = _text("/njadmin/rest/RecordingAPI")
    RETRIEVE_RECORDING_METHOD: str = _text("retrieveRecording")
    RETRIEVE_RECORDING_SELECTOR: str = _choice("unique_id_leg", "unique_id_leg", "call_record_id")
    AUDIO_ENCODING: str = _choice("auto", "auto", "base64", "raw", "json")
    # More PBXs: name -> the keys of connections.CONNECTION_KEYS it sets (docs/deployment.md)
    PBXES: dict[str, dict[str, Any]] | None = _key(None, Rule((dict,), none=True))
    # Where the audio goes
    STORAGE_ALIAS: str = _text("default")
    UPLOAD_TO: str = _text("noojee/recordings/%Y/%m/")
    # True: the project knowingly lets its recordings storage give audio URLs (presigned, a custom
    # domain, a public ACL); the app itself never asks for one. Silences noojee.W005 and W009.
    ALLOW_AUDIO_URLS: bool = _flag(False)
    # Polling a tag for its legs (seconds)
    POLL_DELAY: float = _number(5, least=0)  # between "stop" and the first poll
    POLL_BACKOFF_BASE: float = _number(10, least=0, above=True)  # doubled on every "not ready yet"
    POLL_BACKOFF_CAP: float = _number(600, least=0, above=True)  # the longest wait between two polls
    GIVE_UP_AFTER: float = _number(6 * 3600, least=0)  # after "stop" with no legs: the tag is "absent"
    MAX_FETCH_ATTEMPTS: int = _number(5, least=1, whole=True)  # failed downloads before "failed"
    FETCH_LEASE: float = _number(600, least=1)  # an unfinished download older than this lost its worker
    SWEEP_BATCH_SIZE: int = _number(500, least=1, whole=True)
    SWEEP_GRACE: float = _number(60, least=0)  # a poll may be this late before the sweep sends it again
    UNLISTED_CALL_GRACE: float = _number(15, least=0)  # a dialled call may go unlisted this long
    # seconds a recording on a user-key PBX (whose calls are not followed) may go without Stop
    UNFOLLOWED_RECORDING_MAX: float = _number(2 * 3600, least=60)
    # a PBX that could not be reached: its connection's polls and fetches wait this long (doubled, to the cap)
    UNREACHABLE_PAUSE: float = _number(10, least=0, above=True)
    UNREACHABLE_PAUSE_CAP: float = _number(300, least=0, above=True)
    # polls and fetches of one connection waiting for its PBX at once (None: 8 with several PBXs, else any)
    PBX_MAX_IN_FLIGHT: int | None = _number(None, least=1, whole=True, none=True)
    # seconds between two hourly listings (retrieveMetaDataByHour): the PBX allows one a minute
    METADATA_HOUR_INTERVAL: float = _number(60, least=0, above=True)
    # Abuse limits
    DIAL_RATE_LIMIT: int | None = _number(30, least=1, whole=True, none=True)  # calls an agent a minute
    # Input rules
    NUMBER_MAX_DIGITS: int = _number(20, least=1, whole=True)
    TAG_MAX_LENGTH: int = _number(64, least=1, whole=True)
    # Secure pause: a paused recording resumes by itself after this many seconds; how the signature
    # marks each paused span (a short tone, silence as long as the pause, or nothing)
    PAUSE_MAX_SECONDS: float = _number(120, least=1)
    PAUSE_GAP_FILL: str = _choice("tone", "tone", "silence", "none")
    # Keeping audio
    RETENTION_DAYS: int | None = _number(None, least=1, whole=True, none=True)  # None: keep forever
    # The integrity scrub: what one run may read back from storage
    SCRUB_BYTES_PER_RUN: int = _number(256 * 1024 * 1024, least=1, whole=True)
    SCRUB_OBJECTS_PER_RUN: int = _number(10_000, least=1, whole=True)
    # What calls and recordings may be linked to: ("crm.invoice", "crm.*"); None: any model but the
    # framework's own (auth, sessions, admin, contenttypes) and this app's
    ATTACHABLE_MODELS: tuple[str, ...] | None = _key(None, Rule((list, tuple), none=True))
    # Consent: True refuses to start a recording until the agent confirms the customer was told
    REQUIRE_CONSENT: bool = _flag(False)
    # Evidence bundles: the base64 of a raw 32-byte Ed25519 private key (docs/evidence.md)
    EVIDENCE_SIGNING_KEY: str = _text("", env="NOOJEE_EVIDENCE_SIGNING_KEY", secret=True)
    # The REST API
    API_SCHEMA_PUBLIC: bool = _flag(False)  # True: anonymous users may read the OpenAPI schema
    # The admin
    REGISTER_ADMIN: bool = _flag(True)  # False: the app's pages only on the sites given to register_admin
    # Hooks (dotted paths to callables, or the callables)
    MAY_DIAL: Hook = _hook("noojee_django.permissions.default_may_dial")
    MAY_RECORD: Hook = _hook("noojee_django.permissions.default_may_record")
    MAY_HEAR: Hook = _hook("noojee_django.permissions.default_may_hear")
    RESOLVE_TAG: Hook | None = _hook(None)  # tag -> CRM object, for legs found by the hourly reconcile
    CLIENT_ADDRESS: Hook = _hook("noojee_django.playback.remote_addr")  # request -> the address logged
    FORMAT_NUMBER: Hook = _hook("noojee_django.states.format_number")  # number -> how every page shows it
    PBX_FOR: Hook = _hook("noojee_django.connections.default_pbx_for")  # (user, obj) -> a connection name
    USER_PBXES: Hook = _hook("noojee_django.connections.default_user_pbxes")  # user -> names, or None: all

    def snapshot(self) -> Snapshot:
        """This snapshot (``noojee_settings.snapshot()`` is how code that reads several keys that must
        agree holds one of them)."""
        return self

    def get(self, name: str, *, required: bool | None = None) -> Any:
        """One key by name; a required key without a value raises ``ImproperlyConfigured``."""
        rule = RULES.get(name)
        if rule is None:
            raise AttributeError(f"Unknown Noojee setting {name!r}")
        value = getattr(self, name)
        if value in (None, "") and (rule.required if required is None else required):
            env = f" or the {rule.env} environment variable" if rule.env else ""
            raise ImproperlyConfigured(f"Noojee: set NOOJEE['{name}'] in your settings{env}.")
        return value

    def hook(self, name: str) -> Callable[..., Any] | None:
        """The callable a hook setting names (``MAY_HEAR`` ...), imported once; ``None`` when unset."""
        path = self.get(name)
        if not path:
            return None
        if callable(path):
            return path
        try:
            return cast(Callable[..., Any], _import_hook(path))
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"Noojee: NOOJEE['{name}'] = {path!r} cannot be imported: {exc}"
            ) from exc


#: Every key's rule, and every key's default (``docs/settings.md`` explains each one).
RULES: dict[str, Rule] = {f.name: f.metadata["rule"] for f in fields(Snapshot)}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Snapshot)}


@dataclass(frozen=True)
class Problem:
    """A value a key does not accept; ``check_id`` is the system check that reports it."""

    key: str
    message: str
    check_id: str


def user_settings() -> dict[str, Any]:
    """``settings.NOOJEE`` as the project wrote it (``{}`` when absent)."""
    value = getattr(settings, "NOOJEE", {}) or {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured("settings.NOOJEE must be a dict, e.g. NOOJEE = {'BASE_URL': ...}.")
    return value


def _problem(name: str, rule: Rule, value: Any) -> Problem | None:
    return rule_problem(f"NOOJEE['{name}']", rule, value, key=name)


def rule_problem(label: str, rule: Rule, value: Any, *, key: str = "") -> Problem | None:
    """What is wrong with ``value`` under ``rule``, naming it ``label`` (``NOOJEE['TIMEOUT']``)."""
    name = key
    if value is None:
        return None
    if rule.choices:
        if value not in rule.choices:
            return Problem(
                name, f"{label} = {value!r} is not one of {', '.join(rule.choices)}.", "noojee.E005"
            )
        return None
    if rule.is_number:
        assert rule.least is not None
        ok = isinstance(value, rule.types) and not isinstance(value, bool)
        if ok and (value <= rule.least if rule.above else value < rule.least):
            ok = False
        if ok:
            return None
        kind = "a whole number" if rule.whole else "a number"
        bound = f"more than {rule.least:g}" if rule.above else f"at least {rule.least:g}"
        return Problem(
            name,
            f"{label} must be {kind} of {bound}" + (" (or None)" if rule.none else "") + f", not {value!r}.",
            "noojee.E008",
        )
    if not isinstance(value, rule.types):
        words = {str: "a string", bool: "True or False", list: "a list", tuple: "a list", dict: "a dict"}
        kinds = " or ".join(dict.fromkeys(words.get(t, "a callable") for t in rule.types))
        shown = f"a {type(value).__name__}" if rule.secret else repr(value)  # a key is never echoed
        return Problem(name, f"{label} must be {kinds}, not {shown}.", "noojee.E009")
    if isinstance(value, list | tuple) and not all(isinstance(item, str) for item in value):
        return Problem(name, f"{label} must be a list of strings, not {value!r}.", "noojee.E009")
    return None


def _resolved(user: dict[str, Any]) -> dict[str, Any]:
    """Every key's value: the project's, else its environment fallback, else the default."""
    values: dict[str, Any] = {}
    for name, rule in RULES.items():
        value = user.get(name)
        if value in (None, "") and rule.env:
            value = os.environ.get(rule.env) or None
        # Where None means something ("no limit", "keep forever") an explicit None is kept; elsewhere
        # (the permission hooks above all: None never lifts a check) it is the default.
        if value is None and (name not in user or not rule.none):
            value = DEFAULTS[name]
        values[name] = value
    return values


def problems() -> list[Problem]:
    """What ``manage.py check`` reports about the values themselves (a non-dict ``NOOJEE`` is E000)."""
    try:
        user = user_settings()
    except ImproperlyConfigured as exc:
        return [Problem("", str(exc), "noojee.E000")]
    values = _resolved(user)
    found = [_problem(name, rule, values[name]) for name, rule in RULES.items()]
    wrong = [p for p in found if p is not None]
    if not wrong:
        from .connections import problems as connection_problems

        wrong = connection_problems(values)
    return wrong


def build_snapshot() -> Snapshot:
    """A snapshot of the current setting; a value a key does not accept raises ``ImproperlyConfigured``
    with the message its system check gives."""
    wrong = problems()
    if wrong:
        raise ImproperlyConfigured(" ".join(p.message for p in wrong) + " See docs/settings.md.")
    values = _resolved(user_settings())
    if isinstance(values["ATTACHABLE_MODELS"], list):
        values["ATTACHABLE_MODELS"] = tuple(values["ATTACHABLE_MODELS"])
    return Snapshot(**values)


class _Current:
    """:data:`noojee_settings`: attribute access to the current :class:`Snapshot`.

    The snapshot is kept until ``settings.NOOJEE`` is another object (``override_settings``, the test
    ``settings`` fixture) or an environment fallback changes; reading a key costs two environment
    look-ups and an identity test.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[object, tuple[str | None, ...], Snapshot] | None = None

    def snapshot(self) -> Snapshot:
        source = getattr(settings, "NOOJEE", None)
        env = tuple(os.environ.get(name) for name in _ENV_NAMES)
        cached = self._cached
        if cached is not None and cached[0] is source and cached[1] == env:
            return cached[2]
        with self._lock:
            snapshot = build_snapshot()
            self._cached = (source, env, snapshot)
        return snapshot

    def forget(self, **kwargs: Any) -> None:
        self._cached = None

    def __getattr__(self, name: str) -> Any:
        if not name.isupper():
            return getattr(self.snapshot(), name)
        return self.snapshot().get(name)


_ENV_NAMES = tuple(rule.env for rule in RULES.values() if rule.env)


@functools.lru_cache(maxsize=64)
def _import_hook(path: str) -> Any:
    """Hooks are asked on every dial and every listen: import each dotted path once."""
    return import_string(path)


_current = _Current()
setting_changed.connect(_current.forget, dispatch_uid="noojee_django.conf")

#: The current settings, typed as a :class:`Snapshot` (``noojee_settings.snapshot()`` is the object
#: itself, for code that reads several keys that must agree).
noojee_settings: Snapshot = cast(Snapshot, _current)
