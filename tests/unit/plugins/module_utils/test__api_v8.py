# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

import pytest
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import FinalizeRequest, OrderRequest
from ansible_collections.rcl.ssl.plugins.module_utils._api.v8 import V8Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._auth import ApiKeyAuth
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclInputError,
    RclTransportError,
    RclUnsupportedError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "v8")
API_KEY = "v8-api-key-0c7d1f5e"
SID = "sub_df45ghfh463nfhh"
BASE = "/prod/v3/ssl/certificate/subscription/%s" % SID
AUTH = {"Authorization": "Bearer %s" % API_KEY}
ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/116443104/20567267084"


def body(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def adapter(httpserver, sleeps):
    transport = HttpTransport(timeout=5, sleep=sleeps.append)
    return V8Adapter(transport, ApiKeyAuth(API_KEY), httpserver.url_for("/prod/v3/ssl/certificate/subscription"), SID)


def test_class_attributes():
    assert V8Adapter.version == "v8"
    assert V8Adapter.default_url == "https://rclapi.azure-api.net/prod/v3/ssl/certificate/subscription"
    assert V8Adapter.capabilities == frozenset({"delete", "async_issue"})


def test_create_order_body_and_reply(httpserver, adapter):
    httpserver.expect_request(
        BASE + "/order/create",
        method="POST",
        headers=AUTH,
        json={
            "certificateName": "www.shopeneur.com",
            "rootDomain": "shopeneur.com",
            "challengeType": "dns",
            "target": "Stand Alone",
            "subscriptionId": SID,
            "isSAN": False,
            "email": "support@rclapp.com",
        },
    ).respond_with_data(body("order.json"), content_type="application/json")
    order = adapter.create_order(OrderRequest("www.shopeneur.com", "shopeneur.com", "DNS", False, "support@rclapp.com"))
    httpserver.check_assertions()
    assert order.status == "pending"
    assert order.order_uri == ORDER_URI
    assert [(t.name, t.value, t.challenge_type, t.domain) for t in order.tokens] == [
        ("_acme-challenge.www", "Qm9vdHN0cmFwLXRva2VuLXZhbHVlLTE", "dns", "www.shopeneur.com")
    ]


def test_create_order_http_lower_case(httpserver, adapter):
    httpserver.expect_request(
        BASE + "/order/create",
        method="POST",
        json={
            "certificateName": "shopeneur.com",
            "rootDomain": "shopeneur.com",
            "challengeType": "http",
            "target": "Stand Alone",
            "subscriptionId": SID,
            "isSAN": True,
        },
    ).respond_with_data(body("order.json"), content_type="application/json")
    adapter.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "http", True))
    httpserver.check_assertions()


def test_create_order_tokens_inherit_object_challenge_type(httpserver, adapter):
    httpserver.expect_request(BASE + "/order/create").respond_with_json(
        {"challengeType": "http", "orderUri": ORDER_URI, "tokens": [{"tokenName": "abc", "tokenValue": "abc.thumb"}]}
    )
    order = adapter.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "http"))
    assert order.tokens[0].challenge_type == "http"


def test_create_order_not_retried_on_500(httpserver, adapter, sleeps):
    httpserver.expect_request(BASE + "/order/create").respond_with_data("boom", status=500)
    with pytest.raises(RclApiError):
        adapter.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "dns"))
    assert len(httpserver.log) == 1 and sleeps == []


def test_create_order_retried_on_429(httpserver, adapter, sleeps):
    httpserver.expect_oneshot_request(BASE + "/order/create").respond_with_data(
        "Too many", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_request(BASE + "/order/create").respond_with_data(body("order.json"), content_type="application/json")
    assert adapter.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "dns")).order_uri == ORDER_URI
    assert sleeps == [1.0] and len(httpserver.log) == 2


def test_create_order_retried_when_connection_refused(sleeps):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    transport = HttpTransport(timeout=2, retries=2, backoff_base=0.01, sleep=sleeps.append)
    adapter = V8Adapter(transport, ApiKeyAuth(API_KEY), "http://127.0.0.1:%d/prod" % port, SID)
    with pytest.raises(RclTransportError):
        adapter.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "dns"))
    assert transport.request_count == 3 and len(sleeps) == 2


def test_schedule_create_body_and_empty_reply(httpserver, adapter):
    httpserver.expect_request(
        BASE + "/schedule/create",
        method="POST",
        headers=AUTH,
        json={
            "certificateName": "www.shopeneur.com",
            "rootDomain": "shopeneur.com",
            "challengeType": "dns",
            "target": "Stand Alone",
            "subscriptionId": SID,
            "orderUri": ORDER_URI,
            "email": "support@rclapp.com",
            "password": "pwd1234",
        },
    ).respond_with_data("", status=200)
    req = FinalizeRequest("www.shopeneur.com", ORDER_URI, "shopeneur.com", "dns", "support@rclapp.com", "pwd1234")
    assert adapter.finalize_order(req) is None
    httpserver.check_assertions()


def test_schedule_create_not_retried_on_503(httpserver, adapter):
    httpserver.expect_request(BASE + "/schedule/create").respond_with_data("busy", status=503)
    with pytest.raises(RclApiError):
        adapter.finalize_order(FinalizeRequest("www.shopeneur.com", ORDER_URI, "shopeneur.com", "dns"))
    assert len(httpserver.log) == 1


def test_schedule_needs_root_domain(httpserver, adapter):
    with pytest.raises(RclInputError):
        adapter.finalize_order(FinalizeRequest("www.shopeneur.com", ORDER_URI, None, "dns"))
    assert len(httpserver.log) == 0


def test_get_certificate(httpserver, adapter):
    httpserver.expect_request(BASE + "/get/certificatename/www.shopeneur.com", method="GET", headers=AUTH).respond_with_data(
        body("certificate.json"), content_type="application/json"
    )
    cert = adapter.get_certificate("www.shopeneur.com")
    httpserver.check_assertions()
    assert cert.id == 977 and cert.san is False and cert.challenge_type == "dns"
    assert cert.order_uri == ORDER_URI
    assert cert.pfx == b"pfx-bytes-for-tests" and cert.pfx_password == "pwd1234"
    assert cert.issue_date == datetime(2024, 3, 1, 8, 15, 30, 123456, tzinfo=timezone.utc)
    assert set(cert.download_urls) == {"pem_url", "pfx_url", "key_url", "fullchain_crt_url"}


def test_get_and_delete_wildcard_encoded(httpserver, adapter):
    raw = []

    def handler(request):
        raw.append((request.method, request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")))
        return Response('{"certificateName": "*.shopeneur.com"}', content_type="application/json")

    httpserver.expect_request(BASE + "/get/certificatename/*.shopeneur.com").respond_with_handler(handler)
    httpserver.expect_request(BASE + "/delete/certificatename/*.shopeneur.com", method="DELETE").respond_with_handler(
        handler
    )
    adapter.get_certificate("*.shopeneur.com")
    adapter.delete_certificate("*.shopeneur.com")
    assert raw == [
        ("GET", BASE + "/get/certificatename/%2A.shopeneur.com"),
        ("DELETE", BASE + "/delete/certificatename/%2A.shopeneur.com"),
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.list_certificates(),
        lambda a: a.get_order(ORDER_URI, "dns", "shopeneur.com"),
        lambda a: a.validate_order(ORDER_URI, "dns"),
    ],
)
def test_unsupported_operations_name_the_version(httpserver, adapter, call):
    with pytest.raises(RclUnsupportedError) as exc:
        call(adapter)
    assert "v8" in exc.value.msg
    assert len(httpserver.log) == 0
