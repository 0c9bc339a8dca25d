# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import FinalizeRequest, OrderRequest
from ansible_collections.rcl.ssl.plugins.module_utils._api.v6 import V6Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._auth import ClientCredentialsAuth
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclAuthError,
    RclInputError,
    RclNotFoundError,
    RclResponseError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "v6")
SID = "subscr9836"
CLIENT_SECRET = "cl13nt~S3cret.value"
TOKEN = "eyJ0eXAiOiJKV1Q.test-access-token.O4J411Fzg"
TOKEN_PATH = "/tenant-1/oauth2/v2.0/token"
ORDER = "/production/ssl/core/v1/order/subscription/%s" % SID
CERT = "/production/ssl/core/v1/certificate/subscription/%s" % SID
AUTH = {"Authorization": "Bearer %s" % TOKEN}
ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/527702946/93863252796"


def body(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def adapter(httpserver, clock):
    transport = HttpTransport(timeout=5, sleep=lambda s: None)
    auth = ClientCredentialsAuth(transport, httpserver.url_for(TOKEN_PATH), "client-1", CLIENT_SECRET, clock=clock)
    return V6Adapter(transport, auth, httpserver.url_for("/production/ssl/core/v1"), SID)


def serve_token(httpserver, token=TOKEN):
    httpserver.expect_request(TOKEN_PATH, method="POST").respond_with_json(
        {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
    )


def token_requests(httpserver) -> int:
    return sum(1 for request, _response in httpserver.log if request.path == TOKEN_PATH)


def test_class_attributes():
    assert V6Adapter.version == "v6"
    assert V6Adapter.default_url == "https://rclapi.azure-api.net/production/ssl/core/v1"
    assert V6Adapter.capabilities == frozenset({"order_read", "validate", "list", "delete"})


def test_create_order_body_and_reply(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(
        ORDER + "/create",
        method="POST",
        headers=AUTH,
        json={
            "hostName": "www.shopeneur.com",
            "rootDomain": "shopeneur.com",
            "email": "support@mail.com",
            "challengeType": "DNS",
            "isSAN": False,
        },
    ).respond_with_data(body("order_pending.json"), content_type="application/json")
    order = adapter.create_order(OrderRequest("www.shopeneur.com", "shopeneur.com", "dns", False, "support@mail.com"))
    httpserver.check_assertions()
    assert order.status == "pending" and order.order_uri == ORDER_URI
    assert order.tokens[0].name == "_acme-challenge.www" and order.tokens[0].challenge_type == "dns"
    assert order.challenges == [
        {
            "challenge_type": "dns-01",
            "status": "pending",
            "token": "OavU5bQv41k5885ofozqxSJs5TgCulc4THtfdixGWdQ",
            "error": None,
        }
    ]


def test_create_order_http_san_upper_case(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(
        ORDER + "/create",
        method="POST",
        json={"hostName": "shopeneur.com", "rootDomain": "shopeneur.com", "challengeType": "HTTP", "isSAN": True},
    ).respond_with_data(body("order_pending.json"), content_type="application/json")
    adapter.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "http", True))
    httpserver.check_assertions()


def test_create_order_needs_root_domain_and_challenge_before_any_request(httpserver, adapter):
    with pytest.raises(RclInputError):
        adapter.create_order(OrderRequest("www.shopeneur.com", None, "dns"))
    with pytest.raises(RclInputError):
        adapter.create_order(OrderRequest("www.shopeneur.com", "shopeneur.com", None))
    assert len(httpserver.log) == 0


def test_create_order_not_retried_on_500(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(ORDER + "/create").respond_with_data("boom", status=500)
    with pytest.raises(RclApiError):
        adapter.create_order(OrderRequest("www.shopeneur.com", "shopeneur.com", "dns"))
    assert sum(1 for r, _resp in httpserver.log if r.path == ORDER + "/create") == 1


def test_get_order_body(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(
        ORDER + "/get",
        method="POST",
        headers=AUTH,
        json={"orderUri": ORDER_URI, "challengeType": "DNS", "rootDomain": "shopeneur.com"},
    ).respond_with_data(body("order_ready.json"), content_type="application/json")
    order = adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    httpserver.check_assertions()
    assert order.status == "ready"


def test_get_order_is_retried_on_503(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_oneshot_request(ORDER + "/get").respond_with_data("busy", status=503)
    httpserver.expect_request(ORDER + "/get").respond_with_data(body("order_ready.json"), content_type="application/json")
    assert adapter.get_order(ORDER_URI, "dns", "shopeneur.com").status == "ready"


def test_get_order_404(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(ORDER + "/get").respond_with_data("Order not found.", status=404)
    with pytest.raises(RclNotFoundError) as exc:
        adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    assert exc.value.body == "Order not found."


@pytest.mark.parametrize("challenge_type", ["dns", "DNS", "dns-01"])
def test_validate_order(httpserver, adapter, challenge_type):
    serve_token(httpserver)
    httpserver.expect_request(
        ORDER + "/validate", method="POST", headers=AUTH, json={"orderUri": ORDER_URI, "challengeType": "DNS"}
    ).respond_with_data("", status=200)
    assert adapter.validate_order(ORDER_URI, challenge_type) is None
    httpserver.check_assertions()


def test_finalize_body_matches_seed_and_parses_finalized_order(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(
        ORDER + "/finalize",
        method="POST",
        headers=AUTH,
        json={
            "hostName": "www.shopeneur.com",
            "rootDomain": "shopeneur.com",
            "orderUri": ORDER_URI,
            "challengeType": "DNS",
            "email": "support@mail.com",
            "password": "pwd1234",
            "csrInfo": {
                "countryName": "Trinidad",
                "locality": "Homeland Gardens",
                "state": "Cunupia",
                "organization": "Ray Consulting Limited",
                "organizationUnit": "IT",
            },
        },
    ).respond_with_data(body("order_finalized.json"), content_type="application/json")
    req = FinalizeRequest(
        "www.shopeneur.com",
        ORDER_URI,
        "shopeneur.com",
        "dns",
        "support@mail.com",
        "pwd1234",
        {
            "country_name": "Trinidad",
            "locality": "Homeland Gardens",
            "state": "Cunupia",
            "organization": "Ray Consulting Limited",
            "organization_unit": "IT",
        },
    )
    assert "pwd1234" not in repr(req)
    order = adapter.finalize_order(req)
    httpserver.check_assertions()
    assert order.status == "valid"
    assert order.certificate_uri == "https://acme-v02.api.letsencrypt.org/acme/cert/04458562681165e50f2db2f40239967ccf85"
    assert order.tokens[0].domain is None
    assert order.challenges[0]["status"] == "valid"


def test_finalize_not_retried_on_500(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(ORDER + "/finalize").respond_with_data("boom", status=500)
    with pytest.raises(RclApiError):
        adapter.finalize_order(FinalizeRequest("www.shopeneur.com", ORDER_URI, "shopeneur.com", "dns"))
    assert sum(1 for r, _resp in httpserver.log if r.path == ORDER + "/finalize") == 1


def test_get_certificate_v6_shape(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(
        CERT + "/get", method="GET", headers=AUTH, query_string={"name": "www.shopeneur.com"}
    ).respond_with_data(body("certificate.json"), content_type="application/json")
    cert = adapter.get_certificate("www.shopeneur.com")
    httpserver.check_assertions()
    assert cert.name == "www.shopeneur.com"
    assert cert.pfx == b"pfx-bytes-for-tests"
    assert cert.pfx_password == "pwd1234"
    assert cert.download_urls["pfx_url"].endswith(".pfx") and len(cert.download_urls) == 10
    assert cert.expiry_date == datetime(2023, 11, 27, 4, 53, 7, 447682, tzinfo=timezone.utc)


def test_list_certificates(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(CERT + "/get/all", method="GET", headers=AUTH).respond_with_data(
        body("certificate_list.json"), content_type="application/json"
    )
    certs = adapter.list_certificates()
    assert [c.name for c in certs] == ["www.shopeneur.com", "shopeneur.com"]
    assert certs[1].issue_date == datetime(2023, 9, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)


def test_list_certificates_null_and_bad(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_oneshot_request(CERT + "/get/all").respond_with_data("null", content_type="application/json")
    assert adapter.list_certificates() == []
    httpserver.expect_oneshot_request(CERT + "/get/all").respond_with_json({"certificateName": "x"})
    with pytest.raises(RclResponseError):
        adapter.list_certificates()


def test_delete_certificate(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(
        CERT + "/delete", method="DELETE", headers=AUTH, query_string={"name": "www.shopeneur.com"}
    ).respond_with_data("")
    adapter.delete_certificate("www.shopeneur.com")
    httpserver.check_assertions()


def test_token_fetched_once_and_reused(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(CERT + "/get/all", headers=AUTH).respond_with_json([])
    httpserver.expect_request(ORDER + "/get", headers=AUTH).respond_with_data(
        body("order_ready.json"), content_type="application/json"
    )
    adapter.list_certificates()
    adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    adapter.list_certificates()
    httpserver.check_assertions()
    assert token_requests(httpserver) == 1
    assert len(httpserver.log) == 4


def test_token_refetched_after_expiry(httpserver, adapter, clock):
    serve_token(httpserver)
    httpserver.expect_request(CERT + "/get/all").respond_with_json([])
    adapter.list_certificates()
    clock.now += 3600
    adapter.list_certificates()
    assert token_requests(httpserver) == 2


def test_401_with_cached_token_refetches_once(httpserver, adapter):
    httpserver.expect_oneshot_request(TOKEN_PATH).respond_with_json({"expires_in": 3599, "access_token": "old-token"})
    httpserver.expect_request(TOKEN_PATH).respond_with_json({"expires_in": 3599, "access_token": TOKEN})
    httpserver.expect_request(CERT + "/get/all", headers={"Authorization": "Bearer old-token"}).respond_with_json([])
    adapter.list_certificates()  # caches old-token
    httpserver.clear_all_handlers()
    serve_token(httpserver)
    httpserver.expect_request(CERT + "/get/all", headers={"Authorization": "Bearer old-token"}).respond_with_data(
        "Token expired", status=401
    )
    httpserver.expect_request(CERT + "/get/all", headers=AUTH).respond_with_json([{"certificateName": "a.test"}])
    assert [c.name for c in adapter.list_certificates()] == ["a.test"]
    assert token_requests(httpserver) == 2
    paths = [r.path for r, _resp in httpserver.log]
    assert paths == [TOKEN_PATH, CERT + "/get/all", CERT + "/get/all", TOKEN_PATH, CERT + "/get/all"]


def test_401_with_fresh_token_is_final(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(CERT + "/get/all").respond_with_data(
        "Client is not registered in the portal.", status=401, content_type="text/plain"
    )
    with pytest.raises(RclAuthError) as exc:
        adapter.list_certificates()
    assert exc.value.body == "Client is not registered in the portal."
    assert token_requests(httpserver) == 1 and len(httpserver.log) == 2
    text = str(exc.value) + repr(exc.value.to_result())
    assert TOKEN not in text and CLIENT_SECRET not in text


def test_lenient_order_variants(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(ORDER + "/get").respond_with_json(
        {
            "STATUS": "Invalid",
            "tokens": None,
            "Challenges": [{"ChallengeType": "DNS-01", "Status": "INVALID", "token": "t", "error": {"detail": "NXDOMAIN"}}],
            "orderURI": ORDER_URI,
            "error": "Incorrect TXT record",
        }
    )
    order = adapter.get_order(ORDER_URI, "DNS", "shopeneur.com")
    assert order.status == "invalid" and order.tokens == []
    assert order.challenges == [{"challenge_type": "dns-01", "status": "invalid", "token": "t", "error": "NXDOMAIN"}]
    assert order.error == "Incorrect TXT record"


def test_order_reply_not_an_object(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(ORDER + "/get").respond_with_json(["nope"])
    with pytest.raises(RclResponseError):
        adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    httpserver.clear_all_handlers()
    serve_token(httpserver)
    httpserver.expect_request(ORDER + "/get").respond_with_json({"orderUri": ORDER_URI})  # no status
    with pytest.raises(RclResponseError) as exc:
        adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    assert "status" in exc.value.msg


def test_token_url_and_body_not_leaked_in_json_error(httpserver, adapter):
    serve_token(httpserver)
    httpserver.expect_request(ORDER + "/get").respond_with_data("not json", content_type="application/json")
    with pytest.raises(RclResponseError) as exc:
        adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    assert TOKEN not in json.dumps(exc.value.to_result())
