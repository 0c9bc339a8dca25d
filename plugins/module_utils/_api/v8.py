# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""V8, the "RCL SSL API" V8.0: one certificate object; issuance is scheduled and asynchronous."""

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

TARGET = "Stand Alone"


class V8Adapter(ApiAdapter):
    version = "v8"
    default_url = "https://rclapi.azure-api.net/prod/v3/ssl/certificate/subscription"
    capabilities = frozenset(("delete", "async_issue"))

    def _url(self, path: str) -> str:
        return "%s/%s/%s" % (self.base_url, self.sid, path)

    def _object(self, name: str, root_domain: str | None, challenge_type: str | None, operation: str) -> dict[str, t.Any]:
        return {
            "certificateName": name,
            "rootDomain": self.require(root_domain, "root_domain", operation),
            "challengeType": self.require(normalize_challenge_type(challenge_type), "challenge_type", operation),
            "target": TARGET,
            "subscriptionId": self.subscription_id,
        }

    def create_order(self, req: OrderRequest) -> Order:
        body = self._object(req.certificate_name, req.root_domain, req.challenge_type, "Creating an order")
        body["isSAN"] = bool(req.san)
        if req.email:
            body["email"] = req.email
        url = self._url("order/create")
        # The reply is the certificate object (no status of its own): a new order is pending.
        return parse_order(self.call("POST", url, json=body, idempotent=False), self.shown(url), require_status=False)

    def finalize_order(self, req: FinalizeRequest, read_timeout: float | None = None) -> Certificate | None:
        body = self._object(req.certificate_name, req.root_domain, req.challenge_type, "Scheduling a certificate")
        body["orderUri"] = req.order_uri
        if req.email:
            body["email"] = req.email
        if req.pfx_password:
            body["password"] = req.pfx_password
        url = self._url("schedule/create")
        reply = self.call("POST", url, json=body, idempotent=False)
        # Documented as an empty 200: issuance happens later. Take a certificate if one comes back.
        if isinstance(reply, dict) and reply.get("pfxString"):
            return parse_certificate(reply, self.shown(url))
        return None

    def get_certificate(self, name: str) -> Certificate:
        url = self._url("get/certificatename/%s" % self.quote(name))
        return parse_certificate(self.call("GET", url), self.shown(url))

    def delete_certificate(self, name: str) -> None:
        self.call("DELETE", self._url("delete/certificatename/%s" % self.quote(name)))
