# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_api/servertastic: the reseller API v2 unit (PROVIDERS.md section 2).

``FakeServertastic`` answers the calls on ``httpserver`` as PROVIDERS.md describes them (a token per
reference, ``place`` with the CSR, ``review`` until ``Completed``, which then carries a leaf issued for
the placed CSR by the ``pki`` intermediate). The transport is the real ``HttpTransport`` on the fake
``clock``; ``LosingTransport`` drops the reply of a call the server has acted on. The state file lives
in ``tmp_path``; PBKDF2 runs with few iterations here (``test__state.py`` covers the real count).
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import socket
import typing as t

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from werkzeug import Request, Response

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate, _state
from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate, Waiter
from ansible_collections.rcl.ssl.plugins.module_utils._api.servertastic import ServertasticService
from ansible_collections.rcl.ssl.plugins.module_utils._api.service import challenge_data
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclCertificateError,
    RclError,
    RclInputError,
    RclOrderInvalidError,
    RclResponseError,
    RclTimeoutError,
    RclTransportError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

from ...conftest import FakeClock

NAME = "www.example.com"
BASE = "example.com"
API_KEY = "st-API-k3y-0123456789abcdef"
PRODUCT = "RapidSSL-12"
REFERENCE = "rcl-0123456789-20240102030405"
TOKEN = "tok-SeCrEt-4711"
CONTACTS = {
    "tech": {"first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0000", "email": "ada@example.test",
             "title": "Operations"},
    "admin": {"first_name": "Alan", "last_name": "Turing", "phone": "+44 20 7946 0001", "email": "alan@example.test",
              "title": "CTO"},
}
AWAITING = "Awaiting Customer Verification"


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch):
    monkeypatch.setattr(_state, "ITERATIONS", 1000)


# ---------------------------------------------------------------------------
# the fake server


def issue_for(csr_pem: str, material: t.Any, days: int = 90) -> x509.Certificate:
    """A leaf for the CSR's public key and names, issued by the ``pki`` intermediate."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    issuer = material.intermediates[0]
    return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(material.intermediate_keys[0], hashes.SHA256()))


def pem(*certs: t.Any) -> str:
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode() for cert in certs)


def ok(data: dict[str, t.Any], status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def refused(code: int, message: str) -> Response:
    return ok({"error": {"code": code, "message": message}}, status=code)


class FakeServertastic:
    """The calls of PROVIDERS.md section 2 on ``httpserver``, with one order per token."""

    def __init__(self, httpserver: t.Any, material: t.Any) -> None:
        self.server = httpserver
        self.material = material
        self.calls: list[tuple[str, str, dict[str, str]]] = []  # (call, method, parameters)
        self.tokens: dict[str, str] = {}  # token -> reference
        self.status: dict[str, str] = {}  # token -> order_status
        self.csr: dict[str, str] = {}
        self.method: dict[str, str] = {}
        self.leaf: x509.Certificate | None = None
        self.script: list[str] = []  # statuses the next reviews report, one each (then the last one stays)
        self.review_extra: dict[str, t.Any] = {}
        self.on_generate: t.Callable[[dict[str, str]], None] | None = None
        self.complete_after_polls: int | None = None
        for call in ("generatetoken", "showtokens", "place", "review", "pollauth"):
            httpserver.expect_request("/order/%s.json" % call).respond_with_handler(self._handler(call))

    def url(self) -> str:
        return self.server.url_for("/")

    def count(self, call: str) -> int:
        return sum(1 for name, _method, _params in self.calls if name == call)

    def params(self, call: str, index: int = -1) -> dict[str, str]:
        return [params for name, _method, params in self.calls if name == call][index]

    def methods(self, call: str) -> list[str]:
        return [method for name, method, _params in self.calls if name == call]

    def _handler(self, call: str) -> t.Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            params = dict(request.args.items())
            if request.method == "POST":
                params.update(dict(request.form.items()))
            self.calls.append((call, request.method, params))
            return getattr(self, call)(params, request)
        return handle

    def generatetoken(self, params: dict[str, str], request: Request) -> Response:
        if params.get("api_key") != API_KEY:
            return refused(403, "Invalid API key")
        if self.on_generate is not None:
            self.on_generate(params)
        if params["reseller_unique_reference"] in self.tokens.values():
            return refused(400, "Duplicate reseller_unique_reference")
        token = "tok-%d-%s" % (len(self.tokens) + 1, "x" * 8)
        self.tokens[token] = params["reseller_unique_reference"]
        self.status[token] = "Order Placed"
        return ok({"success": "Order token generated", "order_token": token,
                   "reseller_order_id": 1000 + len(self.tokens)})

    def showtokens(self, params: dict[str, str], request: Request) -> Response:
        if params.get("api_key") != API_KEY:
            return refused(403, "Invalid API key")
        items = [{"token": token, "reseller_unique_reference": ref} for token, ref in self.tokens.items()]
        # the XML nesting: one element comes as a bare object, none as ""
        return ok({"success": "Tokens", "unused_tokens": {"order_token": items[0] if len(items) == 1 else items},
                   "used_tokens": ""})

    def place(self, params: dict[str, str], request: Request) -> Response:
        token = params.get("order_token", "")
        if token not in self.tokens:
            return refused(403, "Invalid order token")
        self.csr[token] = params["csr"]
        self.method[token] = params["dv_auth_method"]
        self.status[token] = AWAITING
        return ok({"success": "Order placed", "reseller_order_id": 1001, "invite_url": "https://st.test/invite"})

    def review(self, params: dict[str, str], request: Request) -> Response:
        token = params.get("order_token", "")
        if token not in self.status:
            return refused(403, "Invalid order token")
        if self.script:
            self.status[token] = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        status = self.status[token]
        method = self.method.get(token, "DNS")
        data: dict[str, t.Any] = {
            "success": "Review Order", "reseller_order_id": 1001, "order_status": status,
            "domain_name": NAME, "dv_auth_method": method, "approver_email_address": "admin@" + BASE,
            "approver_notified_date": "2024-01-02 03:04:05",
        }
        if method == "DNS":
            data.update(dv_auth_dns_type="TXT", dv_auth_dns_name="", dv_auth_dns_string="st-dns-value-123")
        elif method in ("FILE", "SFILE"):
            data.update(dv_auth_file_name="fileauth.txt", dv_auth_file_contents="st-file-contents-123")
        if status == "Completed":
            if self.leaf is None and token in self.csr:
                self.leaf = issue_for(self.csr[token], self.material)
            leaf = self.leaf or self.material.leaf
            data.update(certificate=pem(leaf), ca_certs={"certificate_info": [
                {"type": "INTERMEDIATE", "certificate": pem(self.material.intermediates[0])},
                {"type": "ROOT", "certificate": pem(self.material.root)},
            ]})
        data.update(self.review_extra)
        return ok(data)

    def pollauth(self, params: dict[str, str], request: Request) -> Response:
        token = params.get("order_token", "")
        if token not in self.status:
            return refused(403, "Invalid order token")
        if self.complete_after_polls is not None:
            self.status[token] = "Completed"
        return ok({"success": "Order Polled"})


class LosingTransport(HttpTransport):
    """Loses the reply of the calls named in ``lose`` once, after the server has acted on them."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.lose: set[str] = set()

    def request_json(self, method: str, url: str, **kwargs: t.Any) -> t.Any:
        reply = super().request_json(method, url, **kwargs)
        call = url.rsplit("/", 1)[-1].replace(".json", "")
        if call in self.lose:
            self.lose.discard(call)
            raise RclTransportError("Request %s %s failed: the connection broke while reading the reply "
                                    "(ConnectionResetError)" % (method, self.display_url(url, kwargs.get("params"))))
        return reply


