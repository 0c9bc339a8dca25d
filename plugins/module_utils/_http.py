# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The HTTP transport: one ``requests`` session with timeouts, TLS settings and retries.

Retries are written by hand rather than with urllib3's ``Retry``: the rules depend on
whether a failed request can have reached the server (never repeat a non-idempotent
one that may have), on a total time budget, and tests inject ``sleep``/``clock``;
``Retry`` offers none of that.

Bounds, so that a slow, broken or hostile server cannot hold or flood a module:

- ``timeout`` bounds each attempt end to end: connecting, sending, the reply's headers
  and every read of its body. The body is read in chunks with ``stream=True``; requests'
  connect and read timeouts and the socket's timeout before each chunk are set to the
  time left, and the attempt fails as timed out once its deadline has passed. The status
  line and headers, which requests reads itself, are bounded by an alarm (SIGALRM) in the
  main thread, where modules run; elsewhere (threads) only per socket read.
- ``retry_max_time`` is a deadline for a whole call: a retry starts only if its wait
  leaves at least a second (or ``timeout``, if less) before it, and that attempt gets
  only what is left. The first attempt always gets its full ``timeout``, so a call lasts
  at most ``max(timeout, retry_max_time)``.
- ``read_timeout`` (a call the server takes long to answer by design: V7 finalize
  validates before it replies) replaces both for that call: the call, retries
  included, ends within ``read_timeout`` seconds (clamped to ``MAX_TIMEOUT``).
- A 2xx reply larger than ``max_bytes`` (``MAX_REPLY_BYTES``; ``MAX_DOWNLOAD_BYTES``
  for a secret download link) fails with ``RclResponseError`` and is never quoted;
  the body of an error reply is read up to ``MAX_ERROR_BYTES`` and cut there.
- A JSON reply nested deeper than ``MAX_JSON_DEPTH`` is refused; a ``Retry-After``
  is read as ASCII digits or an HTTP-date, capped at ``MAX_RETRY_AFTER``.

Options are checked when the transport is built, before any request (``RclInputError``
naming the option). No exception of requests, urllib3 or the standard library leaves
``request()`` other than as an ``RclError``, and no message quotes a header value.
"""

from __future__ import annotations

import contextlib
import json as _json
import math
import os
import random
import re
import signal
import threading
import time
import traceback
import typing as t
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    ignore_secret,
    RclApiError,
    RclAuthError,
    RclInputError,
    RclNotFoundError,
    RclResponseError,
    RclTransportError,
    redact_url,
    terminal_safe,
)

__all__ = [
    "HAS_REQUESTS",
    "HttpTransport",
    "IDEMPOTENT_METHODS",
    "MAX_DOWNLOAD_BYTES",
    "MAX_ERROR_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_REPLY_BYTES",
    "MAX_RETRIES",
    "MAX_RETRY_AFTER",
    "MAX_TIMEOUT",
    "REQUESTS_IMPORT_ERROR",
    "REQUESTS_MIN_VERSION",
    "parse_json_body",
    "parse_retry_after",
]

REQUESTS_MIN_VERSION = "2.20"
REQUESTS_IMPORT_ERROR: str | None
try:
    import requests
    import requests.exceptions
    from urllib3.exceptions import ConnectTimeoutError, DecodeError, LocationParseError, NewConnectionError
    from urllib3.exceptions import ReadTimeoutError
    from urllib3.exceptions import SSLError as Urllib3SSLError
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

    class LocationParseError(ValueError):  # type: ignore[no-redef]
        """Stand-in so that ``except`` clauses work without urllib3."""

    DecodeError = ReadTimeoutError = Urllib3SSLError = LocationParseError  # type: ignore[misc,assignment]
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None

IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "DELETE", "OPTIONS"))

MAX_TIMEOUT = 86400.0  # seconds: the largest timeout, read_timeout or retry_max_time accepted
MAX_RETRIES = 20
MAX_RETRY_AFTER = 86400.0  # seconds: a longer Retry-After is read as this (beyond any budget: no retry)
MAX_REPLY_BYTES = 4 * 1024 * 1024  # a 2xx API reply (JSON)
MAX_DOWNLOAD_BYTES = 1024 * 1024  # a file behind a secret download link (PFX, PEM)
MAX_ERROR_BYTES = 64 * 1024  # the body of an error reply: read up to this, cut there
MAX_JSON_DEPTH = 64  # nesting levels of a JSON reply (the API's replies use fewer than ten)

_QUOTE_LIMIT = 300  # characters of a reply that is not JSON at all quoted in an error
_JSON_MARKERS = ("{", "[", '"')  # a reply holding any of them may be (broken) JSON: never quoted
_CHUNK = 64 * 1024
_MIN_ATTEMPT = 1.0  # seconds: a retry that would have less than this (or than timeout) is not made
_BAD_HEADER = "a request header is not valid (a credential with a line break, a control character or leading space?)"
_BAD_CHARACTERS = "a request header or the URL holds characters that cannot be sent (outside latin-1)"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); ``now`` is epoch time.

    Delta-seconds are ASCII digits only (``str.isdigit`` also takes ``²`` or ``١``); every
    value is capped at ``MAX_RETRY_AFTER``. Anything unreadable gives None.
    """
    if not value:
        return None
    value = value.strip()
    if value and value.isascii() and value.isdigit():
        digits = value.lstrip("0") or "0"
        if len(digits) > len(str(int(MAX_RETRY_AFTER))):  # no int/float conversion of a huge number
            return MAX_RETRY_AFTER
        return min(float(int(digits)), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
        if when is None:  # Python < 3.10 returns None for garbage
            return None
        delay = when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    if math.isnan(delay):
        return None
    return min(max(0.0, delay), MAX_RETRY_AFTER)


def _never_sent(exc: BaseException) -> bool:
    """True when the connection failed before any byte of the request went out.

    requests wraps urllib3's errors (``args``, ``MaxRetryError.reason``, ``__cause__``):
    walk them looking for a failed connect (refused, unreachable, DNS, connect timeout).
    ``__context__`` is not followed: an unrelated error handled earlier must not count.
    """
    stack: list[t.Any] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (NewConnectionError, ConnectTimeoutError)):
            return True
        stack.extend(current.args)
        stack.extend((getattr(current, "reason", None), current.__cause__))
    return False


