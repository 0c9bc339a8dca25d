# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""V7 beyond the wire contract (test__api_contract.py): reading its replies, names in paths, errors, downloads."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Order, OrderRequest, ValidationToken
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclAuthError,
    RclNotFoundError,
    RclResponseError,
)

from ...conftest import API_KEY, API_PREFIX, AUTH_KEY as AUTH, SID, body

BASE = "%s/v1/subscription/%s/core/certificate" % (API_PREFIX["v7"], SID)


@pytest.fixture
def adapter(api_adapter):
    return api_adapter("v7")


def test_get_certificate_parses_seed_example(httpserver, adapter):
    httpserver.expect_request(BASE + "/shopeneur.com", method="GET", headers=AUTH).respond_with_data(
        body("v7/certificate.json"), content_type="application/json"
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
    data = json.loads(body("v7/certificate.json"))
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
        body("v7/order.json"), content_type="application/json"
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
