"""A pure-Python client for the Noojee PBX API. No Django here: usable from any script."""

from .client import NoojeeClient
from .errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InvalidAudioError,
    KeyScopeError,
    NoojeeError,
    NoojeeTimeout,
    NotFoundError,
    ProtocolError,
    RateLimited,
    RecordingNotReady,
    ReplyTooLarge,
    ServerError,
    TransportError,
)
from .legacy import LegacyRecordingClient
from .redact import redact_url
from .transport import RetryPolicy
from .types import (
    AudioInfo,
    CallEvent,
    CallStatus,
    DialResult,
    Direction,
    LegMetadata,
    Reply,
    SubscribeResult,
)

__all__ = [
    "ApiError",
    "AudioInfo",
    "AuthenticationError",
    "CallEvent",
    "CallStatus",
    "ConfigurationError",
    "DialResult",
    "Direction",
    "InvalidAudioError",
    "KeyScopeError",
    "LegMetadata",
    "LegacyRecordingClient",
    "NoojeeClient",
    "NoojeeError",
    "NoojeeTimeout",
    "NotFoundError",
    "ProtocolError",
    "RateLimited",
    "RecordingNotReady",
    "Reply",
    "ReplyTooLarge",
    "RetryPolicy",
    "ServerError",
    "SubscribeResult",
    "TransportError",
    "redact_url",
]
