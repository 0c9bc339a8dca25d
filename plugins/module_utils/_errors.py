# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The exception tree of rcl.ssl, and nothing else.

Every error carries the fields a module puts flat into its failure result
(``to_result()``). None of them may hold a secret: URLs are passed through
``redact_url`` by the code that raises them. ``to_result()`` passes every text
through ``terminal_safe``: an API body cannot clear the screen, colour it or forge
a second line of output.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "RclApiError",
    "RclAuthError",
    "RclCertificateError",
    "RclError",
    "RclFileError",
    "RclInputError",
    "RclNotFoundError",
    "RclOrderInvalidError",
    "RclResponseError",
    "RclTimeoutError",
    "RclTransportError",
    "RclUnsupportedError",
    "ignore_secret",
    "redact_url",
    "terminal_safe",
]

# C0 controls but TAB, DEL, C1 controls, and lone surrogates (text that cannot be encoded).
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape(match: t.Match[str]) -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return "\\x%02x" % code if code <= 0xFF else "\\u%04x" % code


def terminal_safe(text: str) -> str:
    """``text`` with every character a terminal may act on written as an escape.

    CR and LF become ``\\r`` and ``\\n``, the other C0 controls (TAB excepted), DEL and
    the C1 controls ``\\xNN``, lone surrogates ``\\udNNN``. Everything else is kept as it
    is, so an API message stays readable and verbatim apart from these escapes.
    """
    return _TERMINAL_UNSAFE.sub(_escape, text)


def _terminal_safe_value(value: t.Any) -> t.Any:
    if isinstance(value, str):
        return terminal_safe(value)
    if isinstance(value, dict):
        return {key: _terminal_safe_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_terminal_safe_value(item) for item in value)
    return value


def ignore_secret(secret: str) -> None:
    """The secret sink where nothing is to be masked (outside a module)."""


def redact_url(url: str, keep_query: bool = False, hide_path: bool = False) -> str:
    """Drop user info (and, unless told, the query) from a URL for messages.

    ``hide_path`` is for secret links (pre-signed download URLs): only
    ``scheme://host/<redacted>`` is left.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if hide_path:
        return urlunsplit((parts.scheme, netloc, "/<redacted>", "", ""))
    query = parts.query if keep_query else ("<redacted>" if parts.query else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class RclError(Exception):
    """Base of every error rcl.ssl raises below the modules."""

    def __init__(self, msg: str, **details: t.Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def to_result(self) -> dict[str, t.Any]:
        """Fields for ``fail_json``: ``msg`` plus the details, flat, every text ``terminal_safe``."""
        result = {key: _terminal_safe_value(value) for key, value in self.details.items()}
        result["msg"] = terminal_safe(self.msg)
        return result


class RclInputError(RclError):
    """Bad input, detected before any request is made."""


class RclUnsupportedError(RclError):
    """The operation does not exist in the selected API generation."""


class RclTransportError(RclError):
    """Connection failure, timeout, or TLS failure (after retries, if any)."""


class RclApiError(RclError):
    """A non-2xx reply. ``body`` is the API's text/plain message, verbatim."""

    def __init__(self, status: int, url: str, body: str | None, msg: str | None = None, **details: t.Any) -> None:
        body = (body or "").strip()
        if msg is None:
            msg = "RCL API returned HTTP %d for %s" % (status, url)
            if body:
                msg += ": %s" % body
        super().__init__(msg, http_status=status, url=url, api_message=body, **details)
        self.status = status
        self.url = url
        self.body = body


class RclAuthError(RclApiError):
    """401: API key, client credentials or token rejected."""


class RclNotFoundError(RclApiError):
    """404: the order or certificate does not exist."""


class RclResponseError(RclError):
    """A 2xx reply that cannot be understood (malformed JSON, missing fields)."""


class RclOrderInvalidError(RclError):
    """The order is ``invalid`` (a challenge failed): a new order is needed."""


class RclTimeoutError(RclError):
    """A bounded wait (``wait_timeout``) ran out."""


class RclCertificateError(RclError):
    """Certificate material failed a check (key match, chain order, validity, names).

    ``check`` names the check that failed.
    """

    def __init__(self, msg: str, check: str, **details: t.Any) -> None:
        super().__init__(msg, failed_check=check, **details)
        self.check = check


class RclFileError(RclError):
    """A file could not be read or written."""
