# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_api/certifire: Certifire's "ACME Orders" unit (PROVIDERS.md section 1) against a local HTTP server.

The input checks are pure; the flow runs on the real ``HttpTransport`` against ``httpserver`` with the
fake ``clock`` (waits and retry back-offs sleep on it). Replies are built from PROVIDERS.md's models,
the certificate material by the ``pki`` fixture.
"""

from __future__ import annotations

import base64
import json
import socket
import typing as t

import pytest
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate
from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate, Waiter
from ansible_collections.rcl.ssl.plugins.module_utils._api.certifire import CertifireService
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclAuthError,
    RclCertificateError,
    RclError,
    RclInputError,
    RclOrderInvalidError,
    RclTimeoutError,
    RclTransportError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

from ...conftest import FakeClock

NAME = "www.example.com"
EMAIL = "ops@example.com"
USER = "admin"
PASSWORD = "Cf-Pa55word!not-to-be-seen"
BASIC = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
ACCOUNT = 7
ORDER = 42
CERT_ID = 9
ORDER_PATH = "/api/order/%d" % ORDER

WERKZEUG_400 = (
    "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n"
    "<p>The browser (or proxy) sent a request that this server could not understand.</p>\n"
)


def options(**extra: t.Any) -> dict[str, t.Any]:
    base: dict[str, t.Any] = dict(acme_account_email=EMAIL, acme_server=None, certifire_provider=None,
                                  force_reissue=None, product_code=None, state_dir=None)
    base.update(extra)
    return base


def request(**extra: t.Any):
    return CertifireService.request(NAME, None, options(**extra))


def make_unit(url: str, clock: FakeClock, retries: int = 0, secrets: list[str] | None = None) -> CertifireService:
    transport = HttpTransport(timeout=5, retries=retries, sleep=clock.sleep, clock=clock)
    sink = secrets.append if secrets is not None else None
    return CertifireService(transport, url, dict(api_username=USER, api_password=PASSWORD), on_secret=sink)


@pytest.fixture
def unit(httpserver, clock) -> CertifireService:
    return make_unit(httpserver.url_for("/"), clock)


def calls(httpserver) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r, _response in httpserver.log]


def order_reply(status: str = "valid", resolved: t.Any = CERT_ID, acme_status: str = "valid",
                error: t.Any = None) -> dict[str, t.Any]:
    """``GET /api/order/<id>``: every key present, the secret ``key`` included (as the service sends it)."""
    contents: dict[str, t.Any] = {"status": acme_status, "identifiers": [{"type": "dns", "value": NAME}],
                                  "authorizations": [], "finalize": "https://ca.test/finalize/1"}
    if error is not None:
        contents["error"] = error
    return {"id": ORDER, "hash": "ab" * 32, "uri": "https://ca.test/acme/order/1/2", "contents": contents,
            "type": "dns", "provider": "route53", "domains": [NAME], "account_id": ACCOUNT, "user_id": 1,
            "status": status, "resolved_cert_id": resolved, "key": "-----BEGIN RSA PRIVATE KEY-----\nsecret",
            "csr": None, "organization": None, "organizational_unit": None, "country": None, "state": None,
            "location": None}


def certificate_item(material: t.Any, cert_id: int = CERT_ID, key: t.Any = None, fingerprint: str | None = None,
                     status: str = "valid", order_id: int = ORDER) -> dict[str, t.Any]:
    """``GET /api/certificate/<id>``: leaf, the first intermediate, leaf + intermediate, a PKCS#1 key."""
    leaf_pem = material.pem(material.leaf).decode()
    inter_pem = material.pem(material.intermediates[0]).decode()
    return {
        "id": cert_id, "order_id": order_id, "user_id": 1, "status": status, "body": leaf_pem,
        "intermediate": inter_pem, "chain": leaf_pem + inter_pem,
        "key": (key if key is not None else material.key_pem()).decode(), "csr": None,
        "expiry": _certificate.not_after(material.leaf).strftime("%Y-%m-%d"),
        "fingerprint": fingerprint if fingerprint is not None else _certificate.fingerprint_sha256(material.leaf),
    }


