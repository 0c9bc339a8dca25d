# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rcl_order -> nsupdate / webroot -> rcl_finalize -> rcl_cert_fetch, per API generation, against the emulator.

Each flow runs once (playbooks/flow.yml, at -vvvv so the output can be searched for
secrets); the tests below look at the recorded steps from different angles.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12
from emuclient import key_matches, openssl_verify, sans
from rclit import Ansible, Run, portal_certificate, seed

# The main flow of each API generation. V7 renews a portal certificate that is due; V6 and V8
# order a name the portal does not have yet.
FLOWS = {
    "v7": dict(certificate_name="v7.example.test", challenge_type="dns"),
    "v6": dict(certificate_name="v6.example.test", challenge_type="dns", pfx_password="v6-pfx-Secret-7d41"),
    "v8": dict(certificate_name="v8.example.test", challenge_type="dns", pfx_password="v8-pfx-Secret-93ce"),
}
V7_PORTAL_PASSWORD = "v7-portal-pfx-Secret-0c2a"

# Other orders: SAN (apex + wildcard in one TXT record set), wildcard, HTTP-01.
# remaining_days 100 makes a 90-day certificate due whatever ran before.
VARIANTS = {
    "v7-san-dns": dict(api_version="v7", certificate_name="example.test", challenge_type="dns", san=True,
                       names=["example.test", "*.example.test"], portal_password="v7-san-Secret-e0f1"),
    "v7-wildcard": dict(api_version="v7", certificate_name="*.example.test", challenge_type="dns",
                        names=["*.example.test"], portal_password="v7-wildcard-Secret-77a3"),
    "v7-http": dict(api_version="v7", certificate_name="www.example2.test", root_domain="example2.test",
                    challenge_type="http", names=["www.example2.test"], portal_password="v7-http-Secret-c9d2"),
    "v6-san-http": dict(api_version="v6", certificate_name="example2.test", root_domain="example2.test",
                        challenge_type="http", san=True, remaining_days=100, pfx_password="v6-san-Secret-51aa",
                        names=["example2.test", "www.example2.test"]),
    "v8-san-dns": dict(api_version="v8", certificate_name="example.test", challenge_type="dns", san=True,
                       remaining_days=100, pfx_password="v8-san-Secret-2b7e", names=["example.test", "*.example.test"]),
}
STATE_CHANGING = {"v7.create_order", "v7.finalize", "v6.create_order", "v6.validate", "v6.finalize",
                  "v8.create_order", "v8.schedule", "v6.delete_certificate", "v8.delete_certificate"}
FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem", "cert.pfx")


def _case(case_id: str, spec: dict[str, Any], dest: str, **extra: Any) -> dict[str, Any]:
    case = {k: v for k, v in spec.items() if k not in ("names", "portal_password")}
    case.setdefault("root_domain", "example.test")
    case.update(id=case_id, dest=dest, **extra)
    os.makedirs(dest, exist_ok=True)
    return case


def _api(entries: list[dict[str, Any]]) -> list[str]:
    """Endpoints of the API requests (the V6 token endpoint is Azure AD's, not the RCL API)."""
    return [e["endpoint"] for e in entries if e["endpoint"] != "token"]


@pytest.fixture(scope="module", params=sorted(FLOWS))
def flow(request: pytest.FixtureRequest, ansible: Ansible, tmp_path_factory: pytest.TempPathFactory) -> Run:
    version = request.param
    spec = FLOWS[version]
    if version == "v7":
        seed(ansible.sandbox, dict(name=spec["certificate_name"], expires_in_days=10, password=V7_PORTAL_PASSWORD))
    dest = str(tmp_path_factory.mktemp("flow-" + version))
    case = _case(version, dict(spec, api_version=version), dest, idempotent=True)
    return ansible.run("flow.yml", {"cases": [case]}, verbosity=4)


