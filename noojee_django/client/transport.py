"""One place where requests go out: authentication, timeouts, error mapping, retries, logging.

What the current REST API and the deprecated Recording API share lives here, so both clients behave
the same way on the wire: the same errors for the same failures, the same masking of secrets.

Retries. Reads are retried on errors that may pass within seconds (5xx, broken connections, timeouts,
unreadable replies) with capped exponential backoff and full jitter, so many workers hitting one
struggling PBX spread out instead of retrying in step. Two retryable errors are *not* retried here by
default: :class:`RecordingNotReady` (a call can go on for an hour) and :class:`RateLimited` (the hourly
metadata method allows one call a minute): waiting seconds would only burn requests, so they go back to
the caller, whose task layer reschedules. Methods that change the PBX are never retried, whatever
failed: after a timeout or a reset connection nobody knows whether the PBX acted, and ringing a
customer twice is worse than reporting a failure. The one resend they get is after an authentication
refusal, when the PBX provably did nothing.

Deadlines and sizes. Each request (each attempt) ends within its total deadline, see :mod:`.deadline`:
the timeout (``connect + read`` for a pair), plus a long poll's hold time, plus, for an audio download,
a second per ``download_min_rate`` bytes received (at most ``download_deadline``). Replies read whole
(JSON, text) stop at ``max_reply_bytes``: a larger one is :class:`ReplyTooLarge`, and the rest is not
read.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

from .auth import DEFAULT_PAIR_LIFETIME, Authenticator
from .deadline import Deadline, DeadlineAdapter, bind, watch
from .errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
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
from .parsing import as_int, load_json, parse_reply, preview
from .redact import install_log_filter, redact_text

logger = logging.getLogger("noojee_django.client")

#: Words that make a negative ``Code`` an authentication refusal rather than an ordinary error.
AUTH_WORDS = (
    "apikey",
    "api key",
    "user key",
    "invalid key",
    "hash",
    "timestamp",
    "access denied",
    "auth",
)
#: Words that make a credentials refusal a refusal of the method to a (good) user key: the key is
#: fine, its scope is not.
SCOPE_WORDS = ("user key", "user api key")
#: The kinds of API key Noojee issues: the global key sees everything; a user key is tied to one
#: Noojee Contact account and has only the campaign methods, for the campaigns of that user's teams.
KEY_KINDS = ("global", "user")
#: PBX methods whose body is audio: there, 409 and ``Code -2`` mean "still recording".
AUDIO_METHODS = frozenset({"retrieveRecording", "retrieve", "retrieveByUniqueId"})
_ERROR_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 500
_READ_CHUNK = 64 * 1024
#: The largest JSON or text reply read by default: call control and metadata of one call are far less.
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024
#: Audio downloads: below this many bytes a second (after the first ``timeout``) the download ends.
DEFAULT_DOWNLOAD_MIN_RATE = 32 * 1024
#: Audio downloads: seconds after which even a steady download ends (a one-hour leg needs 21 kB/s).
DEFAULT_DOWNLOAD_DEADLINE = 3600.0

Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class RetryPolicy:
    """How reads are retried: ``max_attempts`` in all; before retry ``n`` (from 0) a random wait in
    ``[0, min(cap, base * 2**n)]`` ("full jitter"). ``skip_kinds``: retryable error kinds left to the
    caller (see the module docstring)."""

    max_attempts: int = 3
    base: float = 0.25
    cap: float = 5.0
    skip_kinds: frozenset[str] = field(default_factory=lambda: frozenset({"not_ready", "rate_limited"}))

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be at least 1")
        if self.base < 0 or self.cap < 0:
            raise ConfigurationError("RetryPolicy.base and cap must not be negative")

    def delay(self, retry_number: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        return rng(0.0, min(self.cap, self.base * 2 ** min(retry_number, 30)))

    def should_retry(self, error: NoojeeError, attempts_made: int) -> bool:
        return error.retryable and error.kind not in self.skip_kinds and attempts_made < self.max_attempts


NO_RETRY = RetryPolicy(max_attempts=1)


def _int_code(value: Any) -> int | None:
    """The ``Code`` of a refusal when it reads as one, else ``None`` (a refusal is raised either way)."""
    try:
        return as_int(value, "Code")
    except ProtocolError:
        return None


def error_for(
    status: int | None,
    body: bytes | Mapping[str, Any] | None,
    method: str,
    *,
    secrets: tuple[str, ...] = (),
    audio: bool | None = None,
) -> NoojeeError:
    """The typed error for a refusal: an HTTP error status and/or a negative ``Code``.

    The order encodes the protocol's ambiguities: the status decides when it is specific (401/403,
    429, 404, 5xx), the ``Code`` and the PBX's own words otherwise.
    """
    code: int | None = None
    pbx_message: str | None = None
    parsed: Any = body
    if isinstance(body, bytes):
        try:
            parsed = load_json(body) if body.strip() else None
        except ProtocolError:
            parsed = None
    if isinstance(parsed, Mapping):
        code = _int_code(parsed.get("Code"))
        if parsed.get("Message") is not None:
            message = parsed["Message"]
            text = message if isinstance(message, str) else preview(message, _MESSAGE_LIMIT)
            pbx_message = _storable(redact_text(text, secrets))
    elif isinstance(body, bytes) and body.strip() and not body.lstrip().startswith(b"<"):
        pbx_message = _storable(redact_text(body.decode("utf-8", "replace").strip(), secrets))
    said = f": {pbx_message}" if pbx_message else ""
    kwargs: dict[str, Any] = {
        "code": code,
        "pbx_message": pbx_message,
        "http_status": status,
        "method": method,
    }
    lowered = (pbx_message or "").lower()
    refused = code is not None and code < 0
    if audio is None:
        audio = method in AUDIO_METHODS

    if (refused or status in (401, 403)) and _about_scope(lowered):
        return KeyScopeError(
            f"{method}: the PBX refused this method to the key: a user key has campaign methods only{said}",
            **kwargs,
        )
    if status in (401, 403):
        return AuthenticationError(f"{method}: the PBX refused the credentials{said}", **kwargs)
    if status == 429:
        return RateLimited(f"{method}: the PBX refused a request made too soon after another{said}", **kwargs)
    if status == 404:
        return NotFoundError(f"{method}: not found{said or ' (no such method on this server)'}", **kwargs)
    if audio and (status == 409 or code == -2):
        return RecordingNotReady(f"{method}: the recording is not ready (call in progress){said}", **kwargs)
    if refused and any(word in lowered for word in AUTH_WORDS):
        return AuthenticationError(f"{method}: the PBX refused the credentials{said}", **kwargs)
    if status is not None and status >= 500:
        return ServerError(f"{method}: the PBX failed with HTTP {status}{said}", **kwargs)
    if refused or (status is not None and status >= 400):
        return ApiError(f"{method}: the PBX refused the request{said}", **kwargs)
    return ProtocolError(f"{method}: unexpected reply{said}", **kwargs)


def _about_scope(lowered: str) -> bool:
    return any(word in lowered for word in SCOPE_WORDS) and "invalid" not in lowered


def _storable(text: str) -> str:
    """The PBX's own words, short and without NUL: they end up in error columns PostgreSQL guards."""
    return text.replace("\x00", "")[:_MESSAGE_LIMIT]