def waiter(clock: FakeClock, timeout: float = 60) -> Waiter:
    return Waiter(timeout, 2.0, sleep=clock.sleep, monotonic=clock)


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d/" % port


# ---------------------------------------------------------------------------
# request(): the inputs, checked without a request


def test_request_keeps_the_documented_options():
    req = request()
    assert req.certificate_name == NAME and req.names == [NAME] and req.challenge_type is None
    assert req.options == dict(acme_account_email=EMAIL, certifire_provider="route53")


def test_request_strips_the_email_and_reads_no_email_when_not_ordering():
    assert request(acme_account_email="  ops@example.com ").options["acme_account_email"] == EMAIL
    req = CertifireService.request(NAME, None, options(acme_account_email=None), ordering=False)
    assert "acme_account_email" not in req.options


def test_request_needs_the_email_to_order():
    with pytest.raises(RclInputError, match="service=certifire needs acme_account_email"):
        request(acme_account_email=None)


@pytest.mark.parametrize("email", ["ops.example.com", "ops@@example.com", "a@b@example.com", "ops @example.com",
                                   "ops@example.com\nBcc: x@y", "o" * 250 + "@example.com"])
def test_request_refuses_what_is_not_one_email(email):
    with pytest.raises(RclInputError, match="acme_account_email must be one e-mail address"):
        request(acme_account_email=email)


@pytest.mark.parametrize("server, expected", [
    ("https://acme-staging-v02.api.letsencrypt.org/", "https://acme-staging-v02.api.letsencrypt.org/"),
    ("https://pebble.test:14000", "https://pebble.test:14000/"),
    ("https://ca.test/acme", "https://ca.test/acme/"),  # urljoin(server, "directory") would drop "acme"
])
def test_request_gives_acme_server_its_trailing_slash(server, expected):
    assert request(acme_server=server).options["acme_server"] == expected


@pytest.mark.parametrize("server", ["ftp://ca.test/", "ca.test", "https://"])
def test_request_refuses_an_acme_server_that_is_no_http_url(server):
    with pytest.raises(RclInputError, match="acme_server"):
        request(acme_server=server)


def test_request_takes_a_provider_word():
    assert request(certifire_provider=" cloudflare ").options["certifire_provider"] == "cloudflare"


@pytest.mark.parametrize("provider", ["route 53", "x" * 65, "route\t53", " "])
def test_request_refuses_a_provider_that_is_not_one_word(provider):
    with pytest.raises(RclInputError, match="certifire_provider must be one word"):
        request(certifire_provider=provider)


def test_request_refuses_the_options_of_other_services_and_a_challenge_type():
    with pytest.raises(RclInputError, match=r"product_code is not used by service=certifire"):
        request(product_code="RapidSSL-12")
    with pytest.raises(RclInputError, match="validates the names itself"):
        CertifireService.request(NAME, "dns", options())
    # The state options may come from the environment for every service: harmless here.
    assert "state_dir" not in request(state_dir="/tmp/state").options


def test_request_refuses_a_bad_certificate_name():
    with pytest.raises(RclInputError, match="certificate_name"):
        CertifireService.request("not a name", None, options())


def test_the_unit_refuses_unusable_credentials(clock):
    transport = HttpTransport(timeout=5, retries=0, sleep=clock.sleep, clock=clock)
    with pytest.raises(RclInputError, match="api_username cannot contain ':'"):
        CertifireService(transport, "https://certifire.test", dict(api_username="a:b", api_password="x"))
    with pytest.raises(RclInputError, match="api_username and api_password are both required"):
        CertifireService(transport, "https://certifire.test", dict(api_username="admin", api_password=""))


def test_check_connection_needs_the_url_and_both_credentials():
    with pytest.raises(RclInputError, match="service=certifire needs api_url, api_username, api_password"):
        CertifireService.check_connection({})
    CertifireService.check_connection(dict(api_url="https://certifire.test", api_username="u", api_password="p"))


# ---------------------------------------------------------------------------
# order(): the documented body, never repeated