@pytest.fixture
def material(pki):
    return pki()


@pytest.fixture
def fake(httpserver, material) -> FakeServertastic:
    return FakeServertastic(httpserver, material)


def make_unit(url: str, clock: FakeClock, secrets: list[str] | None = None,
              retries: int = 0) -> ServertasticService:
    transport = LosingTransport(timeout=5, retries=retries, sleep=clock.sleep, clock=clock)
    return ServertasticService(transport, url, dict(api_key=API_KEY),
                               on_secret=secrets.append if secrets is not None else None)


@pytest.fixture
def unit(fake, clock) -> ServertasticService:
    return make_unit(fake.url(), clock)


def options(tmp_path: t.Any, **extra: t.Any) -> dict[str, t.Any]:
    base: dict[str, t.Any] = dict(product_code=PRODUCT, contacts=CONTACTS, approver_email=None,
                                  state_dir=str(tmp_path / "state"), state_passphrase=None, key_type="ec256",
                                  acme_account_email=None)
    base.update(extra)
    return base


def make_req(tmp_path: t.Any, challenge_type: str | None = "dns", name: str = NAME, ordering: bool = True,
             **extra: t.Any):
    return ServertasticService.request(name, challenge_type, options(tmp_path, **extra), ordering=ordering)


def waiter(clock: FakeClock, timeout: float = 600) -> Waiter:
    return Waiter(timeout, 2.0, sleep=clock.sleep, monotonic=clock)


def seed(unit: ServertasticService, req: t.Any, key: t.Any, which: str = "pending", token: str = TOKEN,
         challenge_type: str = "dns", **clear: t.Any) -> str:
    """A slot as an earlier run left it (placed, token and key sealed); returns its order_uri."""
    fields = dict(reference=REFERENCE, product_code=PRODUCT, names=[req.certificate_name],
                  challenge_type=challenge_type, stage="placed", renewal=False)
    fields.update(clear)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    unit.store(req).put(req.certificate_name, which, fields, secret=dict(token=token, key=key_pem), merge=False)
    return "servertastic:" + REFERENCE


def seeded_fake(fake: FakeServertastic, status: str, method: str = "DNS", token: str = TOKEN) -> None:
    fake.tokens[token] = REFERENCE
    fake.status[token] = status
    fake.method[token] = method


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d" % port


# ---------------------------------------------------------------------------
# request(): contacts, product code, approver


def test_request_keeps_the_checked_options(tmp_path):
    req = make_req(tmp_path)
    assert req.certificate_name == NAME and req.names == [NAME] and req.challenge_type == "dns"
    assert req.options["product_code"] == PRODUCT and req.options["contacts"] == CONTACTS
    assert "acme_account_email" not in req.options


def test_request_defaults_to_dns_and_lowers_the_challenge_type(tmp_path):
    assert make_req(tmp_path, challenge_type=None).challenge_type == "dns"
    assert make_req(tmp_path, challenge_type=" HTTPS ").challenge_type == "https"
    with pytest.raises(RclInputError, match="challenge_type must be one of dns, http, https, email"):
        make_req(tmp_path, challenge_type="tls-alpn")
    with pytest.raises(RclInputError, match="cannot validate the wildcard"):
        make_req(tmp_path, challenge_type="http", name="*.example.com")


@pytest.mark.parametrize("role", ["tech", "admin"])
@pytest.mark.parametrize("field", ["first_name", "last_name", "phone", "email", "title"])
@pytest.mark.parametrize("gone", ["missing", "empty", "blank", "list"])
def test_contacts_need_every_field_of_both_people(tmp_path, role, field, gone):
    contacts = json.loads(json.dumps(CONTACTS))
    if gone == "missing":
        del contacts[role][field]
    else:
        contacts[role][field] = {"empty": "", "blank": "   ", "list": ["x"]}[gone]
    with pytest.raises(RclInputError) as caught:
        make_req(tmp_path, contacts=contacts)
    assert caught.value.msg == "contacts.%s needs %s (Servertastic requires a real person)" % (role, field)


def test_contacts_name_all_missing_fields():
    with pytest.raises(RclInputError, match=r"contacts\.tech needs first_name, last_name, phone, email, title"):
        ServertasticService._check_contacts({"tech": {}, "admin": CONTACTS["admin"]})


