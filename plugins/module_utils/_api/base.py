# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""Normalized models, lenient readers and the abstract API generation.

An API generation (``v6.py``, ``v7.py``, ``v8.py``) is one unit: a subclass of
``ApiAdapter`` declares its credentials, the inputs each operation needs (checked
before any request), what it can do, its renewal rules and its finalize flow.
Nothing outside ``_api/`` branches on a version name; ``generations.py`` lists them.

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
import time
import typing as t
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urlsplit

from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclAuthError,
    RclInputError,
    RclNotFoundError,
    RclOrderInvalidError,
    RclResponseError,
    RclTimeoutError,
    RclUnsupportedError,
    ignore_secret,
    redact_url,
)
from ansible_collections.rcl.ssl.plugins.module_utils._time import (
    days_remaining,
    parse_api_datetime,
    to_iso8601,
    utcnow,
)

__all__ = [
    "ApiAdapter",
    "Certificate",
    "DOWNLOAD_URL_KEYS",
    "FinalizeRequest",
    "FinalizeResult",
    "Order",
    "OrderRequest",
    "POLL_INTERVAL_MAX",
    "ValidationToken",
    "Waiter",
    "check_order_status",
    "has_pfx",
    "issued_for",
    "normalize_challenge_type",
    "order_text",
    "parse_certificate",
    "parse_order",
    "parse_token",
    "same_order",
    "seconds_text",
]

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.rcl.ssl.plugins.module_utils._auth import Auth
    from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

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
    # False when root_domain was derived: a generation that sends none uses the portal's
    root_domain_given: bool = True


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
    # The certificate the subscription held before this order (None: it held none), when the caller read it
    # already (``previous_known``): the generations that compare with it (no order read) then skip their own
    # read of the current certificate. Only its ``order_uri`` and ``issue_date`` are used.
    previous: Certificate | None = field(default=None, repr=False)
    previous_known: bool = False


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
# Shared pieces of the finalize flows


@dataclass
class FinalizeResult:
    changed: bool
    certificate: Certificate | None
    order: Order | None
    status: str


_T = t.TypeVar("_T")
POLL_INTERVAL_MAX = 30.0


