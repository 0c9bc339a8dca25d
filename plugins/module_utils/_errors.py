# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The exception tree of rcl.ssl, and nothing else.

Every error carries the fields a module puts flat into its failure result
(``to_result()``). None of them may hold a secret: URLs are passed through
``redact_url`` by the code that raises them.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit, urlunsplit


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
        """Fields for ``fail_json``: ``msg`` plus the details, flat."""
        result = dict(self.details)
        result["msg"] = self.msg
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
