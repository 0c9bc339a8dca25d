# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""V8 beyond the wire contract (test__api_contract.py): its lower-case challenge type, its replies, names in paths."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import OrderRequest

from ...conftest import API_PREFIX, AUTH_KEY as AUTH, SID, body

BASE = "%s/%s" % (API_PREFIX["v8"], SID)
ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/116443104/20567267084"


@pytest.fixture
def adapter(api_adapter):
    return api_adapter("v8")


def test_create_order_reply_has_tokens(httpserver, adapter):
    httpserver.expect_request(BASE + "/order/create").respond_with_data(
        body("v8/order.json"), content_type="application/json"
    )
    order = adapter.create_order(OrderRequest("www.shopeneur.com", "shopeneur.com", "DNS", False, "support@rclapp.com"))
    assert order.status == "pending"  # the reply is the certificate object: no status of its own
    assert order.order_uri == ORDER_URI
    assert [(t.name, t.value, t.challenge_type, t.domain) for t in order.tokens] == [
        ("_acme-challenge.www", "Qm9vdHN0cmFwLXRva2VuLXZhbHVlLTE", "dns", "www.shopeneur.com")
    ]


def test_create_order_sends_http_lower_case(httpserver, adapter):
    httpserver.expect_request(
        BASE + "/order/create",
        method="POST",
        headers=AUTH,
        json={
            "certificateName": "shopeneur.com",
            "rootDomain": "shopeneur.com",
            "challengeType": "http",
            "target": "Stand Alone",
            "subscriptionId": SID,
            "isSAN": True,
        },
    ).respond_with_data(body("v8/order.json"), content_type="application/json")
    adapter.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "HTTP", True))
    httpserver.check_assertions()
    assert len(httpserver.log) == 1


def test_create_order_tokens_inherit_object_challenge_type(httpserver, adapter):
    httpserver.expect_request(BASE + "/order/create").respond_with_json(
        {"challengeType": "http", "orderUri": ORDER_URI, "tokens": [{"tokenName": "abc", "tokenValue": "abc.thumb"}]}
    )
    order = adapter.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "http"))
    assert order.tokens[0].challenge_type == "http"


def test_get_certificate(httpserver, adapter):
    httpserver.expect_request(BASE + "/get/certificatename/www.shopeneur.com").respond_with_data(
        body("v8/certificate.json"), content_type="application/json"
    )
    cert = adapter.get_certificate("www.shopeneur.com")
    assert cert.id == 977 and cert.san is False and cert.challenge_type == "dns"
    assert cert.order_uri == ORDER_URI
    assert cert.pfx == b"pfx-bytes-for-tests" and cert.pfx_password == "pwd1234"
    assert cert.issue_date == datetime(2024, 3, 1, 8, 15, 30, 123456, tzinfo=timezone.utc)
    assert set(cert.download_urls) == {"pem_url", "pfx_url", "key_url", "fullchain_crt_url"}


def test_get_wildcard_name_encoded(httpserver, adapter):
    raw = []

    def handler(request):
        raw.append(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI"))
        return Response('{"certificateName": "*.shopeneur.com"}', content_type="application/json")

    httpserver.expect_request(BASE + "/get/certificatename/*.shopeneur.com").respond_with_handler(handler)
    assert adapter.get_certificate("*.shopeneur.com").name == "*.shopeneur.com"
    assert raw == [BASE + "/get/certificatename/%2A.shopeneur.com"]
