# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
import requests
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    Certificate,
    FinalizeRequest,
    Order,
    OrderRequest,
    ValidationToken,
)
from ansible_collections.rcl.ssl.plugins.module_utils._api.v6 import V6Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._api.v7 import V7Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._api.v8 import V8Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._api.generations import GENERATIONS
from ansible_collections.rcl.ssl.plugins.module_utils._client import (
    FinalizeResult,
    RclClient,
    build_client,
    insecure_settings,
)
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclError,
    RclInputError,
    RclOrderInvalidError,
    RclResponseError,
    RclTimeoutError,
    RclUnsupportedError,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
SID = "sub_df45ghfh463nfhh"
API_KEY = "45ref546-67rf-65ytr-65tr-546trfred"
CLIENT_SECRET = "cl13nt~S3cret.value"
TOKEN = "eyJ0eXAiOiJKV1Q.test-access-token.O4J411Fzg"
TOKEN_PATH = "/tenant-1/oauth2/v2.0/token"
NOW = datetime(2023, 10, 1, 0, 0, tzinfo=timezone.utc)

V6_ORDER = "/production/ssl/core/v1/order/subscription/%s" % SID
V6_CERT = "/production/ssl/core/v1/certificate/subscription/%s" % SID
V6_ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/527702946/93863252796"
V7_CERT = "/public/v1/subscription/%s/core/certificate" % SID
V7_ORDER_URI = "https://acme-staging-v02.api.letsencrypt.org/acme/order/116443104/10568102114"
V8_BASE = "/prod/v3/ssl/certificate/subscription/%s" % SID
V8_ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/116443104/20567267084"


def body(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


def json_response(name_or_data, status=200):
    text = body(name_or_data) if isinstance(name_or_data, str) else json.dumps(name_or_data)
    return Response(text, status=status, content_type="application/json")


from ...conftest import FakeClock as FakeTime  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def fake():
    return FakeTime(start=50.0)


def client_for(httpserver, version: str, fake: FakeTime) -> RclClient:
    if version == "v6":
        built = build_client(
            "v6",
            SID,
            api_url=httpserver.url_for("/production/ssl/core/v1"),
            client_id="client-1",
            client_secret=CLIENT_SECRET,
            token_url=httpserver.url_for(TOKEN_PATH),
        )
        httpserver.expect_request(TOKEN_PATH, method="POST").respond_with_json(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}
        )
    else:
        prefix = {"v7": "/public", "v8": "/prod/v3/ssl/certificate/subscription"}[version]
        built = build_client(version, SID, api_url=httpserver.url_for(prefix), api_key=API_KEY)
    return RclClient(built.adapter, clock=lambda: NOW, sleep=fake.sleep, monotonic=fake)


def api_calls(httpserver) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r, _resp in httpserver.log if r.path != TOKEN_PATH]


# ---------------------------------------------------------------------------
# build_client


DEFAULT_API_URLS = {version: gen.default_url for version, gen in GENERATIONS.items()}


def test_generations_and_default_urls():
    assert GENERATIONS == {"v6": V6Adapter, "v7": V7Adapter, "v8": V8Adapter}
    assert DEFAULT_API_URLS == {
        "v6": "https://rclapi.azure-api.net/production/ssl/core/v1",
        "v7": "https://rclapi.azure-api.net/public",
        "v8": "https://rclapi.azure-api.net/prod/v3/ssl/certificate/subscription",
    }


def test_build_client_sends_nothing(monkeypatch):
    def no_request(*args, **kwargs):
        raise AssertionError("build_client must not send a request")

    monkeypatch.setattr(requests.Session, "request", no_request)
    v7 = build_client("v7", SID, api_key=API_KEY)
    assert isinstance(v7.adapter, V7Adapter) and v7.adapter.base_url == DEFAULT_API_URLS["v7"]
    v8 = build_client("v8", SID, api_key=API_KEY, api_url="https://emulator.test/prod/v3/ssl/certificate/subscription/")
    assert isinstance(v8.adapter, V8Adapter) and v8.adapter.base_url.endswith("/subscription")
    v6 = build_client("v6", SID, client_id="c", client_secret="s", tenant_id="contoso.onmicrosoft.com")
    assert isinstance(v6.adapter, V6Adapter)
    assert v6.adapter.auth.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert v7.request_count == v6.request_count == 0


