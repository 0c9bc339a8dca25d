# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""V6, the "RCL Core API" V6.0.10: explicit order, validate and finalize steps (Azure AD token)."""

from __future__ import annotations

import typing as t

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    ApiAdapter,
    Certificate,
    FinalizeRequest,
    Order,
    OrderRequest,
    normalize_challenge_type,
    parse_certificate,
    parse_order,
)
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclResponseError

_CSR_FIELDS = (
    ("country_name", "countryName"),
    ("locality", "locality"),
    ("state", "state"),
    ("organization", "organization"),
    ("organization_unit", "organizationUnit"),
)


class V6Adapter(ApiAdapter):
    version = "v6"
    default_url = "https://rclapi.azure-api.net/production/ssl/core/v1"
    capabilities = frozenset(("order_read", "validate", "list", "delete"))

    def _order_url(self, action: str) -> str:
        return "%s/order/subscription/%s/%s" % (self.base_url, self.sid, action)

    def _certificate_url(self, action: str) -> str:
        return "%s/certificate/subscription/%s/%s" % (self.base_url, self.sid, action)

    def _challenge(self, challenge_type: str | None, operation: str) -> str:
        return self.require(normalize_challenge_type(challenge_type), "challenge_type", operation).upper()

    def create_order(self, req: OrderRequest) -> Order:
        body: dict[str, t.Any] = {
            "hostName": req.certificate_name,
            "rootDomain": self.require(req.root_domain, "root_domain", "Creating an order"),
            "challengeType": self._challenge(req.challenge_type, "Creating an order"),
            "isSAN": bool(req.san),
        }
        if req.email:
            body["email"] = req.email
        url = self._order_url("create")
        return parse_order(self.call("POST", url, json=body, idempotent=False), self.shown(url))

    def get_order(self, order_uri: str, challenge_type: str | None, root_domain: str | None) -> Order:
        body = {
            "orderUri": order_uri,
            "challengeType": self._challenge(challenge_type, "Reading an order"),
            "rootDomain": self.require(root_domain, "root_domain", "Reading an order"),
        }
        url = self._order_url("get")
        # A read sent as POST: safe to retry.
        return parse_order(self.call("POST", url, json=body, idempotent=True), self.shown(url))

    def validate_order(self, order_uri: str, challenge_type: str | None) -> None:
        body = {"orderUri": order_uri, "challengeType": self._challenge(challenge_type, "Validating an order")}
        self.call("POST", self._order_url("validate"), json=body, idempotent=False)

    def finalize_order(self, req: FinalizeRequest, read_timeout: float | None = None) -> Order:
        body: dict[str, t.Any] = {
            "hostName": req.certificate_name,
            "rootDomain": self.require(req.root_domain, "root_domain", "Finalizing an order"),
            "orderUri": req.order_uri,
            "challengeType": self._challenge(req.challenge_type, "Finalizing an order"),
        }
        if req.email:
            body["email"] = req.email
        if req.pfx_password:
            body["password"] = req.pfx_password
        if req.csr_info:
            csr = {api: req.csr_info[ours] for ours, api in _CSR_FIELDS if req.csr_info.get(ours)}
            if csr:
                body["csrInfo"] = csr
        url = self._order_url("finalize")
        return parse_order(self.call("POST", url, json=body, idempotent=False), self.shown(url))

    def get_certificate(self, name: str) -> Certificate:
        url = self._certificate_url("get")
        params = {"name": name}
        return parse_certificate(self.call("GET", url, params=params), self.shown(url, params))

    def list_certificates(self) -> list[Certificate]:
        url = self._certificate_url("get/all")
        shown = self.shown(url)
        reply = self.call("GET", url)
        if reply is None:
            return []
        if not isinstance(reply, list):
            raise RclResponseError("The reply of %s is not a list of certificates" % shown, url=shown)
        return [parse_certificate(item, shown) for item in reply]

    def delete_certificate(self, name: str) -> None:
        self.call("DELETE", self._certificate_url("delete"), params={"name": name})
