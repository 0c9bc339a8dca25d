# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import contextlib
import socket
import threading
import time
from email.utils import formatdate

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils import _http
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclAuthError,
    RclInputError,
    RclNotFoundError,
    RclResponseError,
    RclTransportError,
    redact_url,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import (
    MAX_DOWNLOAD_BYTES,
    MAX_ERROR_BYTES,
    MAX_JSON_DEPTH,
    MAX_REPLY_BYTES,
    MAX_RETRIES,
    MAX_RETRY_AFTER,
    MAX_TIMEOUT,
    HttpTransport,
    parse_json_body,
    parse_retry_after,
)

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


def test_verify_settings(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    assert HttpTransport(validate_certs=True).verify is True
    assert HttpTransport(validate_certs=False, ca_path="/x.pem").verify is False
    # ca_path must exist now (M5): a real file stands in for /etc/ca.pem
    assert HttpTransport(ca_path=str(ca_file)).verify == str(ca_file)
    assert HttpTransport(ca_path=str(tmp_path)).verify == str(tmp_path)


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


# --- H1: a reply that starts with a byte order mark ---------------------------------------

CERT_REPLY = (
    '{"certificateName": "www.example.com", "password": "PFX-SECRET", '
    '"pfxString": "MIIKPAIBAzCCCfYGCSqGSIb3DQEHAaCCCecEggnjMIIJ3zCCBg", '
    '"certificateDownloadUrl": "https://store.test/c.pfx?sig=S3cr3t"}'
)


class FakeReply:
    """A response-like object for ``parse_json_body``."""

    def __init__(self, content=None, text=None, status_code=200):
        if content is not None:
            self.content = content
        if text is not None:
            self.text = text
        self.status_code = status_code


def test_bom_prefixed_certificate_reply_is_parsed(httpserver, clock):
    httpserver.expect_request("/cert").respond_with_data(
        b"\xef\xbb\xbf" + CERT_REPLY.encode("utf-8"), content_type="application/json; charset=utf-8"
    )
    reply = make(clock).request_json("GET", httpserver.url_for("/cert"))
    assert reply["password"] == "PFX-SECRET" and reply["certificateName"] == "www.example.com"


@pytest.mark.parametrize(
    "reply",
    [
        FakeReply(content=b"\xef\xbb\xbf" + CERT_REPLY.encode("utf-8"), text="\ufeff" + CERT_REPLY),
        FakeReply(text="\ufeff" + CERT_REPLY),  # only a text, decoded without utf-8-sig
        FakeReply(content=CERT_REPLY.encode("utf-16")),  # "utf-16" writes a BOM first
    ],
)
def test_parse_json_body_strips_bom(reply):
    assert parse_json_body(reply, "https://api/x")["password"] == "PFX-SECRET"


@pytest.mark.parametrize(
    "reply",
    [
        FakeReply(content=b'\xef\xbb\xbf{"password":"PFX-SECRET", "pfxString": "MIIKPAIB',
                  text='\ufeff{"password":"PFX-SECRET", "pfxString": "MIIKPAIB'),
        FakeReply(text='\ufeff{"password":"PFX-SECRET", "pfxString": "MIIKPAIB'),
        # the review's reproduction: a text with a BOM and a stand-in content
        FakeReply(content=b"x", text='\ufeff{"password": "PFX-SECRET", "pfxString": "MIIKPAIB..."}'),
        FakeReply(content=b'\xef\xbb\xbf\xef\xbb\xbf{"password":"PFX-SECRET"}'),  # two BOMs
        FakeReply(content=b'\xef\xbb\xbf "password":"PFX-SECRET", "pfxString": "MIIKPAIB'),  # no brace
        FakeReply(content=b'\xef\xbb\xbfpassword="PFX-SECRET"'),  # a quote is enough to stay silent
        FakeReply(content=b'\xef\xbb\xbf\n\n  [{"password": "PFX-SECRET"}, ,]'),
    ],
)
def test_malformed_bom_reply_never_quotes_secrets(reply):
    with pytest.raises(RclResponseError) as exc:
        parse_json_body(reply, "https://api/x")
    text = str(exc.value) + repr(exc.value.to_result())
    assert "not valid JSON" in exc.value.msg
    assert "PFX-SECRET" not in text and "MIIK" not in text and "password" not in text


def test_malformed_json_message_says_where_not_what():
    with pytest.raises(RclResponseError) as exc:
        parse_json_body(FakeReply(content=b'{"a": 1, "password": "PFX-SECRET" "b": 2}'), "https://api/x")
    assert "line 1 column" in exc.value.msg and "PFX-SECRET" not in exc.value.msg


def test_non_json_quote_is_short_and_escaped():
    body = "<html>\x1bc\x07gateway\x00\r\nX-Injected: 1" + "A" * 5000 + "</html>"
    with pytest.raises(RclResponseError) as exc:
        parse_json_body(FakeReply(content=body.encode("utf-8")), "https://api/x")
    msg = exc.value.msg
    assert "<html>\\x1bc\\x07gateway\\x00\\r\\nX-Injected: 1AAA" in msg
    assert not any(c in msg for c in "\x1b\r\n")
    assert len(msg) < len("The reply of https://api/x is not valid JSON (Expecting value: line 1 column 1 (char 0)): ") + 320
    assert "</html>" not in msg


# --- M4: hostile replies -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100000,
        "[" * 100000 + "]" * 100000,
        '{"a":' * 50000 + "1" + "}" * 50000,
        "[" * 200 + "]" * 200,  # valid, but deeper than any reply of the API
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
        '{"certificates": [' + "{\"a\": [" * 40 + "1" + "]}" * 40 + "]}",
    ],
)
def test_deeply_nested_json_is_a_clean_error(body):
    with pytest.raises(RclResponseError) as exc:
        parse_json_body(FakeReply(content=body.encode("ascii")), "https://api/x")
    assert "nested" in exc.value.msg
    assert "[[" not in exc.value.msg and "{" not in exc.value.msg


