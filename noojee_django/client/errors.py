"""One exception tree for everything the Noojee PBX (or the road to it) can do wrong.

Every error carries the PBX's own ``Code`` and ``Message`` where there was one, and the HTTP status,
so a caller can log something an operator understands. No error ever carries the API key or a hash:
URLs are masked before they reach an exception (see :func:`noojee_django.client.redact.redact_url`).
"""

from __future__ import annotations


class NoojeeError(Exception):
    """Base of every error raised by :mod:`noojee_django.client`."""

    #: Short machine-readable name of the kind of failure, stored on attempt logs.
    kind = "error"
    #: Whether repeating the same request later may succeed.
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        pbx_message: str | None = None,
        http_status: int | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.pbx_message = pbx_message
        self.http_status = http_status
        self.method = method

    def __str__(self) -> str:
        parts = [self.message]
        details = []
        if self.method:
            details.append(f"method={self.method}")
        if self.http_status is not None:
            details.append(f"HTTP {self.http_status}")
        if self.code is not None:
            details.append(f"Code {self.code}")
        if self.pbx_message and self.pbx_message not in self.message:
            details.append(f"PBX said: {self.pbx_message!r}")
        if details:
            parts.append("(" + ", ".join(details) + ")")
        return " ".join(parts)


class ConfigurationError(NoojeeError, ValueError):
    """The client was built with settings that cannot work (bad URL, missing key, unknown option)."""

    kind = "configuration"


class ApiError(NoojeeError):
    """The PBX answered, understood the request, and refused it with a negative ``Code``."""

    kind = "api_error"


class AuthenticationError(ApiError):
    """The API key or hash pair was refused (bad key, user key on a global-only method, expired pair)."""

    kind = "auth"


class KeyScopeError(AuthenticationError):
    """The key is good, but not for this method: a user key (tied to one Noojee Contact account) may
    call only campaign methods, so never ``subscribe``. Raised before any request when the client
    knows its key is a user key, and for the PBX's own refusal otherwise. Never resent: another try,
    or the hash method, gets the same answer."""

    kind = "key_scope"


class NotFoundError(ApiError):
    """The thing asked for does not exist: unknown path, unknown leg, deleted or private recording."""

    kind = "not_found"


class RecordingNotReady(ApiError):
    """The recording exists but its call is still in progress: ask again later."""

    kind = "not_ready"
    retryable = True


class RateLimited(ApiError):
    """The PBX refused the request for coming too often (``retrieveMetaDataByHour``: once a minute)."""

    kind = "rate_limited"
    retryable = True


class ServerError(ApiError):
    """The PBX failed (HTTP 5xx): nothing wrong with the request, try again."""

    kind = "server_error"
    retryable = True


class ProtocolError(NoojeeError):
    """The reply could not be understood: not JSON, wrong shape, wrong types."""

    kind = "protocol"
    retryable = True


class ReplyTooLarge(ProtocolError):
    """The reply is larger than the client reads (``max_reply_bytes``): it was not read to its end.

    Not retryable: the same question gets the same answer, and reading it again would only cost the
    PBX and the network the same megabytes.
    """

    kind = "too_large"
    retryable = False


class InvalidAudioError(ProtocolError):
    """The audio body is not a valid WAV: bad base64, truncated data, wrong header."""

    kind = "invalid_audio"


class TransportError(NoojeeError):
    """The PBX could not be reached or the connection broke (refused, reset, DNS, TLS, timeout)."""

    kind = "transport"
    retryable = True
    #: True when not a byte of a reply came (refused, unreachable, no answer in time); False when the
    #: connection broke or stalled during a reply: the PBX was reached.
    no_reply = False


class NoojeeTimeout(TransportError):
    """The PBX did not answer within the configured timeout, or its reply did not end within the
    request's total deadline."""

    kind = "timeout"


__all__ = [
    "ApiError",
    "AuthenticationError",
    "ConfigurationError",
    "InvalidAudioError",
    "KeyScopeError",
    "NoojeeError",
    "NoojeeTimeout",
    "NotFoundError",
    "ProtocolError",
    "RateLimited",
    "RecordingNotReady",
    "ReplyTooLarge",
    "ServerError",
    "TransportError",
]