@pytest.mark.parametrize("contacts, message", [
    (dict(CONTACTS, billing=CONTACTS["tech"]), "contacts has unknown keys billing; allowed: tech, admin"),
    ({"tech": dict(CONTACTS["tech"], fax="1"), "admin": CONTACTS["admin"]},
     "contacts.tech has unknown keys fax; allowed: first_name, last_name, phone, email, title"),
    ({"tech": CONTACTS["tech"]}, "contacts.admin must be a dictionary"),
    ({"tech": CONTACTS["tech"], "admin": "alan@example.test"}, "contacts.admin must be a dictionary"),
    (["tech", "admin"], "contacts must be a dictionary with the keys tech and admin"),
    ({"tech": dict(CONTACTS["tech"], email="ada.example.test"), "admin": CONTACTS["admin"]},
     "contacts.tech.email must be an e-mail address"),
])
def test_contacts_refuse_unknown_keys_and_shapes(tmp_path, contacts, message):
    with pytest.raises(RclInputError) as caught:
        make_req(tmp_path, contacts=contacts)
    assert caught.value.msg.startswith(message)


def test_contacts_are_stripped_and_numbers_taken_as_text(tmp_path):
    contacts = json.loads(json.dumps(CONTACTS))
    contacts["tech"]["phone"] = 4420794600
    contacts["admin"]["first_name"] = "  Alan "
    checked = make_req(tmp_path, contacts=contacts).options["contacts"]
    assert checked["tech"]["phone"] == "4420794600" and checked["admin"]["first_name"] == "Alan"


@pytest.mark.parametrize("code", ["RapidSSL-12", "PositiveSSL-24", "SSL123-12", "QuickSSLPremium-36", "ab-1"])
def test_product_code_pattern_takes_product_dash_months(tmp_path, code):
    assert make_req(tmp_path, product_code=code).options["product_code"] == code


@pytest.mark.parametrize("code", ["RapidSSL", "Rapid SSL-12", "RapidSSL-12 ", "RapidSSL-1234", "-12", "R-12",
                                  "RapidSSL-12&api_key=x", "RapidSSL_12"])
def test_product_code_pattern_refuses_the_rest(tmp_path, code):
    with pytest.raises(RclInputError, match="product_code must look like RapidSSL-12"):
        make_req(tmp_path, product_code=code)


def test_an_order_needs_product_code_and_contacts_but_a_read_does_not(tmp_path):
    with pytest.raises(RclInputError, match="needs product_code and contacts"):
        make_req(tmp_path, product_code=None, contacts=None)
    req = make_req(tmp_path, ordering=False, product_code=None, contacts=None)
    assert "product_code" not in req.options


def test_email_needs_an_approver_email(tmp_path):
    with pytest.raises(RclInputError, match=r"challenge_type=email needs approver_email .*admin@example\.com"):
        make_req(tmp_path, challenge_type="email")
    assert make_req(tmp_path, challenge_type="email", approver_email="admin@example.com").challenge_type == "email"
    make_req(tmp_path, challenge_type="email", ordering=False)  # reading an order needs none
    for bad in ("admin", "admin@x@example.com", "ad min@example.com"):
        with pytest.raises(RclInputError, match="approver_email must be one e-mail address"):
            make_req(tmp_path, challenge_type="email", approver_email=bad)


def test_key_type_and_foreign_options_are_checked(tmp_path):
    with pytest.raises(RclInputError, match="key_type must be one of"):
        make_req(tmp_path, key_type="dsa1024")
    with pytest.raises(RclInputError, match="acme_account_email is not used by service=servertastic"):
        make_req(tmp_path, acme_account_email="ops@example.com")


def test_the_unit_refuses_an_unusable_api_key(clock):
    transport = HttpTransport(timeout=5, retries=0, sleep=clock.sleep, clock=clock)
    for bad in ("", "   ", "key with space", "ke\ty", "ke\x00y"):
        with pytest.raises(RclInputError, match="api_key is empty or contains whitespace"):
            ServertasticService(transport, None, dict(api_key=bad))
    unit = ServertasticService(transport, None, dict(api_key=API_KEY))
    assert unit.base_url == "https://api2.servertastic.com"


# ---------------------------------------------------------------------------
# the reference


def test_reference_is_deterministic_short_and_per_name():
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    ref = ServertasticService.reference(NAME, when)
    assert ref == ServertasticService.reference(NAME, when)
    assert re.fullmatch(r"rcl-[0-9a-f]{10}-20240102030405", ref)
    assert len(ref) <= 35
    assert ServertasticService.reference("*.example.com", when) != ref
    assert ServertasticService.reference(NAME, when + datetime.timedelta(seconds=1)) != ref
    long_name = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + ".example.com"
    assert len(ServertasticService.reference(long_name, when)) <= 35


# ---------------------------------------------------------------------------
# order(): token, place


def test_order_generates_one_token_places_and_returns_the_dns_record(fake, unit, tmp_path):
    req = make_req(tmp_path)
    order = unit.order(req, None, force=False, due=True)
    assert [call for call, _method, _params in fake.calls] == ["generatetoken", "place", "review"]
    params = fake.params("generatetoken")
    assert params["api_key"] == API_KEY and params["st_product_code"] == PRODUCT
    assert re.fullmatch(r"rcl-[0-9a-f]{10}-\d{14}", params["reseller_unique_reference"])
    assert params["end_customer_email"] == "none"
    assert fake.methods("generatetoken") == ["GET"]
    reference = params["reseller_unique_reference"]
    assert order.order_uri == "servertastic:" + reference and order.resumed is False
    assert order.status == "pending" and order.service_status == AWAITING
    assert order.details["reference"] == reference
    entries, records = challenge_data(order)
    assert records == {BASE: ["st-dns-value-123"]}
    assert entries[0]["challenges"]["dns-01"]["record"] == BASE
    assert unit.pending(req) == order.order_uri


def test_the_state_slot_is_written_before_generatetoken(fake, unit, tmp_path):
    req = make_req(tmp_path)
    seen: list[dict[str, t.Any]] = []

    def check_state(params: dict[str, str]) -> None:
        with open(str(tmp_path / "state" / "servertastic.json"), encoding="utf-8") as fh:
            slot = json.load(fh)["certificates"][NAME]["pending"]
        seen.append(slot)
        assert slot["reference"] == params["reseller_unique_reference"]
        assert slot["token_requested"] is True and slot["product_code"] == PRODUCT
        assert slot["sealed"]  # the key is stored before anything is paid for

    fake.on_generate = check_state
    unit.order(req, None, force=False, due=True)
    assert len(seen) == 1


