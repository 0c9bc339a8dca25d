# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_services (build_service, ServiceClient) and _obtain's steps for the other services, on a fake unit.

``FakeUnit`` is a ``ServiceUnit`` whose use cases answer from memory and count as requests: "checked
before any request" means its ``calls`` stay empty.
"""

from __future__ import annotations

import json
import os
import typing as t
from datetime import timedelta

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils import _obtain
from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate, Waiter
from ansible_collections.rcl.ssl.plugins.module_utils._api.certifire import CertifireService
from ansible_collections.rcl.ssl.plugins.module_utils._api.service import (
    Publish,
    ServiceFinish,
    ServiceOrder,
    ServiceRequest,
    ServiceUnit,
)
from ansible_collections.rcl.ssl.plugins.module_utils._api.services import SERVICE_NAMES, service_unit
from ansible_collections.rcl.ssl.plugins.module_utils._api.servertastic import ServertasticService
from ansible_collections.rcl.ssl.plugins.module_utils._certificate import CertificateBundle, load_pkcs12
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclFileError,
    RclInputError,
    RclUnsupportedError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._names import validate_certificate_name
from ansible_collections.rcl.ssl.plugins.module_utils._services import (
    SERVICE_OPTIONS,
    ServiceClient,
    build_service,
    order_result,
    service_options,
)
from ansible_collections.rcl.ssl.plugins.module_utils._time import utcnow

NAME = "www.example.com"
SHOP = "shop.example.com"
#: what RCL's step order writes per name without / with a PKCS#12 (test_rcl_obtain.py)
PEM_FILES = ["cert.pem", "chain.pem", "facts.json", "fullchain.pem", "privkey.pem"]


class FakeTransport:
    def __init__(self) -> None:
        self.request_count = 0


class FakeUnit(ServiceUnit):
    service = "fakesvc"
    title = "Fake CA"
    default_url = "https://fake.test"
    credentials = ("api_key",)
    challenge_types = ("dns", "http")
    option_names = ("product_code", "approver_email", "state_dir", "state_passphrase")
    order_needs = ("product_code",)

    def __init__(self) -> None:
        super().__init__(FakeTransport(), None, {})
        self.calls: list[tuple[str, str]] = []
        self.held: dict[str, tuple[Certificate, CertificateBundle]] = {}
        self.unfinished: dict[str, str] = {}
        self.requests: list[ServiceRequest] = []
        self.fail_order: Exception | None = None
        self.warnings: list[str] = ["fake warning"]

    @classmethod
    def request(cls, certificate_name: t.Any, challenge_type: t.Any, options: t.Mapping[str, t.Any],
                ordering: bool = True) -> ServiceRequest:
        name = validate_certificate_name(certificate_name)
        ctype = cls.check_challenge_type(name, challenge_type)
        given = cls.check_options(options, cls.order_needs if ordering else ())
        return ServiceRequest(certificate_name=name, names=[name], challenge_type=ctype, options=given)

    def _call(self, what: str, req: ServiceRequest | None, name: str | None = None) -> None:
        self.transport.request_count += 1
        self.calls.append((what, name or (req.certificate_name if req else "")))
        if req is not None:
            self.requests.append(req)

    def pending(self, req: ServiceRequest) -> str | None:
        self._call("pending", req)
        return self.unfinished.get(req.certificate_name)

    def current(self, req: ServiceRequest) -> Certificate | None:
        self._call("current", req)
        held = self.held.get(req.certificate_name)
        return held[0] if held else None

    def order(self, req: ServiceRequest, current: Certificate | None, force: bool, due: bool) -> ServiceOrder:
        self._call("order", req)
        if self.fail_order is not None:
            raise self.fail_order
        name = req.certificate_name
        return ServiceOrder(order_uri="fake:" + name, status="pending", service_status="Awaiting",
                            publish=[Publish(kind="dns", identifier=name, value="v-" + name,
                                             record="_acme-challenge." + name)],
                            details=dict(reference="ref-" + name))

    def read(self, order_uri: str, req: ServiceRequest | None) -> ServiceOrder:
        self._call("read", req, order_uri)
        return ServiceOrder(order_uri=order_uri, status="pending", approval=dict(approver_email="admin@example.com"))

    def finish(self, order_uri: str, req: ServiceRequest, waiter: Waiter, wait: bool,
               check_mode: bool) -> ServiceFinish:
        self._call("finish", req)
        order = ServiceOrder(order_uri=order_uri, status="valid")
        cert, bundle = self.held[req.certificate_name]
        return ServiceFinish(changed=True, order=order, certificate=cert, bundle=bundle)

    def material(self, req: ServiceRequest, current: Certificate | None = None) -> tuple[Certificate, t.Any]:
        self._call("material", req)
        return self.held[req.certificate_name]


class SelfValidating(FakeUnit):
    """Like Certifire: the service validates by itself (no challenge types)."""

    service = "selfsvc"
    challenge_types = ()


def hold(unit: FakeUnit, pki: t.Any, name: str, days: int = 60) -> tuple[Certificate, CertificateBundle]:
    material = pki(sans=[name], not_after=utcnow().replace(microsecond=0) + timedelta(days=days))
    bundle = CertificateBundle(key=material.leaf_key, leaf=material.leaf, chain=list(material.intermediates))
    cert = Certificate(name, id="id-" + name, order_uri="fake:old-" + name,
                       expiry_date=utcnow() + timedelta(days=days))
    unit.held[name] = (cert, bundle)
    return cert, bundle


@pytest.fixture
def unit() -> FakeUnit:
    return FakeUnit()


@pytest.fixture
def client(unit: FakeUnit, clock) -> ServiceClient:
    return ServiceClient(unit, sleep=clock.sleep, monotonic=clock)


@pytest.fixture
def material_dir(tmp_path) -> str:
    path = tmp_path / "material"
    path.mkdir()
    return str(path)


OPTIONS = dict(product_code="Fake-12", approver_email=None, state_dir=None, state_passphrase=None)


# ---------------------------------------------------------------------------
# build_service: every check before any request


@pytest.fixture
def no_request(monkeypatch):
    import requests

    def refuse(*args, **kwargs):
        raise AssertionError("build_service must not send a request")

    monkeypatch.setattr(requests.Session, "request", refuse)


@pytest.mark.parametrize("service, message", [
    ("nope", "service must be one of rcl, certifire, servertastic, not 'nope'"),
    ("rcl", "build_service is for the services other than rcl"),
    (None, "build_service is for the services other than rcl"),
    (7, "service must be one of"),
])
def test_build_service_refuses_unknown_services(no_request, service, message):
    with pytest.raises(RclInputError, match=message):
        build_service(service, api_url="https://x.test", api_key="k")


@pytest.mark.parametrize("given, missing", [
    (dict(), "api_url, api_username, api_password"),
    (dict(api_url="https://certifire.test"), "api_username, api_password"),
    (dict(api_url="https://certifire.test", api_username="admin"), "api_password"),
    (dict(api_username="admin", api_password="pw"), "api_url"),
    (dict(api_url="https://certifire.test", api_password="pw", api_key="k"), "api_username"),
])
def test_build_service_certifire_needs_url_user_and_password(no_request, given, missing):
    with pytest.raises(RclInputError) as caught:
        build_service("certifire", **given)
    assert caught.value.msg == "service=certifire needs %s" % missing
    assert caught.value.details == dict(service="certifire")


def test_build_service_servertastic_needs_the_api_key(no_request):
    with pytest.raises(RclInputError, match="service=servertastic needs api_key$"):
        build_service("servertastic", api_username="u", api_password="p")
    with pytest.raises(RclInputError, match="api_key is empty or contains whitespace"):
        build_service("servertastic", api_key="two words")


def test_build_service_checks_the_url_and_the_transport_options(no_request, tmp_path):
    with pytest.raises(RclInputError, match="api_url"):
        build_service("certifire", api_url="ftp://certifire.test", api_username="u", api_password="p")
    with pytest.raises(RclInputError, match="api_username cannot contain ':'"):
        build_service("certifire", api_url="https://certifire.test", api_username="a:b", api_password="p")
    with pytest.raises(RclInputError, match="timeout"):
        build_service("servertastic", api_key="k", timeout=0)
    with pytest.raises(RclInputError, match="retries"):
        build_service("servertastic", api_key="k", retries=-1)
    with pytest.raises(RclInputError, match="ca_path .* does not exist"):
        build_service("servertastic", api_key="k", ca_path=str(tmp_path / "missing.pem"))


def test_build_service_builds_the_unit_without_a_request(no_request):
    secrets: list[str] = []
    client = build_service(" Certifire ", api_url="https://certifire.test/", api_username="admin",
                           api_password="pw-123", on_secret=secrets.append)
    assert isinstance(client.unit, CertifireService) and client.service == "certifire"
    assert client.unit.api == "https://certifire.test/api"
    assert client.request_count == 0 and client.warnings == []
    assert "pw-123" in secrets
    st = build_service("servertastic", api_key="st-key", on_secret=secrets.append)
    assert isinstance(st.unit, ServertasticService)
    assert st.unit.base_url == "https://api2.servertastic.com" and "st-key" in secrets


def test_service_unit_registry():
    assert SERVICE_NAMES == ("rcl", "certifire", "servertastic")
    assert service_unit(None) is None and service_unit("rcl") is None and service_unit(" RCL ") is None
    assert service_unit("servertastic") is ServertasticService


def test_service_options_are_the_shared_names():
    params = dict.fromkeys(SERVICE_OPTIONS, "x")
    params.update(api_key="secret", root_domain="example.com")
    assert service_options(params) == dict.fromkeys(SERVICE_OPTIONS, "x")
    assert set(service_options({})) == set(SERVICE_OPTIONS)


# ---------------------------------------------------------------------------
# ServiceClient.decide and friends


def test_decide_resumes_an_unfinished_order_without_reading_more(client, unit, pki):
    hold(unit, pki, NAME, days=60)
    unit.unfinished[NAME] = "fake:pending-1"
    req = client.request(NAME, None, OPTIONS)
    assert client.decide(req, 30, False) == (True, True, "resuming the unfinished order fake:pending-1", None)
    assert unit.calls == [("pending", NAME)]


def test_decide_nothing_held_is_due(client, unit):
    req = client.request(NAME, None, OPTIONS)
    assert client.decide(req, 30, False) == (True, True, "no certificate from Fake CA for these names", None)
    assert unit.calls == [("pending", NAME), ("current", NAME)]


def test_decide_not_due(client, unit, pki):
    cert, _bundle = hold(unit, pki, NAME, days=60)
    ordered, due, reason, held = client.decide(client.request(NAME, None, OPTIONS), 30, False)
    assert (ordered, due, held) == (False, False, cert)
    assert reason.startswith("valid for ") and reason.endswith(" more days")


def test_decide_due_by_expiry(client, unit, pki):
    cert, _bundle = hold(unit, pki, NAME, days=10)
    ordered, due, reason, held = client.decide(client.request(NAME, None, OPTIONS), 30, False)
    assert (ordered, due, held) == (True, True, cert)
    assert reason.startswith("expires in ") and reason.endswith("(threshold 30)")


def test_decide_force(client, unit, pki):
    cert, _bundle = hold(unit, pki, NAME, days=60)
    req = client.request(NAME, None, OPTIONS)
    assert client.decide(req, 30, True) == (True, False, "forced", cert)  # not due: the unit may reissue
    hold(unit, pki, NAME, days=10)
    ordered, due, reason, _held = client.decide(req, 30, True)
    assert (ordered, due) == (True, True) and reason.startswith("expires in ")  # due anyway: an ordinary order


def test_decide_a_certificate_without_expiry_is_due(client, unit, pki):
    unit.held[NAME] = (Certificate(NAME), None)  # type: ignore[assignment]
    assert client.decide(client.request(NAME, None, OPTIONS), 30, False)[:3] == (
        True, True, "the certificate has no expiry date")


def test_refuse_rcl_options(client):
    client.refuse_rcl_options(root_domain=None, san=False, email="", pfx_password=None, source={})
    with pytest.raises(RclInputError) as caught:
        client.refuse_rcl_options(root_domain="example.com", san=False)
    assert caught.value.msg == "root_domain is not used by service=fakesvc"
    assert caught.value.details == dict(service="fakesvc")
    with pytest.raises(RclInputError, match="^email, san are not used by service=fakesvc$"):
        client.refuse_rcl_options(san=True, email="ops@example.com", root_domain=None)


def test_ensure_order_orders_when_due_but_not_in_check_mode(client, unit):
    req = client.request(NAME, "dns", OPTIONS)
    result = client.ensure_order(req, 30, False, check_mode=True)
    assert result == dict(changed=True, reason="no certificate from Fake CA for these names", service="fakesvc")
    assert ("order", NAME) not in unit.calls
    result = client.ensure_order(req, 30, False, check_mode=False)
    assert result["order_uri"] == "fake:" + NAME and result["resumed"] is False
    assert result["challenge_data_dns"] == {"_acme-challenge." + NAME: ["v-" + NAME]}
    assert result["challenge_data"][0]["challenges"]["dns-01"]["resource_value"] == "v-" + NAME
    assert result["order"]["status"] == "pending" and result["order"]["reference"] == "ref-" + NAME
    assert result["validation_tokens"] == []


def test_ensure_order_converged_reports_the_certificate(client, unit, pki):
    hold(unit, pki, NAME, days=60)
    result = client.ensure_order(client.request(NAME, None, OPTIONS), 30, False, check_mode=False)
    assert result["changed"] is False and result["certificate"]["id"] == "id-" + NAME
    assert ("order", NAME) not in unit.calls


def test_info(client, unit, pki):
    req = client.request(NAME, None, OPTIONS, ordering=False)
    shown = client.info("fake:1", req)
    assert shown["order_uri"] == "fake:1" and shown["approval"] == dict(approver_email="admin@example.com")
    unit.unfinished[NAME] = "fake:2"
    assert client.info(None, req) == dict(changed=False, service="fakesvc", exists=False,
                                          pending_order_uri="fake:2")
    with pytest.raises(RclUnsupportedError, match="Listing certificates is not available with service=fakesvc"):
        client.info(None, None)


def test_finalize_checks_wait_timeout_first(client, unit):
    req = client.request(NAME, None, OPTIONS, ordering=False)
    for bad in (-1, True, "10", FakeUnit.max_wait_timeout + 1):
        with pytest.raises(RclInputError, match="wait_timeout must be from 0 to 86400 seconds with service=fakesvc"):
            client.finalize("fake:1", req, True, bad, False)
    assert unit.calls == []


def test_order_result_shape():
    order = ServiceOrder(order_uri="fake:1", status="pending", service_status="Awaiting", publish=[
        Publish(kind="http", identifier=NAME, value="contents", resource=".well-known/pki-validation/f.txt"),
        Publish(kind="dns", identifier=NAME, value="v1", record=NAME),
        Publish(kind="dns", identifier=NAME, value="v1", record=NAME),
    ], approval=dict(approver_email="admin@example.com"))
    result = order_result(order)
    assert result["challenge_data_dns"] == {NAME: ["v1"]}
    assert result["challenge_data"][0] == dict(identifier=NAME, identifier_type="dns", challenges={
        "http-01": {"resource": ".well-known/pki-validation/f.txt", "resource_value": "contents"}})
    assert result["approval"] == dict(approver_email="admin@example.com")
    assert result["order"]["certificate_uri"] is None and result["order"]["challenges"] == []


# ---------------------------------------------------------------------------
# _obtain.service_order_step: entries checked first


GOOD = {"name": NAME, "challenge_type": "dns"}


@pytest.mark.parametrize("second, message", [
    ({"name": SHOP, "colour": "blue"}, "certificates[1] has unknown keys colour; allowed: name, "),
    ({"name": NAME}, "certificates[1]: the name www.example.com is listed twice; one entry per name"),
    ({"name": "WWW.Example.COM"}, "listed twice"),
    ({"name": SHOP, "san": True}, "certificates[1]: san is RCL SSL's (apex + www. or *.); service=fakesvc orders "
                                  "the name itself"),
    ({"name": SHOP, "san": "yes"}, "san is RCL SSL's"),
    ({"name": "not a name!"}, "certificates[1]: "),
    ({"name": SHOP, "service": "certifire"}, "certificates[1] is for service=certifire, and this run is for "
                                             "service=fakesvc"),
    ({"name": SHOP, "pfx": "maybe"}, "certificates[1].pfx must be a boolean"),
    ({"name": SHOP, "challenge_type": "email"}, "certificates[1]: challenge_type must be one of dns, http"),
    ({"name": "*.example.com", "challenge_type": "http"}, "cannot validate the wildcard"),
    ("www.example.com", "certificates[1] must be a dictionary"),
])
def test_order_step_checks_every_entry_before_any_request(client, unit, material_dir, second, message):
    with pytest.raises(RclInputError) as caught:
        _obtain.service_order_step(client, [GOOD, second], material_dir, OPTIONS)
    assert message in caught.value.msg
    assert unit.calls == []


def test_order_step_checks_the_options_and_the_list(client, unit, material_dir, tmp_path):
    with pytest.raises(RclInputError, match="certificates must be a list"):
        _obtain.service_order_step(client, {"name": NAME}, material_dir, OPTIONS)
    with pytest.raises(RclInputError, match="certificates\\[0\\]: Ordering from service=fakesvc needs product_code"):
        _obtain.service_order_step(client, [GOOD], material_dir, dict(OPTIONS, product_code=None))
    with pytest.raises(RclInputError, match="acme_account_email is not used by service=fakesvc"):
        _obtain.service_order_step(client, [GOOD], material_dir, dict(OPTIONS, acme_account_email="a@b.c"))
    with pytest.raises(RclInputError, match="material_dir must be an absolute path"):
        _obtain.service_order_step(client, [GOOD], "material", OPTIONS)
    with pytest.raises(RclFileError, match="is not an existing directory"):
        _obtain.service_order_step(client, [GOOD], str(tmp_path / "missing"), OPTIONS)
    assert unit.calls == []


def test_order_step_entry_options_override_the_run_s(client, unit, material_dir):
    _obtain.service_order_step(client, [dict(GOOD, product_code="Other-24", approver_email="admin@example.com"),
                                        {"name": SHOP}], material_dir, OPTIONS)
    by_name = {req.certificate_name: req for req in unit.requests}
    assert by_name[NAME].options["product_code"] == "Other-24"
    assert by_name[NAME].options["approver_email"] == "admin@example.com"
    assert by_name[SHOP].options["product_code"] == "Fake-12"
    assert by_name[SHOP].challenge_type == "dns"  # the unit's default


def test_a_self_validating_service_ignores_the_role_s_challenge_type(clock, material_dir):
    unit = SelfValidating()
    client = ServiceClient(unit, sleep=clock.sleep, monotonic=clock)
    result = _obtain.service_order_step(client, [{"name": NAME, "challenge_type": "dns"}], material_dir, OPTIONS)
    assert result["certificates"][0]["challenge_type"] is None
    assert unit.requests[0].challenge_type is None


# ---------------------------------------------------------------------------
# _obtain.service_order_step: material and orders


@pytest.mark.parametrize("pfx", [False, True])
def test_order_step_writes_the_same_files_as_for_rcl(client, unit, pki, material_dir, pfx):
    cert, bundle = hold(unit, pki, NAME, days=60)
    result = _obtain.service_order_step(client, [dict(GOOD, pfx=pfx)], material_dir, OPTIONS,
                                        pfx_password="pfx-pw" if pfx else None)
    assert result["changed"] is False and result["requests"] == len(unit.calls)
    entry = result["certificates"][0]
    assert entry["ordered"] is False and entry["material"] is True and entry["order_uri"] is None
    assert entry["service"] == "fakesvc" and entry["pfx"] is pfx
    directory = os.path.join(material_dir, NAME)
    expected = sorted(PEM_FILES + (["cert.pfx"] if pfx else []))
    assert sorted(os.listdir(directory)) == expected
    rcl = _obtain.material_files(bundle, None, None, NAME, pfx, "pfx-pw" if pfx else None)
    assert sorted(rcl) == expected  # what RCL's step would write for the same bundle
    for file_name in PEM_FILES:
        with open(os.path.join(directory, file_name), "rb") as fh:
            assert fh.read() == rcl[file_name], file_name
        assert os.stat(os.path.join(directory, file_name)).st_mode & 0o777 == 0o600
    with open(os.path.join(directory, "fullchain.pem"), "rb") as fh:
        assert fh.read() == bundle.fullchain_pem()
    facts = json.loads(open(os.path.join(directory, "facts.json"), encoding="utf-8").read())
    assert facts["name"] == NAME and "PRIVATE" not in json.dumps(facts)
    assert entry["certificate"]["fingerprint_sha256"] == facts["fingerprint_sha256"]
    if pfx:
        with open(os.path.join(directory, "cert.pfx"), "rb") as fh:
            loaded = load_pkcs12(fh.read(), "pfx-pw")
        assert loaded.leaf == bundle.leaf and loaded.chain == bundle.chain
    assert [call for call, _name in unit.calls] == ["pending", "current", "material"]


def test_order_step_orders_what_is_due_and_writes_what_is_good(client, unit, pki, material_dir):
    hold(unit, pki, NAME, days=60)
    hold(unit, pki, SHOP, days=5)
    result = _obtain.service_order_step(client, [GOOD, {"name": SHOP}], material_dir, OPTIONS)
    assert result["changed"] is True
    good, due = result["certificates"]
    assert good["ordered"] is False and good["material"] is True
    assert due["ordered"] is True and due["material"] is False and due["order_uri"] == "fake:" + SHOP
    assert due["challenge_data_dns"] == {"_acme-challenge." + SHOP: ["v-" + SHOP]}
    assert due["reason"].startswith("expires in ")
    assert sorted(os.listdir(material_dir)) == [NAME]
    assert ("order", SHOP) in unit.calls and ("order", NAME) not in unit.calls


def test_order_step_resumes_an_unfinished_order(client, unit, material_dir):
    unit.unfinished[NAME] = "fake:earlier"
    result = _obtain.service_order_step(client, [GOOD], material_dir, OPTIONS)
    entry = result["certificates"][0]
    assert entry["ordered"] is True and entry["reason"] == "resuming the unfinished order fake:earlier"
    assert ("current", NAME) not in unit.calls and ("order", NAME) in unit.calls


def test_order_step_in_check_mode_orders_and_writes_nothing(client, unit, pki, material_dir):
    hold(unit, pki, NAME, days=60)
    result = _obtain.service_order_step(client, [GOOD, {"name": SHOP}], material_dir, OPTIONS, check_mode=True)
    assert result["changed"] is True
    assert [entry["ordered"] for entry in result["certificates"]] == [False, True]
    assert result["certificates"][1]["order_uri"] is None
    assert os.listdir(material_dir) == []
    assert all(call != "order" for call, _name in unit.calls)


def test_order_step_failure_names_the_entry_and_what_was_done(client, unit, pki, material_dir):
    hold(unit, pki, NAME, days=60)
    unit.fail_order = RclApiError(500, "https://fake.test/order", "boom", msg="Fake CA returned HTTP 500: boom")
    with pytest.raises(RclApiError) as caught:
        _obtain.service_order_step(client, [GOOD, {"name": SHOP}], material_dir, OPTIONS)
    exc = caught.value
    assert exc.msg == "%s: Fake CA returned HTTP 500: boom" % SHOP
    assert exc.details["certificate_name"] == SHOP and exc.details["ordered"] == []
    assert exc.details["material_written"] == [NAME] and exc.details["requests"] == len(unit.calls)


# ---------------------------------------------------------------------------
# _obtain.service_finish_step


def test_finish_step_waits_for_the_ordered_names_and_writes_their_material(client, unit, pki, material_dir):
    hold(unit, pki, NAME, days=90)
    orders = [dict(name=NAME, ordered=True, order_uri="fake:" + NAME, pfx=True, reason="x", material=False,
                   challenge_data=[], service="fakesvc"),
              dict(name=SHOP, ordered=False, order_uri=None)]
    result = _obtain.service_finish_step(client, orders, material_dir, OPTIONS, pfx_password="pw",
                                         wait_timeout=60)
    assert result["changed"] is True
    assert result["certificates"] == [dict(name=NAME, changed=True, status="valid", material=True,
                                           certificate=result["certificates"][0]["certificate"])]
    assert unit.calls == [("finish", NAME)]
    assert sorted(os.listdir(os.path.join(material_dir, NAME))) == sorted(PEM_FILES + ["cert.pfx"])


def test_finish_step_checks_before_any_request(client, unit, material_dir):
    orders = [dict(name=NAME, ordered=True, order_uri="fake:1"), dict(name=NAME, ordered=True, order_uri="fake:2")]
    with pytest.raises(RclInputError, match="orders\\[1\\]: the name www.example.com is listed twice"):
        _obtain.service_finish_step(client, orders, material_dir, OPTIONS)
    with pytest.raises(RclInputError, match="wait_timeout must be from 0 to"):
        _obtain.service_finish_step(client, orders[:1], material_dir, OPTIONS, wait_timeout=-5)
    with pytest.raises(RclInputError, match="orders\\[0\\].ordered must be a boolean"):
        _obtain.service_finish_step(client, [dict(name=NAME, ordered="perhaps")], material_dir, OPTIONS)
    assert unit.calls == []


def test_finish_step_in_check_mode_without_an_order_uri(client, unit, material_dir):
    result = _obtain.service_finish_step(client, [dict(name=NAME, ordered=True, order_uri=None)], material_dir,
                                         OPTIONS, check_mode=True)
    assert result["certificates"] == [dict(name=NAME, changed=True, status="pending", material=False,
                                           certificate=None)]
    assert unit.calls == []


def test_finish_step_in_check_mode_writes_nothing(client, unit, pki, material_dir):
    hold(unit, pki, NAME, days=90)
    result = _obtain.service_finish_step(client, [dict(name=NAME, ordered=True, order_uri="fake:1")], material_dir,
                                         OPTIONS, check_mode=True)
    assert result["certificates"][0]["material"] is True
    assert os.listdir(material_dir) == []
