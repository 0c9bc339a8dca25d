# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wire contract of every API generation, as tables (from the vendor documentation and its seeds).

``CONTRACT``: per (generation, operation), what the adapter asks the transport for: the
method, the path below the generation's base URL, the query, the exact JSON body and
whether the request may be repeated (``idempotent`` as the transport applies it). For
finalize, only the state-changing requests (the reads are rows of their own).
``REFUSALS``: what a generation refuses before any request. ``SECRETS``: what a
certificate reply hands to the adapter's ``on_secret`` sink as soon as it is parsed.

A fake transport records the requests and answers with the canned replies of
``tests/unit/fixtures/<version>/``: no HTTP server. Retry policy is ``test__http.py``'s;
the finalize flows are ``test__client.py``'s.
"""

from __future__ import annotations

import json as _json
import typing as t
from dataclasses import dataclass

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    ApiAdapter,
    FinalizeRequest,
    OrderRequest,
    Waiter,
)
from ansible_collections.rcl.ssl.plugins.module_utils._api.generations import GENERATIONS
from ansible_collections.rcl.ssl.plugins.module_utils._auth import default_token_url
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError, RclUnsupportedError
from ansible_collections.rcl.ssl.plugins.module_utils._http import IDEMPOTENT_METHODS, HttpTransport, parse_json_body

from ...conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, SID, TOKEN, FakeClock, body, body_json

NAME = "www.shopeneur.com"
TENANT = "tenant-1"
#: the connection options each generation is built from (they pass its check_connection)
OPTIONS: dict[str, dict[str, str]] = {
    "v6": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "tenant_id": TENANT},
    "v7": {"api_key": API_KEY},
    "v8": {"api_key": API_KEY},
}
#: what follows "Bearer" in every API request of each generation
BEARER = {"v6": TOKEN, "v7": API_KEY, "v8": API_KEY}

V6_ORDER_URI = body_json("v6/order_pending.json")["orderUri"]
V7_ORDER_URI = body_json("v7/order.json")["orderUri"]  # not the order of v7/certificate.json: a new one
# a newer order than the one of v8/certificate.json
V8_ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/116443104/30567267084"
CSR_INFO = {
    "country_name": "Trinidad",
    "locality": "Homeland Gardens",
    "state": "Cunupia",
    "organization": "Ray Consulting Limited",
    "organization_unit": "IT",
}


# ---------------------------------------------------------------------------
# The fake transport


@dataclass(frozen=True)
class Sent:
    """One request as the contract states it. ``path`` is below the base URL, ``{sid}`` the subscription."""

    method: str
    path: str
    params: dict[str, t.Any] | None = None
    json: t.Any = None
    idempotent: bool = True
    read_timeout: float | None = None


@dataclass
class Call:
    method: str
    url: str
    headers: dict[str, str]
    params: t.Any
    json: t.Any
    data: t.Any
    idempotent: bool | None
    redact: bool
    read_timeout: float | None


class FakeResponse:
    def __init__(self, content: bytes) -> None:
        self.status_code = 200
        self.headers: dict[str, str] = {}
        self.content = content


class FakeTransport:
    """Records every request and answers from ``replies``: {path below ``base_url`` or full URL: reply}.

    A reply is a fixture name of the generation (``"order.json"``), None (an empty body),
    or a tuple of those, answered in turn (the last one repeats). A request without a
    canned reply fails the test.
    """

    def __init__(self, version: str, base_url: str, replies: t.Mapping[str, t.Any]) -> None:
        self.version = version
        self.base_url = base_url
        self.replies = {key: list(value) if isinstance(value, tuple) else [value] for key, value in replies.items()}
        self.calls: list[Call] = []
        self.request_count = 0

    display_url = staticmethod(HttpTransport.display_url)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: t.Mapping[str, str] | None = None,
        params: t.Any = None,
        json: t.Any = None,
        data: t.Any = None,
        idempotent: bool | None = None,
        redact: bool = False,
        read_timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> FakeResponse:
        self.request_count += 1
        self.calls.append(Call(method, url, dict(headers or {}), params, json, data, idempotent, redact, read_timeout))
        key = url[len(self.base_url):] if url.startswith(self.base_url + "/") else url
        queue = self.replies.get(key)
        if not queue:
            raise AssertionError("no canned reply for %s %s" % (method, key))
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return FakeResponse(b"" if reply is None else body("%s/%s" % (self.version, reply)).encode("utf-8"))

    def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: t.Mapping[str, str] | None = None,
        params: t.Any = None,
        json: t.Any = None,
        data: t.Any = None,
        idempotent: bool | None = None,
        redact: bool = False,
        read_timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> t.Any:
        response = self.request(
            method, url, headers=headers, params=params, json=json, data=data, idempotent=idempotent,
            redact=redact, read_timeout=read_timeout, max_bytes=max_bytes,
        )
        return parse_json_body(response, self.display_url(url, params, redact), redact)

    def api_calls(self) -> list[Call]:
        """The requests to the API (the V6 token request goes elsewhere)."""
        return [call for call in self.calls if call.url.startswith(self.base_url + "/")]

    def sent(self, call: Call) -> Sent:
        told = call.idempotent
        return Sent(
            call.method,
            call.url[len(self.base_url):],
            call.params,
            call.json,
            told if told is not None else call.method.upper() in IDEMPOTENT_METHODS,
            call.read_timeout,
        )


def build(
    version: str, replies: t.Mapping[str, t.Any] | None = None, on_secret: t.Callable[[str], None] | None = None
) -> tuple[ApiAdapter, FakeTransport]:
    """The generation's adapter on its default URL, with the auth its own ``make_auth`` builds."""
    cls = GENERATIONS[version]
    canned = {path.format(sid=SID): reply for path, reply in (replies or {}).items()}
    if version == "v6":
        canned[default_token_url(TENANT)] = "token.json"
    transport = FakeTransport(version, cls.default_url, canned)
    sink = on_secret or (lambda secret: None)
    auth = cls.make_auth(transport, OPTIONS[version], sink)  # type: ignore[arg-type]
    return cls(transport, auth, None, SID, on_secret), transport  # type: ignore[arg-type]