def serve_account(httpserver, account: int = ACCOUNT, status: int = 201) -> None:
    httpserver.expect_request("/api/acme", method="POST").respond_with_json(
        {"status": "New account created", "id": account}, status=status)


def test_order_posts_exactly_the_documented_body(httpserver, unit):
    serve_account(httpserver)
    httpserver.expect_request("/api/order", method="POST").respond_with_json(
        {"status": "New order created, Please wait some time before acessing the order", "id": ORDER}, status=201)
    req = request(acme_server="https://ca.test/acme")
    order = unit.order(req, None, force=False, due=True)
    assert calls(httpserver) == [("POST", "/api/acme"), ("POST", "/api/order")]
    account_request, order_request = [r for r, _response in httpserver.log]
    assert json.loads(account_request.get_data()) == {"email": EMAIL, "server": "https://ca.test/acme/"}
    assert json.loads(order_request.get_data()) == {"domains": [NAME], "account": ACCOUNT, "type": "dns",
                                                    "provider": "route53"}
    for sent in (account_request, order_request):
        assert sent.headers["Authorization"] == "Basic " + BASIC
        assert sent.headers["Content-Type"] == "application/json"
    assert order.order_uri == httpserver.url_for(ORDER_PATH)  # no certificate replaced: no fragment
    assert order.status == "processing" and order.details == dict(order_id=ORDER, account_id=ACCOUNT)
    assert order.service_status.startswith("New order created")


def test_order_sends_no_server_when_none_is_given_and_takes_an_existing_order(httpserver, unit):
    serve_account(httpserver, status=200)
    httpserver.expect_request("/api/order", method="POST").respond_with_json(
        {"status": "Order already exists", "id": ORDER}, status=200)
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply())
    current = Certificate(NAME, id=CERT_ID, order_uri="http://elsewhere.test/api/order/%d" % ORDER)
    order = unit.order(request(), current, force=False, due=True)
    account_request = httpserver.log[0][0]
    assert json.loads(account_request.get_data()) == {"email": EMAIL}
    # An existing order is read (is its certificate revoked?); a valid one is not reissued.
    assert calls(httpserver) == [("POST", "/api/acme"), ("POST", "/api/order"), ("GET", ORDER_PATH)]
    assert "reissue" not in order.details
    # The certificate it replaces goes into the fragment: an unchanged resolved_cert_id is not the new one.
    assert order.order_uri == httpserver.url_for(ORDER_PATH) + "#after=%d" % CERT_ID


def test_order_never_retries_the_post_of_an_order(httpserver, clock):
    unit = make_unit(httpserver.url_for("/"), clock, retries=3)
    serve_account(httpserver)
    httpserver.expect_request("/api/order", method="POST").respond_with_data("busy", status=503)
    with pytest.raises(RclApiError) as caught:
        unit.order(request(), None, force=False, due=True)
    assert caught.value.status == 503
    assert calls(httpserver).count(("POST", "/api/order")) == 1
    assert clock.sleeps == []


def test_a_read_is_retried(httpserver, clock):
    unit = make_unit(httpserver.url_for("/"), clock, retries=3)
    httpserver.expect_oneshot_request(ORDER_PATH, method="GET").respond_with_data("busy", status=503)
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply(status="Pending",
                                                                                      resolved=None))
    order = unit.read(httpserver.url_for(ORDER_PATH), None)
    assert order.status == "processing" and order.service_status == "Pending"
    assert calls(httpserver) == [("GET", ORDER_PATH)] * 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize("provider", ["cloudflare", "route53"])
def test_order_id_0_is_a_refused_provider(httpserver, unit, provider):
    serve_account(httpserver)
    httpserver.expect_request("/api/order", method="POST").respond_with_json({"status": "OK", "id": 0})
    with pytest.raises(RclInputError) as caught:
        unit.order(request(certifire_provider=provider), None, force=False, due=True)
    assert "refused the DNS provider '%s'" % provider in caught.value.msg
    assert caught.value.details["service"] == "certifire"


