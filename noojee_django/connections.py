"""Named PBX connections: ``NOOJEE["PBXES"]``, the way ``DATABASES`` names databases.

A project that speaks to one PBX writes the top-level keys of ``NOOJEE`` (``BASE_URL``, ``API_KEY``...)
as before: they are the connection ``"default"``. A project with several PBXs (regions, a move from an
old server to a new one) names the others::

    NOOJEE = {
        "BASE_URL": "https://pbx.example.com",          # "default"
        "PBXES": {
            "acme": {
                "BASE_URL": "https://acme.pbx.example.com",
                "API_KEY_ENV": "NOOJEE_ACME_API_KEY",    # the key is read from this variable only
                "PBX_TIME_ZONE": "Australia/Perth",
            },
        },
    }

A named connection gives its own ``BASE_URL`` and key; it never inherits them from ``"default"``, so
one PBX's key is never sent to another. Its other keys (:data:`CONNECTION_KEYS`), when unset, are the
top-level ones. ``PBXES["default"]`` may override the top-level keys of ``"default"`` the same way.

Every phone, call, recording and leg carries the name of its connection (its ``connection`` column);
:func:`for_user` routes a user to one through the ``PBX_FOR`` hook, by default the connection of the
user's phone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

from .conf import DEFAULTS, RULES, Problem, Snapshot, noojee_settings, rule_problem

if TYPE_CHECKING:
    from django.db.models import QuerySet

_Rows = TypeVar("_Rows", bound="QuerySet[Any]")

DEFAULT = "default"

#: The keys a connection of ``PBXES`` may set; the ones it leaves unset are the top-level keys, except
#: ``BASE_URL`` and the key, which a named connection must give itself.
CONNECTION_KEYS: tuple[str, ...] = (
    "BASE_URL",
    "API_KEY_ENV",
    "KEY_KIND",
    "AUTH",
    "VERIFY_TLS",
    "TIMEOUT",
    "DOWNLOAD_MIN_RATE",
    "DOWNLOAD_DEADLINE",
    "MAX_REPLY_BYTES",
    "PBX_TIME_ZONE",
    "CALL_API_PATH",
    "RECORDING_API_PATH",
    "RETRIEVE_RECORDING_METHOD",
    "RETRIEVE_RECORDING_SELECTOR",
    "AUDIO_ENCODING",
    "METADATA_HOUR_INTERVAL",
)
#: Keys of a connection that are not top-level keys.
_OWN_KEYS = ("API_KEY_ENV",)
#: What a named connection never takes from the top-level keys.
_NOT_INHERITED = ("BASE_URL", "KEY_KIND")

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnknownConnection(ImproperlyConfigured):
    """A phone, call or recording names a connection that ``NOOJEE["PBXES"]`` does not define."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"Noojee: no PBX connection named {name!r}: define it in NOOJEE['PBXES'] "
            "(see docs/deployment.md)."
        )


@dataclass(frozen=True)
class Connection:
    """One PBX as the app speaks to it: the settings its client is built from."""

    name: str
    BASE_URL: str
    API_KEY: str = field(repr=False)
    #: where the key is read from, for messages: never the key itself
    key_source: str
    KEY_KIND: str
    AUTH: str
    VERIFY_TLS: bool | str
    TIMEOUT: float
    DOWNLOAD_MIN_RATE: float
    DOWNLOAD_DEADLINE: float | None
    MAX_REPLY_BYTES: int
    PBX_TIME_ZONE: str
    CALL_API_PATH: str
    RECORDING_API_PATH: str
    RETRIEVE_RECORDING_METHOD: str
    RETRIEVE_RECORDING_SELECTOR: str
    AUDIO_ENCODING: str
    METADATA_HOUR_INTERVAL: float

    def key(self, name: str) -> str:
        """How messages name one of this connection's keys: ``NOOJEE['BASE_URL']`` for ``"default"``,
        ``NOOJEE['PBXES']['acme']['BASE_URL']`` for a named one."""
        if self.name == DEFAULT:
            return f"NOOJEE[{name!r}]"
        return f"NOOJEE['PBXES'][{self.name!r}][{name!r}]"

    @property
    def is_user_key(self) -> bool:
        return self.KEY_KIND == "user"


def _declared(snapshot: Snapshot | None = None) -> dict[str, dict[str, Any]]:
    pbxes = (snapshot or noojee_settings.snapshot()).PBXES
    return pbxes if isinstance(pbxes, dict) else {}


def default_key_env(name: str) -> str:
    """The environment variable a named connection's key is read from when it names none:
    ``NOOJEE_<NAME>_API_KEY``."""
    return f"NOOJEE_{name.upper()}_API_KEY"


def names() -> list[str]:
    """Every connection's name, ``"default"`` first."""
    return [DEFAULT, *sorted(name for name in _declared() if name != DEFAULT)]


def get(name: str = DEFAULT) -> Connection:
    """The connection ``name``; :class:`UnknownConnection` when it is not defined."""
    snapshot = noojee_settings.snapshot()
    declared = _declared(snapshot)
    if name != DEFAULT and name not in declared:
        raise UnknownConnection(name)
    own = declared.get(name) or {}
    values: dict[str, Any] = {}
    for key in CONNECTION_KEYS:
        if key in _OWN_KEYS:
            continue
        if own.get(key) is not None:
            values[key] = own[key]
        elif name == DEFAULT or key not in _NOT_INHERITED:
            values[key] = getattr(snapshot, key)
        else:
            values[key] = DEFAULTS[key]
    env = own.get("API_KEY_ENV") or (None if name == DEFAULT else default_key_env(name))
    if env:
        api_key = os.environ.get(env, "")
        source = f"the {env} environment variable"
    else:
        api_key = snapshot.API_KEY
        source = "NOOJEE['API_KEY'] or the NOOJEE_API_KEY environment variable"
    return Connection(name=name, API_KEY=api_key, key_source=source, **values)


