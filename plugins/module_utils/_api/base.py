# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Normalized models and the abstract adapter shared by the API generations.

Above the adapters nothing sees camelCase: the readers here accept the variants the
API generations use (key case, ``certificateDownloadUrl`` vs ``certificateDownloadUrls``,
``password`` vs ``pfxPassword``, ``validationTokens`` vs ``tokens``, ``DNS``/``dns``/
``dns-01``, extra fields, null lists) and turn them into these dataclasses. The
writers live in the adapters and send exactly the documented names.
"""

from __future__ import annotations

import abc
import base64
import binascii
import re
import typing as t
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclAuthError,
    RclInputError,
    RclResponseError,
    RclUnsupportedError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._time import (
    days_remaining,
    parse_api_datetime,
    to_iso8601,
    utcnow,
)

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.rcl.ssl.plugins.module_utils._auth import Auth
    from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

CAPABILITIES = frozenset(("order_read", "validate", "list", "delete", "async_issue"))

DOWNLOAD_URL_KEYS = (
    "pem_url",
    "pfx_url",
    "cer_url",
    "crt_url",
    "txt_url",
    "key_url",
    "key_txt_url",
    "cert_crt_url",
    "cabundle_crt_url",
    "fullchain_crt_url",
)


# ---------------------------------------------------------------------------
# Models


@dataclass
class ValidationToken:
    name: str
    value: str
    challenge_type: str  # "dns" or "http"
    domain: str | None = None

    def to_result(self) -> dict[str, t.Any]:
        return {
            "token_name": self.name,
            "token_value": self.value,
            "challenge_type": self.challenge_type,
            "domain": self.domain,
        }


@dataclass
class Order:
    status: str  # lower case: pending, ready, processing, valid, invalid
    order_uri: str
    certificate_uri: str | None = None
    tokens: list[ValidationToken] = field(default_factory=list)
    challenges: list[dict[str, t.Any]] = field(default_factory=list)  # V6: challenge_type, status, token
    error: str | None = None

    def to_result(self) -> dict[str, t.Any]:
        return {
            "status": self.status,
            "order_uri": self.order_uri,
            "certificate_uri": self.certificate_uri,
            "challenges": [dict(challenge) for challenge in self.challenges],
        }


@dataclass
class Certificate:
    name: str
    id: int | str | None = None
    root_domain: str | None = None
    email: str | None = None
    challenge_type: str | None = None
    san: bool | None = None
    order_uri: str | None = None
    issue_date: datetime | None = None
    expiry_date: datetime | None = None
    pfx: bytes | None = field(default=None, repr=False)
    pfx_password: str | None = field(default=None, repr=False)
    download_urls: dict[str, str] = field(default_factory=dict, repr=False)
    # Set when the reply had a pfxString that is not base64 (no secret in it).
    pfx_error: str | None = None

    def metadata(self, now: datetime | None = None) -> dict[str, t.Any]:
        """What may be shown: never the PFX, its password or the download URLs."""
        remaining = None
        if self.expiry_date is not None:
            remaining = days_remaining(self.expiry_date, now or utcnow())
        return {
            "name": self.name,
            "id": self.id,
            "root_domain": self.root_domain,
            "challenge_type": self.challenge_type,
            "issue_date": to_iso8601(self.issue_date) if self.issue_date else None,
            "expiry_date": to_iso8601(self.expiry_date) if self.expiry_date else None,
            "days_remaining": remaining,
        }


@dataclass
class OrderRequest:
    certificate_name: str
    root_domain: str | None = None
    challenge_type: str | None = None  # "dns" or "http"
    san: bool = False
    email: str | None = None


@dataclass
class FinalizeRequest:
    certificate_name: str
    order_uri: str
    root_domain: str | None = None
    challenge_type: str | None = None
    email: str | None = None
    pfx_password: str | None = field(default=None, repr=False)
    # country_name, locality, state, organization, organization_unit
    csr_info: dict[str, str] | None = None


# ---------------------------------------------------------------------------
# Lenient readers


def _norm_key(key: str) -> str:
    return re.sub(r"[_\-\s]", "", key).lower()


class _Reader:
    """Case- and separator-insensitive access to one JSON object of a reply."""

    def __init__(self, data: t.Any, what: str, source: str) -> None:
        if not isinstance(data, dict):
            raise RclResponseError(
                "The reply of %s is not the expected %s (got %s)" % (source, what, type(data).__name__), url=source
            )
        self.what = what
        self.source = source
        self.data = {_norm_key(str(k)): v for k, v in data.items()}

    def get(self, *names: str) -> t.Any:
        for name in names:
            value = self.data.get(_norm_key(name))
            if value is not None:
                return value
        return None

    def text(self, *names: str) -> str | None:
        value = self.get(*names)
        if value is None or isinstance(value, (dict, list)):
            return None
        value = str(value).strip()
        return value or None

    def required_text(self, *names: str) -> str:
        value = self.text(*names)
        if value is None:
            raise RclResponseError(
                "The %s in the reply of %s has no %s" % (self.what, self.source, names[0]), url=self.source
            )
        return value

    def items(self, *names: str) -> list[t.Any]:
        value = self.get(*names)
        if value is None:
            return []
        if not isinstance(value, list):
            raise RclResponseError(
                "The %s in the reply of %s has a %s that is not a list" % (self.what, self.source, names[0]),
                url=self.source,
            )
        return value

    def flag(self, *names: str) -> bool | None:
        value = self.get(*names)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return bool(value)

    def when(self, *names: str) -> datetime | None:
        value = self.get(*names)
        return None if value in (None, "") else parse_api_datetime(value)


def normalize_challenge_type(value: t.Any) -> str | None:
    """``DNS``, ``dns``, ``dns-01`` -> ``dns``; ``HTTP``, ``http-01`` -> ``http``; others lower-cased."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    if text.endswith("-01"):
        text = text[:-3]
    return text


