"""Authentication strategies: an API key on every call, or the older sha256 hash pair, or ``auto``.

The hash pair (``timeStamp`` from the PBX clock, ``hash = sha256_hex(key + ":" + timeStamp)``) must be
first used within 10 s of the PBX clock and then stays valid for an hour. Asking the PBX for its time
before every call would double the requests, so a pair is reused for most of that hour (55 minutes by
default, measured on the local monotonic clock, so a wall-clock jump cannot stretch it) and renewed
early, or at once when the PBX answers "Expired TimeStamp".

``auto`` exists for fleets where some PBXs predate API keys (4.9.0.10): it starts with the key and
switches to the hash method for good after the first refusal.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from .errors import ConfigurationError, NoojeeError

AUTH_MODES = ("apikey", "hash", "auto")
DEFAULT_PAIR_LIFETIME = 55 * 60.0
#: Replaced hash pairs kept for masking: a pair stays valid on the PBX for an hour after we drop it.
PAST_HASHES_KEPT = 16


def hash_pair(api_key: str, timestamp: int | str) -> str:
    """``sha256_hex(api_key + ":" + timestamp)``, UTF-8, lower-case hex (the PBX refuses upper case)."""
    return hashlib.sha256(f"{api_key}:{timestamp}".encode()).hexdigest()


def _mentions_expiry(error: NoojeeError) -> bool:
    said = (error.pbx_message or "").lower()
    return "expired" in said or "timestamp" in said or "hash" in said


class Authenticator:
    """Gives the query parameters that authenticate one request, and recovers from refusals.

    One client may be shared by threads: the mode switch and the hash pair sit behind one lock, and a
    renewal triggered by a stale pair does not throw away a fresher one another thread just fetched.
    """

    def __init__(
        self,
        api_key: str,
        mode: str,
        server_time: Callable[[], int],
        *,
        pair_lifetime: float = DEFAULT_PAIR_LIFETIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key or not isinstance(api_key, str):
            raise ConfigurationError("an API key is required")
        if mode not in AUTH_MODES:
            raise ConfigurationError(f"auth must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
        if pair_lifetime <= 0:
            raise ConfigurationError("the hash pair lifetime must be positive (seconds)")
        self._api_key = api_key
        self.mode = mode
        self._using_hash = mode == "hash"
        self._server_time = server_time
        self._pair_lifetime = pair_lifetime
        self._clock = clock
        self._lock = threading.RLock()
        self._pair: tuple[str, str] | None = None
        self._pair_obtained = 0.0
        self._past_hashes: deque[str] = deque(maxlen=PAST_HASHES_KEPT)

    def __repr__(self) -> str:
        return f"<Authenticator mode={self.mode} using={'hash' if self._using_hash else 'apikey'}>"

    @property
    def using_hash(self) -> bool:
        return self._using_hash

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never be shown: masked in any text the client logs or raises.

        Hashes of replaced pairs too: the PBX may still accept them, and may quote them back.
        """
        with self._lock:
            pair_hash = self._pair[1] if self._pair else ""
            return (self._api_key, pair_hash, *self._past_hashes)

    def _drop_pair(self) -> None:
        if self._pair is not None:
            self._past_hashes.append(self._pair[1])
        self._pair = None

    def params(self) -> dict[str, str]:
        with self._lock:
            if not self._using_hash:
                return {"apiKey": self._api_key}
            if self._pair is None or self._clock() - self._pair_obtained >= self._pair_lifetime:
                # Held across the Time request on purpose: concurrent callers wait for one new pair
                # instead of each fetching their own.
                timestamp = str(self._server_time())
                self._drop_pair()
                self._pair = (timestamp, hash_pair(self._api_key, timestamp))
                self._pair_obtained = self._clock()
            timestamp, digest = self._pair
        return {"timeStamp": timestamp, "hash": digest}

    def recover(self, error: NoojeeError, used: Mapping[str, str]) -> bool:
        """After the PBX refused ``used``: change what :meth:`params` gives and say whether to resend.

        A refused request did nothing on the PBX, so resending it once is safe even for ``dial``.
        """
        with self._lock:
            if "hash" in used:
                if self._pair is not None and self._pair[1] != used["hash"]:
                    return True  # another thread already renewed it
                if _mentions_expiry(error):
                    self._drop_pair()
                    return True
                return False
            if self._using_hash:
                return True  # another thread switched to the hash method meanwhile
            if self.mode == "auto":
                self._using_hash = True
                return True
            return False

    def renew(self) -> None:
        """Forget the current hash pair; the next request fetches a new one."""
        with self._lock:
            self._drop_pair()
