"""One place where the ``NOOJEE = {...}`` setting is read, defaulted and explained.

Everything in the app asks :data:`noojee_settings` (``noojee_settings.BASE_URL``) instead of reading
``django.conf.settings`` itself, so defaults, the environment fallback for the API key and the error a
missing value raises are written once. Values are read on every access, so ``override_settings`` works.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

#: Every key of ``NOOJEE`` with its default. ``docs/settings.md`` explains each one.
DEFAULTS: dict[str, Any] = {
    # Where the PBX is and how to authenticate
    "BASE_URL": None,
    "API_KEY": None,  # falls back to the NOOJEE_API_KEY environment variable
    "AUTH": "apikey",  # "apikey" | "hash" | "auto"
    "VERIFY_TLS": True,
    "TIMEOUT": 10.0,  # seconds: the whole of a request, not one read (a long poll adds its hold time)
    "DOWNLOAD_MIN_RATE": 32 * 1024,  # bytes/s an audio download must keep up: it earns a second per this many
    "DOWNLOAD_DEADLINE": 3600,  # seconds no audio download may outlast, however steady (None: no cap)
    "MAX_REPLY_BYTES": 4 * 1024 * 1024,  # a JSON or text reply larger than this is refused unread
    "PBX_TIME_ZONE": "UTC",
    # Protocol variants the published API leaves open
    "CALL_API_PATH": "/servicemanager/rest/CallManagementAPI",
    "RECORDING_API_PATH": "/njadmin/rest/RecordingAPI",
    "RETRIEVE_RECORDING_METHOD": "retrieveRecording",
    "RETRIEVE_RECORDING_SELECTOR": "unique_id_leg",  # or "call_record_id"
    "AUDIO_ENCODING": "auto",  # "auto" | "base64" | "raw" | "json"
    # Where the audio goes
    "STORAGE_ALIAS": "default",
    "UPLOAD_TO": "noojee/recordings/%Y/%m/",
    # True: the project knowingly lets its recordings storage give audio URLs (presigned, a custom
    # domain, a public ACL); the app itself never asks for one. Silences noojee.W005 and W009.
    "ALLOW_AUDIO_URLS": False,
    # Polling a tag for its legs
    "POLL_DELAY": 5,  # seconds between "stop" and the first poll
    "POLL_BACKOFF_BASE": 10,  # seconds, doubled on every "not ready yet"
    "POLL_BACKOFF_CAP": 600,  # seconds: the longest wait between two polls
    "GIVE_UP_AFTER": 6 * 3600,  # seconds after "stop" with no legs: the tag becomes "absent"
    "MAX_FETCH_ATTEMPTS": 5,  # failed downloads of one leg before it (and its tag) is "failed"
    "FETCH_LEASE": 600,  # seconds after which an unfinished download is taken to belong to a lost worker
    "SWEEP_BATCH_SIZE": 500,
    "SWEEP_GRACE": 60,  # seconds a poll may be late before the sweep sends it again
    "UNLISTED_CALL_GRACE": 15,  # seconds a dialled call may go unlisted by the PBX before it counts as ended
    "METADATA_HOUR_INTERVAL": 60,  # seconds between two retrieveMetaDataByHour (the PBX allows one a minute)
    # Abuse limits
    "DIAL_RATE_LIMIT": 30,  # new calls one agent may place a minute (None: no limit)
    # Input rules
    "NUMBER_MAX_DIGITS": 20,
    "TAG_MAX_LENGTH": 64,
    # Keeping audio
    "RETENTION_DAYS": None,  # None: keep forever
    # What calls and recordings may be linked to: ["crm.invoice", "crm.*"]; None: any model but the
    # framework's own (auth, sessions, admin, contenttypes) and this app's
    "ATTACHABLE_MODELS": None,
    # The REST API
    "API_SCHEMA_PUBLIC": False,  # True: anonymous users may read the OpenAPI schema
    # Hooks (dotted paths to callables)
    "MAY_DIAL": "noojee_django.permissions.default_may_dial",
    "MAY_RECORD": "noojee_django.permissions.default_may_record",
    "MAY_HEAR": "noojee_django.permissions.default_may_hear",
    "RESOLVE_TAG": None,  # tag -> CRM object, for legs found by the hourly reconcile
    "CLIENT_ADDRESS": "noojee_django.playback.remote_addr",  # request -> the address the access log keeps
}

#: Settings whose None is a value of its own, documented in docs/settings.md.
_NONE_MEANS_SOMETHING = frozenset(
    {"DIAL_RATE_LIMIT", "DOWNLOAD_DEADLINE", "RETENTION_DAYS", "ATTACHABLE_MODELS", "RESOLVE_TAG"}
)
_ENV_FALLBACKS = {"API_KEY": "NOOJEE_API_KEY", "BASE_URL": "NOOJEE_BASE_URL"}
_REQUIRED = {"BASE_URL", "API_KEY"}


class NoojeeSettings:
    """Attribute access to ``settings.NOOJEE`` with defaults; raises a helpful error for missing keys."""

    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "NOOJEE", {}) or {}
        if not isinstance(value, dict):
            raise ImproperlyConfigured("settings.NOOJEE must be a dict, e.g. NOOJEE = {'BASE_URL': ...}.")
        return value

    def unknown_keys(self) -> list[str]:
        return sorted(set(self.user_settings()) - set(DEFAULTS))

    def get(self, name: str, *, required: bool | None = None) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown Noojee setting {name!r}")
        user = self.user_settings()
        value = user.get(name)
        if value in (None, "") and name in _ENV_FALLBACKS:
            value = os.environ.get(_ENV_FALLBACKS[name]) or None
        # For the settings where None means something ("no limit", "keep forever"), an explicit None
        # is kept; elsewhere (the hooks above all: None never lifts a permission check) it is the default.
        if value is None and (name not in user or name not in _NONE_MEANS_SOMETHING):
            value = DEFAULTS[name]
        if value in (None, "") and (name in _REQUIRED if required is None else required):
            env = f" or the {_ENV_FALLBACKS[name]} environment variable" if name in _ENV_FALLBACKS else ""
            raise ImproperlyConfigured(f"Noojee: set NOOJEE['{name}'] in your settings{env}.")
        return value

    def __getattr__(self, name: str) -> Any:
        if name.isupper():
            return self.get(name)
        raise AttributeError(name)

    def hook(self, name: str) -> Any:
        """Import the callable a hook setting names (``MAY_HEAR`` ...), or ``None`` when unset."""
        path = self.get(name)
        if not path:
            return None
        if callable(path):
            return path
        try:
            return _import_hook(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"Noojee: NOOJEE['{name}'] = {path!r} cannot be imported: {exc}"
            ) from exc


@functools.lru_cache(maxsize=64)
def _import_hook(path: str) -> Any:
    """Hooks are asked on every dial and every listen: import each dotted path once."""
    return import_string(path)


noojee_settings = NoojeeSettings()
