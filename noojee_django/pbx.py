"""The one place a :class:`~noojee_django.client.NoojeeClient` is built from the ``NOOJEE`` setting.

Clients are cached per configuration, so a worker keeps one HTTP connection pool (and one hash pair)
per PBX instead of opening a new one for every task, and ``override_settings`` in tests still takes
effect.
"""

from __future__ import annotations

import threading

from .client import NoojeeClient
from .conf import noojee_settings

_CLIENT_KEYS = (
    "BASE_URL",
    "API_KEY",
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


def get_client() -> NoojeeClient:
    config = tuple(_freeze(noojee_settings.get(key)) for key in _CLIENT_KEYS)
    with _lock:
        client = _clients.get(config)
        if client is None:
            client = _build_client()
            _clients[config] = client
        return client


def _freeze(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _build_client() -> NoojeeClient:
    s = noojee_settings
    return NoojeeClient(
        s.BASE_URL,
        api_key=s.API_KEY,
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