def all_connections() -> list[Connection]:
    return [get(name) for name in names()]


def for_user(user: Any, obj: Any = None, *, phone: Any = None) -> str:
    """The connection a user's dial or recording for ``obj`` goes through: the ``PBX_FOR`` hook's
    answer (the default hook's, the connection of ``phone``, is had without asking the database)."""
    hook = noojee_settings.hook("PBX_FOR")
    if hook is default_pbx_for and phone is not None:
        return str(phone.connection)
    assert hook is not None  # PBX_FOR has a default
    name = hook(user=user, obj=obj)
    if name != DEFAULT and name not in _declared():
        raise UnknownConnection(str(name))
    return str(name)


def default_pbx_for(*, user: Any, obj: Any = None) -> str:
    """The default ``PBX_FOR``: the connection of the user's active phone, else ``"default"``."""
    from .models import AgentPhone

    if not getattr(user, "pk", None):
        return DEFAULT
    phone = AgentPhone.objects.filter(user_id=user.pk, is_active=True).only("connection").first()
    return phone.connection if phone is not None else DEFAULT


def of_user(user: Any) -> frozenset[str] | None:
    """The PBX connections whose phones, calls, recordings and legs ``user`` may deal with (the
    ``USER_PBXES`` hook's answer); ``None``: every one."""
    hook = noojee_settings.hook("USER_PBXES")
    assert hook is not None  # USER_PBXES has a default
    found = hook(user)
    return None if found is None else frozenset(str(name) for name in found)


def default_user_pbxes(user: Any) -> frozenset[str] | None:
    """The default ``USER_PBXES``. With one PBX, every user has it (who may do what is then only the
    permissions' business). With several: a superuser has every one; anybody else the connection of
    their active phone, and none without a phone. Managers without a phone, who must see one client
    company's recordings, are given theirs by a project's own ``USER_PBXES``."""
    if len(names()) == 1 or getattr(user, "is_superuser", False):
        return None
    from .models import AgentPhone

    if not getattr(user, "pk", None):
        return frozenset()
    return frozenset(
        AgentPhone.objects.filter(user_id=user.pk, is_active=True).values_list("connection", flat=True)
    )


def may_use(user: Any, connection: str) -> bool:
    """Whether ``user`` may deal with what belongs to the PBX ``connection``."""
    allowed = of_user(user)
    return allowed is None or connection in allowed


def filter_for(user: Any, queryset: _Rows, field: str = "connection") -> _Rows:
    """``queryset`` narrowed to the rows of the connections ``user`` may deal with (``field`` names the
    connection, e.g. ``recording_tag__connection``)."""
    allowed = of_user(user)
    return queryset if allowed is None else queryset.filter(**{f"{field}__in": sorted(allowed)})


def problems(snapshot_values: dict[str, Any]) -> list[Problem]:
    """What is wrong with ``PBXES`` itself (``noojee.E020``), and with each value a connection sets
    (the ids of the top-level key's rule)."""
    pbxes = snapshot_values.get("PBXES")
    if pbxes is None:
        return []
    if not isinstance(pbxes, dict):
        return [
            Problem("PBXES", f"NOOJEE['PBXES'] must be a dict of connections, not {pbxes!r}.", "noojee.E020")
        ]
    found: list[Problem] = []
    for name, own in pbxes.items():
        where = f"NOOJEE['PBXES'][{name!r}]"
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            found.append(
                Problem(
                    "PBXES",
                    f"{where}: a connection's name is 1 to 64 letters, digits or underscores.",
                    "noojee.E020",
                )
            )
            continue
        if not isinstance(own, dict):
            found.append(Problem("PBXES", f"{where} must be a dict of settings, not {own!r}.", "noojee.E020"))
            continue
        if "API_KEY" in own:
            found.append(
                Problem(
                    "PBXES",
                    f"{where} has an API_KEY: a connection's key is read from the environment only. "
                    f"Name the variable in API_KEY_ENV (by default {default_key_env(name)}).",
                    "noojee.E020",
                )
            )
        unknown = sorted(set(own) - set(CONNECTION_KEYS) - {"API_KEY"})
        if unknown:
            found.append(
                Problem(
                    "PBXES",
                    f"{where} has unknown key(s): {', '.join(map(str, unknown))}; a connection may set "
                    f"{', '.join(CONNECTION_KEYS)}.",
                    "noojee.E020",
                )
            )
        env = own.get("API_KEY_ENV")
        if env is not None and (not isinstance(env, str) or not _ENV_PATTERN.match(env)):
            found.append(
                Problem("PBXES", f"{where}['API_KEY_ENV'] must name an environment variable.", "noojee.E020")
            )
        for key in CONNECTION_KEYS:
            if key in _OWN_KEYS or own.get(key) is None:
                continue
            problem = rule_problem(f"{where}[{key!r}]", RULES[key], own[key])
            if problem is not None:
                found.append(Problem("PBXES", problem.message, problem.check_id))
    return found
