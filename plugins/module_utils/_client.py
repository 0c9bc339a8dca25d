# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The client the modules use: one API generation behind the use cases.

Every use case checks all of its inputs (names through ``_names``, the generation's own
rules through its class) before the first request: every request costs quota. Nothing
here knows a version name; the generation answers every version question.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    ApiAdapter,
    Certificate,
    FinalizeRequest,
    FinalizeResult,
    Order,
    OrderRequest,
    Waiter,
    same_order,
)
from ansible_collections.rcl.ssl.plugins.module_utils._api.generations import generation
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError, RclResponseError, ignore_secret
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport
from ansible_collections.rcl.ssl.plugins.module_utils._names import (
    check_challenge,
    dns_record_fqdn,
    normalize_host,
    root_domain_for,
    validate_certificate_name,
    validate_identifier,
    validate_order_uri,
    validate_url,
)
from ansible_collections.rcl.ssl.plugins.module_utils._time import days_remaining, utcnow

__all__ = [
    "FinalizeResult",
    "OrderOutcome",
    "RclClient",
    "build_client",
    "insecure_settings",
    "make_transport",
    "order_due",
    "same_order",
]


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
    on_secret: t.Callable[[str], None] | None = None,
) -> RclClient:
    """Check the connection options (no request is made) and build the client.

    ``on_secret`` receives every secret the client learns (access tokens, PFX passwords,
    download links) as soon as it learns it, so a module can mask it.
    """
    gen = generation(api_version)
    if not subscription_id:
        raise RclInputError("subscription_id is required")
    validate_identifier(subscription_id, "subscription_id")
    options = dict(
        api_key=api_key, client_id=client_id, client_secret=client_secret, tenant_id=tenant_id,
        token_url=validate_url(token_url, "token_url"),
    )
    api_url = validate_url(api_url, "api_url")
    gen.check_connection(options)
    sink = on_secret or ignore_secret
    transport = make_transport(validate_certs, ca_path, timeout, retries, sink)
    auth = gen.make_auth(transport, options, sink)
    return RclClient(gen(transport, auth, api_url, subscription_id, on_secret=sink))


def make_transport(validate_certs: bool | None, ca_path: str | None, timeout: float | None, retries: int | None,
                   on_secret: t.Callable[[str], None]) -> HttpTransport:
    """The transport of a module's connection options (None: the option's default); every service uses one."""
    return HttpTransport(
        timeout=30.0 if timeout is None else timeout,
        validate_certs=True if validate_certs is None else bool(validate_certs),
        ca_path=ca_path,
        retries=3 if retries is None else retries,
        on_secret=on_secret,
    )


def insecure_settings(api_url: str | None, token_url: str | None, validate_certs: bool | None) -> list[str]:
    """Warnings for settings that expose credentials: plain-HTTP URLs, certificate checks turned off. Pure."""
    found = []
    for option, url in (("api_url", api_url), ("token_url", token_url)):
        if url and urlsplit(url).scheme.lower() == "http":
            found.append("%s uses plain http: the credentials and certificates travel unencrypted" % option)
    if validate_certs is False:
        found.append("validate_certs=false: the API's TLS certificate is not checked, so anyone on the path "
                     "can read the credentials")
    return found


def order_due(cert: Certificate | None, remaining_days: int, force: bool, now: datetime,
              missing: str = "no certificate in the subscription") -> tuple[bool, str]:
    """Whether a new order is due, and why. Pure: makes no request."""
    if force:
        return True, "forced"
    if cert is None:
        return True, missing
    if cert.expiry_date is None:
        return True, "the certificate has no expiry date"
    days = days_remaining(cert.expiry_date, now)
    if days < remaining_days:
        return True, "expires in %d days (threshold %d)" % (days, remaining_days)
    return False, "valid for %d more days" % days


@dataclass
class OrderOutcome:
    """What ``RclClient.ensure_order`` decided and did."""

    changed: bool
    reason: str
    certificate: Certificate | None
    order: Order | None
    root_domain: str