def _decode_text(content: bytes, charset: str | None) -> str:
    """A plain-text body in the charset its reply names; UTF-8 when it names none, or one unknown."""
    try:
        return content.decode(charset or "utf-8", "replace")
    except LookupError:
        return content.decode("utf-8", "replace")


def _default_session() -> requests.Session:
    session = requests.Session()
    # max_retries=0: urllib3 must not resend anything on its own (a resent dial rings twice).
    # DeadlineAdapter: the deadline watchdog can shut its connections from the first byte.
    adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _check_timeout(timeout: Any) -> Timeout:
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    if (
        isinstance(timeout, (tuple, list))
        and len(timeout) == 2
        and all(isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in timeout)
    ):
        return (float(timeout[0]), float(timeout[1]))
    raise ConfigurationError(f"timeout must be a positive number or a (connect, read) pair, not {timeout!r}")


def check_positive(value: Any, name: str, *, integer: bool = False, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    number = isinstance(value, int) or (isinstance(value, float) and not integer)
    if not number or isinstance(value, bool) or not value > 0:
        what = "a positive whole number" if integer else "a positive number"
        raise ConfigurationError(f"{name} must be {what}{' or None' if optional else ''}, not {value!r}")
    return value if integer else float(value)


def _declared_length(response: requests.Response) -> int | None:
    """The Content-Length of a reply whose body is not compressed (a compressed one grows when read)."""
    if response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return None
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


@dataclass
class Stream:
    """An open reply whose body the caller reads with :meth:`Transport.iter_body`."""

    response: requests.Response
    deadline: Deadline


class Transport:
    """Sends one API call: authenticates it, maps failures to typed errors, retries reads, logs it."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        auth: str = "apikey",
        timeout: Timeout = 10.0,
        verify: bool | str = True,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        time_path: str = "/servicemanager/rest/Time",
        user_agent: str = "noojee-django",
        hash_pair_lifetime: float = DEFAULT_PAIR_LIFETIME,
        sleep: Callable[[float], None] = time.sleep,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        download_min_rate: float = DEFAULT_DOWNLOAD_MIN_RATE,
        download_deadline: float | None = DEFAULT_DOWNLOAD_DEADLINE,
        key_kind: str = "global",
        user_key_refused: Collection[str] = (),
    ) -> None:
        if key_kind not in KEY_KINDS:
            raise ConfigurationError(f"key_kind must be one of {', '.join(KEY_KINDS)}, not {key_kind!r}")
        if isinstance(user_key_refused, str) or not all(isinstance(m, str) for m in user_key_refused):
            raise ConfigurationError("user_key_refused must be a collection of PBX method names")
        parts = urlsplit(base_url or "") if isinstance(base_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"base_url must be an http(s) URL such as https://pbx.example.com, not {base_url!r}"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("base_url must not carry a query string or fragment")
        self.base_url = base_url.rstrip("/")
        self.timeout = _check_timeout(timeout)
        self.max_reply_bytes: int = check_positive(max_reply_bytes, "max_reply_bytes", integer=True)
        self.download_min_rate: float = check_positive(download_min_rate, "download_min_rate")
        self.download_deadline: float | None = check_positive(
            download_deadline, "download_deadline", optional=True
        )
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.time_path = "/" + time_path.strip("/")
        self.sleep = sleep
        self.user_agent = user_agent
        self.session = session or _default_session()
        # Proxies and CA bundles from the environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) and the
        # session's own, read once for the PBX's URL: requests would walk os.environ on every request.
        environment = self.session.merge_environment_settings(self.base_url, {}, True, verify, None)
        self.proxies: dict[str, str] = dict(environment["proxies"])
        self.verify = verify if environment["verify"] is None else environment["verify"]
        self.auth = Authenticator(api_key, auth, self.server_time, pair_lifetime=hash_pair_lifetime)
        #: Methods whose body is audio (409 / ``Code -2`` there: "still recording").
        self.audio_methods = set(AUDIO_METHODS)
        #: ``global`` or ``user``: with a user key, the methods in ``user_key_refused`` are refused here,
        #: before any request goes out.
        self.key_kind = key_kind
        self.user_key_refused = frozenset(user_key_refused)
        install_log_filter()

    def __repr__(self) -> str:
        return f"<Transport {self.base_url} auth={self.auth.mode} key={self.key_kind}>"

    def may_call(self, name: str) -> bool:
        """False for a method this client's key may not call (a user key and ``subscribe``)."""
        return self.key_kind != "user" or name not in self.user_key_refused

    def check_scope(self, name: str) -> None:
        """Raise :class:`KeyScopeError` for a method this client's key may not call."""
        if not self.may_call(name):
            raise KeyScopeError(
                f"{name}: this client has a user API key, and Noojee gives user keys campaign methods"
                f" only, never {name}; use a connection with the global key for it",
                method=name,
            )

    def error_for(self, status: int | None, body: bytes | Mapping[str, Any] | None, name: str) -> NoojeeError:
        return error_for(status, body, name, secrets=self.auth.secrets, audio=name in self.audio_methods)

    def redact(self, text: str) -> str:
        return redact_text(text, self.auth.secrets)

    def read_timeout_extra(self, extra: float) -> Timeout:
        """The timeout of a request the PBX may legitimately hold ``extra`` seconds (a long poll)."""
        if isinstance(self.timeout, tuple):
            return (self.timeout[0], self.timeout[1] + extra)
        return (self.timeout, self.timeout + extra) if extra else self.timeout

    def total_deadline(self, extra: float = 0.0) -> float:
        """Seconds a whole request may take: the timeout (both parts of a pair), plus ``extra``."""
        timeout = self.timeout
        return (timeout[0] + timeout[1] if isinstance(timeout, tuple) else timeout) + extra

    def deadline_error(self, name: str, deadline: Deadline) -> NoojeeTimeout:
        return NoojeeTimeout(
            f"{name}: the total deadline ({deadline.describe()}) passed before the PBX's reply was complete",
            method=name,
        )

    # ------------------------------------------------------------------------------------------ Time

    def server_time(self) -> int:
        """The PBX clock in epoch milliseconds (``Time``: plain text, no authentication, a read)."""
        text = self.call("POST", self.time_path, {}, name="Time", retry=True, expect="text", auth=False)
        text = text.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise ProtocolError(f"Time: the PBX clock is not a number: {text[:40]!r}", method="Time")
        return int(text)

    # ------------------------------------------------------------------------------------------ calls

    def call(
        self,
        http_method: str,
        path: str,
        params: Mapping[str, Any],
        *,
        name: str,
        retry: bool,
        expect: str = "json",
        read_extra: float = 0.0,
        auth: bool = True,
        max_bytes: int | None = None,
    ) -> Any:
        """One API call. ``expect``: ``json`` (parsed body, negative ``Code`` raised), ``reply`` (JSON
        envelope or plain text), ``text``, or ``stream`` (a :class:`Stream`: the open response, status
        checked, and the deadline :meth:`iter_body` keeps). ``max_bytes``: the size cap of a body read
        whole (default ``max_reply_bytes``)."""
        if auth:
            self.check_scope(name)
        attempts = 0
        resent_for_auth = False
        while True:
            attempts += 1
            used: dict[str, str] = {}
            try:
                used = self.auth.params() if auth else {}
                if expect == "stream":
                    deadline = Deadline(
                        self.total_deadline(read_extra),
                        rate=self.download_min_rate,
                        cap=self.download_deadline,
                    )
                else:
                    deadline = Deadline(self.total_deadline(read_extra))
                query = {**params, **used}
                response = self.send(
                    http_method, path, query, name=name, read_extra=read_extra, deadline=deadline
                )
                if expect == "stream":
                    return Stream(response, deadline)
                content = self.read_body(response, name, limit=max_bytes, deadline=deadline)
                if expect == "text":
                    return _decode_text(content, response.encoding)
                return self._interpret(response.status_code, content, name, expect)
            except AuthenticationError as error:
                if isinstance(error, KeyScopeError):
                    raise  # the key was recognised: a resend, or the hash method, changes nothing
                if resent_for_auth or not auth or not self.auth.recover(error, used):
                    raise
                resent_for_auth = True
                attempts -= 1  # a refused request did nothing: it does not count as an attempt
                logger.info("%s: credentials refused; resending once (%s)", name, self._auth_label())
            except NoojeeError as error:
                if not retry or not self.retry.should_retry(error, attempts):
                    raise
                delay = self.retry.delay(attempts - 1)
                logger.info(
                    "%s failed (%s); attempt %d of %d in %.2f s",
                    name,
                    error.kind,
                    attempts + 1,
                    self.retry.max_attempts,
                    delay,
                )
                self.sleep(delay)

    def _auth_label(self) -> str:
        return "hash method" if self.auth.using_hash else "API key"

    def _interpret(self, status: int, content: bytes, name: str, expect: str) -> Any:
        stripped = content.strip()
        if not stripped:
            return None
        try:
            body = load_json(stripped)
        except ProtocolError:
            if expect == "reply":
                return _storable(self.redact(stripped.decode("utf-8", "replace")))
            raise ProtocolError(
                f"{name}: the reply is not JSON ({len(content)} bytes: "
                f"{self.redact(stripped[:60].decode('utf-8', 'replace'))!r})",
                http_status=status,
                method=name,
            ) from None
        if isinstance(body, Mapping) and "Code" in body:
            reply = parse_reply(body)
            if reply.code < 0:
                raise self.error_for(status, body, name)
            if reply.code > 0:
                # The PBX's words are not ours to trust: a notice may quote the request, key included.
                logger.warning(
                    "%s: the PBX answered with notice Code %s: %s",
                    name,
                    reply.code,
                    self.redact(reply.message)[:_MESSAGE_LIMIT],
                )
        return body

    def send(
        self,
        http_method: str,
        path: str,
        query: Mapping[str, Any],
        *,
        name: str,
        read_extra: float = 0.0,
        deadline: Deadline | None = None,
    ) -> requests.Response:
        """Send one request; an HTTP error status is raised here (its body read, bounded).

        ``deadline`` (default: the timeout plus ``read_extra``) is watched from here on; it is closed
        here on failure, else by whoever reads the body."""
        url = self.base_url + path
        params = {k: str(v) for k, v in query.items() if v is not None}
        started = time.monotonic()
        failure: TransportError | None = None
        if deadline is None:
            deadline = Deadline(self.total_deadline(read_extra))
        watch(deadline)
        previous = bind(deadline)
        try:
            # Straight to the session's adapter: a PBX call is one request and one reply. What
            # Session.request adds is not wanted here: redirects (a POST replayed as a GET, wherever the
            # Location points), cookies (auth is in the query), a read of the environment per request.
            prepared = requests.PreparedRequest()
            prepared.prepare(
                method=http_method,
                url=url,
                headers={**self.session.headers, "User-Agent": self.user_agent},
                params=params,
                auth=self.session.auth,
            )
            response = self.session.get_adapter(url).send(
                prepared,
                stream=True,
                timeout=self.read_timeout_extra(read_extra),
                verify=self.verify,
                cert=self.session.cert,
                proxies=self.proxies,
            )
            # A session of our own registered the connection already; any other, from here on.
            connection = getattr(response.raw, "connection", None)
            if connection is not None:
                deadline.attach(connection)
        except requests.RequestException as exc:
            failure = self.wrap(exc, name, "could not get a reply from the PBX")
            if deadline.fired:
                failure = self.deadline_error(name, deadline)
            failure.no_reply = True
        finally:
            bind(previous)
        if failure is not None:
            deadline.close()
            logger.debug(
                "%s %s -> %s in %d ms",
                http_method,
                self.redact(f"{url}?{urlencode(params)}" if params else url),
                failure.kind,
                (time.monotonic() - started) * 1000,
            )
            raise failure  # outside the except: the original (its URL holds the key) is not kept
        logger.debug(
            "%s %s -> HTTP %s in %d ms",
            http_method,
            self.redact(response.url),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code >= 400:
            body = self._read_limited(response)
            deadline.close()
            raise self.error_for(response.status_code, body, name)
        if 300 <= response.status_code < 400:
            location = self.redact(response.headers.get("Location", "?"))[:200]
            response.close()
            deadline.close()
            raise ApiError(
                f"{name}: the PBX redirects to {location}; set the base URL to the address it names "
                "(redirects are not followed: a dial must not be replayed elsewhere)",
                http_status=response.status_code,
                method=name,
            )
        return response

    def wrap(self, exc: BaseException, name: str, what: str) -> TransportError:
        """A requests/urllib3 failure as a :class:`TransportError` whose text is masked.

        requests puts the full URL (key included) in its messages; only a masked copy survives here.
        Callers raise the result outside their ``except`` block, so the original is not even kept as
        ``__context__`` (``from None`` only hides it from display: an error reporter that walks the
        chain would still find it).
        """
        detail = self.redact(f"{type(exc).__name__}: {exc}")[:300]
        timed_out = isinstance(exc, requests.Timeout) or any(
            isinstance(arg, ReadTimeoutError) for arg in getattr(exc, "args", ())
        )
        if timed_out:
            return NoojeeTimeout(f"{name}: the PBX did not answer in time ({detail})", method=name)
        return TransportError(f"{name}: {what} ({detail})", method=name)

    def read_body(
        self,
        response: requests.Response,
        name: str,
        *,
        limit: int | None = None,
        deadline: Deadline | None = None,
    ) -> bytes:
        """The whole body, at most ``limit`` bytes (default ``max_reply_bytes``): past that (or when the
        declared length says so) :class:`ReplyTooLarge`, and the rest is never read."""
        limit = self.max_reply_bytes if limit is None else limit
        failure: NoojeeError
        try:
            try:
                declared = _declared_length(response)
                if declared is not None and declared > limit:
                    failure = self._too_large(name, limit, response)
                else:
                    body = bytearray()
                    for chunk in response.iter_content(_READ_CHUNK):
                        body += chunk
                        if len(body) > limit:
                            break
                    if deadline is not None and deadline.fired:
                        failure = self.deadline_error(name, deadline)
                    elif len(body) > limit:
                        failure = self._too_large(name, limit, response)
                    else:
                        return bytes(body)
            except requests.RequestException as exc:
                failure = self.wrap(exc, name, "the connection broke during the reply")
                if deadline is not None and deadline.fired:
                    failure = self.deadline_error(name, deadline)
        finally:
            if deadline is not None:
                deadline.close()
            response.close()
        raise failure  # outside the except: see wrap()

    @staticmethod
    def _too_large(name: str, limit: int, response: requests.Response) -> ReplyTooLarge:
        return ReplyTooLarge(
            f"{name}: reply larger than {limit} bytes; the rest was not read",
            http_status=response.status_code,
            method=name,
        )

    def iter_body(
        self, response: requests.Response, name: str, chunk_size: int, deadline: Deadline | None = None
    ) -> Iterator[bytes]:
        """The body in chunks; a connection that breaks mid-body is a :class:`TransportError` that says
        how far it got (bytes off the wire, not only the whole chunks handed on: an operator reading
        "after 0 bytes" would look for the wrong fault). Each chunk earns ``deadline`` its time."""
        received = 0
        failure: NoojeeError
        try:
            try:
                for chunk in response.iter_content(chunk_size):
                    received += len(chunk)
                    if deadline is not None:
                        if deadline.fired:
                            break
                        deadline.received(received)
                    yield chunk
                if deadline is None or not deadline.fired:
                    return
                failure = self.deadline_error(name, deadline)
            except requests.RequestException as exc:
                tell = getattr(response.raw, "tell", None)
                read = tell() if callable(tell) else 0
                got = max(received, read if isinstance(read, int) else 0)
                failure = self.wrap(exc, name, f"the connection broke after {got} bytes of the body")
                if deadline is not None and deadline.fired:
                    failure = self.deadline_error(name, deadline)
        finally:
            if deadline is not None:
                deadline.close()
            response.close()
        raise failure  # outside the except: see wrap()

    @staticmethod
    def _read_limited(response: requests.Response) -> bytes:
        body = bytearray()
        try:
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) >= _ERROR_BODY_LIMIT:
                    break
        except requests.RequestException:
            pass  # the status already says what went wrong
        finally:
            response.close()
        return bytes(body)
