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
    assert auth.fetch_count == 2


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
