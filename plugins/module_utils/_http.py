# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The HTTP transport: one ``requests`` session with timeouts, TLS settings and retries.

Retries are written by hand rather than with urllib3's ``Retry``: the rules depend on
whether a failed request can have reached the server (never repeat a non-idempotent
one that may have), on a total time budget, and tests inject ``sleep``/``clock``;
``Retry`` offers none of that.
"""

from __future__ import annotations

import json as _json
import random
import time
import traceback
import typing as t
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclAuthError,
    RclNotFoundError,
    RclResponseError,
    RclTransportError,
    redact_url,
)

REQUESTS_MIN_VERSION = "2.20"
REQUESTS_IMPORT_ERROR: str | None
try:
    import requests
    import requests.exceptions
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None

IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "DELETE", "OPTIONS"))
_BODY_LIMIT = 2000  # characters of a malformed reply quoted in an error


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); ``now`` is epoch time."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:  # Python < 3.10 returns None for garbage
        return None
    return max(0.0, when.timestamp() - now)


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


class HttpTransport:
    """A ``requests`` session that retries what is safe to retry, within a time budget."""

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
    ) -> None:
        if session is None:
            if not HAS_REQUESTS:
                raise RclTransportError("The Python library requests >= %s is required" % REQUESTS_MIN_VERSION)
            session = requests.Session()
        self.session = session
        self.session.headers["User-Agent"] = user_agent
        self.timeout = float(timeout)
        self.verify: bool | str = ca_path if (validate_certs and ca_path) else bool(validate_certs)
        self.retries = max(0, int(retries))
        self.retry_max_time = float(retry_max_time)
        self.backoff_base = float(backoff_base)
        # Attempts made through the session, retries included (benchmarks count API calls with it).
        self.request_count = 0
        self._sleep = sleep
        self._clock = clock

    @staticmethod
    def display_url(url: str, params: t.Mapping[str, t.Any] | None = None, redact: bool = False) -> str:
        """The URL as it may appear in messages: secret links keep only scheme and host."""
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return redact_url(url, keep_query=not redact, hide_path=redact)

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
    ) -> requests.Response:
        """Send a request; return the 2xx response or raise an ``RclError``.

        ``idempotent`` defaults to True for GET, HEAD and DELETE. ``redact`` marks a
        secret URL (pre-signed download link): it never appears in an error.
        ``read_timeout`` replaces ``timeout`` for the reply of a call the server takes
        long to answer by design (V7 finalize validates before it replies).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        shown = self.display_url(url, params, redact)
        start = self._clock()
        attempt = 0
        while True:
            attempt += 1
            response: requests.Response | None = None
            failure: RclTransportError | None = None
            # Whether repeating this attempt is safe. An idempotent request always is.
            # A non-idempotent one (order creation costs quota and starts a new order;
            # finalize issues a certificate) is repeated only when the server cannot have
            # acted on it: a 429 reply (rate limiting rejects the request before it is
            # processed) or a connection that failed before anything was sent. A 5xx, a
            # dropped connection or a read timeout may come after the server acted, so
            # those are never repeated blindly.
            safe_to_repeat = idempotent
            self.request_count += 1
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    params=params,
                    json=json,
                    data=data,
                    timeout=(self.timeout, read_timeout) if read_timeout else self.timeout,
                    verify=self.verify,
                )
            except requests.exceptions.SSLError as exc:
                # A TLS failure does not heal by retrying.
                raise RclTransportError(
                    "TLS error talking to %s: %s (check validate_certs and ca_path)"
                    % (shown, self._scrub(_innermost_message(exc), url, shown)),
                    url=shown,
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                never_sent = _never_sent(exc)
                safe_to_repeat = idempotent or never_sent
                what = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "failed"
                failure = RclTransportError(
                    "Request %s %s %s: %s" % (method, shown, what, self._scrub(_innermost_message(exc), url, shown)),
                    url=shown,
                    attempts=attempt,
                )
            except requests.exceptions.RequestException as exc:
                raise RclTransportError(
                    "Request %s %s failed: %s" % (method, shown, self._scrub(_innermost_message(exc), url, shown)),
                    url=shown,
                ) from None

            if response is not None:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                if status == 429:
                    safe_to_repeat = True
                elif not 500 <= status <= 599:
                    safe_to_repeat = False

            if safe_to_repeat and attempt <= self.retries:
                wait = self._backoff(attempt, response)
                if self._clock() - start + wait <= self.retry_max_time:
                    self._sleep(wait)
                    continue
            if failure is not None:
                raise failure
            raise self._status_error(response, url, shown, redact)

    @staticmethod
    def _scrub(text: str, url: str, shown: str) -> str:
        """Replace the real URL (and its path) in a library message by the displayable one."""
        if url and url != shown:
            text = text.replace(url, shown)
            path = url.split("://", 1)[-1].partition("/")[2]
            if path:
                text = text.replace("/" + path, "/<redacted>")
        return text

    def _status_error(self, response: t.Any, url: str, shown: str, redact: bool) -> RclApiError:
        status = response.status_code
        body = response.text or ""
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
    ) -> t.Any:
        """``request()`` and parse the JSON reply; an empty body gives None."""
        response = self.request(
            method, url, headers=headers, params=params, json=json, data=data, idempotent=idempotent, redact=redact,
            read_timeout=read_timeout,
        )
        return parse_json_body(response, self.display_url(url, params, redact), redact)


def parse_json_body(response: t.Any, shown: str, redact: bool = False) -> t.Any:
    """The JSON of a 2xx reply (None when empty); ``RclResponseError`` if malformed."""
    text = response.text if response.content else ""
    if not text.strip():
        return None
    try:
        return _json.loads(text)
    except ValueError as exc:
        msg = "The reply of %s is not valid JSON (%s)" % (shown, exc)
        # A broken JSON reply (cut short, say) may hold secrets (a certificate reply carries the
        # PFX and its password): only a body that is not JSON at all (a gateway's page) is quoted.
        if not redact and not text.lstrip().startswith(("{", "[")):
            msg += ": %s" % text[:_BODY_LIMIT]
        raise RclResponseError(msg, url=shown, http_status=response.status_code) from None