def _check_deployed(ansible: Ansible, dest: str, names: list[str], pfx_password: str) -> x509.Certificate:
    """The deployed files: leaf chains to Pebble's root, SANs as ordered, key matches, modes, PFX."""
    with open(os.path.join(dest, "cert.pem"), "rb") as handle:
        leaf = x509.load_pem_x509_certificate(handle.read())
    with open(os.path.join(dest, "chain.pem"), "rb") as handle:
        chain = x509.load_pem_x509_certificates(handle.read())
    with open(os.path.join(dest, "fullchain.pem"), "rb") as handle:
        assert x509.load_pem_x509_certificates(handle.read()) == [leaf] + chain
    with open(os.path.join(dest, "privkey.pem"), "rb") as handle:
        key = load_pem_private_key(handle.read(), None)
    # Pebble's root only is trusted: the chain file has to supply the intermediate.
    openssl_verify(leaf, chain, ansible.sandbox.env["acme_root_certs"])
    assert sorted(sans(leaf)) == sorted(names)
    assert key_matches(key, leaf)
    modes = {f: "%04o" % (os.stat(os.path.join(dest, f)).st_mode & 0o7777) for f in FILES}
    assert modes == {"cert.pem": "0644", "chain.pem": "0644", "fullchain.pem": "0644",
                     "privkey.pem": "0600", "cert.pfx": "0600"}
    with open(os.path.join(dest, "cert.pfx"), "rb") as handle:
        pfx_key, pfx_leaf, _extra = pkcs12.load_key_and_certificates(handle.read(), pfx_password.encode())
    assert pfx_leaf == leaf and pfx_key is not None and key_matches(pfx_key, leaf)
    return leaf


def test_check_mode_predicts_an_order_and_creates_none(flow: Run) -> None:
    version = flow.extra_vars["cases"][0]["id"]
    result = flow.result(version + "/order_check")
    assert result["changed"] is True and not result.get("failed"), result
    assert "order_uri" not in result
    assert _api(flow.requests(version + "/order_check")) == [version + ".get_certificate"]


def test_order_publish_finalize_fetch(flow: Run, ansible: Ansible) -> None:
    case = flow.extra_vars["cases"][0]
    version = case["id"]
    assert flow.rc == 0, flow.output[-8000:]
    name = case["certificate_name"]

    order = flow.result(version + "/order")
    assert order["changed"] is True and order["order_uri"].startswith("https://127.0.0.1:52000/")
    assert order["challenge_data_dns"] == {"_acme-challenge." + name: [order["validation_tokens"][0]["token_value"]]}
    assert _api(flow.requests(version + "/order")) == [version + ".get_certificate", version + ".create_order"]

    finalize = flow.result(version + "/finalize")
    assert finalize["changed"] is True and finalize["status"] == "valid", finalize
    assert finalize["certificate"]["sans"] == [name] and finalize["certificate"]["days_remaining"] >= 88
    expected = {"v7": ["v7.get_certificate", "v7.finalize"],
                "v6": ["v6.get_order", "v6.validate", "v6.get_order", "v6.finalize", "v6.get_certificate"],
                "v8": ["v8.get_certificate", "v8.schedule", "v8.get_certificate"]}[version]
    api = _api(flow.requests(version + "/finalize"))
    if version == "v8":  # polls until the certificate of this order shows up
        assert api[:2] == expected[:2] and set(api[2:]) == {"v8.get_certificate"}, api
    elif version == "v6":  # polls until the order is ready
        assert api[:2] == expected[:2] and api[-2:] == expected[-2:], api
        assert set(api[2:-2]) == {"v6.get_order"}, api
    else:
        assert api == expected

    fetch = flow.result(version + "/fetch")
    assert fetch["changed"] is True and all(f["changed"] for f in fetch["files"])
    assert _api(flow.requests(version + "/fetch")) == [version + ".get_certificate"]
    password = case.get("pfx_password") or V7_PORTAL_PASSWORD
    leaf = _check_deployed(ansible, case["dest"], [name], password)
    assert int(fetch["certificate"]["serial"].replace(":", ""), 16) == leaf.serial_number
    admin = portal_certificate(ansible.sandbox, name)  # what the portal now holds
    assert admin["issuer"] == "pebble" and int(admin["serial"], 16) == leaf.serial_number
    assert admin["order_uri"] == order["order_uri"]