def test_build_client_accepts_none_for_defaults():
    client = build_client("v7", SID, api_key=API_KEY, validate_certs=None, timeout=None, retries=None, ca_path=None)
    transport = client.adapter.transport
    assert transport.timeout == 30 and transport.retries == 3 and transport.verify is True


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(api_version="v7", subscription_id=SID), "api_key"),
        (dict(api_version="v8", subscription_id=SID, client_id="c", client_secret="s", tenant_id="t"), "api_key"),
        (dict(api_version="v6", subscription_id=SID, api_key=API_KEY), "client_id"),
        (dict(api_version="v6", subscription_id=SID, client_id="c", tenant_id="t"), "client_secret"),
        (dict(api_version="v6", subscription_id=SID, client_id="c", client_secret="s"), "tenant_id or token_url"),
        (dict(api_version="v6", subscription_id=SID, client_id="c", client_secret="s", tenant_id="a/b"), "tenant_id"),
        (dict(api_version="v9", subscription_id=SID, api_key=API_KEY), "api_version"),
        (dict(api_version="v7", subscription_id=None, api_key=API_KEY), "subscription_id"),
        (dict(api_version="v7", subscription_id="sub/../x", api_key=API_KEY), "subscription_id"),
        (dict(api_version="v7", subscription_id="a b", api_key=API_KEY), "subscription_id"),
        (dict(api_version="v7", subscription_id=SID, api_key=API_KEY, api_url="ftp://x"), "api_url"),
        (dict(api_version="v7", subscription_id=SID, api_key=API_KEY, api_url="rclapi.azure-api.net"), "api_url"),
        (dict(api_version="v7", subscription_id=SID, api_key=API_KEY, timeout=0), "timeout"),
        (dict(api_version="v7", subscription_id=SID, api_key=API_KEY, retries=-1), "retries"),
    ],
)
def test_build_client_rejects_bad_combinations(kwargs, fragment):
    with pytest.raises(RclInputError) as exc:
        build_client(**kwargs)
    assert fragment in exc.value.msg
    assert API_KEY not in exc.value.msg


# ---------------------------------------------------------------------------
# reads and decisions