@pytest.fixture
def waiter(clock: FakeClock) -> Waiter:
    return Waiter(600, sleep=clock.sleep, monotonic=clock)


# ---------------------------------------------------------------------------
# What each operation sends


@dataclass
class Row:
    id: str
    version: str
    call: t.Callable[[ApiAdapter, Waiter], t.Any]
    replies: dict[str, t.Any]
    sent: list[Sent]
    #: compare only the requests that change state (finalize: its reads are rows of their own)
    changes_only: bool = False


V6_ORDER = "/order/subscription/{sid}"
V6_CERT = "/certificate/subscription/{sid}"
V7_CERT = "/v1/subscription/{sid}/core/certificate/" + NAME
V8 = "/{sid}"

CONTRACT = [
    # -- V6: POST bodies with root domain and upper-case challenge type
    Row(
        "v6 get_certificate", "v6",
        lambda a, w: a.get_certificate(NAME),
        {V6_CERT + "/get": "certificate.json"},
        [Sent("GET", V6_CERT + "/get", params={"name": NAME})],
    ),
    Row(
        "v6 list_certificates", "v6",
        lambda a, w: a.list_certificates(),
        {V6_CERT + "/get/all": "certificate_list.json"},
        [Sent("GET", V6_CERT + "/get/all")],
    ),
    Row(
        "v6 create_order dns", "v6",
        lambda a, w: a.create_order(OrderRequest(NAME, "shopeneur.com", "dns", False, "support@mail.com")),
        {V6_ORDER + "/create": "order_pending.json"},
        [Sent("POST", V6_ORDER + "/create", json={
            "hostName": NAME, "rootDomain": "shopeneur.com", "challengeType": "DNS", "isSAN": False,
            "email": "support@mail.com",
        }, idempotent=False)],
    ),
    Row(
        "v6 create_order http san without email", "v6",
        lambda a, w: a.create_order(OrderRequest("shopeneur.com", "shopeneur.com", "http-01", True)),
        {V6_ORDER + "/create": "order_pending.json"},
        [Sent("POST", V6_ORDER + "/create", json={
            "hostName": "shopeneur.com", "rootDomain": "shopeneur.com", "challengeType": "HTTP", "isSAN": True,
        }, idempotent=False)],
    ),
    Row(
        "v6 get_order", "v6",
        lambda a, w: a.get_order(V6_ORDER_URI, "dns-01", "shopeneur.com"),
        {V6_ORDER + "/get": "order_ready.json"},
        # A read sent as POST: the adapter says it may be repeated.
        [Sent("POST", V6_ORDER + "/get", json={
            "orderUri": V6_ORDER_URI, "challengeType": "DNS", "rootDomain": "shopeneur.com",
        }, idempotent=True)],
    ),
    Row(
        "v6 finalize: validate, then finalize with the seed's body", "v6",
        lambda a, w: a.finalize(
            FinalizeRequest(NAME, V6_ORDER_URI, "shopeneur.com", "dns", "support@mail.com", "pwd1234", CSR_INFO),
            w, True, False,
        ),
        {
            V6_ORDER + "/get": ("order_pending.json", "order_ready.json"),
            V6_ORDER + "/validate": None,
            V6_ORDER + "/finalize": "order_finalized.json",
            V6_CERT + "/get": "certificate.json",
        },
        [
            Sent("POST", V6_ORDER + "/validate", json={"orderUri": V6_ORDER_URI, "challengeType": "DNS"},
                 idempotent=False),
            Sent("POST", V6_ORDER + "/finalize", json={
                "hostName": NAME,
                "rootDomain": "shopeneur.com",
                "orderUri": V6_ORDER_URI,
                "challengeType": "DNS",
                "email": "support@mail.com",
                "password": "pwd1234",
                "csrInfo": {
                    "countryName": "Trinidad",
                    "locality": "Homeland Gardens",
                    "state": "Cunupia",
                    "organization": "Ray Consulting Limited",
                    "organizationUnit": "IT",
                },
            }, idempotent=False),
        ],
        changes_only=True,
    ),
    # -- V7: everything is a GET under the certificate's name; the portal's record holds the rest
    Row(
        "v7 get_certificate", "v7",
        lambda a, w: a.get_certificate(NAME),
        {V7_CERT: "certificate.json"},
        [Sent("GET", V7_CERT)],
    ),
    Row(
        "v7 create_order sends no order fields", "v7",
        lambda a, w: a.create_order(OrderRequest(NAME, "shopeneur.com", "dns", True, "support@rclapp.com")),
        {V7_CERT + "/order": "order.json"},
        # A GET that starts a new ACME order (and costs quota) on every call: never repeated.
        [Sent("GET", V7_CERT + "/order", idempotent=False)],
    ),
    Row(
        "v7 finalize: one GET bounded by what is left of wait_timeout", "v7",
        lambda a, w: a.finalize(FinalizeRequest(NAME, V7_ORDER_URI), w, True, False),
        {V7_CERT: "certificate.json", V7_CERT + "/finalize": "certificate.json"},
        [Sent("GET", V7_CERT + "/finalize", params={"orderuri": V7_ORDER_URI}, idempotent=False, read_timeout=600.0)],
        changes_only=True,
    ),
    # -- V8: one certificate object, lower-case challenge type
    Row(
        "v8 get_certificate", "v8",
        lambda a, w: a.get_certificate(NAME),
        {V8 + "/get/certificatename/" + NAME: "certificate.json"},
        [Sent("GET", V8 + "/get/certificatename/" + NAME)],
    ),
    Row(
        "v8 create_order", "v8",
        lambda a, w: a.create_order(OrderRequest(NAME, "shopeneur.com", "DNS", False, "support@rclapp.com")),
        {V8 + "/order/create": "order.json"},
        [Sent("POST", V8 + "/order/create", json={
            "certificateName": NAME, "rootDomain": "shopeneur.com", "challengeType": "dns", "target": "Stand Alone",
            "subscriptionId": SID, "isSAN": False, "email": "support@rclapp.com",
        }, idempotent=False)],
    ),
    Row(
        "v8 finalize: schedule/create with the order", "v8",
        lambda a, w: a.finalize(
            FinalizeRequest(NAME, V8_ORDER_URI, "shopeneur.com", "dns-01", "support@rclapp.com", "pwd1234"),
            w, False, False,
        ),
        {V8 + "/get/certificatename/" + NAME: "certificate.json", V8 + "/schedule/create": None},
        [Sent("POST", V8 + "/schedule/create", json={
            "certificateName": NAME, "rootDomain": "shopeneur.com", "challengeType": "dns", "target": "Stand Alone",
            "subscriptionId": SID, "orderUri": V8_ORDER_URI, "email": "support@rclapp.com", "password": "pwd1234",
        }, idempotent=False)],
        changes_only=True,
    ),
]


