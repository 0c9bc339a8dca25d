# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""V8, the "RCL SSL API" V8.0: one certificate object; issuance is scheduled and asynchronous.

API key. Orders and schedules send root domain and challenge type (lower case). No order
read: after scheduling, the certificate is polled under its name until the new one shows.
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
    has_pfx,
    issued_for,
    normalize_challenge_type,
    order_text,
    parse_order,
)

__all__ = ["V8Adapter"]

TARGET = "Stand Alone"


class V8Adapter(ApiAdapter):
    version = "v8"
    default_url = "https://rclapi.azure-api.net/prod/v3/ssl/certificate/subscription"
    order_sends = ("root_domain", "challenge_type", "san", "email")
    finalize_needs = ("root_domain", "challenge_type")

    def _url(self, path: str) -> str:
        return "%s/%s/%s" % (self.base_url, self.sid, path)

    def _object(self, name: str, root_domain: str | None, challenge_type: str | None) -> dict[str, t.Any]:
        return {
            "certificateName": name,
            "rootDomain": root_domain,
            "challengeType": normalize_challenge_type(challenge_type),
            "target": TARGET,
            "subscriptionId": self.subscription_id,
        }

    def _create_order(self, req: OrderRequest) -> Order:
        body = self._object(req.certificate_name, req.root_domain, req.challenge_type)
        body["isSAN"] = bool(req.san)
        if req.email:
            body["email"] = req.email
        url = self._url("order/create")
        reply = self.call("POST", url, json=body, idempotent=False)
        self.report_secrets(reply)  # the certificate object may carry a password and links
        # The reply is the certificate object (no status of its own): a new order is pending.
        return parse_order(reply, self.shown(url), require_status=False)

    def _finalize(self, req: FinalizeRequest, waiter: Waiter, wait: bool, check_mode: bool) -> FinalizeResult:
        current, known = self.finalized_by_certificate(req, check_mode)
        if known is not None:
            return known
        body = self._object(req.certificate_name, req.root_domain, req.challenge_type)
        body["orderUri"] = req.order_uri
        if req.email:
            body["email"] = req.email
        if req.pfx_password:
            body["password"] = req.pfx_password
        url = self._url("schedule/create")
        reply = self.call("POST", url, json=body, idempotent=False)
        self.report_secrets(reply)
        # Documented as an empty 200: issuance happens later. Take a certificate if one comes back.
        if has_pfx(reply):
            issued = self.certificate(reply, self.shown(url))
            if issued_for(issued, current, req.order_uri):
                return FinalizeResult(True, issued, None, "valid")
        if not wait:
            return FinalizeResult(True, None, None, "processing")
        cert = waiter.poll(
            lambda: self.find_certificate(req.certificate_name),
            lambda c: c is not None and issued_for(c, current, req.order_uri),
            "certificate %s to be issued for order %s" % (req.certificate_name, order_text(req.order_uri)),
        )
        return FinalizeResult(True, cert, None, "valid")

    def get_certificate(self, name: str) -> Certificate:
        url = self._url("get/certificatename/%s" % self.quote(name))
        return self.certificate(self.call("GET", url), self.shown(url))
