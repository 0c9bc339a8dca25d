# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.rcl.ssl.plugins.modules import rcl_finalize, rcl_order_info

from .conftest import reply_body, secrets_of, v7_path

ORDER_URI = "https://acme.test/order/116443104/10568102114"


def _args(v7_args, **more):
    return dict(v7_args, certificate_name="www.example.test", order_uri=ORDER_URI, **more)


def test_finalize_issues_once(httpserver, run_module, v7_args, v7_certificate):
    old = v7_certificate(days_left=5, order_uri="https://acme.test/order/1/old")
    new = v7_certificate(days_left=90, order_uri=ORDER_URI)
    httpserver.expect_ordered_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(old))
    httpserver.expect_ordered_request(v7_path("www.example.test", "/finalize"), method="GET",
                                      query_string={"orderuri": ORDER_URI}).respond_with_json(reply_body(new))
    result = run_module(rcl_finalize.main, _args(v7_args))
    assert result["changed"] is True
    assert result["status"] == "valid"
    assert result["certificate"]["days_remaining"] >= 89
    assert len(httpserver.log) == 2
    httpserver.check_assertions()
    for secret in secrets_of(new) + secrets_of(old):
        assert secret not in run_module.last_stdout


def test_already_finalized_order_is_left_alone(httpserver, run_module, v7_args, v7_certificate):
    done = v7_certificate(days_left=90, order_uri=ORDER_URI)
    httpserver.expect_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(done))
    result = run_module(rcl_finalize.main, _args(v7_args))
    assert result["changed"] is False
    assert [entry[0].path for entry in httpserver.log] == [v7_path("www.example.test")]


def test_check_mode_only_reads(httpserver, run_module, v7_args, v7_certificate):
    old = v7_certificate(days_left=5, order_uri="https://acme.test/order/1/old")
    httpserver.expect_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(old))
    result = run_module(rcl_finalize.main, _args(v7_args), check_mode=True)
    assert result["changed"] is True
    assert [entry[0].path for entry in httpserver.log] == [v7_path("www.example.test")]


def test_validation_failure_quotes_the_api(httpserver, run_module, v7_args, v7_certificate):
    old = v7_certificate(days_left=5, order_uri="https://acme.test/order/1/old")
    httpserver.expect_ordered_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(old))
    httpserver.expect_ordered_request(v7_path("www.example.test", "/finalize")).respond_with_data(
        "DNS challenge for www.example.test failed: incorrect TXT record", status=400, content_type="text/plain")
    result = run_module(rcl_finalize.main, _args(v7_args))
    assert result["failed"] is True
    assert "DNS challenge for www.example.test failed: incorrect TXT record" in result["msg"]
    assert result["api_message"] == "DNS challenge for www.example.test failed: incorrect TXT record"
    assert len(httpserver.log) == 2  # finalize is not retried


def test_v6_needs_challenge_type_before_any_request(httpserver, run_module):
    result = run_module(rcl_finalize.main, dict(
        api_version="v6", api_url=httpserver.url_for("/v6"), subscription_id="s", client_id="c", client_secret="x",
        token_url=httpserver.url_for("/token"), certificate_name="www.example.test", root_domain="example.test",
        order_uri=ORDER_URI))
    assert result["failed"] is True
    assert "challenge_type" in result["msg"]
    assert len(httpserver.log) == 0


def test_bad_order_uri_fails_before_any_request(httpserver, run_module, v7_args):
    result = run_module(rcl_finalize.main, dict(v7_args, certificate_name="www.example.test", order_uri="nope"))
    assert result["failed"] is True
    assert "order_uri" in result["msg"]
    assert len(httpserver.log) == 0


def test_order_info_certificate_and_absence(httpserver, run_module, v7_args, v7_certificate):
    reply = v7_certificate(days_left=42)
    httpserver.expect_request(v7_path("www.example.test")).respond_with_json(reply_body(reply))
    httpserver.expect_request(v7_path("gone.example.test")).respond_with_data("Not found", status=404)
    found = run_module(rcl_order_info.main, dict(v7_args, certificate_name="www.example.test"), check_mode=True)
    assert found["changed"] is False
    assert found["exists"] is True
    assert found["certificate"]["fingerprint_sha256"].count(":") == 31
    for secret in secrets_of(reply):
        assert secret not in run_module.last_stdout
    missing = run_module(rcl_order_info.main, dict(v7_args, certificate_name="gone.example.test"))
    assert missing["exists"] is False
    assert "certificate" not in missing


def test_order_info_v7_has_no_order_read(httpserver, run_module, v7_args):
    result = run_module(rcl_order_info.main, dict(v7_args, order_uri=ORDER_URI))
    assert result["failed"] is True
    assert "v6" in result["msg"].lower()
    assert len(httpserver.log) == 0


def _slow_finalize(httpserver, v7_certificate, seconds):
    import json
    import time

    from werkzeug import Response

    old = v7_certificate(days_left=5, order_uri="https://acme.test/order/1/old")
    new = v7_certificate(days_left=90, order_uri=ORDER_URI)

    def handler(request):
        time.sleep(seconds)
        return Response(json.dumps(reply_body(new)), content_type="application/json")

    httpserver.expect_ordered_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(old))
    httpserver.expect_ordered_request(v7_path("www.example.test", "/finalize")).respond_with_handler(handler)


def test_v7_finalize_reply_may_take_longer_than_timeout_within_wait_timeout(
        httpserver, run_module, v7_args, v7_certificate):
    _slow_finalize(httpserver, v7_certificate, 1.5)
    result = run_module(rcl_finalize.main, _args(v7_args, timeout=1, wait_timeout=10))
    assert result["changed"] is True, result
    assert result["status"] == "valid"


def test_v7_finalize_never_waits_past_wait_timeout(httpserver, run_module, v7_args, v7_certificate):
    import time

    _slow_finalize(httpserver, v7_certificate, 3)
    start = time.monotonic()
    result = run_module(rcl_finalize.main, _args(v7_args, timeout=30, wait_timeout=1))
    assert time.monotonic() - start < 2.9
    assert result["failed"] is True
    assert "timed out" in result["msg"].lower()
    # The server is still answering the finalize we gave up on: let it finish, so that its
    # request does not land in the next test's log, and check it was sent only once.
    deadline = time.monotonic() + 10
    while len(httpserver.log) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [entry[0].path for entry in httpserver.log] == [v7_path("www.example.test"),
                                                           v7_path("www.example.test", "/finalize")]
