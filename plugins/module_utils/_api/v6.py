# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""V6, the "RCL Core API" V6.0.10: explicit order, validate and finalize steps (Azure AD token).

Client credentials (client id + secret, tenant or token URL). Orders, order reads, validation
and finalization all send root domain and challenge type. Finalize flow: read the order,
validate it if pending, wait until ready, finalize, wait until valid.
"""

from __future__ import annotations

import typing as t

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    ApiAdapter,
    Certificate,
    FinalizeRequest,
    FinalizeResult,
    Order,
    OrderRequest,
    Waiter,
    check_order_status,
    normalize_challenge_type,
    order_text,
    parse_order,
)
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclResponseError
from ansible_collections.rcl.ssl.plugins.module_utils._names import validate_identifier

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.rcl.ssl.plugins.module_utils._auth import Auth
    from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

__all__ = ["V6Adapter"]

CSR_FIELDS = (
    ("country_name", "countryName"),
    ("locality", "locality"),
    ("state", "state"),
    ("organization", "organization"),
    ("organization_unit", "organizationUnit"),
)


class V6Adapter(ApiAdapter):
    version = "v6"
    default_url = "https://rclapi.azure-api.net/production/ssl/core/v1"
    credentials = ("client_id", "client_secret")
    credentials_one_of = (("tenant_id", "token_url"),)
    reads_orders = True
    lists_certificates = True
    order_sends = ("root_domain", "challenge_type", "san", "email")
    finalize_needs = ("root_domain", "challenge_type")
    order_read_needs = ("root_domain", "challenge_type")
    csr_fields = CSR_FIELDS

    @classmethod
    def check_connection(cls, options: t.Mapping[str, t.Any]) -> None:
        super().check_connection(options)
        if options.get("tenant_id") and not options.get("token_url"):
            # It becomes a path segment of the Azure AD token URL.
            validate_identifier(options["tenant_id"], "tenant_id")

    @classmethod
    def credentials_help(cls) -> str:
        return "Azure AD client credentials"

    @classmethod
    def make_auth(
        cls, transport: HttpTransport, options: t.Mapping[str, t.Any], on_secret: t.Callable[[str], None]
    ) -> Auth:
        from ansible_collections.rcl.ssl.plugins.module_utils._auth import ClientCredentialsAuth, default_token_url

        token_url = options.get("token_url") or default_token_url(options.get("tenant_id") or "")
        return ClientCredentialsAuth(
            transport, token_url, options.get("client_id") or "", options.get("client_secret") or "",
            on_secret=on_secret,
        )

    def _order_url(self, action: str) -> str:
        return "%s/order/subscription/%s/%s" % (self.base_url, self.sid, action)

    def _certificate_url(self, action: str) -> str:
        return "%s/certificate/subscription/%s/%s" % (self.base_url, self.sid, action)

    @staticmethod
    def _challenge(challenge_type: str | None) -> str:
        return (normalize_challenge_type(challenge_type) or "").upper()

    def _create_order(self, req: OrderRequest) -> Order:
        body: dict[str, t.Any] = {
            "hostName": req.certificate_name,
            "rootDomain": req.root_domain,
            "challengeType": self._challenge(req.challenge_type),
            "isSAN": bool(req.san),
        }
        if req.email:
            body["email"] = req.email
        url = self._order_url("create")
        return parse_order(self.call("POST", url, json=body, idempotent=False), self.shown(url))

    def _get_order(self, order_uri: str, challenge_type: str | None, root_domain: str | None) -> Order:
        body = {"orderUri": order_uri, "challengeType": self._challenge(challenge_type), "rootDomain": root_domain}
        url = self._order_url("get")
        # A read sent as POST: safe to retry.
        return parse_order(self.call("POST", url, json=body, idempotent=True), self.shown(url))

    def _validate(self, order_uri: str, challenge_type: str | None) -> None:
        body = {"orderUri": order_uri, "challengeType": self._challenge(challenge_type)}
        self.call("POST", self._order_url("validate"), json=body, idempotent=False)

    def _finalize_order(self, req: FinalizeRequest) -> Order:
        body: dict[str, t.Any] = {
            "hostName": req.certificate_name,
            "rootDomain": req.root_domain,
            "orderUri": req.order_uri,
            "challengeType": self._challenge(req.challenge_type),
        }
        if req.email:
            body["email"] = req.email
        if req.pfx_password:
            body["password"] = req.pfx_password
        info = req.csr_info or {}
        csr = {api: info[ours] for ours, api in self.csr_fields if info.get(ours)}
        if csr:
            body["csrInfo"] = csr
        url = self._order_url("finalize")
        return parse_order(self.call("POST", url, json=body, idempotent=False), self.shown(url))

    def _finalize(self, req: FinalizeRequest, waiter: Waiter, wait: bool, check_mode: bool) -> FinalizeResult:
        def read() -> Order:
            return self.get_order(req.order_uri, req.challenge_type, req.root_domain)

        uri = order_text(req.order_uri)
        order = read()
        check_order_status(order)
        if check_mode or order.status == "valid":
            changed = order.status in ("pending", "ready")
            cert = self.find_certificate(req.certificate_name) if order.status == "valid" else None
            return FinalizeResult(changed, cert, order, order.status)
        changed = False
        if order.status == "pending":
            self._validate(req.order_uri, req.challenge_type)
            changed = True
            if not wait:
                return FinalizeResult(True, None, order, "pending")
            order = waiter.poll(read, lambda o: o.status != "pending", "order %s to become ready after validation" % uri)
            check_order_status(order)
        if order.status == "ready":
            order = self._finalize_order(req)
            changed = True
            check_order_status(order)
            if not wait:
                return FinalizeResult(True, None, order, order.status)
        if order.status == "processing":
            if not wait:
                return FinalizeResult(changed, None, order, "processing")
            order = waiter.poll(read, lambda o: o.status != "processing", "order %s to become valid" % uri)
            check_order_status(order)
        if order.status != "valid":
            raise RclResponseError("Order %s is %s after finalizing" % (uri, order.status), order_uri=uri)
        return FinalizeResult(changed, self.find_certificate(req.certificate_name), order, "valid")

    def get_certificate(self, name: str) -> Certificate:
        url = self._certificate_url("get")
        params = {"name": name}
        return self.certificate(self.call("GET", url, params=params), self.shown(url, params))

    def _list_certificates(self) -> list[Certificate]:
        url = self._certificate_url("get/all")
        shown = self.shown(url)
        reply = self.call("GET", url)
        if reply is None:
            return []
        if not isinstance(reply, list):
            raise RclResponseError("The reply of %s is not a list of certificates" % shown, url=shown)
        return [self.certificate(item, shown) for item in reply]
