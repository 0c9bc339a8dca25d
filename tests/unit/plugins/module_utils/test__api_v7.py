# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    FinalizeRequest,
    Order,
    OrderRequest,
    ValidationToken,
)
from ansible_collections.rcl.ssl.plugins.module_utils._api.v7 import V7Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._auth import ApiKeyAuth
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclAuthError,
    RclNotFoundError,
    RclResponseError,
    RclUnsupportedError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "v7")
API_KEY = "45ref546-67rf-65ytr-65tr-546trfred"
SID = "sub_df45ghfh463nfhh"
BASE = "/public/v1/subscription/%s/core/certificate" % SID
AUTH = {"Authorization": "Bearer %s" % API_KEY}


def body(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def adapter(httpserver, sleeps):
    transport = HttpTransport(timeout=5, sleep=sleeps.append)
    # trailing slash on purpose: it must be stripped
    return V7Adapter(transport, ApiKeyAuth(API_KEY), httpserver.url_for("/public/"), SID)


def test_class_attributes():
    assert V7Adapter.version == "v7"
    assert V7Adapter.default_url == "https://rclapi.azure-api.net/public"
    assert V7Adapter.capabilities == frozenset()


def test_default_base_url():
    adapter = V7Adapter(HttpTransport(), ApiKeyAuth("k"), None, SID)
    assert adapter.base_url == "https://rclapi.azure-api.net/public"


def test_get_certificate_parses_seed_example(httpserver, adapter):
    httpserver.expect_request(BASE + "/shopeneur.com", method="GET", headers=AUTH).respond_with_data(
        body("certificate.json"), content_type="application/json"
    )
    cert = adapter.get_certificate("shopeneur.com")
    httpserver.check_assertions()
    assert cert.name == "shopeneur.com"
    assert cert.id == 342
    assert cert.root_domain == "shopeneur.com"
    assert cert.email == "support@rclapp.com"
    assert cert.challenge_type == "dns"
    assert cert.order_uri == "https://acme-staging-v02.api.letsencrypt.org/acme/order/116443104/10568102114"
    assert cert.issue_date == datetime(2023, 8, 29, 4, 53, 7, 447622, tzinfo=timezone.utc)
    assert cert.expiry_date == datetime(2023, 11, 27, 4, 53, 7, 447682, tzinfo=timezone.utc)
    assert cert.pfx_password == "pwd1234"
    assert cert.download_urls["pfx_url"] == "https://path/bf0e9b01-a0cc-4a0e-b232-75265afd2c1d.pfx"
    assert cert.download_urls["key_txt_url"] == "https://path/bf0e9b01-a0cc-4a0e-b232-75265afd2c1d.txt"
    assert cert.download_urls["fullchain_crt_url"].endswith("-fullchain.crt")
    assert cert.download_urls["cabundle_crt_url"].endswith("-cabundle.crt")
    assert cert.download_urls["cert_crt_url"].endswith("-cert.crt")
    assert sorted(cert.download_urls) == sorted(
        [
            "pem_url", "pfx_url", "cer_url", "crt_url", "txt_url", "key_url",
            "key_txt_url", "cert_crt_url", "cabundle_crt_url", "fullchain_crt_url",
        ]
    )
    # The documented example abbreviates pfxString ("...") so it is not base64: no bytes, a reason.
    assert cert.pfx is None and "base64" in (cert.pfx_error or "")


def test_certificate_secrets_stay_out_of_repr_and_metadata(httpserver, adapter):
    data = json.loads(body("certificate.json"))
    data["pfxString"] = "cGZ4LWJ5dGVz"
    httpserver.expect_request(BASE + "/shopeneur.com").respond_with_json(data)
    cert = adapter.get_certificate("shopeneur.com")
    assert cert.pfx == b"pfx-bytes"
    now = datetime(2023, 10, 28, 4, 53, 7, tzinfo=timezone.utc)
    meta = cert.metadata(now)
    assert meta == {
        "name": "shopeneur.com",
        "id": 342,
        "root_domain": "shopeneur.com",
        "challenge_type": "dns",
        "issue_date": "2023-08-29T04:53:07Z",
        "expiry_date": "2023-11-27T04:53:07Z",
        "days_remaining": 30,
    }
    for text in (repr(cert), json.dumps(meta)):
        assert "pwd1234" not in text and "https://path/" not in text and "cGZ4" not in text and "pfx-bytes" not in text


def test_wildcard_name_is_url_encoded(httpserver, adapter):
    raw = []

    def handler(request):
        raw.append(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI"))
        return Response(json.dumps({"certificateName": "*.shopeneur.com"}), content_type="application/json")

    httpserver.expect_request(BASE + "/*.shopeneur.com").respond_with_handler(handler)
    assert adapter.get_certificate("*.shopeneur.com").name == "*.shopeneur.com"
    assert raw == [BASE + "/%2A.shopeneur.com"]


def test_name_cannot_add_path_segments(httpserver, adapter):
    raw = []

    def handler(request):
        raw.append(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI"))
        return Response("Not found", status=404)

    httpserver.expect_request(BASE + "/a/b").respond_with_handler(handler)
    with pytest.raises(RclNotFoundError):
        adapter.get_certificate("a/b")
    assert raw == [BASE + "/a%2Fb"]


def test_create_order_parses_seed_example(httpserver, adapter):
    httpserver.expect_request(BASE + "/shopeneur.com/order", method="GET", headers=AUTH).respond_with_data(
        body("order.json"), content_type="application/json"
    )
    order = adapter.create_order(OrderRequest("shopeneur.com"))
    httpserver.check_assertions()
    assert order == Order(
        status="pending",
        order_uri="https://acme-v02.api.letsencrypt.org/acme/order/116443104/10567267084",
        certificate_uri=None,
        tokens=[ValidationToken("_acme-challenge", "pder_53er44PhE-keudgge45630", "dns", "shopeneur.com")],
        challenges=[],
        error=None,
    )
    assert order.to_result() == {
        "status": "pending",
        "order_uri": "https://acme-v02.api.letsencrypt.org/acme/order/116443104/10567267084",
        "certificate_uri": None,
        "challenges": [],
    }
    assert order.tokens[0].to_result() == {
        "token_name": "_acme-challenge",
        "token_value": "pder_53er44PhE-keudgge45630",
        "challenge_type": "dns",
        "domain": "shopeneur.com",
    }


def test_create_order_not_retried_on_500(httpserver, adapter, sleeps):
    httpserver.expect_request(BASE + "/shopeneur.com/order").respond_with_data("Internal error", status=500)
    with pytest.raises(RclApiError) as exc:
        adapter.create_order(OrderRequest("shopeneur.com"))
    assert exc.value.status == 500
    assert len(httpserver.log) == 1 and sleeps == []


def test_create_order_retried_on_429(httpserver, adapter, sleeps):
    httpserver.expect_oneshot_request(BASE + "/shopeneur.com/order").respond_with_data(
        "Rate limit is exceeded.", status=429, headers={"Retry-After": "3"}
    )
    httpserver.expect_request(BASE + "/shopeneur.com/order").respond_with_data(
        body("order.json"), content_type="application/json"
    )
    assert adapter.create_order(OrderRequest("shopeneur.com")).status == "pending"
    assert len(httpserver.log) == 2 and sleeps == [3.0]


def test_get_certificate_is_retried_on_503(httpserver, adapter, sleeps):
    httpserver.expect_oneshot_request(BASE + "/shopeneur.com").respond_with_data("unavailable", status=503)
    httpserver.expect_request(BASE + "/shopeneur.com").respond_with_data(
        body("certificate.json"), content_type="application/json"
    )
    assert adapter.get_certificate("shopeneur.com").id == 342
    assert len(httpserver.log) == 2 and len(sleeps) == 1


def test_finalize_sends_orderuri_query(httpserver, adapter):
    order_uri = "https://acme-v02.api.letsencrypt.org/acme/order/116443104/10568102114"
    httpserver.expect_request(
        BASE + "/shopeneur.com/finalize", method="GET", headers=AUTH, query_string={"orderuri": order_uri}
    ).respond_with_data(body("certificate.json"), content_type="application/json")
    cert = adapter.finalize_order(FinalizeRequest("shopeneur.com", order_uri))
    httpserver.check_assertions()
    assert cert.name == "shopeneur.com" and cert.id == 342


def test_finalize_400_text_is_verbatim_and_not_retried(httpserver, adapter):
    httpserver.expect_request(BASE + "/shopeneur.com/finalize").respond_with_data(
        "The order is not ready to be finalized. Challenge status: invalid", status=400, content_type="text/plain"
    )
    with pytest.raises(RclApiError) as exc:
        adapter.finalize_order(FinalizeRequest("shopeneur.com", "https://acme.test/order/1"))
    assert exc.value.body == "The order is not ready to be finalized. Challenge status: invalid"
    assert "Challenge status: invalid" in exc.value.msg
    assert len(httpserver.log) == 1


def test_finalize_500_not_retried(httpserver, adapter):
    httpserver.expect_request(BASE + "/shopeneur.com/finalize").respond_with_data("boom", status=502)
    with pytest.raises(RclApiError):
        adapter.finalize_order(FinalizeRequest("shopeneur.com", "https://acme.test/order/1"))
    assert len(httpserver.log) == 1


def test_400_certificate_name_not_defined(httpserver, adapter):
    httpserver.expect_request(BASE + "/x.example.com").respond_with_data(
        "Certificate name is not defined.", status=400, content_type="text/plain"
    )
    with pytest.raises(RclApiError) as exc:
        adapter.get_certificate("x.example.com")
    assert exc.value.to_result()["api_message"] == "Certificate name is not defined."


def test_401_is_auth_error_without_key_and_single_request(httpserver, adapter):
    httpserver.expect_request(BASE + "/shopeneur.com").respond_with_data(
        "Access denied due to invalid subscription key.", status=401, content_type="text/plain"
    )
    with pytest.raises(RclAuthError) as exc:
        adapter.get_certificate("shopeneur.com")
    assert exc.value.body == "Access denied due to invalid subscription key."
    assert API_KEY not in str(exc.value) and API_KEY not in repr(exc.value.to_result())
    assert len(httpserver.log) == 1


def test_404_is_not_found(httpserver, adapter):
    httpserver.expect_request(BASE + "/gone.example.com").respond_with_data("Not found", status=404)
    with pytest.raises(RclNotFoundError):
        adapter.get_certificate("gone.example.com")


def test_order_without_order_uri_is_response_error(httpserver, adapter):
    httpserver.expect_request(BASE + "/shopeneur.com/order").respond_with_json({"status": "pending"})
    with pytest.raises(RclResponseError) as exc:
        adapter.create_order(OrderRequest("shopeneur.com"))
    assert "orderUri" in exc.value.msg


def test_reader_is_lenient(httpserver, adapter):
    reply = {
        "Status": "PENDING",
        "Tokens": [
            {"TokenName": "_acme-challenge", "TokenValue": "v1", "ChallengeType": "dns-01", "Domain": "a.test"},
            {"token_name": "tok", "token_value": "v2", "challenge_type": "HTTP"},
        ],
        "OrderUri": "https://acme.test/o/1",
        "challenges": None,
        "somethingNew": {"x": 1},
    }
    httpserver.expect_request(BASE + "/a.test/order").respond_with_json(reply)
    order = adapter.create_order(OrderRequest("a.test"))
    assert order.status == "pending" and order.order_uri == "https://acme.test/o/1"
    assert [(t.name, t.value, t.challenge_type, t.domain) for t in order.tokens] == [
        ("_acme-challenge", "v1", "dns", "a.test"),
        ("tok", "v2", "http", None),
    ]
    assert order.challenges == []


def test_certificate_reader_accepts_v6_names(httpserver, adapter):
    reply = {
        "CertificateName": "a.test",
        "pfxPassword": "pw",
        "certificateDownloadUrls": {"PfxUrl": "https://s.test/a.pfx", "keyTxtUrl": None},
        "issueDate": None,
        "expiryDate": "2024-01-01T00:00:00Z",
    }
    httpserver.expect_request(BASE + "/a.test").respond_with_json(reply)
    cert = adapter.get_certificate("a.test")
    assert cert.pfx_password == "pw"
    assert cert.download_urls == {"pfx_url": "https://s.test/a.pfx"}
    assert cert.issue_date is None and cert.expiry_date == datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_certificate_reply_with_bad_date_is_response_error(httpserver, adapter):
    httpserver.expect_request(BASE + "/a.test").respond_with_json({"certificateName": "a.test", "expiryDate": "soon"})
    with pytest.raises(RclResponseError):
        adapter.get_certificate("a.test")


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.list_certificates(),
        lambda a: a.get_order("https://acme.test/o/1", "dns", "a.test"),
        lambda a: a.validate_order("https://acme.test/o/1", "dns"),
        lambda a: a.delete_certificate("a.test"),
    ],
)
def test_unsupported_operations_name_the_version(httpserver, adapter, call):
    with pytest.raises(RclUnsupportedError) as exc:
        call(adapter)
    assert "v7" in exc.value.msg
    assert len(httpserver.log) == 0


def test_download_has_no_authorization_and_hides_url(httpserver, adapter):
    seen = []

    def handler(request):
        seen.append(request.headers.get("Authorization"))
        return Response(b"\x30\x82PFX", content_type="application/x-pkcs12")

    httpserver.expect_request("/blob/cert.pfx").respond_with_handler(handler)
    assert adapter.download(httpserver.url_for("/blob/cert.pfx") + "?sig=abc") == b"\x30\x82PFX"
    assert seen == [None]

    httpserver.expect_request("/blob/expired.pfx").respond_with_data("expired", status=403)
    with pytest.raises(RclApiError) as exc:
        adapter.download(httpserver.url_for("/blob/expired.pfx") + "?sig=abc")
    assert "expired.pfx" not in str(exc.value) and "sig=abc" not in str(exc.value)
