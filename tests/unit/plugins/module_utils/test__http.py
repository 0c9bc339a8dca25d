# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import socket
import time
from email.utils import formatdate

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils import _http
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclAuthError,
    RclNotFoundError,
    RclResponseError,
    RclTransportError,
    redact_url,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport, parse_retry_after

SECRET_QUERY = "sv=2023&sig=S3cr3tSignature%3D"
SECRET_PATH = "/container/bf0e9b01-a0cc-4a0e-b232-75265afd2c1d.pfx"


from ...conftest import FakeClock  # noqa: E402  pylint: disable=wrong-import-position


def make(clock: FakeClock, **kwargs) -> HttpTransport:
    kwargs.setdefault("timeout", 5)
    return HttpTransport(sleep=clock.sleep, clock=clock, **kwargs)


def closed_port_url(path: str = "/x") -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d%s" % (port, path)


@pytest.fixture
def threaded_server():
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_import_guard_constants():
    assert _http.HAS_REQUESTS is True
    assert _http.REQUESTS_IMPORT_ERROR is None
    assert _http.REQUESTS_MIN_VERSION == "2.20"


def test_get_success_sends_user_agent_and_counts(httpserver, clock):
    httpserver.expect_request("/ok", method="GET", headers={"User-Agent": "rcl.ssl"}).respond_with_json({"a": 1})
    transport = make(clock)
    assert transport.request_json("GET", httpserver.url_for("/ok")) == {"a": 1}
    assert transport.request_count == 1
    assert clock.sleeps == []
    httpserver.check_assertions()


@pytest.mark.parametrize(
    "status, cls",
    [(400, RclApiError), (401, RclAuthError), (404, RclNotFoundError), (409, RclApiError)],
)
def test_error_status_maps_and_keeps_text_body(httpserver, clock, status, cls):
    httpserver.expect_request("/e").respond_with_data(
        "Certificate name is not defined.", status=status, content_type="text/plain"
    )
    transport = make(clock)
    with pytest.raises(cls) as exc:
        transport.request("GET", httpserver.url_for("/e"))
    assert exc.type is cls
    assert exc.value.status == status
    assert exc.value.body == "Certificate name is not defined."
    assert exc.value.msg.endswith(": Certificate name is not defined.")
    result = exc.value.to_result()
    assert result["http_status"] == status and result["api_message"] == "Certificate name is not defined."
    assert transport.request_count == 1  # 4xx is never retried


def test_get_retries_5xx_then_succeeds_with_backoff(httpserver, clock):
    url = httpserver.url_for("/flaky")
    httpserver.expect_oneshot_request("/flaky").respond_with_data("busy", status=503)
    httpserver.expect_oneshot_request("/flaky").respond_with_data("busy", status=502)
    httpserver.expect_request("/flaky").respond_with_json({"ok": True})
    transport = make(clock, backoff_base=1.0)
    assert transport.request_json("GET", url) == {"ok": True}
    assert transport.request_count == 3
    assert len(clock.sleeps) == 2
    # exponential with jitter: attempt n waits within [base*2^(n-1)/2, base*2^(n-1)]
    assert 0.5 <= clock.sleeps[0] <= 1.0
    assert 1.0 <= clock.sleeps[1] <= 2.0


def test_retry_after_seconds_is_honoured(httpserver, clock):
    httpserver.expect_oneshot_request("/r").respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    httpserver.expect_request("/r").respond_with_data("", status=200)
    transport = make(clock)
    assert transport.request_json("GET", httpserver.url_for("/r")) is None
    assert clock.sleeps == [7.0]


def test_retry_after_http_date_is_honoured(httpserver, clock):
    when = formatdate(time.time() + 30, usegmt=True)
    httpserver.expect_oneshot_request("/d").respond_with_data("later", status=503, headers={"Retry-After": when})
    httpserver.expect_request("/d").respond_with_json([])
    transport = make(clock)
    assert transport.request_json("GET", httpserver.url_for("/d")) == []
    assert len(clock.sleeps) == 1 and 27 <= clock.sleeps[0] <= 31


