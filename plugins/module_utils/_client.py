# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The client the modules use: picks the adapter by ``api_version`` and holds the use cases.

Input checks here are pure and run before any request: every request costs quota.
"""

from __future__ import annotations

import re
import time
import typing as t
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    ApiAdapter,
    Certificate,
    FinalizeRequest,
    Order,
    OrderRequest,
    normalize_challenge_type,
)
from ansible_collections.rcl.ssl.plugins.module_utils._api.v6 import V6Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._api.v7 import V7Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._api.v8 import V8Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._auth import (
    ApiKeyAuth,
    Auth,
    ClientCredentialsAuth,
    default_token_url,
)
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclInputError,
    RclNotFoundError,
    RclOrderInvalidError,
    RclResponseError,
    RclTimeoutError,
    RclUnsupportedError,
    redact_url,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport
from ansible_collections.rcl.ssl.plugins.module_utils._time import days_remaining, utcnow

ADAPTERS: dict[str, type[ApiAdapter]] = {"v6": V6Adapter, "v7": V7Adapter, "v8": V8Adapter}
DEFAULT_API_URLS: dict[str, str] = {version: cls.default_url for version, cls in ADAPTERS.items()}

_T = t.TypeVar("_T")
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_POLL_INTERVAL_MAX = 30.0


# ---------------------------------------------------------------------------
# Pure input checks


def _api_version(api_version: str | None) -> str:
    version = (api_version or "v7").strip().lower()
    if version not in ADAPTERS:
        raise RclInputError(
            "api_version must be one of %s, not %r" % (", ".join(sorted(ADAPTERS)), api_version),
            api_version=api_version,
        )
    return version


def _hostname(value: t.Any, option: str, allow_wildcard: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RclInputError("%s is empty" % option)
    name = value.strip().lower()
    if name.endswith("."):
        raise RclInputError("%s %r must not end with a dot" % (option, value))
    if "," in name:
        raise RclInputError(
            "%s %r must be one host name; for apex + www or apex + wildcard use san=true" % (option, value)
        )
    host = name[2:] if allow_wildcard and name.startswith("*.") else name
    if len(name) > 253:
        raise RclInputError("%s is longer than 253 characters" % option)
    labels = host.split(".")
    if len(labels) < 2:
        raise RclInputError("%s %r is not a fully qualified domain name" % (option, value))
    for label in labels:
        if not _LABEL.match(label):
            raise RclInputError(
                "%s %r has an invalid label %r: labels are 1-63 letters, digits and inner hyphens"
                "%s (internationalized names as punycode, xn--...)"
                % (option, value, label, ", with an optional leading '*.'" if allow_wildcard else ""),
            )
    return name


def validate_certificate_name(name: str) -> str:
    """A certificate name as the portal shows it (``www.example.com``, ``*.example.com``), lower-cased."""
    return _hostname(name, "certificate_name", allow_wildcard=True)


def validate_order_input(
    api_version: str | None,
    certificate_name: str,
    root_domain: str | None,
    challenge_type: str | None,
    san: bool,
) -> tuple[str, str | None, str | None]:
    """Check an order's inputs; return normalized ``(certificate_name, root_domain, challenge_type)``.

    ``root_domain`` is derived when it is not given and the name is ``*.x.y`` or has two
    labels; V6 and V8 need both a root domain and a challenge type.
    """
    version = _api_version(api_version)
    if san and isinstance(certificate_name, str) and ("*" in certificate_name or "," in certificate_name):
        raise RclInputError(
            "A SAN certificate is named after its apex domain (e.g. example.com), without '*' or comma: "
            "it covers the apex and www. (HTTP) or the apex and *. (DNS); got %r" % certificate_name
        )
    name = validate_certificate_name(certificate_name)
    ctype = normalize_challenge_type(challenge_type)
    if ctype not in (None, "dns", "http"):
        raise RclInputError("challenge_type must be dns or http, not %r" % challenge_type)
    root = _hostname(root_domain, "root_domain", allow_wildcard=False) if root_domain else None
    wildcard = name.startswith("*.")
    if wildcard and ctype == "http":
        raise RclInputError("The HTTP challenge cannot validate the wildcard %s: use challenge_type=dns" % name)
    if san:
        root = root or name
        if name != root:
            raise RclInputError(
                "A SAN certificate must be named after its apex domain: certificate_name %s must equal "
                "root_domain %s" % (name, root)
            )
    if root is None:
        host = name[2:] if wildcard else name
        if host.count(".") == 1:
            root = host
    elif name != root and not name.endswith("." + root):
        raise RclInputError("certificate_name %s is not within root_domain %s" % (name, root))
    if version in ("v6", "v8"):
        if root is None:
            raise RclInputError(
                "root_domain is required with api_version=%s (it cannot be derived from %s)" % (version, name)
            )
        if ctype is None:
            raise RclInputError("challenge_type (dns or http) is required with api_version=%s" % version)
    return name, root, ctype


def finalize_request(
    api_version: str | None,
    certificate_name: str,
    order_uri: str,
    root_domain: str | None = None,
    challenge_type: str | None = None,
    email: str | None = None,
    pfx_password: str | None = None,
    csr_info: dict[str, t.Any] | None = None,
    wait_timeout: float = 300,
) -> FinalizeRequest:
    """Check a finalization's inputs before any request; V6 needs the root domain and challenge type."""
    version = _api_version(api_version)
    name = validate_certificate_name(certificate_name)
    if _url_option(order_uri, "order_uri") is None:
        raise RclInputError("order_uri is required")
    if wait_timeout is None or wait_timeout < 0:
        raise RclInputError("wait_timeout must be 0 or more seconds")
    root: str | None = None
    ctype: str | None = None
    if version == "v6" or root_domain or challenge_type:
        # V6 sends them; elsewhere they are only checked.
        name, root, ctype = validate_order_input(
            "v6" if version == "v6" else "v7", name, root_domain, challenge_type, False)
    csr = {key: value for key, value in (csr_info or {}).items() if value is not None} or None
    return FinalizeRequest(certificate_name=name, order_uri=order_uri.strip(), root_domain=root,
                           challenge_type=ctype, email=email, pfx_password=pfx_password, csr_info=csr)