@pytest.mark.parametrize("reply", [{"status": "x"}, {"id": "42"}, {"id": True}, {"id": -1}])
def test_order_without_an_order_id_fails(httpserver, unit, reply):
    serve_account(httpserver)
    httpserver.expect_request("/api/order", method="POST").respond_with_json(reply)
    with pytest.raises(RclError, match="did not return an order id"):
        unit.order(request(), None, force=False, due=True)


def test_order_without_an_account_id_fails_before_ordering(httpserver, unit):
    serve_account(httpserver, account=0)
    with pytest.raises(RclError, match="did not return an ACME account id for ops@example.com"):
        unit.order(request(), None, force=False, due=True)
    assert calls(httpserver) == [("POST", "/api/acme")]


def test_copy_only_with_force_and_reissue_for_a_certificate_that_is_not_due(httpserver, unit):
    httpserver.expect_request(ORDER_PATH, method="COPY").respond_with_json({"status": "Reordering", "id": ORDER})
    current = Certificate(NAME, id=CERT_ID, order_uri=httpserver.url_for(ORDER_PATH))
    order = unit.order(request(certifire_reissue=True), current, force=True, due=False)
    assert calls(httpserver) == [("COPY", ORDER_PATH)]
    assert httpserver.log[0][0].get_data() == b""  # no body
    assert order.order_uri == httpserver.url_for(ORDER_PATH) + "#after=%d" % CERT_ID
    assert order.status == "processing" and order.service_status == "Reordering"
    assert order.details == dict(order_id=ORDER, reissue=True)
    assert len(unit.warnings) == 1
    assert "revokes the live certificate %d of %s" % (CERT_ID, NAME) in unit.warnings[0]


@pytest.mark.parametrize("force, due, current, reissue", [
    (False, True, True, True),  # due: re-post the identical order (no revocation), even when reissue is allowed
    (True, True, True, True),  # forced but due anyway: re-post
    (True, False, False, True),  # forced, nothing held: a new order
    (True, False, True, False),  # forced, not due, but no certifire_reissue: re-post, nothing revoked
    (False, False, True, True),  # certifire_reissue without force: never a COPY
])
def test_no_copy_otherwise(httpserver, unit, force, due, current, reissue):
    serve_account(httpserver)
    httpserver.expect_request("/api/order", method="POST").respond_with_json(
        {"status": "New order created, Please wait some time before acessing the order", "id": ORDER}, status=201)
    held = Certificate(NAME, id=CERT_ID, order_uri=httpserver.url_for(ORDER_PATH)) if current else None
    unit.order(request(certifire_reissue=reissue), held, force=force, due=due)
    assert calls(httpserver) == [("POST", "/api/acme"), ("POST", "/api/order")]
    assert unit.warnings == []


def test_a_re_posted_order_whose_certificate_was_revoked_is_reissued(httpserver, unit):
    serve_account(httpserver, status=200)
    httpserver.expect_request("/api/order", method="POST").respond_with_json(
        {"status": "Order already exists", "id": ORDER})
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply(status="revoked",
                                                                                      resolved=None))
    httpserver.expect_request(ORDER_PATH, method="COPY").respond_with_json({"status": "Reordering", "id": ORDER})
    order = unit.order(request(), None, force=False, due=True)
    assert calls(httpserver) == [("POST", "/api/acme"), ("POST", "/api/order"), ("GET", ORDER_PATH),
                                 ("COPY", ORDER_PATH)]
    assert order.details["reissue"] is True and order.status == "processing"


def test_copy_refused_by_a_proxy_is_passed_on(httpserver, unit):
    httpserver.expect_request(ORDER_PATH, method="COPY").respond_with_data("Method Not Allowed", status=405)
    current = Certificate(NAME, id=CERT_ID, order_uri=httpserver.url_for(ORDER_PATH))
    with pytest.raises(RclApiError) as caught:
        unit.order(request(certifire_reissue=True), current, force=True, due=False)
    assert caught.value.status == 405 and "Method Not Allowed" in caught.value.msg


# ---------------------------------------------------------------------------
# finish(): wait for the worker, then read the certificate