def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(formatdate(now + 45, usegmt=True), now) == pytest.approx(45, abs=1)
    assert parse_retry_after(formatdate(now - 45, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_retry_budget_is_bounded(httpserver, clock):
    httpserver.expect_request("/down").respond_with_data("down", status=503, headers={"Retry-After": "4"})
    transport = make(clock, retries=10, retry_max_time=10)
    with pytest.raises(RclApiError) as exc:
        transport.request("GET", httpserver.url_for("/down"))
    assert exc.value.status == 503
    # 4 + 4 = 8 fits in 10 s; a third wait would end at 12 s: stop instead.
    assert clock.sleeps == [4.0, 4.0]
    assert transport.request_count == 3


def test_retry_after_beyond_budget_stops_at_once(httpserver, clock):
    httpserver.expect_request("/x").respond_with_data("quota", status=429, headers={"Retry-After": "3600"})
    transport = make(clock, retry_max_time=120)
    with pytest.raises(RclApiError) as exc:
        transport.request("GET", httpserver.url_for("/x"))
    assert exc.value.status == 429 and exc.value.body == "quota"
    assert clock.sleeps == [] and transport.request_count == 1


def test_retries_zero_means_one_attempt(httpserver, clock):
    httpserver.expect_request("/z").respond_with_data("oops", status=500)
    transport = make(clock, retries=0)
    with pytest.raises(RclApiError):
        transport.request("GET", httpserver.url_for("/z"))
    assert transport.request_count == 1


def test_retries_count_is_respected(httpserver, clock):
    httpserver.expect_request("/z").respond_with_data("oops", status=500)
    transport = make(clock, retries=2, backoff_base=0.01)
    with pytest.raises(RclApiError):
        transport.request("DELETE", httpserver.url_for("/z"))
    assert transport.request_count == 3 and len(clock.sleeps) == 2


def test_post_is_not_retried_on_5xx(httpserver, clock):
    httpserver.expect_request("/create", method="POST").respond_with_data("boom", status=500)
    transport = make(clock)
    with pytest.raises(RclApiError) as exc:
        transport.request("POST", httpserver.url_for("/create"), json={"a": 1})
    assert exc.value.status == 500 and exc.value.body == "boom"
    assert transport.request_count == 1 and clock.sleeps == []
    assert len(httpserver.log) == 1


def test_non_idempotent_get_is_not_retried_on_5xx(httpserver, clock):
    httpserver.expect_request("/order").respond_with_data("boom", status=503)
    transport = make(clock)
    with pytest.raises(RclApiError):
        transport.request("GET", httpserver.url_for("/order"), idempotent=False)
    assert len(httpserver.log) == 1


def test_post_marked_idempotent_is_retried(httpserver, clock):
    httpserver.expect_oneshot_request("/read", method="POST").respond_with_data("x", status=500)
    httpserver.expect_request("/read", method="POST").respond_with_json({"ok": 1})
    transport = make(clock)
    assert transport.request_json("POST", httpserver.url_for("/read"), json={}, idempotent=True) == {"ok": 1}
    assert len(httpserver.log) == 2


def test_post_is_retried_on_429(httpserver, clock):
    httpserver.expect_oneshot_request("/create", method="POST").respond_with_data(
        "Rate limit", status=429, headers={"Retry-After": "2"}
    )
    httpserver.expect_request("/create", method="POST").respond_with_json({"orderUri": "u"})
    transport = make(clock)
    assert transport.request_json("POST", httpserver.url_for("/create"), json={}) == {"orderUri": "u"}
    assert clock.sleeps == [2.0] and len(httpserver.log) == 2


def _slow(seconds: float):
    def handler(request):
        time.sleep(seconds)
        return Response("{}", content_type="application/json")

    return handler


def test_post_is_not_retried_on_read_timeout(threaded_server, clock):
    threaded_server.expect_request("/create", method="POST").respond_with_handler(_slow(0.6))
    transport = make(clock, timeout=0.15)
    with pytest.raises(RclTransportError) as exc:
        transport.request("POST", threaded_server.url_for("/create"), json={})
    assert "timed out" in exc.value.msg
    assert transport.request_count == 1 and clock.sleeps == []


def test_get_is_retried_on_read_timeout(threaded_server, clock):
    threaded_server.expect_oneshot_request("/slow").respond_with_handler(_slow(0.6))
    threaded_server.expect_request("/slow").respond_with_json({"ok": True})
    transport = make(clock, timeout=0.15)
    assert transport.request_json("GET", threaded_server.url_for("/slow")) == {"ok": True}
    assert transport.request_count == 2 and len(clock.sleeps) == 1


def test_refused_connection_is_retried_even_for_post(clock):
    # Nothing reached the server: repeating cannot create a second order.
    transport = make(clock, retries=2, backoff_base=0.5)
    with pytest.raises(RclTransportError) as exc:
        transport.request("POST", closed_port_url(), json={})
    assert transport.request_count == 3
    assert len(clock.sleeps) == 2
    assert "failed" in exc.value.msg and "refused" in exc.value.msg.lower()


def test_refused_connection_respects_budget(clock):
    transport = make(clock, retries=5, backoff_base=40, retry_max_time=50)
    with pytest.raises(RclTransportError):
        transport.request("GET", closed_port_url())
    assert sum(clock.sleeps) <= 50
    assert transport.request_count == len(clock.sleeps) + 1 < 6


def test_dropped_connection_after_send_is_not_retried_for_post(clock):
    # A server that reads the request and closes without answering: it may have acted.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(5)
    port = server.getsockname()[1]
    import threading

    def serve():
        try:
            conn, _addr = server.accept()
            conn.recv(65536)
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    transport = make(clock)
    try:
        with pytest.raises(RclTransportError):
            transport.request("POST", "http://127.0.0.1:%d/create" % port, json={"x": 1})
    finally:
        thread.join(5)
        server.close()
    assert transport.request_count == 1 and clock.sleeps == []


def test_tls_error_is_transport_error_without_retry(httpserver, clock):
    # Speaking TLS to a plain HTTP server fails the handshake.
    url = httpserver.url_for("/tls").replace("http://", "https://")
    transport = make(clock)
    with pytest.raises(RclTransportError) as exc:
        transport.request("GET", url)
    assert "TLS" in exc.value.msg
    assert transport.request_count == 1


def test_verify_settings():
    assert HttpTransport(validate_certs=True).verify is True
    assert HttpTransport(validate_certs=False, ca_path="/x.pem").verify is False
    assert HttpTransport(ca_path="/etc/ca.pem").verify == "/etc/ca.pem"


def test_error_url_keeps_query_for_api_endpoints(httpserver, clock):
    httpserver.expect_request("/fin").respond_with_data("Order not ready.", status=400)
    transport = make(clock)
    with pytest.raises(RclApiError) as exc:
        transport.request("GET", httpserver.url_for("/fin"), params={"orderuri": "https://acme.test/o/1"})
    assert "/fin?orderuri=https%3A%2F%2Facme.test%2Fo%2F1" in exc.value.url
    assert exc.value.body == "Order not ready."


def test_redacted_download_url_never_shown(httpserver, clock):
    secret_url = httpserver.url_for(SECRET_PATH) + "?" + SECRET_QUERY
    httpserver.expect_request(SECRET_PATH).respond_with_data(
        "AuthenticationFailed for %s" % secret_url, status=403, content_type="text/plain"
    )
    transport = make(clock)
    with pytest.raises(RclApiError) as exc:
        transport.request("GET", secret_url, redact=True)
    text = str(exc.value) + repr(exc.value.to_result())
    assert "bf0e9b01" not in text and "S3cr3t" not in text and "sig=" not in text
    assert exc.value.url == "http://%s:%d/<redacted>" % (httpserver.host, httpserver.port)
    assert "AuthenticationFailed" in exc.value.body


def test_redacted_url_not_in_transport_error(clock):
    url = closed_port_url(SECRET_PATH) + "?" + SECRET_QUERY
    transport = make(clock, retries=0)
    with pytest.raises(RclTransportError) as exc:
        transport.request("GET", url, redact=True)
    text = str(exc.value) + repr(exc.value.to_result())
    assert "bf0e9b01" not in text and "S3cr3t" not in text
    assert "<redacted>" in text


def test_redact_url_hide_path():
    assert redact_url("https://u:p@store.test/a/b.pfx?sig=x", hide_path=True) == "https://store.test/<redacted>"
    assert redact_url("https://store.test/a/b.pfx?sig=x") == "https://store.test/a/b.pfx?<redacted>"


def test_request_json_malformed_body_is_quoted(httpserver, clock):
    httpserver.expect_request("/bad").respond_with_data("<html>gateway</html>", status=200)
    transport = make(clock)
    with pytest.raises(RclResponseError) as exc:
        transport.request_json("GET", httpserver.url_for("/bad"))
    assert "not valid JSON" in exc.value.msg and "<html>gateway</html>" in exc.value.msg


def test_request_json_malformed_body_not_echoed_when_redacted(httpserver, clock):
    httpserver.expect_request("/bad").respond_with_data("password=hunter2", status=200)
    transport = make(clock)
    with pytest.raises(RclResponseError) as exc:
        transport.request_json("GET", httpserver.url_for("/bad"), redact=True)
    assert "hunter2" not in str(exc.value) and "/bad" not in str(exc.value)


def test_request_json_truncated_json_is_not_echoed(httpserver, clock):
    # A certificate reply cut in half: the part that arrived holds the PFX password.
    body = '{"certificateName": "www.example.com", "password": "hunter2", "pfxString": "MIIKdAIBAzCC'
    httpserver.expect_request("/cut").respond_with_data(body, status=200, content_type="application/json")
    with pytest.raises(RclResponseError) as exc:
        make(clock).request_json("GET", httpserver.url_for("/cut"))
    text = str(exc.value) + repr(exc.value.to_result())
    assert "not valid JSON" in text and "/cut" in text
    assert "hunter2" not in text and "MIIK" not in text


def test_request_json_empty_200_is_none(httpserver, clock):
    httpserver.expect_request("/empty", method="POST").respond_with_data("", status=200)
    assert make(clock).request_json("POST", httpserver.url_for("/empty"), json={}) is None


def test_headers_and_form_data_are_sent(httpserver, clock):
    httpserver.expect_request(
        "/form", method="POST", headers={"Authorization": "Bearer abc"}, data="a=1&b=two"
    ).respond_with_json({})
    make(clock).request_json("POST", httpserver.url_for("/form"), headers={"Authorization": "Bearer abc"}, data={"a": "1", "b": "two"})
    httpserver.check_assertions()
    assert len(httpserver.log) == 1