def test_get_certificate_none_on_404(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    httpserver.expect_request(V7_CERT + "/new.shopeneur.com").respond_with_data("Certificate not found", status=404)
    assert client.get_certificate("new.shopeneur.com") is None


def test_get_certificate_other_errors_propagate(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    httpserver.expect_request(V7_CERT + "/x.shopeneur.com").respond_with_data("Certificate name is not defined.", status=400)
    with pytest.raises(RclApiError) as exc:
        client.get_certificate("x.shopeneur.com")
    assert exc.value.body == "Certificate name is not defined."


@pytest.mark.parametrize("version", ["v7", "v8"])
def test_get_order_unsupported_names_v6(httpserver, fake, version):
    client = client_for(httpserver, version, fake)
    with pytest.raises(RclUnsupportedError) as exc:
        client.get_order(V6_ORDER_URI, "dns", "shopeneur.com")
    assert version in exc.value.msg
    assert len(httpserver.log) == 0


def test_get_order_v6(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    httpserver.expect_request(
        V6_ORDER + "/get", json={"orderUri": V6_ORDER_URI, "challengeType": "DNS", "rootDomain": "shopeneur.com"}
    ).respond_with_data(body("v6/order_ready.json"), content_type="application/json")
    assert client.get_order(V6_ORDER_URI, "dns-01", "shopeneur.com").status == "ready"


def test_list_certificates_v6(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    httpserver.expect_request(V6_CERT + "/get/all").respond_with_data(
        body("v6/certificate_list.json"), content_type="application/json"
    )
    assert len(client.list_certificates()) == 2


def _cert(expiry: datetime | None) -> Certificate:
    return Certificate(name="shopeneur.com", expiry_date=expiry)


@pytest.mark.parametrize(
    "cert, remaining, force, expected",
    [
        (_cert(NOW + timedelta(days=60)), 30, True, (True, "forced")),
        (None, 30, False, (True, "no certificate in the subscription")),
        (_cert(NOW + timedelta(days=10, hours=5)), 30, False, (True, "expires in 10 days (threshold 30)")),
        (_cert(NOW + timedelta(days=29, hours=23)), 30, False, (True, "expires in 29 days (threshold 30)")),
        (_cert(NOW + timedelta(days=30, hours=1)), 30, False, (False, "valid for 30 more days")),
        (_cert(NOW + timedelta(days=60)), 30, False, (False, "valid for 60 more days")),
        (_cert(NOW - timedelta(days=2)), 30, False, (True, "expires in -2 days (threshold 30)")),
        (_cert(None), 30, False, (True, "the certificate has no expiry date")),
    ],
)
def test_order_due(cert, remaining, force, expected):
    client = RclClient(V7Adapter(None, None, None, SID), clock=lambda: NOW)  # type: ignore[arg-type]
    assert client.order_due(cert, remaining, force) == expected


def test_order_due_uses_explicit_now():
    client = RclClient(V7Adapter(None, None, None, SID), clock=lambda: NOW)  # type: ignore[arg-type]
    cert = _cert(NOW + timedelta(days=40))
    assert client.order_due(cert, 30, False, now=NOW + timedelta(days=20)) == (True, "expires in 20 days (threshold 30)")


def test_create_order_passes_through(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    httpserver.expect_request(V7_CERT + "/shopeneur.com/order").respond_with_data(
        body("v7/order.json"), content_type="application/json"
    )
    assert client.adapter.create_order(OrderRequest("shopeneur.com")).status == "pending"
    assert client.request_count == 1


# ---------------------------------------------------------------------------
# finalize: V6


def _v6_req() -> FinalizeRequest:
    return FinalizeRequest("www.shopeneur.com", V6_ORDER_URI, "shopeneur.com", "dns", "support@mail.com", "pwd1234")


def _serve_v6_sequence(httpserver, orders: list[str]) -> None:
    """Answer successive order reads with the named fixtures (the last one repeats)."""
    replies = list(orders)

    def handler(request):
        name = replies.pop(0) if len(replies) > 1 else replies[0]
        return json_response("v6/%s.json" % name)

    httpserver.expect_request(V6_ORDER + "/get", method="POST").respond_with_handler(handler)
    httpserver.expect_request(V6_ORDER + "/validate", method="POST").respond_with_data("")
    httpserver.expect_request(V6_ORDER + "/finalize", method="POST").respond_with_data(
        body("v6/order_finalized.json"), content_type="application/json"
    )
    httpserver.expect_request(V6_CERT + "/get").respond_with_data(
        body("v6/certificate.json"), content_type="application/json"
    )


def test_v6_finalize_already_valid_makes_no_state_change(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_finalized"])
    result = client.finalize(_v6_req())
    assert result.changed is False and result.status == "valid"
    assert result.certificate is not None and result.certificate.name == "www.shopeneur.com"
    assert api_calls(httpserver) == [("POST", V6_ORDER + "/get"), ("GET", V6_CERT + "/get")]


def test_v6_finalize_pending_validates_polls_and_finalizes(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_pending", "order_pending", "order_pending", "order_ready"])
    result = client.finalize(_v6_req(), poll_interval=2.0)
    assert result.changed is True and result.status == "valid"
    assert result.order is not None and result.order.certificate_uri is not None
    assert result.certificate is not None and result.certificate.pfx == b"pfx-bytes-for-tests"
    assert api_calls(httpserver) == [
        ("POST", V6_ORDER + "/get"),
        ("POST", V6_ORDER + "/validate"),
        ("POST", V6_ORDER + "/get"),
        ("POST", V6_ORDER + "/get"),
        ("POST", V6_ORDER + "/get"),
        ("POST", V6_ORDER + "/finalize"),
        ("GET", V6_CERT + "/get"),
    ]
    assert fake.sleeps == [2.0, 3.0, 4.5]  # gently growing interval


def test_v6_finalize_ready_finalizes_at_once(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_ready"])
    result = client.finalize(_v6_req())
    assert result.changed is True and result.status == "valid"
    assert [c[1] for c in api_calls(httpserver)] == [V6_ORDER + "/get", V6_ORDER + "/finalize", V6_CERT + "/get"]
    assert fake.sleeps == []


def test_v6_finalize_invalid_raises_with_reason(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_invalid"])
    with pytest.raises(RclOrderInvalidError) as exc:
        client.finalize(_v6_req())
    assert "dns-01 invalid" in exc.value.msg and "new order" in exc.value.msg
    assert exc.value.to_result()["order_uri"] == V6_ORDER_URI
    assert api_calls(httpserver) == [("POST", V6_ORDER + "/get")]


def test_v6_finalize_becomes_invalid_while_polling(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_pending", "order_invalid"])
    with pytest.raises(RclOrderInvalidError):
        client.finalize(_v6_req())
    assert ("POST", V6_ORDER + "/finalize") not in api_calls(httpserver)


def test_v6_finalize_poll_times_out(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_pending"])
    with pytest.raises(RclTimeoutError) as exc:
        client.finalize(_v6_req(), wait_timeout=10, poll_interval=2.0)
    assert "10 seconds" in exc.value.msg and "ready" in exc.value.msg and V6_ORDER_URI in exc.value.msg
    assert sum(fake.sleeps) == pytest.approx(10)
    assert ("POST", V6_ORDER + "/finalize") not in api_calls(httpserver)


def test_v6_finalize_check_mode_only_reads(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_pending"])
    result = client.finalize(_v6_req(), check_mode=True)
    assert result.changed is True and result.status == "pending" and result.certificate is None
    assert api_calls(httpserver) == [("POST", V6_ORDER + "/get")]


def test_v6_finalize_check_mode_valid_predicts_no_change(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_finalized"])
    result = client.finalize(_v6_req(), check_mode=True)
    assert result.changed is False and result.status == "valid" and result.certificate is not None
    assert [m for m, _p in api_calls(httpserver)] == ["POST", "GET"]


def test_v6_finalize_no_wait_returns_after_validate(httpserver, fake):
    client = client_for(httpserver, "v6", fake)
    _serve_v6_sequence(httpserver, ["order_pending"])
    result = client.finalize(_v6_req(), wait=False)
    assert result == FinalizeResult(True, None, result.order, "pending")
    assert api_calls(httpserver) == [("POST", V6_ORDER + "/get"), ("POST", V6_ORDER + "/validate")]
    assert fake.sleeps == []


# ---------------------------------------------------------------------------
# finalize: V7


def _v7_req(order_uri: str = V7_ORDER_URI) -> FinalizeRequest:
    return FinalizeRequest("shopeneur.com", order_uri)


def test_v7_finalize_already_done(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    httpserver.expect_request(V7_CERT + "/shopeneur.com").respond_with_data(
        body("v7/certificate.json"), content_type="application/json"
    )
    result = client.finalize(_v7_req())
    assert result.changed is False and result.status == "valid" and result.certificate.id == 342
    assert client.request_count == 1


def test_v7_finalize_new_order(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    new_uri = "https://acme-v02.api.letsencrypt.org/acme/order/116443104/99999"
    finalized = json.loads(body("v7/certificate.json"))
    finalized["orderUri"] = new_uri
    httpserver.expect_request(V7_CERT + "/shopeneur.com").respond_with_data(
        body("v7/certificate.json"), content_type="application/json"
    )
    httpserver.expect_request(V7_CERT + "/shopeneur.com/finalize", query_string={"orderuri": new_uri}).respond_with_json(
        finalized
    )
    result = client.finalize(_v7_req(new_uri))
    assert result.changed is True and result.certificate.order_uri == new_uri
    assert [p for _m, p in api_calls(httpserver)] == [V7_CERT + "/shopeneur.com", V7_CERT + "/shopeneur.com/finalize"]


def test_v7_finalize_no_certificate_yet(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    httpserver.expect_request(V7_CERT + "/shopeneur.com").respond_with_data("Not found", status=404)
    httpserver.expect_request(V7_CERT + "/shopeneur.com/finalize").respond_with_data(
        body("v7/certificate.json"), content_type="application/json"
    )
    assert client.finalize(_v7_req()).changed is True


def test_v7_finalize_check_mode_only_reads(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    httpserver.expect_request(V7_CERT + "/shopeneur.com").respond_with_data(
        body("v7/certificate.json"), content_type="application/json"
    )
    result = client.finalize(_v7_req("https://acme.test/order/other"), check_mode=True)
    assert result.changed is True and result.certificate is None
    assert api_calls(httpserver) == [("GET", V7_CERT + "/shopeneur.com")]


def test_v7_finalize_400_surfaces_api_text(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    httpserver.expect_request(V7_CERT + "/shopeneur.com").respond_with_data("Not found", status=404)
    httpserver.expect_request(V7_CERT + "/shopeneur.com/finalize").respond_with_data(
        "Order validation failed: DNS record not found.", status=400, content_type="text/plain"
    )
    with pytest.raises(RclApiError) as exc:
        client.finalize(_v7_req())
    assert exc.value.body == "Order validation failed: DNS record not found."
    assert client.request_count == 2


# ---------------------------------------------------------------------------
# finalize: V8


def _v8_req() -> FinalizeRequest:
    return FinalizeRequest("www.shopeneur.com", V8_ORDER_URI, "shopeneur.com", "dns", None, "pwd1234")


def _v8_cert(order_uri: str, issue: str) -> dict:
    data = json.loads(body("v8/certificate.json"))
    data["orderUri"] = order_uri
    data["issueDate"] = issue
    return data


OLD = _v8_cert("https://acme-v02.api.letsencrypt.org/acme/order/1/old", "2024-01-01T00:00:00.0000000")
NEW = _v8_cert(V8_ORDER_URI, "2024-03-01T08:15:30.1234567")


def _serve_v8_gets(httpserver, replies: list) -> None:
    """Successive certificate reads: dicts are certificates, None is a 404; the last repeats."""
    queue = list(replies)

    def handler(request):
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if reply is None:
            return Response("Certificate not found.", status=404, content_type="text/plain")
        return json_response(reply)

    httpserver.expect_request(V8_BASE + "/get/certificatename/www.shopeneur.com").respond_with_handler(handler)
    httpserver.expect_request(V8_BASE + "/schedule/create", method="POST").respond_with_data("")


def test_v8_finalize_already_done(httpserver, fake):
    client = client_for(httpserver, "v8", fake)
    _serve_v8_gets(httpserver, [NEW])
    result = client.finalize(_v8_req())
    assert result.changed is False and result.status == "valid"
    assert api_calls(httpserver) == [("GET", V8_BASE + "/get/certificatename/www.shopeneur.com")]


def test_v8_finalize_schedules_then_polls(httpserver, fake):
    client = client_for(httpserver, "v8", fake)
    _serve_v8_gets(httpserver, [OLD, OLD, OLD, NEW])
    result = client.finalize(_v8_req(), poll_interval=5)
    assert result.changed is True and result.status == "valid"
    assert result.certificate.order_uri == V8_ORDER_URI
    assert [m for m, _p in api_calls(httpserver)] == ["GET", "POST", "GET", "GET", "GET"]
    assert fake.sleeps == [5.0, 7.5, 11.25]


def test_v8_finalize_first_certificate_appears(httpserver, fake):
    client = client_for(httpserver, "v8", fake)
    no_uri = dict(NEW, orderUri=None)  # only a newer issue date tells it apart
    _serve_v8_gets(httpserver, [None, None, no_uri])
    result = client.finalize(_v8_req())
    assert result.changed is True and result.certificate is not None


def test_v8_finalize_newer_issue_date_counts(httpserver, fake):
    client = client_for(httpserver, "v8", fake)
    newer = dict(OLD, issueDate="2024-02-01T00:00:00.0000000")
    _serve_v8_gets(httpserver, [OLD, newer])
    assert client.finalize(_v8_req()).certificate.issue_date.month == 2


def test_v8_finalize_times_out(httpserver, fake):
    client = client_for(httpserver, "v8", fake)
    _serve_v8_gets(httpserver, [OLD])
    with pytest.raises(RclTimeoutError) as exc:
        client.finalize(_v8_req(), wait_timeout=60, poll_interval=10)
    assert "www.shopeneur.com" in exc.value.msg and V8_ORDER_URI in exc.value.msg
    assert "60 seconds" in exc.value.msg
    assert sum(fake.sleeps) == pytest.approx(60)
    assert [m for m, _p in api_calls(httpserver)].count("POST") == 1


def test_v8_finalize_no_wait(httpserver, fake):
    client = client_for(httpserver, "v8", fake)
    _serve_v8_gets(httpserver, [OLD])
    result = client.finalize(_v8_req(), wait=False)
    assert result == FinalizeResult(True, None, None, "processing")
    assert [m for m, _p in api_calls(httpserver)] == ["GET", "POST"]


def test_v8_finalize_check_mode_only_reads(httpserver, fake):
    client = client_for(httpserver, "v8", fake)
    _serve_v8_gets(httpserver, [None])
    result = client.finalize(_v8_req(), check_mode=True)
    assert result.changed is True
    assert [m for m, _p in api_calls(httpserver)] == ["GET"]


# ---------------------------------------------------------------------------
# material


def test_fetch_pfx_from_reply_makes_no_request(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    cert = Certificate(name="a.test", pfx=b"PFX", pfx_password="pw")
    assert client.fetch_pfx(cert) == (b"PFX", "pw")
    assert client.request_count == 0


def test_fetch_pfx_missing_material(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    with pytest.raises(RclResponseError) as exc:
        client.fetch_pfx(Certificate(name="a.test"))
    assert "pfxString" in exc.value.msg
    with pytest.raises(RclResponseError) as exc:
        client.fetch_pfx(Certificate(name="a.test", pfx_error="the pfxString of certificate a.test is not valid base64"))
    assert "base64" in exc.value.msg
    with pytest.raises(RclResponseError) as exc:
        client.fetch_pfx(Certificate(name="a.test"), source="download")
    assert "pfxUrl" in exc.value.msg
    with pytest.raises(RclInputError):
        client.fetch_pfx(Certificate(name="a.test", pfx=b"x"), source="ftp")


def test_fetch_pfx_download(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    seen = []

    def handler(request):
        seen.append(request.headers.get("Authorization"))
        return Response(b"\x30\x82downloaded", content_type="application/octet-stream")

    httpserver.expect_request("/blob/x.pfx").respond_with_handler(handler)
    url = httpserver.url_for("/blob/x.pfx") + "?sv=1&sig=SECRETSIG"
    cert = Certificate(name="a.test", pfx_password="pw", download_urls={"pfx_url": url})
    assert client.fetch_pfx(cert, source="download") == (b"\x30\x82downloaded", "pw")
    assert seen == [None]


def test_fetch_pfx_download_error_hides_url(httpserver, fake):
    client = client_for(httpserver, "v7", fake)
    httpserver.expect_request("/blob/x.pfx").respond_with_data("AuthenticationFailed", status=403)
    url = httpserver.url_for("/blob/x.pfx") + "?sv=1&sig=SECRETSIG"
    with pytest.raises(RclApiError) as exc:
        client.fetch_pfx(Certificate(name="a.test", download_urls={"pfx_url": url}), source="download")
    text = str(exc.value) + json.dumps(exc.value.to_result())
    assert "SECRETSIG" not in text and "x.pfx" not in text and "/blob" not in text


# ---------------------------------------------------------------------------
# challenge data


def _order(*tokens: ValidationToken) -> Order:
    return Order(status="pending", order_uri="https://acme.test/o/1", tokens=list(tokens))


def _crypto_shape(identifier, kind, **challenge):
    return {"identifier": identifier, "identifier_type": "dns", "challenges": {kind: challenge}}


def test_challenge_data_v7_seed_apex():
    order = Order(
        "pending",
        "u",
        tokens=[ValidationToken("_acme-challenge", "pder_53er44PhE-keudgge45630", "dns", "shopeneur.com")],
    )
    entries, records = RclClient.challenge_data(order, "shopeneur.com")
    assert entries == [_crypto_shape("shopeneur.com", "dns-01", record="_acme-challenge.shopeneur.com",
                                     resource="_acme-challenge", resource_value="pder_53er44PhE-keudgge45630")]
    assert records == {"_acme-challenge.shopeneur.com": ["pder_53er44PhE-keudgge45630"]}


def test_challenge_data_subdomain_without_domain_field():
    # V6 tokens carry no domain: it is derived from the record.
    entries, records = RclClient.challenge_data(_order(ValidationToken("_acme-challenge.www", "v", "dns")), "shopeneur.com")
    assert entries[0]["challenges"]["dns-01"]["record"] == "_acme-challenge.www.shopeneur.com"
    assert entries[0]["identifier"] == "www.shopeneur.com"
    assert records == {"_acme-challenge.www.shopeneur.com": ["v"]}


def test_challenge_data_under_a_multi_label_public_suffix():
    entries, records = RclClient.challenge_data(_order(ValidationToken("_acme-challenge.www", "v", "dns")), "shop.co.uk")
    assert records == {"_acme-challenge.www.shop.co.uk": ["v"]}
    assert entries[0]["identifier"] == "www.shop.co.uk"


def test_challenge_data_without_root_domain_uses_domain():
    entries, records = RclClient.challenge_data(
        _order(ValidationToken("_acme-challenge", "w", "dns", "*.shopeneur.com")), ""
    )
    assert entries[0]["challenges"]["dns-01"]["record"] == "_acme-challenge.shopeneur.com"
    assert entries[0]["identifier"] == "*.shopeneur.com"
    with pytest.raises(RclInputError):
        RclClient.challenge_data(_order(ValidationToken("_acme-challenge", "w", "dns")), "")


def test_challenge_data_san_shares_one_record():
    order_data = json.loads(body("v7/order_san.json"))
    tokens = [
        ValidationToken(t["tokenName"], t["tokenValue"], t["challengeType"].lower(), t["domain"])
        for t in order_data["validationTokens"]
    ]
    tokens.append(tokens[0])  # a repeated token must not duplicate the value
    entries, records = RclClient.challenge_data(_order(*tokens), "shopeneur.com")
    assert records == {"_acme-challenge.shopeneur.com": ["apex-value-Xk3_9aQ", "wildcard-value-7Yt-2b"]}
    assert len(entries) == 3


def test_challenge_data_http():
    entries, records = RclClient.challenge_data(
        _order(ValidationToken("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "LoqX.thumb", "http", "www.shopeneur.com")),
        "shopeneur.com",
    )
    assert entries == [_crypto_shape("www.shopeneur.com", "http-01",
                                     resource=".well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
                                     resource_value="LoqX.thumb")]
    assert records == {}


# ---------------------------------------------------------------------------
# input checks: names through _names, the generation's own rules, all before any request


def offline(version: str) -> RclClient:
    """A client whose transport fails the test if anything is sent."""
    creds = dict(client_id="c", client_secret="s", tenant_id="t") if version == "v6" else dict(api_key=API_KEY)
    client = build_client(version, SID, api_url="https://127.0.0.1:9/x", **creds)

    def no_request(*args, **kwargs):
        raise AssertionError("an input check sent a request")

    client.adapter.transport.session.request = no_request
    return client


@pytest.mark.parametrize(
    "version, args, expected",
    [
        ("v7", ("www.shopeneur.com", None, None, False), ("www.shopeneur.com", "shopeneur.com", None)),
        ("v7", ("shopeneur.com", None, None, False), ("shopeneur.com", "shopeneur.com", None)),
        ("v6", ("*.shopeneur.com", None, "DNS", False), ("*.shopeneur.com", "shopeneur.com", "dns")),
        ("v8", ("shopeneur.com", None, "http", True), ("shopeneur.com", "shopeneur.com", "http")),
        ("v6", ("www.shopeneur.com", "Shopeneur.com", "dns-01", False), ("www.shopeneur.com", "shopeneur.com", "dns")),
        ("v6", ("a.b.shopeneur.co.uk", "shopeneur.co.uk", "dns", False), ("a.b.shopeneur.co.uk", "shopeneur.co.uk", "dns")),
        # The root domain comes from the Public Suffix List, never from the last two labels.
        ("v6", ("www.shop.co.uk", None, "dns", False), ("www.shop.co.uk", "shop.co.uk", "dns")),
        ("v8", ("*.a.shopeneur.com", None, "dns", False), ("*.a.shopeneur.com", "shopeneur.com", "dns")),
        ("v7", ("www.shop.co.uk", None, None, False), ("www.shop.co.uk", "shop.co.uk", None)),
    ],
)
def test_order_request_ok(version, args, expected):
    req = offline(version).order_request(*args)
    assert (req.certificate_name, req.root_domain, req.challenge_type) == expected


@pytest.mark.parametrize(
    "version, args, fragment",
    [
        ("v6", ("*.shopeneur.com", "shopeneur.com", "http", False), "wildcard"),
        ("v7", ("*.shopeneur.com", None, "http", False), "wildcard"),
        ("v6", ("www.shopeneur.com", "shopeneur.com", "dns", True), "apex"),
        ("v6", ("*.shopeneur.com", "shopeneur.com", "dns", True), "apex"),
        ("v6", ("shopeneur.com,www.shopeneur.com", "shopeneur.com", "dns", True), "comma"),
        ("v6", ("www.example.org", "shopeneur.com", "dns", False), "not within"),
        ("v6", ("www.fakeshopeneur.com", "shopeneur.com", "dns", False), "not within"),
        ("v6", ("co.uk", None, "dns", False), "public suffix"),
        ("v8", ("shopeneur.com", "shopeneur.com", None, False), "challenge_type"),
        ("v6", ("shopeneur.com", "shopeneur.com", "tls-alpn", False), "challenge_type"),
        ("v7", ("www.shopeneur.com\n", None, None, False), "certificate_name"),
    ],
)
def test_order_request_rejects(version, args, fragment):
    with pytest.raises(RclInputError) as exc:
        offline(version).order_request(*args)
    assert fragment in exc.value.msg


@pytest.mark.parametrize(
    "version, kwargs, fragment",
    [
        ("v8", dict(challenge_type=None), "challenge_type"),
        ("v6", dict(challenge_type=None), "challenge_type"),
        ("v7", dict(order_uri="not-a-url"), "order_uri"),
        ("v6", dict(order_uri="javascript:alert(1)"), "order_uri"),
        ("v6", dict(order_uri="ftp://acme.test/o/1"), "order_uri"),
        ("v7", dict(wait_timeout=10 ** 12), "wait_timeout"),
        ("v7", dict(wait_timeout=-1), "wait_timeout"),
        ("v6", dict(csr_info="notadict"), "csr_info"),
        ("v6", dict(csr_info={"country": "TT"}), "csr_info"),
        ("v6", dict(csr_info={"country_name": ["TT"]}), "csr_info.country_name"),
        ("v7", dict(certificate_name=".."), "certificate_name"),
        # V7 finalize is one blocking call: with no time to wait it would only cost quota.
        ("v7", dict(wait_timeout=0), "wait_timeout"),
        ("v7", dict(csr_info={"country_name": "TT"}), "csr_info is not used"),
        ("v8", dict(csr_info={"country_name": "TT"}), "csr_info is not used"),
    ],
)
def test_finalize_request_rejects_before_any_request(version, kwargs, fragment):
    args = dict(certificate_name="www.shopeneur.com", order_uri=V6_ORDER_URI, challenge_type="dns")
    args.update(kwargs)
    with pytest.raises(RclInputError) as exc:
        offline(version).finalize_request(**args)
    assert fragment in exc.value.msg


def test_finalize_request_derives_root_and_keeps_csr_info():
    req = offline("v6").finalize_request("www.shop.co.uk", V6_ORDER_URI, challenge_type="dns",
                                         csr_info={"country_name": "TT", "state": None})
    assert req.root_domain == "shop.co.uk" and req.csr_info == {"country_name": "TT"}


@pytest.mark.parametrize("name", [".", "..", "a/b.test", "www.shopeneur.com\n", "x" * 300, ""])
def test_reads_validate_names_before_any_request(name):
    with pytest.raises(RclInputError):
        offline("v7").get_certificate(name)


def test_insecure_settings_warn_about_plain_http_and_unchecked_tls():
    assert insecure_settings("https://a.test/x", None, True) == []
    found = insecure_settings("http://a.test/x", "HTTP://login.test/t", False)
    assert [w.split(" ")[0].rstrip(":") for w in found] == ["api_url", "token_url", "validate_certs=false"]


# ---------------------------------------------------------------------------
# secrets


def test_no_secret_in_errors_or_results(httpserver, fake):
    secrets = [API_KEY, CLIENT_SECRET, TOKEN, "pwd1234", "https://path/", "SECRETSIG"]
    shown: list[str] = []

    def record(exc: RclError) -> None:
        shown.append(str(exc))
        shown.append(json.dumps(exc.to_result(), default=str))

    v7 = client_for(httpserver, "v7", fake)
    v6 = client_for(httpserver, "v6", fake)
    httpserver.expect_request(V7_CERT + "/shopeneur.com").respond_with_data(
        body("v7/certificate.json"), content_type="application/json"
    )
    httpserver.expect_request(V7_CERT + "/denied.shopeneur.com").respond_with_data("Access denied.", status=401)
    httpserver.expect_request(V6_CERT + "/get/all").respond_with_data("Unauthorized client.", status=401)
    httpserver.expect_request("/blob/c.pfx").respond_with_data("Signature mismatch", status=403)

    cert = v7.get_certificate("shopeneur.com")
    shown.append(repr(cert))
    shown.append(json.dumps(cert.metadata(NOW)))
    shown.append(repr(FinalizeRequest("a.test", "u", pfx_password="pwd1234")))
    shown.append(repr(FinalizeResult(True, cert, None, "valid")))
    order = Order("pending", "u", tokens=[ValidationToken("_acme-challenge", "v", "dns", "a.test")])
    shown.append(json.dumps(order.to_result()))
    shown.append(repr(v7.adapter.auth) + repr(v6.adapter.auth))
    for call in (
        lambda: v7.get_certificate("denied.shopeneur.com"),
        v6.list_certificates,
        lambda: v7.fetch_pfx(cert),  # the seed's pfxString is abbreviated
        lambda: v7.fetch_pfx(
            Certificate("a.test", pfx_password="pwd1234", download_urls={"pfx_url": httpserver.url_for("/blob/c.pfx") + "?sig=SECRETSIG"}),
            source="download",
        ),
    ):
        with pytest.raises(RclError) as exc:
            call()
        record(exc.value)
    assert len(shown) == 14
    for text in shown:
        for secret in secrets:
            assert secret not in text, (secret, text)


def test_same_order_ignores_host_as_the_vendor_example_does():
    from ansible_collections.rcl.ssl.plugins.module_utils._client import same_order

    # seed 001: finalize of the acme-v02 order answers with the acme-staging-v02 URL of the same order
    assert same_order("https://acme-v02.api.letsencrypt.org/acme/order/116443104/10568102114",
                      "https://acme-staging-v02.api.letsencrypt.org/acme/order/116443104/10568102114")
    assert same_order("https://a.test/acme/order/1/2/", " https://a.test/acme/order/1/2")
    assert not same_order("https://a.test/acme/order/1/2", "https://a.test/acme/order/1/3")
    assert not same_order(None, "https://a.test/acme/order/1/2")
    assert not same_order("https://a.test/", "https://b.test/")


def test_v8_order_reply_secrets_are_reported_at_once(httpserver, fake):
    seen: list[str] = []
    client = build_client("v8", SID, api_key=API_KEY, api_url=httpserver.url_for("/prod/v3/ssl/certificate/subscription"),
                          on_secret=seen.append)
    reply = json.loads(body("v8/order.json"))
    reply.update(password="V8-PFX-SECRET", certificateDownloadUrl={"pfxUrl": "https://storage.test/V8-LINK"})
    httpserver.expect_request(V8_BASE + "/order/create", method="POST").respond_with_json(reply)
    client.adapter.create_order(client.order_request("www.shopeneur.com", None, "dns"))
    assert "V8-PFX-SECRET" in seen and "https://storage.test/V8-LINK" in seen