def serve_certificate(httpserver, item: dict[str, t.Any], cert_id: int = CERT_ID) -> None:
    httpserver.expect_request("/api/certificate/%d" % cert_id, method="GET").respond_with_json(item)


def test_finish_waits_through_500s_until_the_order_is_written(httpserver, unit, clock, pki):
    material = pki()
    for _dummy in range(2):
        httpserver.expect_oneshot_request(ORDER_PATH, method="GET").respond_with_data(
            "<h1>Internal Server Error</h1>", status=500, content_type="text/html")
    httpserver.expect_oneshot_request(ORDER_PATH, method="GET").respond_with_json(
        order_reply(status="Pending", resolved=None, acme_status="pending"))
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply())
    serve_certificate(httpserver, certificate_item(material))
    done = unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)
    assert calls(httpserver) == [("GET", ORDER_PATH)] * 4 + [("GET", "/api/certificate/%d" % CERT_ID)]
    assert done.changed is False and done.order.status == "valid"
    assert done.order.details["certificate_id"] == CERT_ID
    assert done.certificate is not None and done.certificate.id == CERT_ID
    assert done.certificate.order_uri == httpserver.url_for(ORDER_PATH)
    assert done.bundle is not None
    assert done.bundle.leaf == material.leaf and done.bundle.chain == material.intermediates
    assert _certificate.key_matches(done.bundle.key, material.leaf)
    assert done.certificate.expiry_date == _certificate.not_after(material.leaf)


def test_finish_accepts_the_pkcs1_key_and_a_fingerprint_with_colons(httpserver, unit, clock, pki):
    material = pki()
    item = certificate_item(material)
    assert item["key"].startswith("-----BEGIN RSA PRIVATE KEY-----")  # PKCS#1, as the service makes it
    item["fingerprint"] = ":".join(item["fingerprint"][i:i + 2] for i in range(0, 64, 2)).upper()
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply(status="Valid"))
    serve_certificate(httpserver, item)
    done = unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)
    assert done.bundle is not None and done.bundle.leaf == material.leaf
    assert clock.sleeps == []  # done at the first read


def test_finish_registers_the_key_as_a_secret(httpserver, clock, pki):
    secrets: list[str] = []
    unit = make_unit(httpserver.url_for("/"), clock, secrets=secrets)
    material = pki()
    item = certificate_item(material)
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply())
    serve_certificate(httpserver, item)
    unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)
    assert PASSWORD in secrets and BASIC in secrets and item["key"] in secrets


def test_finish_fails_an_invalid_acme_order(httpserver, unit, clock):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply(
        status="Pending", resolved=None, acme_status="invalid",
        error={"type": "urn:ietf:params:acme:error:dns", "detail": "No TXT record found at _acme-challenge"}))
    with pytest.raises(RclOrderInvalidError) as caught:
        unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)
    assert "No TXT record found" in caught.value.msg and "re-posting the order" in caught.value.msg
    assert caught.value.details == dict(order_uri=httpserver.url_for(ORDER_PATH), status="invalid")
    assert calls(httpserver) == [("GET", ORDER_PATH)]


def test_finish_fails_an_order_that_turns_invalid_while_waiting(httpserver, unit, clock):
    httpserver.expect_oneshot_request(ORDER_PATH, method="GET").respond_with_json(
        order_reply(status="ready", resolved=None, acme_status="processing"))
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(
        order_reply(status="ready", resolved=None, acme_status="invalid"))
    with pytest.raises(RclOrderInvalidError, match="the ACME order failed"):
        unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)


def test_finish_times_out_at_the_deadline_when_the_service_gives_up_silently(httpserver, unit, clock):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(
        order_reply(status="Pending", resolved=None, acme_status="pending"))
    start = clock.now
    with pytest.raises(RclTimeoutError) as caught:
        unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock, 60), wait=True, check_mode=False)
    assert clock.now == pytest.approx(start + 60)
    assert "Timed out after 60 seconds" in caught.value.msg and "reports no failures" in caught.value.msg
    assert caught.value.details["order_uri"] == httpserver.url_for(ORDER_PATH)
    assert caught.value.details["service_status"] == "Pending"
    assert 2 <= len(httpserver.log) <= 12  # polls with a growing interval, not a busy loop


