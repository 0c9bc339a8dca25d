# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.rcl.ssl.plugins.modules import rcl_order

from .conftest import API_KEY, SUB, reply_body, secrets_of, v7_path

ORDER = {
    "status": "pending",
    "validationTokens": [
        {"tokenName": "_acme-challenge", "tokenValue": "value-apex", "challengeType": "DNS", "domain": "example.test"},
        {"tokenName": "_acme-challenge", "tokenValue": "value-wild", "challengeType": "DNS", "domain": "*.example.test"},
    ],
    "orderUri": "https://acme.test/order/116443104/10567267084",
    "certificateUri": None,
}


def test_valid_certificate_makes_exactly_one_read(httpserver, run_module, v7_args, v7_certificate):
    reply = v7_certificate(days_left=80)
    httpserver.expect_request(v7_path("www.example.test"), method="GET",
                              headers={"Authorization": "Bearer " + API_KEY}).respond_with_json(reply_body(reply))
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="www.example.test"))
    assert result["changed"] is False
    assert "order_uri" not in result
    assert result["certificate"]["name"] == "www.example.test"
    assert 78 <= result["certificate"]["days_remaining"] <= 80
    assert result["certificate"]["sans"] == ["www.example.test"]
    assert len(httpserver.log) == 1
    for secret in secrets_of(reply):
        assert secret not in run_module.last_stdout


def test_due_certificate_creates_one_order(httpserver, run_module, v7_args, v7_certificate):
    reply = v7_certificate(name="example.test", days_left=10, sans=["example.test", "*.example.test"])
    httpserver.expect_ordered_request(v7_path("example.test"), method="GET").respond_with_json(reply_body(reply))
    httpserver.expect_ordered_request(v7_path("example.test", "/order"), method="GET").respond_with_json(ORDER)
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="example.test", san=True,
                                             root_domain="example.test"))
    assert result["changed"] is True
    assert result["order_uri"] == ORDER["orderUri"]
    assert result["order"]["status"] == "pending"
    assert result["order"]["certificate_uri"] is None
    assert result["challenge_data_dns"] == {"_acme-challenge.example.test": ["value-apex", "value-wild"]}
    assert [item["challenges"]["dns-01"]["record"] for item in result["challenge_data"]] == [
        "_acme-challenge.example.test", "_acme-challenge.example.test"]
    assert result["validation_tokens"][0] == {"token_name": "_acme-challenge", "token_value": "value-apex",
                                              "challenge_type": "dns", "domain": "example.test"}
    assert "expires in" in result["reason"]
    assert len(httpserver.log) == 2
    httpserver.check_assertions()


def test_check_mode_predicts_change_without_ordering(httpserver, run_module, v7_args, v7_certificate):
    reply = v7_certificate(days_left=5)
    httpserver.expect_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(reply))
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="www.example.test"), check_mode=True)
    assert result["changed"] is True
    assert "order_uri" not in result
    assert [entry[0].path for entry in httpserver.log] == [v7_path("www.example.test")]


def test_force_orders_without_reading(httpserver, run_module, v7_args):
    httpserver.expect_request(v7_path("www.example.test", "/order"), method="GET").respond_with_json(ORDER)
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="www.example.test", force=True))
    assert result["changed"] is True
    assert result["reason"] == "forced"
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("args, message", [
    (dict(certificate_name="*.example.test", challenge_type="http"), "wildcard"),
    (dict(certificate_name="www.example.test", san=True, root_domain="example.test"), "apex"),
    (dict(certificate_name="www.exa_mple.test"), "www.exa_mple.test"),
    (dict(certificate_name="www.example.test", root_domain="other.test"), "other.test"),
])
def test_bad_input_fails_before_any_request(httpserver, run_module, v7_args, args, message):
    result = run_module(rcl_order.main, dict(v7_args, **args))
    assert result["failed"] is True
    assert message in result["msg"]
    assert len(httpserver.log) == 0


def test_missing_credentials_fail_before_any_request(httpserver, run_module, v7_args, monkeypatch):
    monkeypatch.delenv("RCL_API_KEY", raising=False)
    args = dict(v7_args)
    del args["api_key"]
    result = run_module(rcl_order.main, dict(args, certificate_name="www.example.test"))
    assert result["failed"] is True
    assert "api_key" in result["msg"]
    assert len(httpserver.log) == 0


def test_options_from_environment(httpserver, run_module, v7_certificate, monkeypatch):
    reply = v7_certificate(days_left=80)
    httpserver.expect_request(v7_path("www.example.test"), headers={"Authorization": "Bearer env-key"}) \
        .respond_with_json(reply_body(reply))
    monkeypatch.setenv("RCL_API_URL", httpserver.url_for("/public"))
    monkeypatch.setenv("RCL_SUBSCRIPTION_ID", SUB)
    monkeypatch.setenv("RCL_API_KEY", "env-key")
    result = run_module(rcl_order.main, dict(certificate_name="www.example.test", retries=0))
    assert result["changed"] is False, result
    assert "env-key" not in run_module.last_stdout