def _innermost_message(exc: BaseException) -> str:
    """The most specific message of a wrapped requests/urllib3 error."""
    current: BaseException = exc
    for _dummy in range(10):
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in current.args if isinstance(a, BaseException)), None)
        if inner is None:
            break
        current = inner
    return str(current) or type(current).__name__


def _seconds_option(value: t.Any, name: str, allow_zero: bool = False) -> float:
    """A number of seconds in (0, MAX_TIMEOUT] (or [0, ...] with ``allow_zero``), else ``RclInputError``."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    low_ok = number >= 0 if allow_zero else number > 0
    if not (low_ok and number <= MAX_TIMEOUT):  # also false for NaN
        raise RclInputError(
            "%s must be a number of seconds %s 0 and at most %d (got %s)"
            % (name, "from" if allow_zero else "greater than", MAX_TIMEOUT, str(value)[:32]),
        )
    return number


def _retries_option(value: t.Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise RclInputError("retries must be a whole number from 0 to %d (got %s)" % (MAX_RETRIES, str(value)[:32]))
    return value


def _ca_path_option(path: str) -> str:
    if not os.path.exists(path):
        raise RclInputError("ca_path %s does not exist" % path)
    wanted = os.R_OK | (os.X_OK if os.path.isdir(path) else 0)
    if not os.access(path, wanted):
        raise RclInputError("ca_path %s is not readable" % path)
    return path


class _Expired(Exception):
    """An attempt's deadline passed (raised inside the transport, never outside it)."""


@contextlib.contextmanager
def _watchdog(seconds: float) -> t.Iterator[None]:
    """Raise ``_Expired`` in the main thread once ``seconds`` have passed (SIGALRM), for the
    part of a request that requests reads itself: a status line and headers sent one byte at
    a time reset the socket's read timeout with every byte. Where no alarm can be used (not
    the main thread, no SIGALRM, an alarm already armed by someone else) nothing is armed."""
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def expired(signum: int, frame: t.Any) -> None:
        raise _Expired()

    previous = signal.signal(signal.SIGALRM, expired)
    try:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _TooLarge(Exception):
    """A reply is larger than its bound (raised inside the transport, never outside it)."""


def _socket_of(raw: t.Any) -> t.Any:
    """The socket under a urllib3 response, or None (best effort: internals differ by version)."""
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:  # urllib3 1.x: the http.client response's buffered socket file
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock if hasattr(sock, "settimeout") else None


def _discard(response: t.Any) -> None:
    """Close a reply whose body was not read to its end: its connection cannot be reused."""
    raw = getattr(response, "raw", None)
    for name in ("close", "release_conn"):
        method = getattr(raw, name, None)
        if method is not None:
            try:
                method()
            except Exception:  # pylint: disable=broad-except
                pass