class Waiter:
    """One bounded wait (``wait_timeout``): a deadline and a poll loop whose interval grows by half, up to 30 s."""

    def __init__(
        self,
        timeout: float,
        poll_interval: float = 2.0,
        sleep: t.Callable[[float], t.Any] = time.sleep,
        monotonic: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._monotonic = monotonic
        self.deadline = monotonic() + timeout

    def remaining(self) -> float:
        return self.deadline - self._monotonic()

    def poll(self, fetch: t.Callable[[], _T], done: t.Callable[[_T], bool], what: str) -> _T:
        """Call ``fetch`` until ``done``; ``RclTimeoutError`` once the deadline has passed."""
        interval = max(0.1, self.poll_interval)
        while True:
            remaining = self.remaining()
            if remaining <= 0:
                raise RclTimeoutError(
                    "Timed out after %s seconds waiting for %s" % (seconds_text(self.timeout), what),
                    waited_for=what,
                    wait_timeout=self.timeout,
                )
            self._sleep(min(interval, remaining))
            value = fetch()
            if done(value):
                return value
            interval = min(interval * 1.5, max(self.poll_interval, POLL_INTERVAL_MAX))


def has_pfx(reply: t.Any) -> bool:
    """Whether a reply is a certificate object carrying a PKCS#12 (any spelling of ``pfxString``)."""
    return isinstance(reply, dict) and any(_norm_key(str(k)) in ("pfxstring", "pfx") and v for k, v in reply.items())


def seconds_text(value: float) -> str:
    return ("%d" % value) if float(value).is_integer() else ("%.1f" % value)


def order_text(url: str | None) -> str:
    """An ACME order URL for messages (not a secret, but messages only carry redacted URLs)."""
    return redact_url(url or "", keep_query=True)


def same_order(a: str | None, b: str | None) -> bool:
    """Whether two order URLs name the same ACME order.

    The vendor's own example answers a finalize of ``https://acme-v02.../order/1/2`` with
    ``orderUri`` ``https://acme-staging-v02.../order/1/2``: the order is identified by its
    path (account and order numbers), so the host and a trailing slash are not compared.
    """
    if not a or not b:
        return False
    try:
        pa, pb = urlsplit(a.strip()), urlsplit(b.strip())
    except ValueError:
        return a.strip() == b.strip()
    path_a, path_b = pa.path.rstrip("/"), pb.path.rstrip("/")
    return bool(path_a) and path_a == path_b and pa.query == pb.query


def issued_for(cert: Certificate, before: Certificate | None, order_uri: str) -> bool:
    """Whether ``cert`` is the one the order issued (same order, or newer than ``before``)."""
    if same_order(cert.order_uri, order_uri):
        return True
    if cert.issue_date is None:
        return False
    return before is None or before.issue_date is None or cert.issue_date > before.issue_date


def check_order_status(order: Order) -> None:
    """Raise for an ``invalid`` order (with the failed challenges' reasons) or an unknown status."""
    if order.status == "invalid":
        reasons = [
            "%s %s%s" % (c.get("challenge_type") or "challenge", c.get("status"), ": %s" % c["error"] if c.get("error") else "")
            for c in order.challenges
            if c.get("status") == "invalid"
        ]
        if order.error:
            reasons.insert(0, order.error)
        raise RclOrderInvalidError(
            "Order %s is invalid (%s): a challenge failed, a new order is needed"
            % (order_text(order.order_uri), "; ".join(reasons) or "no reason given"),
            order_uri=order_text(order.order_uri),
            status=order.status,
            challenges=[dict(c) for c in order.challenges],
        )
    if order.status not in ("pending", "ready", "processing", "valid"):
        raise RclResponseError(
            "Order %s has an unknown status %r" % (order_text(order.order_uri), order.status),
            order_uri=order_text(order.order_uri),
        )


# ---------------------------------------------------------------------------
# The API generation


class ApiAdapter(abc.ABC):
    """One API generation, whole: credentials, input rules, capabilities, URLs, field mapping, finalize flow.

    The class attributes and class methods are pure (no request): the client and the
    module runner ask them before anything is sent.
    """

    version: t.ClassVar[str] = ""
    default_url: t.ClassVar[str] = ""
    #: connection options that must all be set
    credentials: t.ClassVar[tuple[str, ...]] = ("api_key",)
    #: groups of connection options of which at least one must be set
    credentials_one_of: t.ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: what the generation can do beyond get certificate / create order / finalize
    reads_orders: t.ClassVar[bool] = False
    lists_certificates: t.ClassVar[bool] = False
    #: order fields this generation sends (``root_domain``, ``challenge_type``, ``san``, ``email``); the first
    #: two are then required. Fields it does not send come from the portal's record of the certificate.
    order_sends: t.ClassVar[tuple[str, ...]] = ()
    #: finalize fields this generation needs before anything is sent
    finalize_needs: t.ClassVar[tuple[str, ...]] = ()
    #: order-read fields this generation needs before anything is sent
    order_read_needs: t.ClassVar[tuple[str, ...]] = ()
    #: the ``csr_info`` keys this generation sends, with their API names (none: it takes no csr_info)
    csr_fields: t.ClassVar[tuple[tuple[str, str], ...]] = ()
    #: the shortest ``wait_timeout`` its finalize flow can work with
    min_wait_timeout: t.ClassVar[float] = 0
    max_wait_timeout: t.ClassVar[float] = 86400  # a day: longer waits belong in a later run (wait=false)

    def __init__(
        self,
        transport: HttpTransport,
        auth: Auth,
        base_url: str | None,
        subscription_id: str,
        on_secret: t.Callable[[str], None] | None = None,
    ) -> None:
        self.transport = transport
        self.auth = auth
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.subscription_id = subscription_id
        self.sid = quote(subscription_id, safe="")
        self.on_secret = on_secret or ignore_secret

    # -- declarations, checked before any request -------------------------------

    @classmethod
    def check_connection(cls, options: t.Mapping[str, t.Any]) -> None:
        """Raise ``RclInputError`` when the credentials this generation needs are missing."""
        missing = [name for name in cls.credentials if not options.get(name)]
        missing += [" or ".join(group) for group in cls.credentials_one_of if not any(options.get(n) for n in group)]
        if missing:
            raise RclInputError(
                "api_version=%s needs %s (%s)" % (cls.version, ", ".join(missing), cls.credentials_help()),
                api_version=cls.version,
            )

    @classmethod
    def credentials_help(cls) -> str:
        return "portal: Subscription > API Key"

    @classmethod
    def make_auth(
        cls, transport: HttpTransport, options: t.Mapping[str, t.Any], on_secret: t.Callable[[str], None]
    ) -> Auth:
        from ansible_collections.rcl.ssl.plugins.module_utils._auth import ApiKeyAuth

        return ApiKeyAuth(options.get("api_key") or "", on_secret=on_secret)

    @classmethod
    def _require(cls, values: t.Mapping[str, t.Any], needs: t.Iterable[str], operation: str) -> None:
        missing = [name for name in needs if not values.get(name)]
        if missing:
            raise RclInputError(
                "%s with api_version=%s needs %s" % (operation, cls.version, " and ".join(missing)),
                api_version=cls.version,
            )

    @classmethod
    def check_order(cls, req: OrderRequest) -> None:
        needed = [name for name in ("root_domain", "challenge_type") if name in cls.order_sends]
        cls._require(vars(req), needed, "Creating an order")

    @classmethod
    def check_finalize(cls, req: FinalizeRequest) -> None:
        cls._require(vars(req), cls.finalize_needs, "Finalizing an order")

    @classmethod
    def check_order_read(cls, challenge_type: str | None, root_domain: str | None) -> None:
        if not cls.reads_orders:
            raise RclUnsupportedError(
                "Reading an order is not available in RCL SSL API %s%s" % (cls.version, cls._only_in("reads_orders")),
                api_version=cls.version,
            )
        cls._require(dict(challenge_type=challenge_type, root_domain=root_domain), cls.order_read_needs,
                     "Reading an order")

    @classmethod
    def check_wait_timeout(cls, value: t.Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                cls.min_wait_timeout <= value <= cls.max_wait_timeout):
            raise RclInputError("wait_timeout must be from %s to %d seconds with api_version=%s"
                                % (seconds_text(cls.min_wait_timeout), cls.max_wait_timeout, cls.version))
        return float(value)

    @classmethod
    def check_csr_info(cls, value: t.Any) -> dict[str, str] | None:
        """``csr_info`` as a plain dict (a sub-option spec would let ansible-core print credentials on bad input)."""
        if value is None or value == {}:
            return None
        keys = [ours for ours, _api in cls.csr_fields]
        if not keys:
            raise RclInputError("csr_info is not used by RCL SSL API %s%s" % (cls.version, cls._only_in("csr_fields")))
        if not isinstance(value, dict):
            raise RclInputError("csr_info must be a dictionary with the keys %s" % ", ".join(keys))
        unknown = sorted(str(key)[:40] for key in value if key not in keys)
        if unknown:
            raise RclInputError("csr_info has unknown keys %s; allowed: %s" % (", ".join(unknown), ", ".join(keys)))
        result = {}
        for key, item in value.items():
            if item is None:
                continue
            if not isinstance(item, (str, int)) or isinstance(item, bool):
                raise RclInputError("csr_info.%s must be a string" % key)
            result[key] = str(item)
        return result or None

    @classmethod
    def check_list(cls) -> None:
        if not cls.lists_certificates:
            raise RclUnsupportedError(
                "Listing certificates is not available in RCL SSL API %s%s"
                % (cls.version, cls._only_in("lists_certificates")),
                api_version=cls.version,
            )

    @classmethod
    def _only_in(cls, capability: str) -> str:
        from ansible_collections.rcl.ssl.plugins.module_utils._api.generations import GENERATIONS

        having = sorted(version for version, gen in GENERATIONS.items() if getattr(gen, capability))
        return "; only API %s has it" % " and ".join(having) if having else ""

    def order_refused(self, cert: Certificate | None, force: bool) -> str | None:
        """Why this generation cannot order for this certificate, or None. Pure."""
        return None

    # -- requests -----------------------------------------------------------------

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
        options = dict(params=params, json=json, idempotent=idempotent, read_timeout=read_timeout)
        try:
            return self.transport.request_json(method, url, headers=self.auth.headers(), **options)
        except RclAuthError:
            if not self.auth.invalidate():
                raise
        return self.transport.request_json(method, url, headers=self.auth.headers(), **options)

    def shown(self, url: str, params: t.Mapping[str, t.Any] | None = None) -> str:
        return self.transport.display_url(url, params)

    def certificate(self, data: t.Any, source: str) -> Certificate:
        """Parse a certificate reply and report its secrets (PFX password, download links) at once."""
        self.report_secrets(data)
        return parse_certificate(data, source)

    def report_secrets(self, data: t.Any) -> None:
        """Report the secrets of any certificate-shaped reply, before anything else reads it."""
        if not isinstance(data, dict):
            return
        reader = _Reader(data, "reply", "")
        secrets = [reader.text("password", "pfxPassword")]
        links = reader.get("certificateDownloadUrl", "certificateDownloadUrls", "downloadUrls")
        if isinstance(links, dict):
            secrets.extend(str(value) for value in links.values() if isinstance(value, str))
        for secret in secrets:
            if secret:
                self.on_secret(secret)

    @abc.abstractmethod
    def get_certificate(self, name: str) -> Certificate:
        """The certificate of that name (``RclNotFoundError`` if none)."""

    def find_certificate(self, name: str) -> Certificate | None:
        """The certificate of that name, or None if the subscription has none."""
        try:
            return self.get_certificate(name)
        except RclNotFoundError:
            return None

    # The public operations check this generation's inputs, then run its own step: no
    # generation can skip a check, and none is made after a request.

    def finalized_by_certificate(
        self, req: FinalizeRequest, check_mode: bool
    ) -> tuple[Certificate | None, FinalizeResult | None]:
        """For generations without an order read: the current certificate, and the result when nothing
        is to be sent (the certificate already comes from this order; check mode).

        The current certificate is read (one request) unless the request carries it (``previous_known``).
        """
        current = req.previous if req.previous_known else self.find_certificate(req.certificate_name)
        if current is not None and same_order(current.order_uri, req.order_uri):
            return current, FinalizeResult(False, current, None, "valid")
        if check_mode:
            return current, FinalizeResult(True, None, None, "pending")
        return current, None

    def list_certificates(self) -> list[Certificate]:
        self.check_list()
        return self._list_certificates()

    def create_order(self, req: OrderRequest) -> Order:
        """Create an ACME order (costs quota; never retried blindly)."""
        self.check_order(req)
        return self._create_order(req)

    def get_order(self, order_uri: str, challenge_type: str | None, root_domain: str | None) -> Order:
        self.check_order_read(challenge_type, root_domain)
        return self._get_order(order_uri, challenge_type, root_domain)

    def finalize(self, req: FinalizeRequest, waiter: Waiter, wait: bool, check_mode: bool) -> FinalizeResult:
        """This generation's way from a validated order to an issued certificate, bounded by ``waiter``.

        Never finalizes twice: an order already finalized is reported unchanged. In check
        mode only reads are made.
        """
        self.check_finalize(req)
        return self._finalize(req, waiter, wait, check_mode)

    @abc.abstractmethod
    def _create_order(self, req: OrderRequest) -> Order:
        """This generation's order request."""

    @abc.abstractmethod
    def _finalize(self, req: FinalizeRequest, waiter: Waiter, wait: bool, check_mode: bool) -> FinalizeResult:
        """This generation's finalize flow."""

    def _get_order(self, order_uri: str, challenge_type: str | None, root_domain: str | None) -> Order:
        raise RclUnsupportedError("%s declares reads_orders but reads none" % type(self).__name__)

    def _list_certificates(self) -> list[Certificate]:
        raise RclUnsupportedError("%s declares lists_certificates but lists none" % type(self).__name__)

    def download(self, url: str) -> bytes:
        """Fetch a pre-signed download link: no Authorization header, URL kept out of errors."""
        if not url:
            raise RclResponseError("No download URL in the certificate reply")
        return bytes(self.transport.request("GET", url, redact=True).content)