def test_a_timeout_reports_the_last_status_seen(httpserver, unit, clock):
    httpserver.expect_oneshot_request(ORDER_PATH, method="GET").respond_with_data("not written yet", status=500)
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(
        order_reply(status="Pending", resolved=None, acme_status="pending"))
    with pytest.raises(RclTimeoutError) as caught:
        unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock, 60), wait=True, check_mode=False)
    assert caught.value.details["service_status"] == "Pending"


def test_a_timeout_on_the_old_certificate_says_the_ca_may_have_reused_authorizations(httpserver, unit, clock):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply(resolved=CERT_ID))
    uri = httpserver.url_for(ORDER_PATH) + "#after=%d" % CERT_ID
    with pytest.raises(RclTimeoutError) as caught:
        unit.finish(uri, request(), waiter(clock, 60), wait=True, check_mode=False)
    assert "Certifire still shows certificate %d" % CERT_ID in caught.value.msg
    assert caught.value.details["order_uri"] == uri and caught.value.details["service_status"] == "valid"


def test_finish_with_no_time_left_makes_no_request(httpserver, unit, clock):
    spent = waiter(clock, 10)
    clock.now += 10
    with pytest.raises(RclTimeoutError, match="before reading Certifire order %d" % ORDER):
        unit.finish(httpserver.url_for(ORDER_PATH), request(), spent, wait=True, check_mode=False)
    assert httpserver.log == []


@pytest.mark.parametrize("check_mode", [True, False])
def test_finish_without_waiting_reads_once(httpserver, unit, clock, check_mode):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply(status="ready", resolved=None))
    done = unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=False, check_mode=check_mode)
    assert done.changed is False and done.order.status == "processing" and done.bundle is None
    assert calls(httpserver) == [("GET", ORDER_PATH)]


def test_the_after_fragment_makes_the_old_certificate_not_done(httpserver, unit, clock, pki):
    material = pki()
    uri = httpserver.url_for(ORDER_PATH) + "#after=%d" % CERT_ID
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply(resolved=CERT_ID))
    assert unit.read(uri, None).status == "processing"
    done = unit.finish(uri, request(), waiter(clock), wait=False, check_mode=False)
    assert done.changed is False and done.order.status == "processing"
    # Without the fragment the same reply is done.
    assert unit.read(httpserver.url_for(ORDER_PATH), None).status == "valid"
    httpserver.clear()
    httpserver.expect_oneshot_request(ORDER_PATH, method="GET").respond_with_json(order_reply(resolved=CERT_ID))
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply(resolved=CERT_ID + 1))
    serve_certificate(httpserver, certificate_item(material, cert_id=CERT_ID + 1), cert_id=CERT_ID + 1)
    done = unit.finish(uri, request(), waiter(clock), wait=True, check_mode=False)
    assert done.certificate is not None and done.certificate.id == CERT_ID + 1
    assert done.order.order_uri == uri
    assert all("#" not in r.url and "after" not in r.url for r, _response in httpserver.log)  # never sent


@pytest.mark.parametrize("uri", ["https://certifire.test/api/orders/42", "https://certifire.test/api/order/x",
                                 "42", "https://certifire.test/api/order/"])
def test_an_order_uri_that_is_not_certifire_s_is_refused(unit, httpserver, uri):
    with pytest.raises(RclInputError, match="order_uri must be a Certifire order URL"):
        unit.read(uri, None)
    assert httpserver.log == []


# ---------------------------------------------------------------------------
# material checks


def test_finish_refuses_a_key_that_does_not_belong_to_the_certificate(httpserver, unit, clock, pki):
    material = pki()
    other = pki(name="Other CA")
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply())
    serve_certificate(httpserver, certificate_item(material, key=other.key_pem()))
    with pytest.raises(RclCertificateError) as caught:
        unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)
    assert caught.value.check == "key_match"


