# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""V7, the "RCL SSL Core API" (the default): renews certificates that exist in the portal.

No order read, no validate (finalize triggers validation), no list, no delete.
"""

from __future__ import annotations

import typing as t

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    ApiAdapter,
    Certificate,
    FinalizeRequest,
    Order,
    OrderRequest,
    parse_certificate,
    parse_order,
)


class V7Adapter(ApiAdapter):
    version = "v7"
    default_url = "https://rclapi.azure-api.net/public"
    capabilities: t.ClassVar[t.FrozenSet[str]] = frozenset()  # no order read, validate, list or delete

    def _certificate_url(self, name: str) -> str:
        return "%s/v1/subscription/%s/core/certificate/%s" % (self.base_url, self.sid, self.quote(name))

    def get_certificate(self, name: str) -> Certificate:
        url = self._certificate_url(name)
        return parse_certificate(self.call("GET", url), self.shown(url))

    def create_order(self, req: OrderRequest) -> Order:
        # A GET that creates a new ACME order on every call: never retried blindly.
        url = self._certificate_url(req.certificate_name) + "/order"
        return parse_order(self.call("GET", url, idempotent=False), self.shown(url))

    def finalize_order(self, req: FinalizeRequest, read_timeout: float | None = None) -> Certificate:
        # The service validates the challenges before it replies: the reply may take a while.
        url = self._certificate_url(req.certificate_name) + "/finalize"
        params = {"orderuri": req.order_uri}
        reply = self.call("GET", url, params=params, idempotent=False, read_timeout=read_timeout)
        return parse_certificate(reply, self.shown(url, params))
