# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os

import pytest
from werkzeug import Response

from ansible_collections.rcl.ssl.plugins.module_utils._auth import (
    DEFAULT_SCOPE,
    DEFAULT_TOKEN_URL,
    ApiKeyAuth,
    ClientCredentialsAuth,
    default_token_url,
)
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclAuthError,
    RclInputError,
    RclResponseError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
CLIENT_SECRET = "cl13nt~S3cret.value"
TOKEN = "eyJ0eXAiOiJKV1Q.test-access-token.O4J411Fzg"


def fixture_text(name: str) -> str:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def transport() -> HttpTransport:
    return HttpTransport(timeout=5, sleep=lambda s: None)


def make_auth(httpserver, clock=None) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        transport(), httpserver.url_for("/tenant-1/oauth2/v2.0/token"), "client-1", CLIENT_SECRET, clock=clock or Clock()
    )


def test_api_key_auth():
    auth = ApiKeyAuth("45ref546-67rf-65ytr-65tr-546trfred")
    assert auth.headers() == {"Authorization": "Bearer 45ref546-67rf-65ytr-65tr-546trfred"}
    assert "45ref546" not in repr(auth)
    assert auth.invalidate() is False  # nothing to refresh: a 401 is final


def test_api_key_auth_rejects_empty():
    with pytest.raises(RclInputError):
        ApiKeyAuth("  ")


def test_default_token_url():
    assert DEFAULT_TOKEN_URL == "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
    assert default_token_url("contoso.onmicrosoft.com") == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    with pytest.raises(RclInputError):
        default_token_url("")


def test_token_request_form(httpserver):
    seen = []

    def handler(request):
        seen.append(request.form.to_dict())
        return Response(fixture_text("v6/token.json"), content_type="application/json")

    httpserver.expect_request("/tenant-1/oauth2/v2.0/token", method="POST").respond_with_handler(handler)
    auth = make_auth(httpserver)
    assert auth.headers() == {"Authorization": "Bearer %s" % TOKEN}
    assert seen == [
        {
            "grant_type": "client_credentials",
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
            "scope": "a9e1b21d-061d-42d6-99d9-115a328cd062/.default",
        }
    ]
    assert DEFAULT_SCOPE == "a9e1b21d-061d-42d6-99d9-115a328cd062/.default"
    assert httpserver.log[0][0].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_token_is_cached_until_expiry_minus_margin(httpserver):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token", method="POST").respond_with_data(
        fixture_text("v6/token.json"), content_type="application/json"
    )
    clock = Clock()
    auth = make_auth(httpserver, clock)
    for _attempt in range(3):
        assert auth.token() == TOKEN
    assert len(httpserver.log) == 1
    clock.now += 3599 - 61  # still inside expires_in - 60
    auth.token()
    assert len(httpserver.log) == 1
    clock.now += 2  # past expires_in - 60
    auth.token()
    assert len(httpserver.log) == 2


def test_invalidate_only_helps_for_cached_tokens(httpserver):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token").respond_with_data(
        fixture_text("v6/token.json"), content_type="application/json"
    )
    auth = make_auth(httpserver)
    auth.headers()  # freshly fetched for this request
    assert auth.invalidate() is False
    auth.headers()  # fetched again (cache dropped)
    auth.headers()  # from the cache
    assert auth.invalidate() is True
    assert len(httpserver.log) == 2
    auth.headers()
    assert len(httpserver.log) == 3


def test_token_endpoint_error_is_auth_error_without_secret(httpserver):
    body = json.dumps(
        {
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided: '%s'." % CLIENT_SECRET,
        }
    )
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token").respond_with_data(
        body, status=401, content_type="application/json"
    )
    auth = make_auth(httpserver)
    with pytest.raises(RclAuthError) as exc:
        auth.headers()
    text = str(exc.value) + repr(exc.value.to_result())
    assert "AADSTS7000215: Invalid client secret provided" in exc.value.msg
    assert CLIENT_SECRET not in text
    assert exc.value.status == 401


def test_token_endpoint_400_text_body(httpserver):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token").respond_with_data(
        "Tenant not found.", status=400, content_type="text/plain"
    )
    with pytest.raises(RclAuthError) as exc:
        make_auth(httpserver).headers()
    assert exc.value.msg.endswith("Tenant not found.") and exc.value.status == 400


def test_token_post_is_retried(httpserver):
    httpserver.expect_oneshot_request("/tenant-1/oauth2/v2.0/token").respond_with_data("busy", status=503)
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token").respond_with_data(
        fixture_text("v6/token.json"), content_type="application/json"
    )
    assert make_auth(httpserver).token() == TOKEN
    assert len(httpserver.log) == 2


@pytest.mark.parametrize(
    "body",
    ['{"access_token": "%s", ' % TOKEN, '{"token_type": "Bearer", "expires_in": 3599}', '["%s"]' % TOKEN],
)
def test_token_reply_malformed(httpserver, body):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token").respond_with_data(body, content_type="application/json")
    with pytest.raises(RclResponseError) as exc:
        make_auth(httpserver).token()
    assert TOKEN not in str(exc.value)


def test_client_credentials_repr_hides_secret(httpserver):
    auth = make_auth(httpserver)
    assert CLIENT_SECRET not in repr(auth)
    with pytest.raises(RclInputError):
        ClientCredentialsAuth(transport(), "https://t.test/token", "id", "")


