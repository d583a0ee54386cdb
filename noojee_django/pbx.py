"""The one place a :class:`~noojee_django.client.NoojeeClient` is built from the ``NOOJEE`` setting.

One client per connection (:mod:`noojee_django.connections`), cached per configuration, so a worker
keeps one HTTP connection pool (and one hash pair) per PBX instead of opening a new one for every task,
and ``override_settings`` in tests still takes effect.
"""

from __future__ import annotations

import threading

from django.core.exceptions import ImproperlyConfigured

from . import connections
from .client import NoojeeClient
from .connections import Connection

_CLIENT_KEYS = (
    "BASE_URL",
    "API_KEY",
    "KEY_KIND",
    "AUTH",
    "VERIFY_TLS",
    "TIMEOUT",
    "PBX_TIME_ZONE",
    "CALL_API_PATH",
    "RECORDING_API_PATH",
    "RETRIEVE_RECORDING_METHOD",
    "RETRIEVE_RECORDING_SELECTOR",
    "AUDIO_ENCODING",
    "DOWNLOAD_MIN_RATE",
    "DOWNLOAD_DEADLINE",
    "MAX_REPLY_BYTES",
)

_lock = threading.Lock()
_clients: dict[tuple[object, ...], NoojeeClient] = {}


def get_client(connection: str = connections.DEFAULT) -> NoojeeClient:
    """The client of the connection named ``connection`` (:class:`~.connections.UnknownConnection`
    when there is none; ``ImproperlyConfigured`` when it has no address or key)."""
    settings = connections.get(connection)
    for key in ("BASE_URL", "API_KEY"):
        if not getattr(settings, key):
            where = settings.key_source if key == "API_KEY" else settings.key(key)
            raise ImproperlyConfigured(f"Noojee: the PBX connection {settings.name!r} needs {where}.")
    config = (settings.name, *(_freeze(getattr(settings, key)) for key in _CLIENT_KEYS))
    with _lock:
        client = _clients.get(config)
        if client is None:
            client = _build_client(settings)
            _clients[config] = client
        return client


def _freeze(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _build_client(s: Connection) -> NoojeeClient:
    return NoojeeClient(
        s.BASE_URL,
        api_key=s.API_KEY,
        key_kind=s.KEY_KIND,
        auth=s.AUTH,
        timeout=s.TIMEOUT,
        download_min_rate=s.DOWNLOAD_MIN_RATE,
        download_deadline=s.DOWNLOAD_DEADLINE,
        max_reply_bytes=s.MAX_REPLY_BYTES,
        verify=s.VERIFY_TLS,
        pbx_time_zone=s.PBX_TIME_ZONE,
        call_api_path=s.CALL_API_PATH,
        recording_api_path=s.RECORDING_API_PATH,
        retrieve_recording_method=s.RETRIEVE_RECORDING_METHOD,
        retrieve_recording_selector=s.RETRIEVE_RECORDING_SELECTOR,
        audio_encoding=s.AUDIO_ENCODING,
    )