def test_finish_refuses_a_fingerprint_that_does_not_match_the_body(httpserver, unit, clock, pki):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply())
    serve_certificate(httpserver, certificate_item(pki(), fingerprint="00" * 32))
    with pytest.raises(RclCertificateError) as caught:
        unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)
    assert caught.value.check == "fingerprint"
    assert caught.value.details["failed_check"] == "fingerprint"


def test_finish_refuses_a_certificate_without_a_key(httpserver, unit, clock, pki):
    item = certificate_item(pki())
    item["key"] = None
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply())
    serve_certificate(httpserver, item)
    with pytest.raises(RclError, match="carries no certificate or no key"):
        unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)


def test_finish_refuses_a_certificate_for_other_names(httpserver, unit, clock, pki):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(order_reply())
    serve_certificate(httpserver, certificate_item(pki(sans=["other.example.com"])))
    with pytest.raises(RclCertificateError) as caught:
        unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), wait=True, check_mode=False)
    assert caught.value.check == "names"


def test_current_and_material_pick_the_newest_valid_certificate_of_the_names(httpserver, unit, pki):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc).replace(microsecond=0)
    newest = pki()
    older = pki(not_after=now + timedelta(days=20))
    foreign = pki(sans=["other.example.com"], not_after=now + timedelta(days=80))
    listing = {
        "3": certificate_item(older, cert_id=3),
        "9": certificate_item(newest, cert_id=9),
        "10": certificate_item(foreign, cert_id=10),
        "11": dict(certificate_item(newest, cert_id=11), status="revoked"),
        "12": dict(certificate_item(newest, cert_id=12), body=None),
    }
    httpserver.expect_request("/api/certificate", method="GET").respond_with_json(listing)
    req = request()
    cert = unit.current(req)
    assert cert is not None and cert.id == 9 and cert.order_uri == httpserver.url_for(ORDER_PATH)
    assert cert.expiry_date == _certificate.not_after(newest.leaf)
    metadata, bundle = unit.material(req, cert)
    assert metadata.id == 9 and bundle.leaf == newest.leaf and bundle.chain == newest.intermediates
    assert calls(httpserver) == [("GET", "/api/certificate")]  # read once for both


def test_current_is_none_for_an_empty_list_and_material_then_fails(httpserver, unit):
    httpserver.expect_request("/api/certificate", method="GET").respond_with_json({})
    req = request()
    assert unit.current(req) is None
    with pytest.raises(RclInputError, match="Certifire holds no valid certificate for www.example.com"):
        unit.material(req)


def test_material_of_a_listed_certificate_is_checked(httpserver, unit, pki):
    material = pki()
    listing = {"9": certificate_item(material, fingerprint="ff" * 32)}
    httpserver.expect_request("/api/certificate", method="GET").respond_with_json(listing)
    with pytest.raises(RclCertificateError) as caught:
        unit.material(request())
    assert caught.value.check == "fingerprint"


# ---------------------------------------------------------------------------
# error messages


def test_a_json_status_is_the_message(httpserver, unit):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_json(
        {"status": "This order does not belong to you!"}, status=400)
    with pytest.raises(RclApiError) as caught:
        unit.read(httpserver.url_for(ORDER_PATH), None)
    exc = caught.value
    assert exc.status == 400
    assert exc.msg == "Certifire returned HTTP 400 for %s: This order does not belong to you!" % httpserver.url_for(
        ORDER_PATH)
    assert exc.details["api_message"] == "This order does not belong to you!"


def test_an_html_page_is_reduced_to_its_text(httpserver, unit):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_data(WERKZEUG_400, status=400,
                                                                          content_type="text/html")
    with pytest.raises(RclApiError) as caught:
        unit.read(httpserver.url_for(ORDER_PATH), None)
    message = caught.value.details["api_message"]
    assert message == ("400 Bad Request Bad Request The browser (or proxy) sent a request that this server could "
                       "not understand.")
    assert "<" not in caught.value.msg and ">" not in caught.value.msg