def parse_token(data: t.Any, source: str, default_type: str | None = None) -> ValidationToken:
    r = _Reader(data, "validation token", source)
    name = r.required_text("tokenName", "name")
    challenge_type = normalize_challenge_type(r.text("challengeType", "type")) or default_type
    if challenge_type is None:
        challenge_type = "dns" if name.startswith("_acme-challenge") else "http"
    return ValidationToken(
        name=name,
        value=r.required_text("tokenValue", "value"),
        challenge_type=challenge_type,
        domain=r.text("domain", "identifier", "hostName"),
    )


def _error_text(value: t.Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        for key in ("detail", "message", "type"):
            if value.get(key):
                return str(value[key])
    return str(value)


def parse_order(data: t.Any, source: str, require_status: bool = True) -> Order:
    r = _Reader(data, "order", source)
    status = r.text("status")
    if status is None and require_status:
        r.required_text("status")
    default_type = normalize_challenge_type(r.text("challengeType"))
    challenges = []
    for item in r.items("challenges"):
        c = _Reader(item, "challenge", source)
        challenges.append(
            {
                "challenge_type": (c.text("challengeType", "type") or "").lower() or None,
                "status": (c.text("status") or "").lower() or None,
                "token": c.text("token"),
                "error": _error_text(c.get("error")),
            }
        )
    return Order(
        status=(status or "pending").lower(),
        order_uri=r.required_text("orderUri", "orderUrl"),
        certificate_uri=r.text("certificateUri", "certificateUrl"),
        tokens=[parse_token(item, source, default_type) for item in r.items("validationTokens", "tokens")],
        challenges=challenges,
        error=_error_text(r.get("error", "errorMessage")),
    )


_DOWNLOAD_KEYS = {_norm_key(key): key for key in DOWNLOAD_URL_KEYS}


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def parse_certificate(data: t.Any, source: str) -> Certificate:
    r = _Reader(data, "certificate", source)
    urls: dict[str, str] = {}
    raw_urls = r.get("certificateDownloadUrl", "certificateDownloadUrls", "downloadUrls")
    if isinstance(raw_urls, dict):
        for key, value in raw_urls.items():
            if value:
                urls[_DOWNLOAD_KEYS.get(_norm_key(str(key)), _snake(str(key)))] = str(value)
    pfx = None
    pfx_error = None
    pfx_string = r.text("pfxString", "pfx")
    if pfx_string:
        try:
            pfx = base64.b64decode(pfx_string, validate=True)
        except (binascii.Error, ValueError):
            pfx_error = "the pfxString of certificate %s is not valid base64" % r.text("certificateName", "name")
    cert_id = r.get("id")
    if isinstance(cert_id, str) and cert_id.isdigit():
        cert_id = int(cert_id)
    return Certificate(
        name=r.required_text("certificateName", "name", "hostName"),
        id=cert_id if isinstance(cert_id, (int, str)) and not isinstance(cert_id, bool) else None,
        root_domain=r.text("rootDomain"),
        email=r.text("email"),
        challenge_type=normalize_challenge_type(r.text("challengeType")),
        san=r.flag("isSAN", "san"),
        order_uri=r.text("orderUri", "orderUrl"),
        issue_date=r.when("issueDate"),
        expiry_date=r.when("expiryDate"),
        pfx=pfx,
        pfx_password=r.text("password", "pfxPassword"),
        download_urls=urls,
        pfx_error=pfx_error,
    )


# ---------------------------------------------------------------------------
# The adapter interface


class ApiAdapter(abc.ABC):
    """One API generation: its URLs and its field mapping, nothing else."""

    version: t.ClassVar[str] = ""
    default_url: t.ClassVar[str] = ""
    capabilities: t.ClassVar[frozenset[str]] = frozenset()

    def __init__(self, transport: HttpTransport, auth: Auth, base_url: str | None, subscription_id: str) -> None:
        self.transport = transport
        self.auth = auth
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.subscription_id = subscription_id
        self.sid = quote(subscription_id, safe="")

    @staticmethod
    def quote(value: str) -> str:
        """A path segment: every reserved character escaped (``*.a.b`` -> ``%2A.a.b``)."""
        return quote(value, safe="")

    def call(
        self,
        method: str,
        url: str,
        *,
        params: t.Mapping[str, t.Any] | None = None,
        json: t.Any = None,
        idempotent: bool | None = None,
        read_timeout: float | None = None,
    ) -> t.Any:
        """An authorized request whose JSON reply is returned (None if empty).

        A 401 to credentials from a cache (V6 token) is retried once with fresh ones; the
        API rejected the request before acting on it, so this is safe for any request.
        """
        try:
            return self.transport.request_json(
                method, url, headers=self.auth.headers(), params=params, json=json, idempotent=idempotent,
                read_timeout=read_timeout,
            )
        except RclAuthError:
            if not self.auth.invalidate():
                raise
        return self.transport.request_json(
            method, url, headers=self.auth.headers(), params=params, json=json, idempotent=idempotent,
            read_timeout=read_timeout,
        )

    def shown(self, url: str, params: t.Mapping[str, t.Any] | None = None) -> str:
        return self.transport.display_url(url, params)

    def unsupported(self, operation: str) -> t.NoReturn:
        raise RclUnsupportedError(
            "%s is not available in RCL SSL API %s" % (operation, self.version),
            api_version=self.version,
        )

    def require(self, value: str | None, name: str, operation: str) -> str:
        if not value:
            raise RclInputError("%s needs %s with API %s" % (operation, name, self.version), api_version=self.version)
        return value

    @abc.abstractmethod
    def get_certificate(self, name: str) -> Certificate:
        """The certificate of that name (``RclNotFoundError`` if none)."""

    def list_certificates(self) -> list[Certificate]:
        self.unsupported("Listing certificates")

    @abc.abstractmethod
    def create_order(self, req: OrderRequest) -> Order:
        """Create an ACME order (costs quota; never retried blindly)."""

    def get_order(self, order_uri: str, challenge_type: str | None, root_domain: str | None) -> Order:
        self.unsupported("Reading an order")

    def validate_order(self, order_uri: str, challenge_type: str | None) -> None:
        self.unsupported("Validating an order")

    @abc.abstractmethod
    def finalize_order(self, req: FinalizeRequest, read_timeout: float | None = None) -> Certificate | Order | None:
        """Finalize (V6, V7) or schedule issuance (V8); ``read_timeout`` bounds the wait for the reply."""

    def delete_certificate(self, name: str) -> None:
        self.unsupported("Deleting a certificate")

    def download(self, url: str) -> bytes:
        """Fetch a pre-signed download link: no Authorization header, URL kept out of errors."""
        if not url:
            raise RclResponseError("No download URL in the certificate reply")
        return bytes(self.transport.request("GET", url, redact=True).content)