class RclClient:
    """The use cases of the modules, on top of one API generation."""

    def __init__(
        self,
        adapter: ApiAdapter,
        clock: t.Callable[[], datetime] = utcnow,
        sleep: t.Callable[[float], t.Any] = time.sleep,
        monotonic: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self.generation = type(adapter)
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (retries and token requests included)."""
        return self.adapter.transport.request_count

    # -- pure input checks ----------------------------------------------------

    def order_request(
        self,
        certificate_name: t.Any,
        root_domain: t.Any = None,
        challenge_type: t.Any = None,
        san: bool = False,
        email: str | None = None,
    ) -> OrderRequest:
        """Check an order's inputs; the root domain comes from the Public Suffix List when not given."""
        if san and isinstance(certificate_name, str) and ("*" in certificate_name or "," in certificate_name):
            raise RclInputError(
                "A SAN certificate is named after its apex domain (e.g. example.com), without '*' or comma: "
                "it covers the apex and www. (HTTP) or the apex and *. (DNS); got %r" % certificate_name[:80]
            )
        name = validate_certificate_name(certificate_name)
        ctype = check_challenge(name, challenge_type)
        root = root_domain_for(name, root_domain or None, bool(san))
        req = OrderRequest(certificate_name=name, root_domain=root, challenge_type=ctype, san=bool(san), email=email,
                           root_domain_given=bool(root_domain))
        self.generation.check_order(req)
        return req

    def finalize_request(
        self,
        certificate_name: t.Any,
        order_uri: t.Any,
        root_domain: t.Any = None,
        challenge_type: t.Any = None,
        email: str | None = None,
        pfx_password: str | None = None,
        csr_info: t.Any = None,
        wait_timeout: t.Any = 300,
        previous: Certificate | None = None,
        previous_known: bool = False,
    ) -> FinalizeRequest:
        """Check a finalization's inputs before any request.

        ``previous_known``: ``previous`` is the certificate the subscription held before the order (None: none),
        read by the caller already; generations without an order read then do not read it again.
        """
        name = validate_certificate_name(certificate_name)
        uri = validate_order_uri(order_uri)
        self.generation.check_wait_timeout(wait_timeout)
        ctype = check_challenge(name, challenge_type)
        root = root_domain_for(name, root_domain or None)
        req = FinalizeRequest(certificate_name=name, order_uri=uri, root_domain=root, challenge_type=ctype,
                              email=email, pfx_password=pfx_password, csr_info=self.generation.check_csr_info(csr_info),
                              previous=previous if previous_known else None, previous_known=bool(previous_known))
        self.generation.check_finalize(req)
        return req

    # -- reads ----------------------------------------------------------------

    def get_certificate(self, name: t.Any) -> Certificate | None:
        """The certificate of that name, or None if the subscription has none."""
        return self.adapter.find_certificate(validate_certificate_name(name))

    def list_certificates(self) -> list[Certificate]:
        return self.adapter.list_certificates()

    def get_order(self, order_uri: t.Any, challenge_type: t.Any = None, root_domain: t.Any = None) -> Order:
        uri = validate_order_uri(order_uri)
        ctype = check_challenge("", challenge_type)
        root = normalize_host(root_domain, "root_domain", allow_wildcard=False) if root_domain else None
        return self.adapter.get_order(uri, ctype, root)

    # -- decisions --------------------------------------------------------------

    def order_due(
        self, cert: Certificate | None, remaining_days: int, force: bool, now: datetime | None = None
    ) -> tuple[bool, str]:
        """Whether a new order is due, and why. Pure: makes no request."""
        return order_due(cert, remaining_days, force, now or self._clock())

    # -- use cases ------------------------------------------------------------

    def ensure_order(
        self, req: OrderRequest, remaining_days: int, force: bool, check_mode: bool
    ) -> OrderOutcome:
        """Read the certificate (unless forced) and start an order when one is due; never in check mode."""
        cert = None if force else self.adapter.find_certificate(req.certificate_name)
        due, reason = self.order_due(cert, remaining_days, force)
        refused = self.adapter.order_refused(cert, force) if due else None
        if refused:
            raise RclInputError("%s (certificate %s)" % (refused, req.certificate_name))
        # A generation that does not send the root domain names records relative to the portal's.
        root = req.root_domain
        if not req.root_domain_given and "root_domain" not in self.generation.order_sends and cert and cert.root_domain:
            root = cert.root_domain
        order = self.adapter.create_order(req) if due and not check_mode else None
        return OrderOutcome(due, reason, cert, order, root or "")

    def create_order(self, req: OrderRequest) -> Order:
        """Start an order for a request checked by ``order_request`` (costs quota; never retried blindly)."""
        return self.adapter.create_order(req)

    def finalize(
        self,
        req: FinalizeRequest,
        wait: bool = True,
        wait_timeout: float = 300,
        poll_interval: float = 2.0,
        check_mode: bool = False,
        waiter: Waiter | None = None,
    ) -> FinalizeResult:
        """Finalize an order unless that was done already; in check mode only read and predict.

        ``waiter`` (from ``self.waiter``) bounds several finalizations by one deadline; without it this one
        gets ``wait_timeout`` of its own.
        """
        if waiter is None:
            waiter = self.waiter(wait_timeout, poll_interval)
        return self.adapter.finalize(req, waiter, wait, check_mode)

    def waiter(self, wait_timeout: float, poll_interval: float = 2.0) -> Waiter:
        """One bounded wait on this client's clock, to share between finalizations."""
        return Waiter(wait_timeout, poll_interval, sleep=self._sleep, monotonic=self._monotonic)

    # -- material -------------------------------------------------------------

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
        raise RclInputError("source must be pfx or download, not %r" % str(source)[:20])

    @staticmethod
    def challenge_data(order: Order, root_domain: str) -> tuple[list[dict[str, t.Any]], dict[str, list[str]]]:
        """What to publish, in community.crypto's shape, and the DNS records as ``{fqdn: [values]}``."""
        entries: list[dict[str, t.Any]] = []
        records: dict[str, list[str]] = {}
        root = (root_domain or "").strip().lower().rstrip(".")
        for token in order.tokens:
            if token.challenge_type == "http":
                challenge = {"resource": ".well-known/acme-challenge/%s" % token.name, "resource_value": token.value}
                identifier = token.domain or root
            else:
                record = _dns_record(token.name, token.domain, root)
                challenge = {"record": record, "resource": token.name, "resource_value": token.value}
                identifier = token.domain or _identifier_from_record(record, root)
                values = records.setdefault(record, [])
                if token.value not in values:
                    values.append(token.value)
            entries.append(dict(identifier=identifier, identifier_type="dns",
                                challenges={"%s-01" % token.challenge_type: challenge}))
        return entries, records


def _dns_record(name: str, domain: str | None, root: str) -> str:
    if root:
        return dns_record_fqdn(name, root)
    if domain:
        domain = domain.strip().rstrip(".")
        return "_acme-challenge.%s" % (domain[2:] if domain.startswith("*.") else domain)
    raise RclInputError("root_domain is needed to place the DNS record of token %s" % name)


def _identifier_from_record(record: str, root: str) -> str:
    prefix = "_acme-challenge."
    return record[len(prefix):] if record.startswith(prefix) else (root or record)