def test_json_at_max_depth_is_accepted():
    body = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    data = parse_json_body(FakeReply(content=body.encode("ascii")), "https://api/x")
    for _level in range(MAX_JSON_DEPTH - 1):
        data = data[0]
    assert data == []
    assert MAX_JSON_DEPTH == 64


def test_deeply_nested_reply_through_the_transport(httpserver, clock):
    httpserver.expect_request("/deep").respond_with_data("[" * 100000, content_type="application/json")
    with pytest.raises(RclResponseError) as exc:
        make(clock).request_json("GET", httpserver.url_for("/deep"))
    assert "/deep" in exc.value.msg


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "\u0661\u0662", "\u0663", "\uff11", "1\u00b2", "\u2460", "1.5", "-3"])
def test_parse_retry_after_accepts_only_ascii_digits(value):
    assert parse_retry_after(value, 1_700_000_000.0) is None


def test_parse_retry_after_is_capped():
    now = 1_700_000_000.0
    assert parse_retry_after("9" * 400, now) == MAX_RETRY_AFTER
    assert parse_retry_after("1" * 5000, now) == MAX_RETRY_AFTER  # past Python's int-conversion limit
    assert parse_retry_after(str(int(MAX_RETRY_AFTER) + 1), now) == MAX_RETRY_AFTER
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now) == MAX_RETRY_AFTER
    assert parse_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", now) in (None, 0.0)


def test_superscript_retry_after_falls_back_to_backoff(httpserver, clock):
    httpserver.expect_oneshot_request("/r").respond_with_data("busy", status=503, headers={"Retry-After": "\u00b2"})
    httpserver.expect_request("/r").respond_with_json({"ok": 1})
    transport = make(clock, backoff_base=1.0)
    assert transport.request_json("GET", httpserver.url_for("/r")) == {"ok": 1}
    assert len(clock.sleeps) == 1 and 0.5 <= clock.sleeps[0] <= 1.0


# --- L5: size bounds -----------------------------------------------------------------------