def _url_option(value: str | None, option: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise RclInputError("%s must be an http(s) URL" % option)
    return value


def build_client(
    api_version: str | None,
    subscription_id: str | None,
    api_url: str | None = None,
    api_key: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    tenant_id: str | None = None,
    token_url: str | None = None,
    validate_certs: bool | None = True,
    ca_path: str | None = None,
    timeout: float | None = 30,
    retries: int | None = 3,
) -> RclClient:
    """Check the connection options (no request is made) and build the client."""
    version = _api_version(api_version)
    if not subscription_id:
        raise RclInputError("subscription_id is required")
    if not _URL_SAFE.match(subscription_id):
        raise RclInputError("subscription_id may hold only letters, digits and . _ ~ -")
    api_url = _url_option(api_url, "api_url")
    token_url = _url_option(token_url, "token_url")
    timeout = 30 if timeout is None else timeout
    retries = 3 if retries is None else retries
    if timeout <= 0:
        raise RclInputError("timeout must be positive")
    if retries < 0:
        raise RclInputError("retries must not be negative")
    if version == "v6":
        missing = [name for name, value in (("client_id", client_id), ("client_secret", client_secret)) if not value]
        if not (tenant_id or token_url):
            missing.append("tenant_id or token_url")
        if missing:
            raise RclInputError("api_version=v6 needs %s (Azure AD client credentials)" % ", ".join(missing))
        if tenant_id and not token_url and not _URL_SAFE.match(tenant_id):
            raise RclInputError("tenant_id may hold only letters, digits and . _ ~ -")
    elif not api_key:
        raise RclInputError("api_version=%s needs api_key (portal: Subscription > API Key)" % version)

    transport = HttpTransport(
        timeout=float(timeout),
        validate_certs=True if validate_certs is None else bool(validate_certs),
        ca_path=ca_path,
        retries=int(retries),
    )
    auth: Auth
    if version == "v6":
        auth = ClientCredentialsAuth(
            transport, token_url or default_token_url(tenant_id or ""), client_id or "", client_secret or ""
        )
    else:
        auth = ApiKeyAuth(api_key or "")
    return RclClient(ADAPTERS[version](transport, auth, api_url, subscription_id))


# ---------------------------------------------------------------------------
# Use cases


@dataclass
class FinalizeResult:
    changed: bool
    certificate: Certificate | None
    order: Order | None
    status: str


class RclClient:
    """The use cases of the modules, on top of one adapter."""

    def __init__(
        self,
        adapter: ApiAdapter,
        clock: t.Callable[[], datetime] = utcnow,
        sleep: t.Callable[[float], t.Any] = time.sleep,
        monotonic: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def api_version(self) -> str:
        return self.adapter.version

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (retries and token requests included)."""
        return self.adapter.transport.request_count

    # -- reads ---------------------------------------------------------------

    def get_certificate(self, name: str) -> Certificate | None:
        """The certificate of that name, or None if the subscription has none."""
        try:
            return self.adapter.get_certificate(name)
        except RclNotFoundError:
            return None

    def list_certificates(self) -> list[Certificate]:
        return self.adapter.list_certificates()

    def get_order(self, order_uri: str, challenge_type: str | None = None, root_domain: str | None = None) -> Order:
        if "order_read" not in self.adapter.capabilities:
            having = [version for version, cls in sorted(ADAPTERS.items()) if "order_read" in cls.capabilities]
            raise RclUnsupportedError(
                "Reading an order is not available in RCL SSL API %s; only API %s has it"
                % (self.adapter.version, " and ".join(having)),
                api_version=self.adapter.version,
            )
        return self.adapter.get_order(order_uri, normalize_challenge_type(challenge_type), root_domain)

    # -- decisions -----------------------------------------------------------

    def order_due(
        self, cert: Certificate | None, remaining_days: int, force: bool, now: datetime | None = None
    ) -> tuple[bool, str]:
        """Whether a new order is due, and why. Pure: makes no request."""
        if force:
            return True, "forced"
        if cert is None:
            return True, "no certificate in the subscription"
        if cert.expiry_date is None:
            return True, "the certificate has no expiry date"
        days = days_remaining(cert.expiry_date, now or self._clock())
        if days < remaining_days:
            return True, "expires in %d days (threshold %d)" % (days, remaining_days)
        return False, "valid for %d more days" % days

    # -- state changes -------------------------------------------------------

    def create_order(self, req: OrderRequest) -> Order:
        return self.adapter.create_order(req)

    def finalize(
        self,
        req: FinalizeRequest,
        wait: bool = True,
        wait_timeout: float = 300,
        poll_interval: float = 2.0,
        check_mode: bool = False,
    ) -> FinalizeResult:
        """Finalize an order unless that was done already; in check mode only read and predict."""
        deadline = self._monotonic() + wait_timeout
        capabilities = self.adapter.capabilities
        if "order_read" in capabilities:
            return self._finalize_order_steps(req, wait, deadline, poll_interval, check_mode, wait_timeout)
        current = self.get_certificate(req.certificate_name)
        if current is not None and same_order(current.order_uri, req.order_uri):
            return FinalizeResult(False, current, None, "valid")
        if check_mode:
            return FinalizeResult(True, None, None, "pending")
        if "async_issue" in capabilities:
            result = self.adapter.finalize_order(req)
        else:
            # V7 validates and issues inside this one call: its reply is what we wait for,
            # so wait_timeout (not the per-request timeout) bounds it.
            result = self.adapter.finalize_order(req, read_timeout=max(1.0, deadline - self._monotonic()))
        if "async_issue" not in capabilities:
            if not isinstance(result, Certificate):
                raise RclResponseError("Finalizing order %s returned no certificate" % _uri(req.order_uri))
            return FinalizeResult(True, result, None, "valid")
        # Asynchronous issuance (V8): the certificate shows up later under its name.
        if isinstance(result, Certificate) and _is_new(result, current, req.order_uri):
            return FinalizeResult(True, result, None, "valid")
        if not wait:
            return FinalizeResult(True, None, None, "processing")
        cert = self._poll(
            lambda: self.get_certificate(req.certificate_name),
            lambda c: c is not None and _is_new(c, current, req.order_uri),
            "certificate %s to be issued for order %s" % (req.certificate_name, _uri(req.order_uri)),
            deadline,
            wait_timeout,
            poll_interval,
        )
        return FinalizeResult(True, cert, None, "valid")

    def _finalize_order_steps(
        self, req: FinalizeRequest, wait: bool, deadline: float, poll_interval: float, check_mode: bool,
        wait_timeout: float = 300,
    ) -> FinalizeResult:
        """V6: read the order, validate it if pending, wait until ready, finalize."""

        def read() -> Order:
            return self.adapter.get_order(req.order_uri, req.challenge_type, req.root_domain)

        order = read()
        _check_order(order)
        if check_mode or order.status == "valid":
            changed = order.status in ("pending", "ready")
            cert = self.get_certificate(req.certificate_name) if order.status == "valid" else None
            return FinalizeResult(changed, cert, order, order.status)
        changed = False
        if order.status == "pending":
            self.adapter.validate_order(req.order_uri, req.challenge_type)
            changed = True
            if not wait:
                return FinalizeResult(True, None, order, "pending")
            order = self._poll(
                read,
                lambda o: o.status != "pending",
                "order %s to become ready after validation" % _uri(req.order_uri),
                deadline,
                wait_timeout,
                poll_interval,
            )
            _check_order(order)
        if order.status == "ready":
            finalized = self.adapter.finalize_order(req)
            if not isinstance(finalized, Order):
                raise RclResponseError("Finalizing order %s returned no order" % _uri(req.order_uri))
            order = finalized
            changed = True
            _check_order(order)
            if not wait:
                return FinalizeResult(True, None, order, order.status)
        if order.status == "processing":
            if not wait:
                return FinalizeResult(changed, None, order, "processing")
            order = self._poll(
                read,
                lambda o: o.status != "processing",
                "order %s to become valid" % _uri(req.order_uri),
                deadline,
                wait_timeout,
                poll_interval,
            )
            _check_order(order)
        if order.status != "valid":
            raise RclResponseError(
                "Order %s is %s after finalizing" % (_uri(req.order_uri), order.status), order_uri=_uri(req.order_uri)
            )
        return FinalizeResult(changed, self.get_certificate(req.certificate_name), order, "valid")

    def _poll(
        self,
        fetch: t.Callable[[], _T],
        done: t.Callable[[_T], bool],
        what: str,
        deadline: float,
        wait_timeout: float,
        poll_interval: float,
    ) -> _T:
        """Call ``fetch`` until ``done``; the interval grows by half each time, up to 30 s."""
        interval = max(0.1, poll_interval)
        while True:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise RclTimeoutError(
                    "Timed out after %s seconds waiting for %s" % (_seconds(wait_timeout), what),
                    waited_for=what,
                    wait_timeout=wait_timeout,
                )
            self._sleep(min(interval, remaining))
            value = fetch()
            if done(value):
                return value
            interval = min(interval * 1.5, max(poll_interval, _POLL_INTERVAL_MAX))

    # -- material ------------------------------------------------------------

    def fetch_pfx(self, cert: Certificate, source: str = "pfx") -> tuple[bytes, str | None]:
        """The PKCS#12 bytes and their password: from the reply (``pfx``) or its download link."""
        if source == "pfx":
            if cert.pfx:
                return cert.pfx, cert.pfx_password
            reason = cert.pfx_error or "the reply for certificate %s holds no pfxString" % cert.name
            raise RclResponseError("No PFX to use: %s (try source=download)" % reason, certificate_name=cert.name)
        if source == "download":
            url = cert.download_urls.get("pfx_url")
            if not url:
                raise RclResponseError(
                    "The reply for certificate %s holds no PFX download URL (pfxUrl)" % cert.name,
                    certificate_name=cert.name,
                )
            data = self.adapter.download(url)
            if not data:
                raise RclResponseError(
                    "The PFX download for certificate %s is empty" % cert.name, certificate_name=cert.name
                )
            return data, cert.pfx_password
        raise RclInputError("source must be pfx or download, not %r" % source)

    @staticmethod
    def challenge_data(
        order: Order, root_domain: str | None = None
    ) -> tuple[list[dict[str, t.Any]], dict[str, list[str]]]:
        """What to publish for each token, and the DNS records as ``{fqdn: [values]}``."""
        entries: list[dict[str, t.Any]] = []
        records: dict[str, list[str]] = {}
        root = root_domain.strip().lower().rstrip(".") if root_domain else None
        for token in order.tokens:
            if token.challenge_type == "http":
                entries.append(
                    {
                        "identifier": token.domain or root,
                        "type": "http-01",
                        "resource": ".well-known/acme-challenge/%s" % token.name,
                        "resource_value": token.value,
                    }
                )
                continue
            record = _dns_record(token.name, token.domain, root)
            identifier = token.domain or _identifier_from_record(record, token.name, root)
            entries.append(
                {
                    "identifier": identifier,
                    "type": "dns-01",
                    "record": record,
                    "resource": token.name,
                    "resource_value": token.value,
                }
            )
            values = records.setdefault(record, [])
            if token.value not in values:
                values.append(token.value)
        return entries, records


def _dns_record(name: str, domain: str | None, root: str | None) -> str:
    name = name.strip().rstrip(".")
    if root:
        if name == root or name.endswith("." + root):
            return name  # already a full name
        return "%s.%s" % (name, root)
    if domain:
        domain = domain.strip().rstrip(".")
        if domain.startswith("*."):
            domain = domain[2:]
        return "_acme-challenge.%s" % domain
    raise RclInputError("root_domain is needed to place the DNS record of token %s" % name)


def _identifier_from_record(record: str, name: str, root: str | None) -> str:
    prefix = "_acme-challenge."
    return record[len(prefix):] if record.startswith(prefix) else (root or record)


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


def _is_new(cert: Certificate, before: Certificate | None, order_uri: str) -> bool:
    if same_order(cert.order_uri, order_uri):
        return True
    if cert.issue_date is None:
        return False
    return before is None or before.issue_date is None or cert.issue_date > before.issue_date


def _check_order(order: Order) -> None:
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
            % (_uri(order.order_uri), "; ".join(reasons) or "no reason given"),
            order_uri=_uri(order.order_uri),
            status=order.status,
            challenges=[dict(c) for c in order.challenges],
        )
    if order.status not in ("pending", "ready", "processing", "valid"):
        raise RclResponseError(
            "Order %s has an unknown status %r" % (_uri(order.order_uri), order.status),
            order_uri=_uri(order.order_uri),
        )


def _uri(url: str) -> str:
    """An ACME order URL for messages (not a secret, but messages only carry redacted URLs)."""
    return redact_url(url, keep_query=True)


def _seconds(value: float) -> str:
    return ("%d" % value) if float(value).is_integer() else ("%.1f" % value)