def test_a_long_html_page_is_cut_and_holds_no_markup(httpserver, unit):
    page = "<html><body><h1>Traceback</h1>" + "".join(
        "<p class=\"frame\">File line %d in worker</p>\n" % i for i in range(200)) + "</body></html>"
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_data(page, status=500, content_type="text/html")
    with pytest.raises(RclApiError) as caught:
        unit.read(httpserver.url_for(ORDER_PATH), None)
    message = caught.value.details["api_message"]
    assert message.startswith("Traceback File line 0 in worker")
    assert len(message) <= 500
    assert "<" not in message and "class=" not in message


def test_an_html_page_cut_inside_a_tag_holds_no_markup(httpserver, unit):
    page = "<html><body><p>" + "x" * 480 + "</p><p class=\"a-long-attribute-value\">after</p></body></html>"
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_data(page, status=500, content_type="text/html")
    with pytest.raises(RclApiError) as caught:
        unit.read(httpserver.url_for(ORDER_PATH), None)
    message = caught.value.details["api_message"]
    assert "<" not in message and "class=" not in message


def test_401_stays_an_auth_error(httpserver, unit):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_data(
        "Unauthorized Access", status=401, content_type="text/html",
        headers={"WWW-Authenticate": 'Basic realm="Authentication Required"'})
    with pytest.raises(RclAuthError) as caught:
        unit.read(httpserver.url_for(ORDER_PATH), None)
    assert caught.value.msg.endswith(": Unauthorized Access")


def test_an_empty_error_body_says_so(httpserver, unit):
    httpserver.expect_request(ORDER_PATH, method="GET").respond_with_data("", status=502)
    with pytest.raises(RclApiError) as caught:
        unit.read(httpserver.url_for(ORDER_PATH), None)
    assert caught.value.msg == "Certifire returned HTTP 502 for %s: no message" % httpserver.url_for(ORDER_PATH)


def _shown(exc: RclError) -> str:
    return "\n".join([str(exc), exc.msg, repr(exc), json.dumps(exc.to_result(), default=str)])


def test_the_password_and_the_basic_header_never_show(httpserver, clock, pki):
    unit = make_unit(httpserver.url_for("/"), clock)
    errors: list[RclError] = []

    def failing(handler_body: Response, method: str = "GET", path: str = ORDER_PATH,
                call: t.Callable[[], t.Any] | None = None) -> None:
        httpserver.clear()
        httpserver.expect_request(path, method=method).respond_with_response(handler_body)
        with pytest.raises(RclError) as caught:
            (call or (lambda: unit.read(httpserver.url_for(ORDER_PATH), None)))()
        errors.append(caught.value)

    failing(Response("Unauthorized Access", status=401))
    failing(Response(json.dumps({"status": "Username admin already exists"}), status=400,
                     content_type="application/json"))
    failing(Response(WERKZEUG_400, status=400, content_type="text/html"))
    failing(Response("<pre>Traceback ...</pre>", status=500, content_type="text/html"), method="POST",
            path="/api/acme", call=lambda: unit.order(request(), None, False, True))
    failing(Response(json.dumps(order_reply(status="Pending", resolved=None, acme_status="pending")),
                     content_type="application/json"),
            call=lambda: unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock, 5), True, False))
    failing(Response(json.dumps(order_reply(acme_status="invalid")), content_type="application/json"),
            call=lambda: unit.finish(httpserver.url_for(ORDER_PATH), request(), waiter(clock), True, False))
    offline = make_unit(closed_port_url(), clock)
    with pytest.raises(RclTransportError) as caught:
        offline.read(closed_port_url() + "api/order/1", None)
    errors.append(caught.value)
    with pytest.raises(RclTransportError) as caught:
        offline.order(request(), None, False, True)
    errors.append(caught.value)
    assert len(errors) == 8
    for exc in errors:
        shown = _shown(exc)
        assert PASSWORD not in shown and BASIC not in shown, shown
    for obj in (unit, unit.auth, request()):
        assert PASSWORD not in repr(obj) and BASIC not in repr(obj)
    assert repr(unit.auth) == "BasicAuth(<redacted>)"
