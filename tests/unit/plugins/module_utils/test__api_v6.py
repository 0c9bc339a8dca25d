# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""V6 beyond the wire contract (test__api_contract.py): reading its replies, its token, its errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import FinalizeRequest, OrderRequest
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclAuthError,
    RclNotFoundError,
    RclResponseError,
)

from ...conftest import API_PREFIX, CLIENT_SECRET, SID, TOKEN, TOKEN_PATH, body, body_json, serve_token, token_requests
from ...conftest import AUTH_V6 as AUTH

ORDER = "%s/order/subscription/%s" % (API_PREFIX["v6"], SID)
CERT = "%s/certificate/subscription/%s" % (API_PREFIX["v6"], SID)
ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/527702946/93863252796"


@pytest.fixture
def adapter(api_adapter):
    return api_adapter("v6")


def serve(httpserver, path: str, fixture: str) -> None:
    httpserver.expect_request(path).respond_with_data(body("v6/" + fixture), content_type="application/json")


def test_create_order_reply_has_tokens_and_challenges(httpserver, adapter):
    serve(httpserver, ORDER + "/create", "order_pending.json")
    order = adapter.create_order(OrderRequest("www.shopeneur.com", "shopeneur.com", "dns", False, "support@mail.com"))
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


def test_get_order_404(httpserver, adapter):
    httpserver.expect_request(ORDER + "/get").respond_with_data("Order not found.", status=404)
    with pytest.raises(RclNotFoundError) as exc:
        adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    assert exc.value.body == "Order not found."


@pytest.mark.parametrize("challenge_type", ["dns", "DNS", "dns-01"])
def test_validate_sends_upper_case_challenge_type(httpserver, adapter, challenge_type):
    httpserver.expect_request(
        ORDER + "/validate", method="POST", headers=AUTH, json={"orderUri": ORDER_URI, "challengeType": "DNS"}
    ).respond_with_data("", status=200)
    assert adapter._validate(ORDER_URI, challenge_type) is None  # pylint: disable=protected-access
    httpserver.check_assertions()


def test_finalize_reply_is_the_finalized_order(httpserver, adapter):
    serve(httpserver, ORDER + "/finalize", "order_finalized.json")
    req = FinalizeRequest("www.shopeneur.com", ORDER_URI, "shopeneur.com", "dns", "support@mail.com", "pwd1234")
    assert "pwd1234" not in repr(req)
    order = adapter._finalize_order(req)  # pylint: disable=protected-access
    assert order.status == "valid"
    assert order.certificate_uri == body_json("v6/order_finalized.json")["certificateUri"]
    assert order.tokens[0].domain is None
    assert order.challenges[0]["status"] == "valid"


def test_get_certificate_v6_shape(httpserver, adapter):
    httpserver.expect_request(CERT + "/get", query_string={"name": "www.shopeneur.com"}).respond_with_data(
        body("v6/certificate.json"), content_type="application/json"
    )
    cert = adapter.get_certificate("www.shopeneur.com")
    assert cert.name == "www.shopeneur.com"
    assert cert.pfx == b"pfx-bytes-for-tests"
    assert cert.pfx_password == "pwd1234"
    assert cert.download_urls["pfx_url"].endswith(".pfx") and len(cert.download_urls) == 10
    assert cert.expiry_date == datetime(2023, 11, 27, 4, 53, 7, 447682, tzinfo=timezone.utc)


def test_list_certificates(httpserver, adapter):
    serve(httpserver, CERT + "/get/all", "certificate_list.json")
    certs = adapter.list_certificates()
    assert [c.name for c in certs] == ["www.shopeneur.com", "shopeneur.com"]
    assert certs[1].issue_date == datetime(2023, 9, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)


def test_list_certificates_null_and_bad(httpserver, adapter):
    httpserver.expect_oneshot_request(CERT + "/get/all").respond_with_data("null", content_type="application/json")
    assert adapter.list_certificates() == []
    httpserver.expect_oneshot_request(CERT + "/get/all").respond_with_json({"certificateName": "x"})
    with pytest.raises(RclResponseError):
        adapter.list_certificates()


def test_token_fetched_once_and_reused(httpserver, adapter):
    httpserver.expect_request(CERT + "/get/all", headers=AUTH).respond_with_json([])
    httpserver.expect_request(ORDER + "/get", headers=AUTH).respond_with_data(
        body("v6/order_ready.json"), content_type="application/json"
    )
    adapter.list_certificates()
    adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    adapter.list_certificates()
    httpserver.check_assertions()
    assert token_requests(httpserver) == 1
    assert len(httpserver.log) == 4


def test_token_refetched_after_expiry(httpserver, adapter, clock):
    httpserver.expect_request(CERT + "/get/all").respond_with_json([])
    adapter.list_certificates()
    clock.now += 3600
    adapter.list_certificates()
    assert token_requests(httpserver) == 2


def test_401_with_cached_token_refetches_once(httpserver, adapter):
    httpserver.clear_all_handlers()
    serve_token(httpserver, "old-token")
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
    httpserver.expect_request(ORDER + "/get").respond_with_json(
        {
            "STATUS": "Invalid",
            "tokens": None,
            "Challenges": [
                {"ChallengeType": "DNS-01", "Status": "INVALID", "token": "t", "error": {"detail": "NXDOMAIN"}}
            ],
            "orderURI": ORDER_URI,
            "error": "Incorrect TXT record",
        }
    )
    order = adapter.get_order(ORDER_URI, "DNS", "shopeneur.com")
    assert order.status == "invalid" and order.tokens == []
    assert order.challenges == [{"challenge_type": "dns-01", "status": "invalid", "token": "t", "error": "NXDOMAIN"}]
    assert order.error == "Incorrect TXT record"


@pytest.mark.parametrize("reply, fragment", [(["nope"], "not the expected order"), ({"orderUri": ORDER_URI}, "status")])
def test_order_reply_not_an_order(httpserver, adapter, reply, fragment):
    httpserver.expect_request(ORDER + "/get").respond_with_json(reply)
    with pytest.raises(RclResponseError) as exc:
        adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    assert fragment in exc.value.msg


def test_token_not_leaked_in_json_error(httpserver, adapter):
    httpserver.expect_request(ORDER + "/get").respond_with_data("not json", content_type="application/json")
    with pytest.raises(RclResponseError) as exc:
        adapter.get_order(ORDER_URI, "dns", "shopeneur.com")
    assert TOKEN not in json.dumps(exc.value.to_result())
