# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""V7, the "RCL SSL Core API" (the default): renews certificates that exist in the portal.

API key. The order takes root domain, challenge type and SAN from the portal's record, so
none of them is sent. No order read, no validate (finalize triggers validation), no list.
Finalize is one blocking call that validates and issues: ``wait_timeout`` bounds it.
"""

from __future__ import annotations

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    ApiAdapter,
    Certificate,
    FinalizeRequest,
    FinalizeResult,
    Order,
    OrderRequest,
    Waiter,
    order_text,
    parse_order,
    seconds_text,
)
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclResponseError, RclTimeoutError

__all__ = ["V7Adapter"]


class V7Adapter(ApiAdapter):
    version = "v7"
    default_url = "https://rclapi.azure-api.net/public"
    # Finalize is one blocking call that the service answers after validating.
    min_wait_timeout = 1

    def _certificate_url(self, name: str) -> str:
        return "%s/v1/subscription/%s/core/certificate/%s" % (self.base_url, self.sid, self.quote(name))

    def order_refused(self, cert: Certificate | None, force: bool) -> str | None:
        if cert is None and not force:
            return (
                "API V7 renews certificates that exist in the portal, and the subscription has no certificate "
                "of that name: create it in the portal, or use api_version v6 or v8"
            )
        return None

    def get_certificate(self, name: str) -> Certificate:
        url = self._certificate_url(name)
        return self.certificate(self.call("GET", url), self.shown(url))

    def _create_order(self, req: OrderRequest) -> Order:
        # A GET that creates a new ACME order on every call: never retried blindly.
        url = self._certificate_url(req.certificate_name) + "/order"
        return parse_order(self.call("GET", url, idempotent=False), self.shown(url))

    def _finalize(self, req: FinalizeRequest, waiter: Waiter, wait: bool, check_mode: bool) -> FinalizeResult:
        current, known = self.finalized_by_certificate(req, check_mode)
        if known is not None:
            return known
        # The service validates the challenges before it replies: the reply is what we wait
        # for, so what is left of wait_timeout (not the per-request timeout) bounds it.
        url = self._certificate_url(req.certificate_name) + "/finalize"
        params = {"orderuri": req.order_uri}
        if waiter.remaining() <= 0:
            # Sending now would cost quota and almost surely time out after the service acted.
            raise RclTimeoutError(
                "Timed out after %s seconds before finalizing order %s (the certificate read took the time)"
                % (seconds_text(waiter.timeout), order_text(req.order_uri)),
                wait_timeout=waiter.timeout,
            )
        reply = self.call("GET", url, params=params, idempotent=False, read_timeout=max(1.0, waiter.remaining()))
        if reply is None:
            raise RclResponseError("Finalizing order %s returned no certificate" % order_text(req.order_uri))
        return FinalizeResult(True, self.certificate(reply, self.shown(url, params)), None, "valid")