def _leaks(secret: str, text: str) -> list[str]:
    """Every 4-character piece of ``secret`` (without control characters) found in ``text``."""
    pieces = {secret[i:i + 4] for i in range(len(secret) - 3)}
    return sorted(p for p in pieces if p.isprintable() and p in text)


@pytest.mark.parametrize(
    "key, kind",
    [
        ("Kq7w\nZx9p-SECRET7", "control character"),
        ("Kq7w\rZx9p-SECRET7", "control character"),
        ("Kq7w\r\nX-Injected: SECRET7", "control character"),
        ("Kq7w\x00Zx9p-SECRET7", "control character"),
        ("Kq7w\x1b[31mZx9p-SECRET7", "control character"),
        ("Kq7w\x7fZx9p-SECRET7", "control character"),
        ("Kq7w\x85Zx9p-SECRET7", "control character"),
        ("Kq7w\x9bZx9p-SECRET7", "control character"),
        ("Kq7w\tZx9p-SECRET7", "control character"),
        ("Kq7w Zx9p-SECRET7", "whitespace"),
        ("Kq7w\xa0Zx9p-SECRET7", "whitespace"),
        ("Kq7w\u20acZx9p-SECRET7", "latin-1"),
        ("Kq7w\u2028Zx9p-SECRET7", "latin-1"),
        ("Kq7w\ud800Zx9p-SECRET7", "latin-1"),
    ],
)
def test_api_key_rejects_values_that_cannot_be_a_header(key, kind):
    seen = []
    with pytest.raises(RclInputError) as exc:
        ApiKeyAuth(key, on_secret=seen.append)
    text = exc.value.msg + repr(exc.value.to_result()) + str(exc.value)
    assert "api_key" in exc.value.msg and kind in exc.value.msg
    assert _leaks(key, text) == []
    assert "SECRET7" not in text and "Kq7w" not in text


def test_api_key_keeps_latin1_and_strips_ends():
    auth = ApiKeyAuth("  \nK\u00e9y-1234\t ")
    assert auth.headers() == {"Authorization": "Bearer K\u00e9y-1234"}


def test_api_key_reported_to_on_secret_at_construction():
    seen = []
    ApiKeyAuth(" 45ref546-67rf-65ytr ", on_secret=seen.append)
    assert seen == ["45ref546-67rf-65ytr"]


def test_access_token_reported_before_it_is_used(httpserver):
    """V6: an API 401 body that echoes the token must find it already registered as a secret."""
    events = []
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token", method="POST").respond_with_data(
        fixture_text("v6/token.json"), content_type="application/json"
    )

    def api(request):
        events.append(("request", request.headers.get("Authorization")))
        return Response("Token %s is not valid for this subscription" % TOKEN, status=401, content_type="text/plain")

    httpserver.expect_request("/api/certificate").respond_with_handler(api)
    http = transport()
    auth = ClientCredentialsAuth(
        http, httpserver.url_for("/tenant-1/oauth2/v2.0/token"), "client-1", CLIENT_SECRET, clock=Clock(),
        on_secret=lambda secret: events.append(("secret", secret)),
    )
    with pytest.raises(RclAuthError) as exc:
        http.request("GET", httpserver.url_for("/api/certificate"), headers=auth.headers())
    events.append(("error", exc.value.status))
    assert events == [("secret", TOKEN), ("request", "Bearer %s" % TOKEN), ("error", 401)]
    assert TOKEN in exc.value.body  # the echo is there: masking it is the sink's job


def test_access_token_reported_for_every_fetch_through_the_transport_sink(httpserver):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token", method="POST").respond_with_data(
        fixture_text("v6/token.json"), content_type="application/json"
    )
    seen = []
    http = HttpTransport(timeout=5, sleep=lambda s: None, on_secret=seen.append)
    assert http.on_secret is not None
    auth = ClientCredentialsAuth(http, httpserver.url_for("/tenant-1/oauth2/v2.0/token"), "client-1", CLIENT_SECRET,
                                 clock=Clock())
    auth.token()
    auth.token()  # cached: nothing new to report
    assert seen == [TOKEN]
    auth.invalidate()
    auth.token()
    assert seen == [TOKEN, TOKEN]


def test_token_reply_with_utf8_bom(httpserver):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token", method="POST").respond_with_data(
        b"\xef\xbb\xbf" + fixture_text("v6/token.json").encode("utf-8"), content_type="application/json"
    )
    assert make_auth(httpserver).token() == TOKEN


def test_token_reply_nested_too_deeply_is_clean_error(httpserver):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token", method="POST").respond_with_data(
        "[" * 100000, content_type="application/json"
    )
    with pytest.raises(RclResponseError) as exc:
        make_auth(httpserver).token()
    assert "did not answer with JSON" in exc.value.msg


def test_token_error_body_nested_too_deeply_is_auth_error(httpserver):
    httpserver.expect_request("/tenant-1/oauth2/v2.0/token").respond_with_data(
        "[" * 60000, status=400, content_type="application/json"
    )
    with pytest.raises(RclAuthError) as exc:
        make_auth(httpserver).token()
    assert exc.value.status == 400