@pytest.mark.parametrize("row", CONTRACT, ids=[row.id for row in CONTRACT])
def test_contract(row: Row, waiter: Waiter) -> None:
    adapter, transport = build(row.version, row.replies)
    row.call(adapter, waiter)
    calls = transport.api_calls()
    assert calls, "no request made"
    for call in calls:
        assert call.headers.get("Authorization") == "Bearer %s" % BEARER[row.version]
    sent = [transport.sent(call) for call in calls]
    if row.changes_only:
        sent = [s for s in sent if not s.idempotent]
    assert sent == [
        Sent(s.method, s.path.format(sid=SID), s.params, s.json, s.idempotent, s.read_timeout) for s in row.sent
    ]


# ---------------------------------------------------------------------------
# What each generation refuses before any request


@dataclass
class Refusal:
    id: str
    version: str
    call: t.Callable[[ApiAdapter, Waiter], t.Any]
    error: type[Exception]
    #: words the message must hold (besides the version)
    names: tuple[str, ...] = ()
    #: words it must not hold (options that are set)
    absent: tuple[str, ...] = ()


def _check_connection(options: dict[str, str]) -> t.Callable[[ApiAdapter, Waiter], t.Any]:
    return lambda a, w: type(a).check_connection(options)


REFUSALS = [
    Refusal("v6 create_order without challenge_type", "v6",
            lambda a, w: a.create_order(OrderRequest(NAME, "shopeneur.com", None)),
            RclInputError, ("challenge_type",), ("root_domain",)),
    Refusal("v6 create_order without root_domain", "v6",
            lambda a, w: a.create_order(OrderRequest(NAME, None, "dns")),
            RclInputError, ("root_domain",), ("challenge_type",)),
    Refusal("v8 create_order without challenge_type", "v8",
            lambda a, w: a.create_order(OrderRequest(NAME, "shopeneur.com", None)),
            RclInputError, ("challenge_type",), ("root_domain",)),
    Refusal("v6 get_order without root_domain", "v6",
            lambda a, w: a.get_order(V6_ORDER_URI, "dns", None),
            RclInputError, ("root_domain",)),
    Refusal("v6 finalize without challenge_type", "v6",
            lambda a, w: a.finalize(FinalizeRequest(NAME, V6_ORDER_URI, "shopeneur.com", None), w, True, False),
            RclInputError, ("challenge_type",)),
    # Before the rework, V8 read the certificate first and refused only then.
    Refusal("v8 finalize without root_domain, not even a read", "v8",
            lambda a, w: a.finalize(FinalizeRequest(NAME, V8_ORDER_URI, None, "dns"), w, True, False),
            RclInputError, ("root_domain",), ("challenge_type",)),
    Refusal("v8 finalize in check mode without root_domain", "v8",
            lambda a, w: a.finalize(FinalizeRequest(NAME, V8_ORDER_URI, None, "dns"), w, True, True),
            RclInputError, ("root_domain",)),
    Refusal("v7 get_order", "v7", lambda a, w: a.get_order(V7_ORDER_URI, "dns", "shopeneur.com"),
            RclUnsupportedError, ("order",)),
    Refusal("v8 get_order", "v8", lambda a, w: a.get_order(V8_ORDER_URI, "dns", "shopeneur.com"),
            RclUnsupportedError, ("order",)),
    Refusal("v7 list_certificates", "v7", lambda a, w: a.list_certificates(), RclUnsupportedError, ("Listing",)),
    Refusal("v8 list_certificates", "v8", lambda a, w: a.list_certificates(), RclUnsupportedError, ("Listing",)),
    Refusal("v7 check_connection without api_key", "v7", _check_connection({}), RclInputError, ("api_key",)),
    Refusal("v8 check_connection without api_key", "v8", _check_connection({"api_key": ""}), RclInputError,
            ("api_key",)),
    Refusal("v6 check_connection with an api_key only", "v6", _check_connection({"api_key": API_KEY}), RclInputError,
            ("client_id", "client_secret", "tenant_id or token_url")),
    Refusal("v6 check_connection without secret", "v6",
            _check_connection({"client_id": CLIENT_ID, "token_url": "https://login.test/token"}),
            RclInputError, ("client_secret",), ("client_id", "tenant_id", "token_url")),
    Refusal("v6 check_connection without tenant_id or token_url", "v6",
            _check_connection({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
            RclInputError, ("tenant_id or token_url",), ("client_id", "client_secret")),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=[r.id for r in REFUSALS])
def test_refused_before_any_request(refusal: Refusal, waiter: Waiter) -> None:
    adapter, transport = build(refusal.version)
    with pytest.raises(refusal.error) as exc:
        refusal.call(adapter, waiter)
    assert exc.type is refusal.error
    message = str(exc.value)
    assert refusal.version in message
    for name in refusal.names:
        assert name in message
    for name in refusal.absent:
        assert name not in message
    assert API_KEY not in message and CLIENT_SECRET not in message
    assert transport.calls == []


@pytest.mark.parametrize("version", sorted(GENERATIONS))
def test_contract_options_are_complete(version: str) -> None:
    GENERATIONS[version].check_connection(OPTIONS[version])


# ---------------------------------------------------------------------------
# What a certificate reply reports to on_secret


def _reply_secrets(data: dict[str, t.Any]) -> set[str]:
    """The PFX password and every download link of a certificate reply, read from the raw JSON."""
    urls = data.get("certificateDownloadUrl") or data.get("certificateDownloadUrls") or {}
    return {value for value in [data.get("password") or data.get("pfxPassword"), *urls.values()] if value}


SECRETS = [
    # (version, certificate path, fixture, number of secrets in it)
    ("v6", V6_CERT + "/get", "certificate.json", 11),  # pfxPassword, certificateDownloadUrls
    ("v7", V7_CERT, "certificate.json", 11),  # password, certificateDownloadUrl
    ("v8", V8 + "/get/certificatename/" + NAME, "certificate.json", 5),
]


@pytest.mark.parametrize("version, path, fixture, count", SECRETS, ids=[row[0] for row in SECRETS])
def test_certificate_secrets_reported_when_parsed(version: str, path: str, fixture: str, count: int) -> None:
    reported: list[str] = []
    adapter, transport = build(version, {path: fixture}, on_secret=reported.append)
    credential = BEARER[version]  # the auth reports its own secret through the same sink
    assert set(reported) <= {credential}
    cert = adapter.get_certificate(NAME)
    expected = _reply_secrets(body_json("%s/%s" % (version, fixture)))
    assert len(expected) == count
    assert set(reported) == expected | {credential}
    assert cert.pfx_password in reported and set(cert.download_urls.values()) <= set(reported)
    shown = _json.dumps(cert.metadata()) + repr(cert)
    assert not any(secret in shown for secret in expected)