def _read_body(response: t.Any, limit: int, deadline: float, timer: t.Callable[[], float], cut: bool) -> bytes:
    """Read a streamed reply's body: at most ``limit`` bytes, before ``deadline`` (of ``timer``).

    A larger body raises ``_TooLarge``, a deadline that passes ``_Expired``; the libraries'
    errors (broken connection, ...) pass through. With ``cut`` (an error reply, whose
    status is what matters) nothing is raised: the body is cut at ``limit`` or at whatever
    stopped the reading. The body is then kept on the response, so ``.content`` and
    ``.text`` work as usual.
    """
    raw: t.Any = getattr(response, "raw", None)
    if getattr(response, "_content_consumed", True) or not hasattr(raw, "read"):
        # Already read (or not a streamed requests response): check what is there.
        content = response.content or b""
        if len(content) > limit:
            if not cut:
                raise _TooLarge()
            content = content[:limit]
        return bytes(content)
    declared = str(response.headers.get("Content-Length") or "").strip()
    if not cut and declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        _discard(response)
        raise _TooLarge()
    # read1 returns after at most one read from the socket: a trickle cannot hold a read
    # for long, and the deadline is checked between reads. urllib3 < 2 has only read().
    read = getattr(raw, "read1", None) or raw.read
    sock = _socket_of(raw)
    chunks: list[bytes] = []
    size = 0
    complete = False
    try:
        while True:
            left = deadline - timer()
            if left <= 0:
                raise _Expired()
            if sock is not None:
                try:
                    sock.settimeout(left)
                except OSError:  # closed by http.client once it holds the only reference
                    sock = None
            chunk = read(min(_CHUNK, limit + 1 - size), decode_content=True)
            if not chunk:
                complete = True
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if not cut:
                    raise _TooLarge()
                break
    except Exception:  # pylint: disable=broad-except
        if not cut:
            raise
    finally:
        if not complete:
            _discard(response)
    content = b"".join(chunks)[:limit]
    response._content = content  # pylint: disable=protected-access
    response._content_consumed = True  # pylint: disable=protected-access
    return content


def _read_error_body(response: t.Any, deadline: float, timer: t.Callable[[], float]) -> None:
    """Read at most ``MAX_ERROR_BYTES`` of an error reply's body, within the deadline; never raises."""
    try:
        _read_body(response, MAX_ERROR_BYTES, deadline, timer, cut=True)
    except Exception:  # pylint: disable=broad-except
        _discard(response)  # not a requests response after all: its body stays as it is


# Credentials some services take as request parameters (Servertastic: the reseller key and the order token).
SECRET_PARAMS = ("api_key", "order_token")
_SECRET_PARAM_RE = re.compile(r"(?i)((?:^|[?&;\s/'\"(])(?:%s)=)[^&\s'\")]*" % "|".join(SECRET_PARAMS))


def redact_secret_params(text: str) -> str:
    """``...?api_key=K&x=1`` -> ``...?api_key=<redacted>&x=1``, wherever such a parameter appears in ``text``."""
    return _SECRET_PARAM_RE.sub(r"\1<redacted>", text) if text else text