def test_a_lost_generatetoken_reply_is_found_in_showtokens(fake, clock, tmp_path):
    secrets: list[str] = []
    unit = make_unit(fake.url(), clock, secrets=secrets)
    req = make_req(tmp_path)
    unit.transport.lose.add("generatetoken")
    with pytest.raises(RclTransportError):
        unit.order(req, None, force=False, due=True)
    assert fake.count("generatetoken") == 1 and len(fake.tokens) == 1  # paid, reply lost
    token = next(iter(fake.tokens))
    again = make_unit(fake.url(), clock, secrets=secrets)  # the next run
    order = again.order(req, None, force=False, due=True)
    assert [call for call, _method, _params in fake.calls] == ["generatetoken", "showtokens", "place", "review"]
    assert fake.params("showtokens")["api_key"] == API_KEY
    assert fake.params("place")["order_token"] == token
    assert order.resumed is True and order.order_uri == "servertastic:" + fake.tokens[token]
    assert token in secrets


def test_a_generatetoken_that_never_reached_the_server_is_sent_again(fake, clock, tmp_path):
    unit = make_unit(fake.url(), clock)
    req = make_req(tmp_path)
    # a proxy answers instead of Servertastic, once (one-shot handlers come before the fake's)
    fake.server.expect_oneshot_request("/order/generatetoken.json").respond_with_data("down", status=502)
    with pytest.raises(RclApiError):
        unit.order(req, None, force=False, due=True)
    assert fake.tokens == {}
    again = make_unit(fake.url(), clock)
    again.order(req, None, force=False, due=True)
    assert [call for call, _method, _params in fake.calls] == ["showtokens", "generatetoken", "place", "review"]


def test_place_posts_the_csr_of_the_sealed_key_and_the_contacts(fake, unit, tmp_path):
    req = make_req(tmp_path)
    unit.order(req, None, force=False, due=True)
    assert fake.methods("place") == ["POST"]
    place_request = [r for r, _response in fake.server.log if r.path == "/order/place.json"][0]
    assert place_request.args == {}  # the credentials travel in the body, not in the URL
    params = fake.params("place")
    token = next(iter(fake.tokens))
    assert params["order_token"] == token
    assert params["dv_auth_method"] == "DNS" and params["exclude_addon"] == "1" and params["renewal"] == "0"
    assert "approver_email_address" not in params
    for role, person in CONTACTS.items():
        for field, value in person.items():
            assert params["%s_contact_%s" % (role, field)] == value
    expected = {"order_token", "dv_auth_method", "csr", "exclude_addon", "renewal"} | {
        "%s_contact_%s" % (role, field) for role in CONTACTS for field in CONTACTS[role]}
    assert set(params) == expected
    csr = x509.load_pem_x509_csr(params["csr"].encode())
    assert csr.is_signature_valid
    assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == [NAME]
    store = unit.store(req)
    slot = store.slot(NAME, "pending")
    assert slot is not None and slot["stage"] == "placed"
    sealed = store.unseal(slot, NAME)
    assert sealed["token"] == token
    key = _certificate.load_private_key_pem(sealed["key"].encode())
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert csr.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def test_place_with_the_default_key_type_sends_an_rsa_csr(fake, unit, tmp_path):
    req = make_req(tmp_path, key_type=None)
    unit.order(req, None, force=False, due=True)
    csr = x509.load_pem_x509_csr(fake.params("place")["csr"].encode())
    assert csr.public_key().key_size == 2048


@pytest.mark.parametrize("challenge_type, method", [("dns", "DNS"), ("http", "FILE"), ("https", "SFILE"),
                                                    ("email", "EMAIL")])
def test_place_maps_the_challenge_type(fake, unit, tmp_path, challenge_type, method):
    req = make_req(tmp_path, challenge_type=challenge_type, approver_email="admin@example.com")
    unit.order(req, None, force=False, due=True)
    params = fake.params("place")
    assert params["dv_auth_method"] == method
    if method == "EMAIL":
        assert params["approver_email_address"] == "admin@example.com"
    else:
        assert "approver_email_address" not in params


def test_place_asks_for_renewal_when_a_current_order_exists(fake, unit, tmp_path, material):
    req = make_req(tmp_path)
    seed(unit, req, material.leaf_key, which="current", reference="rcl-old")
    unit.order(req, None, force=False, due=True)
    assert fake.params("place")["renewal"] == "1"


def test_place_asks_for_renewal_when_the_service_holds_a_certificate(fake, unit, tmp_path):
    req = make_req(tmp_path)
    unit.order(req, Certificate(NAME, id="rcl-old"), force=True, due=False)
    assert fake.params("place")["renewal"] == "1"


def test_a_resumed_placed_order_makes_no_new_token_and_no_new_place(fake, unit, tmp_path, material):
    req = make_req(tmp_path)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    order = unit.order(req, None, force=False, due=True)
    assert [call for call, _method, _params in fake.calls] == ["review"]
    assert order.resumed is True and order.order_uri == uri and order.status == "pending"


def test_a_lost_place_reply_is_checked_before_placing_again(fake, unit, tmp_path):
    req = make_req(tmp_path)
    unit.transport.lose.add("place")
    with pytest.raises(RclTransportError):
        unit.order(req, None, force=False, due=True)
    unit.order(req, None, force=False, due=True)
    assert [call for call, _method, _params in fake.calls] == ["generatetoken", "place", "review", "review"]


def test_a_resumed_order_with_other_inputs_is_refused(fake, unit, tmp_path, material):
    req = make_req(tmp_path)
    seed(unit, req, material.leaf_key)
    with pytest.raises(RclInputError, match="another product_code") as caught:
        unit.order(make_req(tmp_path, product_code="PositiveSSL-12"), None, force=False, due=True)
    assert caught.value.details["reference"] == REFERENCE
    with pytest.raises(RclInputError, match="another challenge_type"):
        unit.order(make_req(tmp_path, challenge_type="http"), None, force=False, due=True)
    assert fake.calls == []


# ---------------------------------------------------------------------------
# status mapping and what to publish (read)


