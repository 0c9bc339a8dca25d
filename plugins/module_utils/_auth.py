# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""Authorization for the API: an API key (V7, V8) or an Azure AD client-credentials token (V6).

Both report their secret through ``on_secret`` (the module registers it as a ``no_log``
value) before it is ever sent: the API key when the scheme is built, each access token
as soon as it is fetched. An error reply that echoes one is then masked.
"""

from __future__ import annotations

import base64
import json
import time
import typing as t
from urllib.parse import quote

from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    ignore_secret,
    RclApiError,
    RclAuthError,
    RclInputError,
    RclResponseError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import parse_json_body

__all__ = [
    "ApiKeyAuth",
    "Auth",
    "ClientCredentialsAuth",
    "DEFAULT_SCOPE",
    "DEFAULT_TOKEN_URL",
    "TOKEN_EXPIRY_MARGIN",
    "default_token_url",
]

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

DEFAULT_TOKEN_URL = "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
DEFAULT_SCOPE = "a9e1b21d-061d-42d6-99d9-115a328cd062/.default"
TOKEN_EXPIRY_MARGIN = 60.0  # seconds before ``expires_in`` at which a token is renewed


def default_token_url(tenant_id: str) -> str:
    """The Azure AD v2.0 token endpoint of a tenant."""
    if not tenant_id or not tenant_id.strip():
        raise RclInputError("tenant_id is empty")
    return DEFAULT_TOKEN_URL.format(tenant_id=quote(tenant_id.strip(), safe=""))


class Auth:
    """What an adapter needs from an authorization scheme."""

    def headers(self) -> dict[str, str]:
        raise NotImplementedError  # pragma: no cover

    def invalidate(self) -> bool:
        """Forget cached credentials after a 401; True if retrying with fresh ones may help."""
        return False


def _header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot follow ``Bearer`` in a header, without quoting any of it; None if it can."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        return "contains a control character (such as a line break, NUL or escape)"
    if any(ord(c) > 0xFF for c in value):
        return "contains a character outside latin-1"
    if any(c.isspace() for c in value):
        return "contains whitespace"
    return None


class ApiKeyAuth(Auth):
    """The subscription's API key as a Bearer token (V7, V8).

    Leading and trailing whitespace is dropped; a key that still cannot be a header value
    (control characters, whitespace inside, characters outside latin-1) is refused with a
    message that names ``api_key`` and never quotes any part of it.
    """

    def __init__(self, api_key: str, *, on_secret: t.Callable[[str], None] | None = None) -> None:
        if not api_key or not api_key.strip():
            raise RclInputError("api_key is empty")
        key = api_key.strip()
        problem = _header_value_problem(key)
        if problem is not None:
            raise RclInputError("api_key %s: it cannot be sent in an HTTP header" % problem)
        self._api_key = key
        if on_secret is not None:
            on_secret(key)

    def __repr__(self) -> str:
        return "ApiKeyAuth(api_key=<redacted>)"

    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer %s" % self._api_key}


class BasicAuth(Auth):
    """HTTP Basic (Certifire): user name and password, never shown.

    Each part is checked like an API key (no control characters, latin-1); a user name cannot hold ``:``.
    The encoded header value goes to ``on_secret``: it is the password in a thin disguise.
    """

    def __init__(self, username: str, password: str, *, on_secret: t.Callable[[str], None] | None = None) -> None:
        if not username or not password:
            raise RclInputError("api_username and api_password are both required")
        for option, value in (("api_username", username), ("api_password", password)):
            if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
                raise RclInputError("%s contains a control character (such as a line break, NUL or escape)" % option)
        if ":" in username:
            raise RclInputError("api_username cannot contain ':' (HTTP Basic separates it from the password with one)")
        token = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
        self._value = "Basic %s" % token
        if on_secret is not None:
            on_secret(password)
            on_secret(token)

    def __repr__(self) -> str:
        return "BasicAuth(<redacted>)"

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._value}


class NoAuth(Auth):
    """No header: the credentials travel as parameters (Servertastic's api_key and order_token)."""

    def headers(self) -> dict[str, str]:
        return {}


class ClientCredentialsAuth(Auth):
    """An OAuth2 client-credentials access token (Azure AD), fetched once and reused.

    The token is cached until ``expires_in`` minus a margin. If the API answers 401 to a
    token that came from the cache, ``invalidate()`` drops it and says a refetch is worth
    one retry; a token fetched for the very request that got 401 is not refetched.
    Every token fetched goes to ``on_secret`` (default: the transport's ``on_secret``)
    before it is used.
    """

    def __init__(
        self,
        transport: HttpTransport,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str = DEFAULT_SCOPE,
        clock: t.Callable[[], float] = time.time,
        *,
        on_secret: t.Callable[[str], None] | None = None,
    ) -> None:
        if not client_id or not client_secret:
            raise RclInputError("client_id and client_secret are required for the client-credentials grant")
        self.transport = transport
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._clock = clock
        self._on_secret: t.Callable[[str], None] = on_secret or getattr(transport, "on_secret", None) or ignore_secret
        self._token: str | None = None
        self._expires_at = 0.0
        self._from_cache = False

    def __repr__(self) -> str:
        return "ClientCredentialsAuth(token_url=%r, client_id=%r, client_secret=<redacted>)" % (
            self.token_url,
            self.client_id,
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer %s" % self.token()}

    def token(self) -> str:
        """A valid access token: the cached one, or a new one from the token endpoint."""
        if self._token is not None and self._clock() < self._expires_at:
            self._from_cache = True
            return self._token
        self._token = None
        token, lifetime = self._fetch()
        self._on_secret(token)  # registered before anything can send or echo it
        self._token = token
        self._expires_at = self._clock() + lifetime - min(TOKEN_EXPIRY_MARGIN, lifetime / 2)
        self._from_cache = False
        return token

    def invalidate(self) -> bool:
        retry = self._token is not None and self._from_cache
        self._token = None
        return retry

    def _fetch(self) -> tuple[str, float]:
        shown = self.transport.display_url(self.token_url)
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "scope": self.scope,
        }
        try:
            # Asking for a token changes nothing and costs no quota: safe to retry.
            response = self.transport.request("POST", self.token_url, data=form, idempotent=True)
        except RclApiError as exc:
            message = self._scrub(_token_error_message(exc.body))
            raise RclAuthError(
                exc.status,
                shown,
                message,
                msg="Cannot get an access token from %s (HTTP %d): %s" % (shown, exc.status, message or "no message"),
            ) from None
        # Parsed as a secret reply (redact): a malformed one is never quoted (it may hold a token).
        try:
            payload = parse_json_body(response, shown, redact=True)
        except RclResponseError:
            raise RclResponseError("The token endpoint %s did not answer with JSON" % shown, url=shown) from None
        access_token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise RclResponseError("The token endpoint %s answered without an access_token" % shown, url=shown)
        try:
            lifetime = float(payload.get("expires_in", 3599))
        except (TypeError, ValueError):
            lifetime = 3599.0
        return access_token, max(lifetime, 0.0)

    def _scrub(self, text: str) -> str:
        return text.replace(self._client_secret, "<redacted>") if self._client_secret else text


def _token_error_message(body: str) -> str:
    """The human part of an OAuth2 error reply (``error_description``), else the body as is."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if isinstance(payload, dict):
        for key in ("error_description", "error", "message"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value
    return body