class HttpTransport:
    """A ``requests`` session that retries what is safe to retry, within a time budget.

    ``on_secret`` is a sink for values that must never be shown (access tokens, PFX
    passwords, download links): the module registers them as ``no_log`` values. Auth
    schemes and adapters report through ``transport.on_secret``; the default ignores them.
    """

    def __init__(
        self,
        timeout: float = 30.0,
        validate_certs: bool = True,
        ca_path: str | None = None,
        retries: int = 3,
        retry_max_time: float = 120.0,
        backoff_base: float = 1.0,
        user_agent: str = "rcl.ssl",
        session: t.Any = None,
        sleep: t.Callable[[float], t.Any] = time.sleep,
        clock: t.Callable[[], float] = time.monotonic,
        on_secret: t.Callable[[str], None] | None = None,
    ) -> None:
        # Every option is checked before anything else: nothing is sent with a bad one.
        self.timeout = _seconds_option(timeout, "timeout")
        self.retries = _retries_option(retries)
        self.retry_max_time = _seconds_option(retry_max_time, "retry_max_time", allow_zero=True)
        self.backoff_base = float(backoff_base)
        if validate_certs and ca_path:
            self.verify: bool | str = _ca_path_option(ca_path)
        else:
            self.verify = bool(validate_certs)
        if session is None:
            if not HAS_REQUESTS:
                raise RclTransportError("The Python library requests >= %s is required" % REQUESTS_MIN_VERSION)
            session = requests.Session()
        self.session = session
        self.session.headers["User-Agent"] = user_agent
        self.on_secret: t.Callable[[str], None] = on_secret or ignore_secret
        # Attempts made through the session, retries and token requests included (tests count requests with it).
        self.request_count = 0
        self._sleep = sleep
        self._clock = clock
        # Attempt deadlines are real time: the injected clock only measures the retry budget.
        self._timer: t.Callable[[], float] = time.monotonic

    @staticmethod
    def display_url(url: str, params: t.Mapping[str, t.Any] | None = None, redact: bool = False) -> str:
        """The URL as it may appear in messages: secret links keep only scheme and host; credentials sent as
        parameters (``SECRET_PARAMS``) keep only their name."""
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return redact_secret_params(redact_url(url, keep_query=not redact, hide_path=redact))

    def _backoff(self, attempt: int, response: t.Any) -> float:
        """Wait before retry number ``attempt`` (1-based): ``Retry-After`` if given, else exponential + jitter."""
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
            if retry_after is not None:
                return retry_after
        delay = self.backoff_base * (2.0 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: t.Mapping[str, str] | None = None,
        params: t.Mapping[str, t.Any] | None = None,
        json: t.Any = None,
        data: t.Any = None,
        idempotent: bool | None = None,
        redact: bool = False,
        read_timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> requests.Response:
        """Send a request; return the 2xx response (body read, ``.content``/``.text`` usable) or raise an ``RclError``.

        ``idempotent`` defaults to True for GET, HEAD, DELETE and OPTIONS. ``redact`` marks a
        secret URL (pre-signed download link): it never appears in an error.
        ``read_timeout`` is for a call the server takes long to answer by design (V7
        finalize validates before it replies): it replaces both ``timeout`` and
        ``retry_max_time``, so the whole call, retries included, ends within that many
        seconds. ``max_bytes`` bounds the reply's body (default ``MAX_REPLY_BYTES``, or
        ``MAX_DOWNLOAD_BYTES`` when ``redact`` is set).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        per_attempt = self.timeout
        budget = self.retry_max_time
        if read_timeout is not None:
            try:
                read_timeout = min(float(read_timeout), MAX_TIMEOUT)  # a wait_timeout of 1e12 means "long"
            except (TypeError, ValueError, OverflowError):
                read_timeout = math.nan
            per_attempt = budget = _seconds_option(read_timeout, "read_timeout")
        if max_bytes is None:
            max_bytes = MAX_DOWNLOAD_BYTES if redact else MAX_REPLY_BYTES
        shown = self.display_url(url, params, redact)
        start = self._clock()
        attempt = 0
        allowed = per_attempt
        while True:
            attempt += 1
            response, failure, safe_to_repeat = self._attempt(
                method, url, shown, attempt, allowed, max_bytes, idempotent,
                dict(headers=dict(headers or {}), params=params, json=json, data=data),
            )
            if failure is None and 200 <= response.status_code < 300:
                return response
            if safe_to_repeat and attempt <= self.retries:
                wait = self._backoff(attempt, response)
                left = start + budget - (self._clock() + wait)
                if left >= min(_MIN_ATTEMPT, per_attempt):
                    self._sleep(wait)
                    allowed = min(per_attempt, start + budget - self._clock())
                    if allowed > 0:
                        continue
            if failure is not None:
                raise failure
            raise self._status_error(response, url, shown, redact)

    def _attempt(
        self,
        method: str,
        url: str,
        shown: str,
        attempt: int,
        allowed: float,
        max_bytes: int,
        idempotent: bool,
        options: dict[str, t.Any],
    ) -> tuple[t.Any, RclTransportError | None, bool]:
        """One attempt, ended within ``allowed`` seconds.

        Returns ``(response, failure, safe_to_repeat)``: a 2xx response with its body read, a
        reply that is not 2xx (its body read up to ``MAX_ERROR_BYTES``), or a failure
        (``response`` None) that the caller may retry. Raises an ``RclError`` for what is
        never retried (TLS errors, unusable requests, a reply larger than ``max_bytes``).
        """
        deadline = self._timer() + allowed
        # Whether repeating this attempt is safe. An idempotent request always is.
        # A non-idempotent one (order creation costs quota and starts a new order;
        # finalize issues a certificate) is repeated only when the server cannot have
        # acted on it: a 429 reply (rate limiting rejects the request before it is
        # processed) or a connection that failed before anything was sent. A 5xx, a
        # dropped connection or a read timeout may come after the server acted, so
        # those are never repeated blindly.
        safe_to_repeat = idempotent

        def timed_out(detail: str) -> tuple[t.Any, RclTransportError, bool]:
            return None, RclTransportError(
                "Request %s %s timed out: %s" % (method, shown, detail), url=shown, attempts=attempt
            ), safe_to_repeat

        def check_hop(hop: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            # Called for every reply, redirects included: their bodies are read bounded
            # here (requests would read them whole), and the deadline holds across hops.
            if getattr(hop, "is_redirect", False):
                _read_error_body(hop, deadline, self._timer)
            if self._timer() >= deadline:
                _discard(hop)
                raise _Expired()
            return hop

        self.request_count += 1
        try:
            with _watchdog(allowed):
                response = self.session.request(
                    method,
                    url,
                    timeout=(allowed, allowed),
                    verify=self.verify,
                    stream=True,
                    hooks={"response": [check_hop]},
                    **options,
                )
        except _Expired:
            return timed_out("no reply within %s seconds" % _seconds_text(allowed))
        except requests.exceptions.SSLError as exc:
            # A TLS failure does not heal by retrying.
            raise RclTransportError(
                "TLS error talking to %s: %s (check validate_certs and ca_path)"
                % (shown, self._scrub(_innermost_message(exc), url, shown)),
                url=shown,
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            safe_to_repeat = idempotent or _never_sent(exc)
            what = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "failed"
            return None, RclTransportError(
                "Request %s %s %s: %s" % (method, shown, what, self._scrub(_innermost_message(exc), url, shown)),
                url=shown,
                attempts=attempt,
            ), safe_to_repeat
        except requests.exceptions.InvalidHeader:
            # Its message holds the header's value (a credential): never shown.
            raise RclTransportError("Request %s %s failed: %s" % (method, shown, _BAD_HEADER), url=shown) from None
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
            requests.exceptions.URLRequired,
            LocationParseError,
        ) as exc:
            raise RclTransportError(
                "Request %s %s failed: the URL is not valid (%s)" % (method, shown, type(exc).__name__), url=shown
            ) from None
        except requests.exceptions.RequestException as exc:
            raise RclTransportError(
                "Request %s %s failed: %s" % (method, shown, self._scrub(_innermost_message(exc), url, shown)),
                url=shown,
            ) from None
        except UnicodeError:
            raise RclTransportError("Request %s %s failed: %s" % (method, shown, _BAD_CHARACTERS), url=shown) from None
        except OSError as exc:
            raise RclTransportError(
                "Request %s %s failed: %s" % (method, shown, exc.strerror or type(exc).__name__), url=shown
            ) from None
        except Exception as exc:  # pylint: disable=broad-except
            # Whatever else the libraries raise (ValueError on a bad header or URL, ...):
            # its text may quote a header, so only its type is shown.
            raise RclTransportError(
                "Request %s %s failed: the request could not be sent (%s)" % (method, shown, type(exc).__name__),
                url=shown,
            ) from None

        status = response.status_code
        if not 200 <= status < 300:
            _read_error_body(response, deadline, self._timer)
            if status == 429:
                safe_to_repeat = True
            elif not 500 <= status <= 599:
                safe_to_repeat = False
            return response, None, safe_to_repeat
        try:
            _read_body(response, max_bytes, deadline, self._timer, cut=False)
        except _TooLarge:
            raise RclResponseError(
                "The reply of %s is larger than %d bytes" % (shown, max_bytes), url=shown, http_status=status
            ) from None
        except (_Expired, ReadTimeoutError, TimeoutError):
            # The server got the request: repeated only if idempotent.
            return timed_out("no complete reply within %s seconds" % _seconds_text(allowed))
        except (Urllib3SSLError, requests.exceptions.SSLError) as exc:
            raise RclTransportError(
                "TLS error talking to %s: %s" % (shown, self._scrub(_innermost_message(exc), url, shown)), url=shown
            ) from None
        except DecodeError:
            raise RclResponseError(
                "The reply of %s cannot be decoded (Content-Encoding %s)"
                % (shown, str(response.headers.get("Content-Encoding"))[:32]),
                url=shown,
                http_status=status,
            ) from None
        except Exception as exc:  # pylint: disable=broad-except
            # A connection broken mid-body (IncompleteRead, reset, ...): the server acted.
            return None, RclTransportError(
                "Request %s %s failed: the connection broke while reading the reply (%s)"
                % (method, shown, type(exc).__name__),
                url=shown,
                attempts=attempt,
            ), safe_to_repeat
        return response, None, safe_to_repeat

    @staticmethod
    def _scrub(text: str, url: str, shown: str) -> str:
        """Replace the real URL (and its path) in a library message by the displayable one."""
        text = redact_secret_params(text)  # urllib3 quotes the path with its query string
        if url and url != shown:
            text = text.replace(url, shown)
            path = url.split("://", 1)[-1].partition("/")[2]
            if path:
                text = text.replace("/" + path, "/<redacted>")
        return text

    def _status_error(self, response: t.Any, url: str, shown: str, redact: bool) -> RclApiError:
        status = response.status_code
        body = redact_secret_params(response.text or "")  # a page that echoes the request's credentials
        if redact:
            body = self._scrub(body, url, shown)
        cls: type[RclApiError] = RclApiError
        if status == 401:
            cls = RclAuthError
        elif status == 404:
            cls = RclNotFoundError
        return cls(status, shown, body)

    def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: t.Mapping[str, str] | None = None,
        params: t.Mapping[str, t.Any] | None = None,
        json: t.Any = None,
        data: t.Any = None,
        idempotent: bool | None = None,
        redact: bool = False,
        read_timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> t.Any:
        """``request()`` and parse the JSON reply; an empty body gives None."""
        response = self.request(
            method, url, headers=headers, params=params, json=json, data=data, idempotent=idempotent, redact=redact,
            read_timeout=read_timeout, max_bytes=max_bytes,
        )
        return parse_json_body(response, self.display_url(url, params, redact), redact)


def _seconds_text(seconds: float) -> str:
    return ("%.2f" % seconds).rstrip("0").rstrip(".")


def _reply_text(response: t.Any) -> str:
    """The text of a JSON reply: the body's bytes as UTF-8/16/32 (BOM or not), else the declared charset."""
    content = getattr(response, "content", None)
    text: str | None = None
    if isinstance(content, (bytes, bytearray)):
        data = bytes(content)
        try:
            text = data.decode(_json.detect_encoding(data))  # "utf-8-sig" when the body starts with a BOM
        except (UnicodeDecodeError, LookupError):
            text = None
    if text is None:
        text = getattr(response, "text", None) or ""
        if text.startswith("\ufeff"):  # decoded without utf-8-sig
            text = text[1:]
    return text


def _nested_deeper_than(data: t.Any, limit: int) -> bool:
    """Whether ``data`` nests lists/dicts more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[t.Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: t.Iterable[t.Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _json_problem(exc: ValueError) -> str:
    """What is wrong with a reply, without its content: the kind of error and where."""
    if isinstance(exc, _json.JSONDecodeError):
        kind = exc.msg.split(":", 1)[0]  # "Invalid \\escape: 'x'" quotes a little of the body
        return "%s: line %d column %d (char %d)" % (kind, exc.lineno, exc.colno, exc.pos)
    return type(exc).__name__


def parse_json_body(response: t.Any, shown: str, redact: bool = False) -> t.Any:
    """The JSON of a 2xx reply (None when empty); ``RclResponseError`` if malformed.

    The body is decoded from its bytes (a UTF-8 byte order mark is dropped). A reply that
    cannot be parsed is quoted in the message (its first characters, control characters
    escaped) only if it holds none of ``{ [ "``: a broken JSON reply (cut short, say) may
    hold secrets (a certificate reply carries the PFX and its password), so for those
    the message says only what is wrong and where.
    """
    text = _reply_text(response)
    if not text.strip():
        return None
    try:
        data = _json.loads(text)
    except RecursionError:
        problem = "nested too deeply"
    except ValueError as exc:
        problem = _json_problem(exc)
    else:
        if _nested_deeper_than(data, MAX_JSON_DEPTH):
            raise RclResponseError(
                "The reply of %s is refused: its JSON is nested deeper than %d levels" % (shown, MAX_JSON_DEPTH),
                url=shown,
                http_status=getattr(response, "status_code", None),
            )
        return data
    msg = "The reply of %s is not valid JSON (%s)" % (shown, problem)
    if not redact and not any(marker in text for marker in _JSON_MARKERS):
        msg += ": %s" % terminal_safe(text[:_QUOTE_LIMIT])[:_QUOTE_LIMIT]
    raise RclResponseError(msg, url=shown, http_status=getattr(response, "status_code", None))