@pytest.mark.parametrize("service_status, status", [
    ("Order Placed", "pending"), ("Order placed", "pending"), ("Invite Available", "pending"),
    (AWAITING, "pending"), ("awaiting  customer\tverification", "pending"),
    ("Awaiting Provider Approval", "processing"), ("Queued", "processing"), ("Servertastic Review", "processing"),
    ("ServerTastic Review", "processing"), ("Something New", "processing"), ("", "processing"),
    ("Completed", "valid"), (" COMPLETED ", "valid"), ("Cancelled", "invalid"), ("Roll Back", "invalid"),
])
def test_status_mapping(fake, unit, tmp_path, material, service_status, status):
    req = make_req(tmp_path, ordering=False)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, service_status)
    order = unit.read(uri, req)
    assert order.status == status and order.service_status == service_status
    assert fake.params("review")["order_token"] == TOKEN
    if status != "pending" or service_status.lower().startswith(("order", "invite")):
        assert order.publish == []  # nothing to publish before placing, or once the CA is past it


def test_review_keys_are_read_in_any_case(fake, unit, tmp_path, material):
    req = make_req(tmp_path, ordering=False)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    fake.review_extra = {"OrderStatus": "Queued", "Order-State-Further-Info": "Checked by a person"}
    order = unit.read(uri, req)
    assert order.status == "processing" and order.details["service_detail"] == "Checked by a person"


@pytest.mark.parametrize("name, dns_name, record", [
    (NAME, "", BASE),
    (NAME, None, BASE),
    (NAME, "_dnsauth", "_dnsauth." + BASE),
    (NAME, "_dnsauth.example.com", "_dnsauth." + BASE),
    (NAME, "_DNSAuth.Example.COM.", "_dnsauth." + BASE),
    (NAME, "example.com", BASE),
    (NAME, "www", "www." + BASE),
    ("*.example.com", "", BASE),
    ("shop.example.com", "", "shop.example.com"),
    ("shop.example.com", "_x", "_x.shop.example.com"),
])
def test_dns_record_names(fake, unit, tmp_path, material, name, dns_name, record):
    req = make_req(tmp_path, ordering=False, name=name)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    fake.review_extra = {"dv_auth_dns_name": dns_name, "dv_auth_dns_string": "  value-1  ", "dv_auth_dns_type": ""}
    order = unit.read(uri, req)
    assert [(p.kind, p.identifier, p.record, p.value) for p in order.publish] == [("dns", name, record, "value-1")]


def test_a_dns_record_other_than_txt_is_refused(fake, unit, tmp_path, material):
    req = make_req(tmp_path, ordering=False)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    fake.review_extra = {"dv_auth_dns_type": "CNAME"}
    with pytest.raises(RclResponseError, match="asks for a CNAME record"):
        unit.read(uri, req)


def test_nothing_to_publish_before_the_dns_value_is_known(fake, unit, tmp_path, material):
    req = make_req(tmp_path, ordering=False)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    fake.review_extra = {"dv_auth_dns_string": ""}
    assert unit.read(uri, req).publish == []


@pytest.mark.parametrize("file_name, resource", [
    ("fileauth.txt", ".well-known/pki-validation/fileauth.txt"),
    ("", ".well-known/pki-validation/fileauth.txt"),
    ("/ABC123.txt", ".well-known/pki-validation/ABC123.txt"),
    ("sub/ABC123.txt", ".well-known/pki-validation/sub/ABC123.txt"),
])
def test_file_validation_resources(fake, unit, tmp_path, material, file_name, resource):
    req = make_req(tmp_path, challenge_type="http", ordering=False)
    uri = seed(unit, req, material.leaf_key, challenge_type="http")
    seeded_fake(fake, AWAITING, method="FILE")
    fake.review_extra = {"dv_auth_file_name": file_name}
    order = unit.read(uri, req)
    assert [(p.kind, p.resource, p.value) for p in order.publish] == [("http", resource, "st-file-contents-123")]
    entries, records = challenge_data(order)
    assert records == {} and entries[0]["challenges"]["http-01"]["resource"] == resource


@pytest.mark.parametrize("file_name", ["../index.html", "../../etc/passwd", "a/../../b", "..", "x/.."])
def test_unsafe_file_names_are_refused(fake, unit, tmp_path, material, file_name):
    req = make_req(tmp_path, challenge_type="https", ordering=False)
    uri = seed(unit, req, material.leaf_key, challenge_type="https")
    seeded_fake(fake, AWAITING, method="SFILE")
    fake.review_extra = {"dv_auth_file_name": file_name}
    with pytest.raises(RclResponseError, match="unsafe file name"):
        unit.read(uri, req)


def test_email_orders_show_the_approver(fake, unit, tmp_path, material):
    req = make_req(tmp_path, challenge_type="email", ordering=False)
    uri = seed(unit, req, material.leaf_key, challenge_type="email")
    seeded_fake(fake, AWAITING, method="EMAIL")
    order = unit.read(uri, req)
    assert order.publish == []
    assert order.approval == dict(approver_email="admin@example.com", notified="2024-01-02 03:04:05")
    assert order.to_result()["approval"]["approver_email"] == "admin@example.com"


def test_read_needs_the_name_and_a_known_reference(fake, unit, tmp_path, material):
    req = make_req(tmp_path, ordering=False)
    with pytest.raises(RclInputError, match="needs certificate_name"):
        unit.read("servertastic:" + REFERENCE, None)
    with pytest.raises(RclInputError, match="No Servertastic order %s for %s" % (REFERENCE, NAME)):
        unit.read("servertastic:" + REFERENCE, req)
    for bad in ("https://api2.servertastic.com/x", "servertastic:" + "r" * 36):
        with pytest.raises(RclInputError, match="order_uri must be a Servertastic order"):
            unit.read(bad, req)
    assert fake.calls == []


# ---------------------------------------------------------------------------
# errors


def test_an_error_status_keeps_the_message_verbatim(fake, unit, tmp_path, material):
    req = make_req(tmp_path, ordering=False)
    uri = seed(unit, req, material.leaf_key, token="tok-unknown")
    with pytest.raises(RclApiError) as caught:
        unit.read(uri, req)
    exc = caught.value
    assert exc.status == 403 and exc.details["api_message"] == "Invalid order token"
    assert exc.msg.startswith("Servertastic returned HTTP 403 to review (")
    assert exc.msg.endswith("): Invalid order token")


