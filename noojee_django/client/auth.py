"""Authentication strategies: an API key on every call, or the older sha256 hash pair.

The hash pair (``timeStamp`` from the PBX clock, ``hash = sha256_hex(key + ":" + timeStamp)``) must be
first used within 10 s of the PBX clock and then stays valid for an hour; it is reused for most of that
hour instead of asking the PBX for its time before every call.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from .errors import ConfigurationError

AUTH_MODES = ("apikey", "hash", "auto")


def hash_pair(api_key: str, timestamp: int | str) -> str:
    """``sha256_hex(api_key + ":" + timestamp)``, UTF-8, lower-case hex."""
    return hashlib.sha256(f"{api_key}:{timestamp}".encode()).hexdigest()


class Authenticator:
    """Gives the query parameters that authenticate one request; thread safe.

    ``mode="auto"`` starts with the API key and switches to the hash method for good after the PBX
    refuses the key once (:meth:`fall_back`).
    """

    def __init__(
        self,
        api_key: str,
        mode: str,
        server_time: Callable[[], int],
        *,
        pair_lifetime: float = 55 * 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ConfigurationError("an API key is required")
        if mode not in AUTH_MODES:
            raise ConfigurationError(f"auth must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
        self._api_key = api_key
        self.mode = mode
        self._using_hash = mode == "hash"
        self._server_time = server_time
        self._pair_lifetime = pair_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._pair: tuple[str, str] | None = None
        self._pair_obtained = 0.0

    @property
    def using_hash(self) -> bool:
        return self._using_hash

    @property
    def secrets(self) -> tuple[str, ...]:
        pair_hash = self._pair[1] if self._pair else ""
        return (self._api_key, pair_hash)

    def params(self) -> dict[str, str]:
        if not self._using_hash:
            return {"apiKey": self._api_key}
        with self._lock:
            if self._pair is None or self._clock() - self._pair_obtained > self._pair_lifetime:
                self._renew_locked()
            assert self._pair is not None
            timestamp, digest = self._pair
        return {"timeStamp": timestamp, "hash": digest}

    def renew(self) -> None:
        """Forget the current hash pair (the PBX said it expired); the next request gets a new one."""
        with self._lock:
            self._pair = None

    def fall_back(self) -> bool:
        """In ``auto`` mode, switch to the hash method after a refusal. ``True`` if anything changed."""
        with self._lock:
            if self.mode == "auto" and not self._using_hash:
                self._using_hash = True
                return True
        return False

    def _renew_locked(self) -> None:
        timestamp = str(self._server_time())
        self._pair = (timestamp, hash_pair(self._api_key, timestamp))
        self._pair_obtained = self._clock()