def test_v7_missing_portal_certificate_is_a_clear_error(httpserver, run_module, v7_args):
    httpserver.expect_request(v7_path("new.example.test")).respond_with_data(
        "Certificate not found.", status=404, content_type="text/plain")
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="new.example.test"))
    assert result["failed"] is True
    assert "portal" in result["msg"]
    assert len(httpserver.log) == 1


def test_api_error_quoted_verbatim(httpserver, run_module, v7_args):
    httpserver.expect_request(v7_path("www.example.test")).respond_with_data(
        "Invalid subscription key.", status=401, content_type="text/plain")
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="www.example.test"))
    assert result["failed"] is True
    assert "Invalid subscription key." in result["msg"]
    assert result["http_status"] == 401
    assert API_KEY not in run_module.last_stdout


def test_records_under_a_multi_label_public_suffix(httpserver, run_module):
    """www.shop.co.uk publishes _acme-challenge.www relative to shop.co.uk (Public Suffix List), not co.uk."""
    order = {"orderUri": "https://acme.test/order/1/9", "tokens": [
        {"tokenName": "_acme-challenge.www", "tokenValue": "value-www", "challengeType": "dns",
         "domain": "www.shop.co.uk"}]}
    httpserver.expect_request("/v8/%s/order/create" % SUB, method="POST", json={
        "certificateName": "www.shop.co.uk", "rootDomain": "shop.co.uk", "challengeType": "dns",
        "target": "Stand Alone", "subscriptionId": SUB, "isSAN": False}).respond_with_json(order)
    result = run_module(rcl_order.main, dict(api_version="v8", api_url=httpserver.url_for("/v8"), subscription_id=SUB,
                                             api_key=API_KEY, retries=0, certificate_name="www.shop.co.uk",
                                             challenge_type="dns", force=True))
    assert result["changed"] is True, result
    assert result["challenge_data_dns"] == {"_acme-challenge.www.shop.co.uk": ["value-www"]}
    assert result["challenge_data"][0]["challenges"]["dns-01"]["record"] == "_acme-challenge.www.shop.co.uk"
    httpserver.check_assertions()


def test_v7_names_records_relative_to_the_portal_root_domain(httpserver, run_module, v7_args, v7_certificate):
    reply = v7_certificate(name="www.dev.example.test", days_left=3, root_domain="dev.example.test")
    order = {"status": "pending", "orderUri": "https://acme.test/order/1/8", "validationTokens": [
        {"tokenName": "_acme-challenge.www", "tokenValue": "v", "challengeType": "DNS"}]}
    httpserver.expect_ordered_request(v7_path("www.dev.example.test")).respond_with_json(reply_body(reply))
    httpserver.expect_ordered_request(v7_path("www.dev.example.test", "/order")).respond_with_json(order)
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="www.dev.example.test"))
    assert result["challenge_data_dns"] == {"_acme-challenge.www.dev.example.test": ["v"]}, result


def test_insecure_settings_warn_once(httpserver, run_module, v7_args, v7_certificate):
    reply = v7_certificate(days_left=80)
    httpserver.expect_request(v7_path("www.example.test")).respond_with_json(reply_body(reply))
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="www.example.test", validate_certs=False))
    warnings = [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings", [])]
    assert len([w for w in warnings if "api_url uses plain http" in w]) == 1, warnings
    assert len([w for w in warnings if "validate_certs=false" in w]) == 1, warnings


def test_malformed_api_url_names_the_option(httpserver, run_module, v7_args):
    result = run_module(rcl_order.main, dict(v7_args, certificate_name="www.example.test", api_url="http://[x"))
    assert result["failed"] is True and "api_url" in result["msg"], result["msg"]
    assert "Traceback" not in run_module.last_stdout and len(httpserver.log) == 0


def test_connection_from_the_environment_as_awx_injects_it(httpserver, run_module, v7_certificate, monkeypatch):
    # AWX sets every field of a credential, the empty ones as "": those count as unset.
    reply = v7_certificate(days_left=80)
    httpserver.expect_request(v7_path("www.example.test"), method="GET",
                              headers={"Authorization": "Bearer " + API_KEY}).respond_with_json(reply_body(reply))
    for name, value in (("RCL_API_VERSION", ""), ("RCL_API_URL", httpserver.url_for("/public")),
                        ("RCL_SUBSCRIPTION_ID", SUB), ("RCL_API_KEY", API_KEY), ("RCL_CLIENT_ID", ""),
                        ("RCL_CLIENT_SECRET", ""), ("RCL_TENANT_ID", ""), ("RCL_TOKEN_URL", ""), ("RCL_CA_PATH", "")):
        monkeypatch.setenv(name, value)
    result = run_module(rcl_order.main, dict(certificate_name="www.example.test", retries=0))
    assert result["changed"] is False and result["certificate"]["name"] == "www.example.test", result
    assert len(httpserver.log) == 1
    assert API_KEY not in run_module.last_stdout