def test_an_error_member_in_a_200_is_an_error(fake, unit, tmp_path):
    fake.server.clear()
    fake.server.expect_request("/order/generatetoken.json").respond_with_json(
        {"success": "", "error": {"code": 400, "message": "Not enough points: 40 needed, 12 left"}})
    with pytest.raises(RclApiError) as caught:
        unit.order(make_req(tmp_path), None, force=False, due=True)
    assert caught.value.status == 200
    assert caught.value.msg == "Servertastic refused generatetoken: Not enough points: 40 needed, 12 left"
    assert caught.value.details["api_message"] == "Not enough points: 40 needed, 12 left"


@pytest.mark.parametrize("call", ["generatetoken", "place"])
def test_calls_that_cost_points_are_never_retried(fake, clock, tmp_path, call):
    unit = make_unit(fake.url(), clock, retries=3)
    fake.server.expect_oneshot_request("/order/%s.json" % call).respond_with_data("busy", status=503)
    fake.server.expect_oneshot_request("/order/%s.json" % call).respond_with_data("busy", status=503)
    with pytest.raises(RclApiError) as caught:
        unit.order(make_req(tmp_path), None, force=False, due=True)
    assert caught.value.status == 503
    assert sum(1 for r, _response in fake.server.log if r.path == "/order/%s.json" % call) == 1
    assert clock.sleeps == []


def test_reads_are_retried(fake, clock, tmp_path, material):
    unit = make_unit(fake.url(), clock, retries=3)
    req = make_req(tmp_path, ordering=False)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    fake.server.expect_oneshot_request("/order/review.json").respond_with_data("busy", status=503)
    assert unit.read(uri, req).status == "pending"
    assert fake.count("review") == 1 and len(clock.sleeps) == 1


def test_a_reply_without_success_is_an_error(fake, unit, tmp_path):
    fake.server.clear()
    fake.server.expect_request("/order/generatetoken.json").respond_with_json({"order_token": "tok-x"})
    with pytest.raises(RclApiError) as caught:
        unit.order(make_req(tmp_path), None, force=False, due=True)
    assert caught.value.msg == "Servertastic refused generatetoken: the reply has no success member"


def test_a_reply_that_is_not_an_object_is_refused(fake, unit, tmp_path):
    fake.server.clear()
    fake.server.expect_request("/order/generatetoken.json").respond_with_json(["tok-x"])
    with pytest.raises(RclResponseError, match="reply to generatetoken is not an object"):
        unit.order(make_req(tmp_path), None, force=False, due=True)


def test_an_error_without_json_keeps_the_text(fake, unit, tmp_path):
    fake.server.clear()
    fake.server.expect_request("/order/generatetoken.json").respond_with_data("Bad  Gateway\n", status=502)
    with pytest.raises(RclApiError) as caught:
        unit.order(make_req(tmp_path), None, force=False, due=True)
    assert caught.value.status == 502 and caught.value.details["api_message"] == "Bad Gateway"


def _shown(exc: RclError) -> str:
    return "\n".join([str(exc), exc.msg, repr(exc), json.dumps(exc.to_result(), default=str)])


def test_api_key_and_token_never_show_after_a_connection_error(clock, tmp_path, material):
    unit = make_unit(closed_port_url(), clock)
    req = make_req(tmp_path)
    with pytest.raises(RclTransportError) as caught:
        unit.order(req, None, force=False, due=True)  # generatetoken?api_key=...
    assert API_KEY not in _shown(caught.value) and "api_key=<redacted>" in caught.value.msg
    seed(unit, req, material.leaf_key)
    with pytest.raises(RclTransportError) as caught:
        unit.read("servertastic:" + REFERENCE, req)  # review?order_token=...
    assert TOKEN not in _shown(caught.value) and "order_token=<redacted>" in caught.value.msg


def test_api_key_and_token_never_show_after_a_500(fake, unit, tmp_path, material):
    req = make_req(tmp_path)
    fake.server.clear()
    fake.server.expect_request("/order/generatetoken.json").respond_with_data("Internal Server Error", status=500)
    fake.server.expect_request("/order/review.json").respond_with_json(
        {"error": {"code": 500, "message": "Internal error"}}, status=500)
    errors = []
    with pytest.raises(RclApiError) as caught:
        unit.order(req, None, force=False, due=True)
    errors.append(caught.value)
    unit.store(req).drop(NAME, "pending")
    uri = seed(unit, req, material.leaf_key)
    with pytest.raises(RclApiError) as caught:
        unit.read(uri, req)
    errors.append(caught.value)
    for exc in errors:
        shown = _shown(exc)
        assert API_KEY not in shown and TOKEN not in shown, shown
    assert "api_key=<redacted>" in errors[0].details["url"]
    assert "order_token=<redacted>" in errors[1].details["url"]


def test_api_key_and_token_never_show_when_the_error_page_quotes_the_url(fake, unit, tmp_path, material):
    # A framework error page that echoes the request line (as a debug page or a proxy may).
    def echo(request: Request) -> Response:
        return Response("Error while handling GET %s?%s" % (request.path, request.query_string.decode()),
                        status=500, content_type="text/plain")

    req = make_req(tmp_path)
    fake.server.clear()
    fake.server.expect_request("/order/generatetoken.json").respond_with_handler(echo)
    fake.server.expect_request("/order/review.json").respond_with_handler(echo)
    errors = []
    with pytest.raises(RclApiError) as caught:
        unit.order(req, None, force=False, due=True)
    errors.append(caught.value)
    unit.store(req).drop(NAME, "pending")
    uri = seed(unit, req, material.leaf_key)
    with pytest.raises(RclApiError) as caught:
        unit.read(uri, req)
    errors.append(caught.value)
    for exc in errors:
        shown = _shown(exc)
        assert API_KEY not in shown and TOKEN not in shown, shown


def test_the_secrets_go_to_the_sink(fake, clock, tmp_path):
    secrets: list[str] = []
    unit = make_unit(fake.url(), clock, secrets=secrets)
    req = make_req(tmp_path)
    unit.order(req, None, force=False, due=True)
    token = next(iter(fake.tokens))
    assert API_KEY in secrets and token in secrets
    assert any("PRIVATE KEY" in s for s in secrets)