def test_reply_larger_than_default_limit_is_refused(httpserver, clock):
    httpserver.expect_request("/big").respond_with_data(b"[" + b"1," * (MAX_REPLY_BYTES // 2) + b"1]")
    with pytest.raises(RclResponseError) as exc:
        make(clock).request_json("GET", httpserver.url_for("/big"))
    assert exc.value.msg == "The reply of %s is larger than %d bytes" % (httpserver.url_for("/big"), MAX_REPLY_BYTES)
    assert MAX_REPLY_BYTES == 4 * 1024 * 1024


def test_reply_at_limit_is_accepted(httpserver, clock):
    httpserver.expect_request("/fits").respond_with_data(b'"' + b"x" * 998 + b'"')
    assert make(clock).request_json("GET", httpserver.url_for("/fits"), max_bytes=1000) == "x" * 998


def test_streamed_reply_without_length_is_cut_at_limit(httpserver, clock):
    sent = []

    def handler(request):
        def body():
            for _index in range(1000):
                sent.append(1)
                yield b"SECRET-PART " * 100

        return Response(body(), content_type="application/json")  # chunked: no Content-Length

    httpserver.expect_request("/stream").respond_with_handler(handler)
    with pytest.raises(RclResponseError) as exc:
        make(clock).request("GET", httpserver.url_for("/stream"), max_bytes=5000)
    assert "larger than 5000 bytes" in exc.value.msg and "SECRET" not in str(exc.value.to_result())


def test_download_has_its_own_bound_and_url_stays_hidden(httpserver, clock):
    secret_url = httpserver.url_for(SECRET_PATH) + "?" + SECRET_QUERY
    httpserver.expect_request(SECRET_PATH).respond_with_data(b"\x30" * (MAX_DOWNLOAD_BYTES + 1))
    transport = make(clock)
    with pytest.raises(RclResponseError) as exc:
        transport.request("GET", secret_url, redact=True)
    text = str(exc.value) + repr(exc.value.to_result())
    assert "larger than %d bytes" % MAX_DOWNLOAD_BYTES in text
    assert "bf0e9b01" not in text and "S3cr3t" not in text
    assert MAX_DOWNLOAD_BYTES == 1024 * 1024
    # max_bytes overrides the bound
    assert len(transport.request("GET", secret_url, redact=True, max_bytes=2 * MAX_DOWNLOAD_BYTES).content) == (
        MAX_DOWNLOAD_BYTES + 1
    )


def test_response_text_and_content_still_work(httpserver, clock):
    httpserver.expect_request("/t").respond_with_data("Gr\u00fc\u00dfe".encode("utf-8"), content_type="text/plain; charset=utf-8")
    transport = make(clock)
    for _attempt in range(3):  # the connection goes back to the pool and is reused
        response = transport.request("GET", httpserver.url_for("/t"))
        assert response.content == "Gr\u00fc\u00dfe".encode("utf-8")
        assert response.text == "Gr\u00fc\u00dfe"


def test_error_body_is_read_bounded(httpserver, clock):
    httpserver.expect_request("/e").respond_with_data("E" * (4 * MAX_ERROR_BYTES), status=400, content_type="text/plain")
    with pytest.raises(RclApiError) as exc:
        make(clock).request("GET", httpserver.url_for("/e"))
    assert exc.value.body == "E" * MAX_ERROR_BYTES
    assert MAX_ERROR_BYTES == 64 * 1024


# --- M6: end-to-end deadlines ---------------------------------------------------------------


@contextlib.contextmanager
def trickle_server(head: bytes, interval: float = 1.0, longest: float = 20.0):
    """A server that sends ``head`` at once and then one byte every ``interval`` seconds (bounded)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(10)
    stop = threading.Event()

    def serve():
        try:
            conn, _addr = server.accept()
        except OSError:
            return
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(65536)
                conn.sendall(head)
                until = time.monotonic() + longest
                while not stop.is_set() and time.monotonic() < until:
                    conn.sendall(b" ")
                    stop.wait(interval)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/trickle" % server.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        server.close()


TRICKLE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


def test_trickling_server_is_bounded_by_timeout():
    transport = HttpTransport(timeout=3, retries=0)
    with trickle_server(TRICKLE_HEAD) as url:
        start = time.monotonic()
        with pytest.raises(RclTransportError) as exc:
            transport.request_json("GET", url)
        elapsed = time.monotonic() - start
    assert "timed out" in exc.value.msg
    assert 2.5 <= elapsed < 6
    assert transport.request_count == 1


def test_trickling_headers_are_bounded_by_timeout():
    # The status line arrives, then one header byte a second: each socket read succeeds in time.
    transport = HttpTransport(timeout=2, retries=0)
    with trickle_server(b"HTTP/1.1 200 OK\r\nX-Slow: ", interval=0.5) as url:
        start = time.monotonic()
        with pytest.raises(RclTransportError) as exc:
            transport.request("GET", url)
        elapsed = time.monotonic() - start
    assert "timed out" in exc.value.msg and elapsed < 4.5, (exc.value.msg, elapsed)
    import signal

    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # the alarm is disarmed afterwards


def test_trickling_chunked_reply_is_bounded_by_timeout():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n"
    transport = HttpTransport(timeout=2, retries=0)
    with trickle_server(head, interval=0.5) as url:
        start = time.monotonic()
        with pytest.raises(RclTransportError) as exc:
            transport.request("GET", url)
        elapsed = time.monotonic() - start
    assert "timed out" in exc.value.msg and elapsed < 4.5


def test_read_timeout_bounds_the_whole_call():
    # V7 finalize: read_timeout (what is left of wait_timeout) replaces timeout, end to end.
    transport = HttpTransport(timeout=30, retries=0)
    with trickle_server(TRICKLE_HEAD, interval=0.5) as url:
        start = time.monotonic()
        with pytest.raises(RclTransportError) as exc:
            transport.request("GET", url, idempotent=False, read_timeout=2)
        elapsed = time.monotonic() - start
    assert "timed out" in exc.value.msg and elapsed < 4.5


def test_huge_read_timeout_does_not_reach_time_functions(httpserver, clock):
    httpserver.expect_request("/fin").respond_with_json({"ok": 1})
    assert make(clock).request_json("GET", httpserver.url_for("/fin"), read_timeout=1e12) == {"ok": 1}


@pytest.mark.parametrize("value", [0, -1, float("nan")])
def test_bad_read_timeout_is_input_error(httpserver, clock, value):
    with pytest.raises(RclInputError) as exc:
        make(clock).request("GET", httpserver.url_for("/fin"), read_timeout=value)
    assert "read_timeout" in exc.value.msg
    assert len(httpserver.log) == 0


def test_retry_attempt_never_runs_past_the_budget(threaded_server, clock):
    # First reply asks for 9 s; the budget is 10 s: the retry gets 1 s, not the 5 s timeout.
    threaded_server.expect_oneshot_request("/slow").respond_with_data("busy", status=503, headers={"Retry-After": "9"})
    threaded_server.expect_request("/slow").respond_with_handler(_slow(3))
    transport = make(clock, timeout=5, retries=3, retry_max_time=10)
    start = time.monotonic()
    with pytest.raises(RclTransportError) as exc:
        transport.request("GET", threaded_server.url_for("/slow"))
    assert time.monotonic() - start < 2.5
    assert "timed out" in exc.value.msg
    assert clock.sleeps == [9.0] and transport.request_count == 2


def test_no_retry_when_too_little_budget_is_left(httpserver, clock):
    httpserver.expect_request("/busy").respond_with_data("busy", status=503, headers={"Retry-After": "9.9"})
    httpserver.expect_oneshot_request("/b2").respond_with_data("busy", status=503, headers={"Retry-After": "10"})
    transport = make(clock, retries=3, retry_max_time=10)
    with pytest.raises(RclApiError):
        transport.request("GET", httpserver.url_for("/b2"))
    assert clock.sleeps == []  # 10 s of waiting would leave no time for the attempt


# --- M5: bad inputs, refused before any request ----------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 0.0, MAX_TIMEOUT + 1, 1e10, float("nan"), float("inf"), "soon", None])
def test_bad_timeout_is_input_error(value):
    with pytest.raises(RclInputError) as exc:
        HttpTransport(timeout=value)
    assert "timeout" in exc.value.msg


def test_timeout_bounds_accepted():
    assert HttpTransport(timeout=MAX_TIMEOUT).timeout == 86400.0
    assert HttpTransport(timeout=0.5).timeout == 0.5


@pytest.mark.parametrize("value", [-1, MAX_RETRIES + 1, 1e10, 2.5, "x", None])
def test_bad_retries_is_input_error(value):
    with pytest.raises(RclInputError) as exc:
        HttpTransport(retries=value)
    assert "retries" in exc.value.msg
    assert MAX_RETRIES == 20


def test_retries_bounds_accepted():
    assert HttpTransport(retries=0).retries == 0
    assert HttpTransport(retries=MAX_RETRIES).retries == 20


@pytest.mark.parametrize("value", [-1, 1e10, float("nan")])
def test_bad_retry_max_time_is_input_error(value):
    with pytest.raises(RclInputError) as exc:
        HttpTransport(retry_max_time=value)
    assert "retry_max_time" in exc.value.msg


def test_missing_ca_path_is_input_error(tmp_path):
    missing = str(tmp_path / "nope" / "ca.pem")
    with pytest.raises(RclInputError) as exc:
        HttpTransport(ca_path=missing)
    assert exc.value.msg == "ca_path %s does not exist" % missing
    assert HttpTransport(ca_path=missing, validate_certs=False).verify is False


def test_dangling_ca_path_link_is_input_error(tmp_path):
    link = tmp_path / "ca.pem"
    link.symlink_to(tmp_path / "gone.pem")
    with pytest.raises(RclInputError) as exc:
        HttpTransport(ca_path=str(link))
    assert exc.value.msg == "ca_path %s does not exist" % link


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer abc\ndef-SECRET7"},
        {"Authorization": "Bearer abc\r\nX-Injected: SECRET7"},
        {"Authorization": " Bearer abcdef-SECRET7"},
    ],
)
def test_invalid_header_value_is_never_echoed(httpserver, clock, headers):
    with pytest.raises(RclTransportError) as exc:
        make(clock).request("GET", httpserver.url_for("/x"), headers=headers)
    text = str(exc.value) + repr(exc.value.to_result())
    assert "SECRET7" not in text and "abc" not in text
    assert "header" in exc.value.msg
    assert len(httpserver.log) == 0


def test_non_latin1_header_is_transport_error(httpserver, clock):
    with pytest.raises(RclTransportError) as exc:
        make(clock).request("GET", httpserver.url_for("/x"), headers={"Authorization": "Bearer k\u20acy-SECRET8"})
    text = str(exc.value) + repr(exc.value.to_result())
    assert "SECRET8" not in text and "\u20ac" not in text
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


@pytest.mark.parametrize("url", ["http://[::1/x", "http://127.0.0.1:99999999/x", "http://exa mple.test:8/x"])
def test_unusable_url_is_transport_error(clock, url):
    with pytest.raises(RclTransportError) as exc:
        make(clock, retries=0).request("GET", url)
    assert "URL" in exc.value.msg or "failed" in exc.value.msg


class _BrokenSession:
    def __init__(self, error):
        self.headers = {}
        self.error = error

    def request(self, *args, **kwargs):
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        UnicodeEncodeError("latin-1", "k\u20acy-SECRET9", 1, 2, "ordinal not in range(256)"),
        ValueError("header SECRET9 is odd"),
        OSError(24, "Too many open files"),
        _http.LocationParseError("SECRET9:xx"),
        RuntimeError("SECRET9"),
    ],
)
def test_non_requests_exceptions_become_transport_errors(clock, error):
    transport = HttpTransport(session=_BrokenSession(error), sleep=clock.sleep, clock=clock)
    with pytest.raises(RclTransportError) as exc:
        transport.request("GET", "https://api.test/x")
    assert "SECRET9" not in str(exc.value) + repr(exc.value.to_result())
    assert "https://api.test/x" in exc.value.msg
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_on_secret_sink():
    transport = HttpTransport()
    transport.on_secret("anything")  # the default sink accepts and ignores
    seen = []
    assert HttpTransport(on_secret=seen.append).on_secret is not None
    HttpTransport(on_secret=seen.append).on_secret("pw")
    assert seen == ["pw"]


def test_absurd_content_length_is_too_large():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
    with trickle_server(head, interval=0.01) as url:
        with pytest.raises(RclResponseError) as exc:
            HttpTransport(timeout=5, retries=0).request("GET", url, max_bytes=50)
    assert "larger than 50 bytes" in exc.value.msg


def test_trickling_error_body_is_cut_at_the_deadline():
    head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\nBusy"
    transport = HttpTransport(timeout=2, retries=0)
    with trickle_server(head, interval=0.5) as url:
        start = time.monotonic()
        with pytest.raises(RclApiError) as exc:
            transport.request("GET", url)
        elapsed = time.monotonic() - start
    assert exc.value.status == 503 and elapsed < 4.5
    assert exc.value.body == "Busy"  # what arrived before the deadline


def test_redirect_is_followed_and_its_body_read_bounded(httpserver, clock):
    httpserver.expect_request("/a").respond_with_data("moved " * 50000, status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_json({"ok": 1})
    transport = make(clock)
    response = transport.request("GET", httpserver.url_for("/a"))
    assert response.json() == {"ok": 1}
    assert [hop.status_code for hop in response.history] == [302]
    assert len(response.history[0].content) <= MAX_ERROR_BYTES