def test_second_run_converges(flow: Run) -> None:
    version = flow.extra_vars["cases"][0]["id"]
    order = flow.result(version + "/order_again")
    assert order["changed"] is False and "valid for" in order["reason"], order
    # Exactly one API request: the certificate read (V6 also fetches its Azure AD token).
    assert _api(flow.requests(version + "/order_again")) == [version + ".get_certificate"]
    assert len(flow.requests(version + "/order_again", "token")) == (1 if version == "v6" else 0)

    finalize = flow.result(version + "/finalize_again")
    assert finalize["changed"] is False and finalize["status"] == "valid", finalize
    api = _api(flow.requests(version + "/finalize_again"))
    assert api and not STATE_CHANGING.intersection(api), api
    assert len(api) <= 2

    fetch = flow.result(version + "/fetch_again")
    assert fetch["changed"] is False and not any(f["changed"] for f in fetch["files"]), fetch
    assert _api(flow.requests(version + "/fetch_again")) == [version + ".get_certificate"]
    assert flow.step(version + "/fetch_again")["files"] == flow.step(version + "/fetch")["files"]


def test_verbose_output_has_no_secret(flow: Run, ansible: Ansible) -> None:
    case = flow.extra_vars["cases"][0]
    version = case["id"]
    assert flow.rc == 0
    env = ansible.sandbox.env
    with open(os.path.join(case["dest"], "privkey.pem")) as handle:
        key_lines = [line for line in handle.read().splitlines() if line and not line.startswith("-----")]
    with open(os.path.join(case["dest"], "cert.pfx"), "rb") as handle:
        pfx_b64 = base64.b64encode(handle.read()).decode()
    secrets = {
        "api key": env["api_key"],
        "client secret": env["client_secret"],
        "pfx password": case.get("pfx_password") or V7_PORTAL_PASSWORD,
        "portal pfx password": portal_certificate(ansible.sandbox, case["certificate_name"])["password"],
        "private key PEM header": "PRIVATE KEY",
        "access token (JWT header)": "eyJ0eXAi",
        "download URL": "/download/",
        "PFX": pfx_b64[64:128],
    }
    secrets.update({"private key line %d" % i: line for i, line in enumerate(key_lines)})
    output = flow.output
    assert "rcl_cert_fetch" in output and "<localhost> EXEC" in output  # it is verbose
    leaked = [what for what, value in secrets.items() if value and value in output]
    assert not leaked, leaked


@pytest.fixture(scope="module")
def variants(ansible: Ansible, tmp_path_factory: pytest.TempPathFactory) -> Run:
    seed(ansible.sandbox, *[
        dict(name=spec["certificate_name"], root_domain=spec.get("root_domain", "example.test"),
             challenge_type=spec["challenge_type"].upper(), san=spec.get("san", False), expires_in_days=10,
             password=spec["portal_password"])
        for spec in VARIANTS.values() if spec["api_version"] == "v7"])
    base = str(tmp_path_factory.mktemp("variants"))
    cases = [_case(case_id, spec, os.path.join(base, case_id)) for case_id, spec in VARIANTS.items()]
    return ansible.run("flow.yml", {"cases": cases})


@pytest.mark.parametrize("case_id", list(VARIANTS))
def test_variant_issues_the_ordered_names(variants: Run, ansible: Ansible, case_id: str) -> None:
    spec = VARIANTS[case_id]
    order = variants.result(case_id + "/order")
    assert order["changed"] is True, order
    root = spec.get("root_domain", "example.test")
    if spec["challenge_type"] == "dns":
        # apex + wildcard share _acme-challenge.<root>: one record set holding every value
        assert list(order["challenge_data_dns"]) == ["_acme-challenge." + root]
        assert len(order["challenge_data_dns"]["_acme-challenge." + root]) == len(spec["names"])
    else:
        http = [c["challenges"]["http-01"] for c in order["challenge_data"]]
        assert len(http) == len(spec["names"]) and order["challenge_data_dns"] == {}
        assert all(h["resource"].startswith(".well-known/acme-challenge/") for h in http)
    finalize = variants.result(case_id + "/finalize")
    assert finalize["changed"] is True and finalize["status"] == "valid", finalize
    fetch = variants.result(case_id + "/fetch")
    assert fetch["changed"] is True
    # V7 keeps the portal's PFX password; V6 and V8 set the one given to rcl_finalize.
    password = spec.get("pfx_password") or spec["portal_password"]
    leaf = _check_deployed(ansible, variants.case(case_id)["dest"], spec["names"], password)
    assert int(fetch["certificate"]["serial"].replace(":", ""), 16) == leaf.serial_number
    assert sorted(fetch["certificate"]["sans"]) == sorted(spec["names"])