# ---------------------------------------------------------------------------
# finish()


def test_finish_polls_auth_once_for_dns_then_waits_for_completed(fake, unit, tmp_path, clock):
    req = make_req(tmp_path)
    order = unit.order(req, None, force=False, due=True)
    fake.script = [AWAITING, AWAITING, "Queued", "Completed"]
    done = unit.finish(order.order_uri, req, waiter(clock), wait=True, check_mode=False)
    assert fake.count("pollauth") == 1
    assert fake.params("pollauth")["order_token"] == next(iter(fake.tokens))
    assert done.changed is True and done.order.status == "valid"
    assert done.bundle is not None and done.bundle.leaf == fake.leaf
    assert done.bundle.chain == fake.material.intermediates  # the ROOT is left out
    assert done.certificate is not None and done.certificate.order_uri == order.order_uri
    store = unit.store(req)
    assert store.slot(NAME, "pending") is None
    current = store.slot(NAME, "current")
    assert current is not None and current["stage"] == "completed"
    assert "servertastic:" + current["reference"] == order.order_uri
    assert set(store.unseal(current, NAME)) == {"key", "token"}  # kept for the material and the next renewal
    assert unit.pending(req) is None


def test_finish_polls_auth_once_for_files(fake, unit, tmp_path, clock, material):
    req = make_req(tmp_path, challenge_type="http")
    uri = seed(unit, req, material.leaf_key, challenge_type="http")
    seeded_fake(fake, AWAITING, method="FILE")
    fake.script = [AWAITING, AWAITING, "Completed"]
    done = unit.finish(uri, req, waiter(clock), wait=True, check_mode=False)
    assert fake.count("pollauth") == 1 and done.order.status == "valid"


def test_finish_does_not_poll_auth_for_email(fake, unit, tmp_path, clock, material):
    req = make_req(tmp_path, challenge_type="email", approver_email="admin@example.com")
    uri = seed(unit, req, material.leaf_key, challenge_type="email")
    seeded_fake(fake, AWAITING, method="EMAIL")
    fake.script = [AWAITING, AWAITING, "Completed"]
    done = unit.finish(uri, req, waiter(clock), wait=True, check_mode=False)
    assert fake.count("pollauth") == 0 and done.order.status == "valid"
    assert done.bundle is not None and done.bundle.leaf == material.leaf


def test_finish_without_waiting_returns_the_pending_order(fake, unit, tmp_path, clock, material):
    req = make_req(tmp_path)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    done = unit.finish(uri, req, waiter(clock), wait=False, check_mode=False)
    assert done.changed is False and done.order.status == "pending" and done.bundle is None
    assert [call for call, _method, _params in fake.calls] == ["review", "pollauth"]


def test_finish_in_check_mode_only_reads(fake, unit, tmp_path, clock, material):
    req = make_req(tmp_path)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    done = unit.finish(uri, req, waiter(clock), wait=True, check_mode=True)
    assert done.changed is True and [call for call, _method, _params in fake.calls] == ["review"]


def test_a_cancelled_order_drops_the_pending_slot(fake, unit, tmp_path, clock, material):
    req = make_req(tmp_path)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    fake.script = [AWAITING, "Cancelled"]
    fake.review_extra = {"order_state_further_info": "Rejected by the CA"}
    with pytest.raises(RclOrderInvalidError) as caught:
        unit.finish(uri, req, waiter(clock), wait=True, check_mode=False)
    assert "ended as 'Cancelled' (Rejected by the CA): a new order (and token) is needed" in caught.value.msg
    assert caught.value.details == dict(order_uri=uri, status="invalid")
    assert unit.store(req).slot(NAME, "pending") is None and unit.pending(req) is None


def test_a_timeout_keeps_the_order_for_the_next_run(fake, unit, tmp_path, clock, material):
    req = make_req(tmp_path)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    start = clock.now
    with pytest.raises(RclTimeoutError) as caught:
        unit.finish(uri, req, waiter(clock, 300), wait=True, check_mode=False)
    exc = caught.value
    assert clock.now == pytest.approx(start + 300)
    assert "the next run resumes it without a new token" in exc.msg
    assert unit.store(req).path in exc.msg
    assert exc.details["reference"] == REFERENCE and exc.details["order_uri"] == uri
    assert TOKEN not in _shown(exc) and API_KEY not in _shown(exc)
    assert unit.pending(req) == uri
    slot = unit.store(req).slot(NAME, "pending")
    assert slot is not None and unit.store(req).unseal(slot, NAME)["token"] == TOKEN
    fake.calls.clear()
    fake.script = ["Completed"]
    done = make_unit(fake.url(), clock).finish(uri, req, waiter(clock), wait=True, check_mode=False)
    assert done.order.status == "valid" and fake.count("generatetoken") == 0


def test_a_timeout_names_the_last_status_seen(fake, unit, tmp_path, clock, material):
    req = make_req(tmp_path)
    uri = seed(unit, req, material.leaf_key)
    seeded_fake(fake, AWAITING)
    fake.script = [AWAITING, "Queued"]
    with pytest.raises(RclTimeoutError) as caught:
        unit.finish(uri, req, waiter(clock, 120), wait=True, check_mode=False)
    assert "(still 'Queued')" in caught.value.msg


def test_finish_needs_a_token(fake, unit, tmp_path, material):
    req = make_req(tmp_path)
    unit.store(req).put(NAME, "pending", dict(reference=REFERENCE, stage="new", token_requested=True))
    with pytest.raises(RclInputError, match="has no token yet: run rcl_order again"):
        unit.finish("servertastic:" + REFERENCE, req, Waiter(60), wait=True, check_mode=False)
    assert fake.calls == []


def test_finish_refuses_a_certificate_for_another_key(fake, unit, tmp_path, clock, material, pki):
    req = make_req(tmp_path)
    uri = seed(unit, req, pki(name="Other CA").leaf_key)
    seeded_fake(fake, "Completed")
    with pytest.raises(RclCertificateError) as caught:
        unit.finish(uri, req, waiter(clock), wait=True, check_mode=False)
    assert caught.value.check == "key_match"
    assert caught.value.msg.startswith("Servertastic's certificate for %s does not belong to the key of order %s"
                                       % (NAME, REFERENCE))
    assert unit.store(req).slot(NAME, "pending") is not None  # nothing moved


# ---------------------------------------------------------------------------
# review parsing: certificate encodings, ca_certs shapes


def finish_with(fake: FakeServertastic, unit: ServertasticService, tmp_path: t.Any, clock: FakeClock, key: t.Any,
                **review: t.Any):
    req = make_req(tmp_path)
    uri = seed(unit, req, key)
    seeded_fake(fake, "Completed")
    fake.review_extra = review
    return unit.finish(uri, req, waiter(clock), wait=True, check_mode=False)


def info(cert: t.Any, kind: str = "INTERMEDIATE") -> dict[str, str]:
    return {"type": kind, "certificate": pem(cert)}


def test_ca_certs_as_one_bare_object(fake, unit, tmp_path, clock, material):
    done = finish_with(fake, unit, tmp_path, clock, material.leaf_key,
                       ca_certs={"certificate_info": info(material.intermediates[0])})
    assert done.bundle.leaf == material.leaf and done.bundle.chain == material.intermediates


@pytest.mark.parametrize("empty", ["", {}, None, {"certificate_info": ""}, {"certificate_info": []}])
def test_ca_certs_empty(fake, unit, tmp_path, clock, material, empty):
    done = finish_with(fake, unit, tmp_path, clock, material.leaf_key, ca_certs=empty)
    assert done.bundle.leaf == material.leaf and done.bundle.chain == []


def test_certificate_as_crlf_pem(fake, unit, tmp_path, clock, material):
    crlf = pem(material.leaf).replace("\n", "\r\n")
    done = finish_with(fake, unit, tmp_path, clock, material.leaf_key, certificate=crlf, ca_certs={
        "certificate_info": [{"type": "INTERMEDIATE", "certificate": pem(material.intermediates[0]).replace(
            "\n", "\r\n")}]})
    assert done.bundle.leaf == material.leaf and done.bundle.chain == material.intermediates


@pytest.mark.parametrize("wrap", [0, 64, 76])
def test_certificate_as_bare_base64_der(fake, unit, tmp_path, clock, material, wrap):
    def der64(cert: t.Any) -> str:
        text = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        return "\n".join(text[i:i + wrap] for i in range(0, len(text), wrap)) if wrap else text

    done = finish_with(fake, unit, tmp_path, clock, material.leaf_key, certificate=der64(material.leaf),
                       ca_certs={"certificate_info": {"type": "INTERMEDIATE",
                                                      "certificate": der64(material.intermediates[0])}})
    assert done.bundle.leaf == material.leaf and done.bundle.chain == material.intermediates


def test_a_certificate_that_is_neither_pem_nor_der_is_refused(fake, unit, tmp_path, clock, material):
    with pytest.raises(RclResponseError, match="neither PEM nor base64 DER"):
        finish_with(fake, unit, tmp_path, clock, material.leaf_key, certificate="not a certificate!")


def test_a_completed_review_without_a_certificate_is_refused(fake, unit, tmp_path, clock, material):
    with pytest.raises(RclResponseError, match="Completed but carries no certificate"):
        finish_with(fake, unit, tmp_path, clock, material.leaf_key, certificate="")


def test_the_root_is_left_out_even_when_typed_intermediate(fake, unit, tmp_path, clock, material):
    done = finish_with(fake, unit, tmp_path, clock, material.leaf_key, ca_certs={"certificate_info": [
        info(material.root, "ROOT"), info(material.intermediates[0]), info(material.root, "INTERMEDIATE")]})
    assert done.bundle.chain == material.intermediates


def test_the_chain_is_ordered_from_the_leaf_up(fake, unit, tmp_path, clock, pki):
    deep = pki(intermediates=3, name="Deep CA")
    top_down = list(reversed(deep.intermediates))
    done = finish_with(fake, unit, tmp_path, clock, deep.leaf_key, certificate=pem(deep.leaf), ca_certs={
        "certificate_info": [info(deep.root, "root")] + [info(cert, "intermediate") for cert in top_down]})
    assert done.bundle.chain == deep.intermediates
    assert done.bundle.fullchain_pem().decode() == pem(deep.leaf, *deep.intermediates)


def test_current_and_material_come_from_the_current_order(fake, unit, tmp_path, material):
    req = make_req(tmp_path)
    assert unit.current(req) is None and fake.calls == []
    seed(unit, req, material.leaf_key, which="current")
    seeded_fake(fake, "Completed")
    cert = unit.current(req)
    assert cert is not None and cert.id == REFERENCE and cert.order_uri == "servertastic:" + REFERENCE
    assert cert.expiry_date == _certificate.not_after(material.leaf)
    metadata, bundle = unit.material(req, cert)
    assert metadata.id == REFERENCE and bundle.leaf == material.leaf
    assert fake.count("review") == 1  # one review for the decision and the material


def test_current_is_none_while_the_current_order_is_not_completed(fake, unit, tmp_path, material):
    req = make_req(tmp_path)
    seed(unit, req, material.leaf_key, which="current")
    seeded_fake(fake, "Cancelled")
    assert unit.current(req) is None
    with pytest.raises(RclResponseError, match="is 'Cancelled', not Completed"):
        unit.material(req)


# ---------------------------------------------------------------------------
# found while testing


def test_product_code_with_a_trailing_newline_is_refused(tmp_path):
    with pytest.raises(RclInputError, match="product_code must look like RapidSSL-12"):
        make_req(tmp_path, product_code="RapidSSL-12\n")


def test_a_cancelled_current_order_leaves_the_pending_order_alone(fake, unit, tmp_path, clock, material):
    req = make_req(tmp_path)
    old = seed(unit, req, material.leaf_key, which="current", token="tok-old")
    seed(unit, req, material.leaf_key, which="pending", reference="rcl-new", token=TOKEN)
    seeded_fake(fake, "Cancelled", token="tok-old")
    seeded_fake(fake, AWAITING, token=TOKEN)
    with pytest.raises(RclOrderInvalidError):
        unit.finish(old, req, waiter(clock), wait=True, check_mode=False)
    pending = unit.store(req).slot(NAME, "pending")
    assert pending is not None and pending["reference"] == "rcl-new"
