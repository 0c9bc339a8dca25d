# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rcl_obtain: both steps against a local HTTP server, counting every request.

Measured request counts per name (asserted below):
- V7 renewal 3 (read, order | finalize); a good certificate 1 (read); forced renewal 3 (order | read, finalize).
- V8 renewal 4 (read, order | schedule, one poll); 5 when the first poll still shows the old certificate.
- V6 renewal 7 + one token per run (token, read, order | token, read order, validate, poll order, finalize,
  read certificate); a good certificate 1 + the token.
"""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils import _obtain
from ansible_collections.rcl.ssl.plugins.modules import rcl_obtain

from .conftest import API_KEY, PFX_PASSWORD, SUB, reply_body, secrets_of, v7_path

ORDER_URI = "https://acme.test/order/116443104/10568102114"
OLD_ORDER_URI = "https://acme.test/order/1/old"
V7_ORDER = {
    "status": "pending",
    "validationTokens": [{"tokenName": "_acme-challenge.www", "tokenValue": "value-www", "challengeType": "DNS",
                          "domain": "www.example.test"}],
    "orderUri": ORDER_URI,
    "certificateUri": None,
}
PEM_FILES = ["cert.pem", "chain.pem", "facts.json", "fullchain.pem", "privkey.pem"]


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch):
    monkeypatch.setattr(_obtain, "POLL_INTERVAL", 0.01)  # the Waiter's floor: 0.1 s


def _order(run_module, args, material_dir, certificates, check_mode=False, **more):
    return run_module(rcl_obtain.main, dict(args, step="order", certificates=certificates,
                                            material_dir=str(material_dir), **more), check_mode=check_mode)


def _finish(run_module, args, material_dir, orders, check_mode=False, **more):
    return run_module(rcl_obtain.main, dict(args, step="finish", orders=orders, material_dir=str(material_dir),
                                            **more), check_mode=check_mode)


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def _check_material(directory, material, name, pfx=False):
    """The files of one name: modes, content, key matching the leaf, facts without secrets."""
    from cryptography.hazmat.primitives import serialization

    from ansible_collections.rcl.ssl.plugins.module_utils._certificate import (
        cert_metadata,
        key_matches,
        load_certificates_pem,
        load_private_key_pem,
    )

    assert _mode(directory) == 0o700
    expected = sorted(PEM_FILES + (["cert.pfx"] if pfx else []))
    assert sorted(p.name for p in directory.iterdir()) == expected
    for item in directory.iterdir():
        assert item.is_file() and not item.is_symlink()
        assert _mode(item) == 0o600, item.name
    assert (directory / "cert.pem").read_bytes() == material.pem(material.leaf)
    assert (directory / "chain.pem").read_bytes() == material.pem(*material.intermediates)
    assert (directory / "fullchain.pem").read_bytes() == material.pem(material.leaf, *material.intermediates)
    key = load_private_key_pem((directory / "privkey.pem").read_bytes())
    leaf = load_certificates_pem((directory / "cert.pem").read_bytes())[0]
    assert key_matches(key, leaf)
    assert key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
        == material.leaf_key.public_key().public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    facts = json.loads((directory / "facts.json").read_text())
    assert sorted(facts) == sorted(_obtain.FACT_KEYS)
    assert facts["name"] == name
    assert facts["not_after"].endswith("Z")
    expected_facts = cert_metadata(material.leaf)
    assert facts == dict({key: expected_facts[key] for key in _obtain.FACT_KEYS if key != "name"}, name=name)
    assert "PRIVATE" not in (directory / "facts.json").read_text()
    return facts


def _no_secrets(stdout, *replies, extra=()):
    for reply in replies:
        for secret in secrets_of(reply):
            assert secret not in stdout
    for secret in extra:
        assert secret not in stdout
    assert "PRIVATE KEY" not in stdout
    result = json.loads(stdout)
    shown = json.dumps(result.get("certificates"))
    assert "********" not in shown  # nothing had to be masked in the results
    assert "privkey" not in shown and "cert.pfx" not in shown  # no paths to key files


# ---------------------------------------------------------------------------
# V7


def test_v7_renewal_costs_three_requests_and_writes_private_files(httpserver, run_module, v7_args, v7_certificate,
                                                                  tmp_path):
    old = v7_certificate(days_left=5, order_uri=OLD_ORDER_URI)
    new = v7_certificate(days_left=90, order_uri=ORDER_URI, key_type="ec")
    name = "www.example.test"
    httpserver.expect_ordered_request(v7_path(name), method="GET",
                                      headers={"Authorization": "Bearer " + API_KEY}).respond_with_json(reply_body(old))
    httpserver.expect_ordered_request(v7_path(name, "/order"), method="GET").respond_with_json(V7_ORDER)
    httpserver.expect_ordered_request(v7_path(name, "/finalize"), method="GET",
                                      query_string={"orderuri": ORDER_URI}).respond_with_json(reply_body(new))

    ordered = _order(run_module, v7_args, tmp_path, [dict(name=name, challenge_type="dns")])
    assert ordered["changed"] is True, ordered
    assert ordered["requests"] == 2
    [entry] = ordered["certificates"]
    assert entry["ordered"] is True and entry["material"] is False
    assert entry["order_uri"] == ORDER_URI
    assert entry["root_domain"] == "example.test"
    assert entry["challenge_data_dns"] == {"_acme-challenge.www.example.test": ["value-www"]}
    assert entry["challenge_data"][0]["challenges"]["dns-01"]["record"] == "_acme-challenge.www.example.test"
    assert entry["previous"]["known"] is True and entry["previous"]["exists"] is True
    assert entry["previous"]["order_uri"] == OLD_ORDER_URI
    assert entry["previous"]["issue_date"].endswith("Z") and "." in entry["previous"]["issue_date"]
    assert entry["certificate"]["days_remaining"] <= 5
    assert list(tmp_path.iterdir()) == []  # nothing to write yet
    _no_secrets(run_module.last_stdout, old)

    finished = _finish(run_module, v7_args, tmp_path, ordered["certificates"])
    assert finished["changed"] is True, finished
    assert finished["requests"] == 1  # the finalize reply carries the certificate and its PFX
    [done] = finished["certificates"]
    assert done["name"] == name and done["status"] == "valid" and done["material"] is True
    assert done["certificate"]["days_remaining"] >= 89
    assert len(httpserver.log) == 3
    httpserver.check_assertions()
    facts = _check_material(tmp_path / name, new["_material"], name)
    assert facts["serial"] == done["certificate"]["serial"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary directory left
    _no_secrets(run_module.last_stdout, old, new)


def test_v7_good_certificate_costs_one_request_and_its_material_is_written(
        httpserver, run_module, v7_args, v7_certificate, tmp_path):
    good = v7_certificate(days_left=80)
    httpserver.expect_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(good))
    result = _order(run_module, v7_args, tmp_path, [dict(name="www.example.test", pfx=True)])
    assert result["changed"] is False
    assert result["requests"] == 1
    assert len(httpserver.log) == 1
    [entry] = result["certificates"]
    assert entry["ordered"] is False and entry["material"] is True and entry["pfx"] is True
    assert entry["order_uri"] is None and entry["previous"] is None
    assert entry["challenge_data"] == [] and entry["challenge_data_dns"] == {}
    assert entry["certificate"]["sans"] == ["www.example.test"]
    assert "valid for" in entry["reason"]
    _check_material(tmp_path / "www.example.test", good["_material"], "www.example.test", pfx=True)
    # no pfx_password: the service's PKCS#12 as it is
    assert base64.b64encode((tmp_path / "www.example.test" / "cert.pfx").read_bytes()).decode() == good["pfxString"]
    _no_secrets(run_module.last_stdout, good)

    # nothing ordered: a finish with these orders makes no request
    finished = _finish(run_module, v7_args, tmp_path, result["certificates"])
    assert finished == dict(finished, changed=False, certificates=[], requests=0)
    assert len(httpserver.log) == 1


def test_pfx_password_reencrypts_and_is_never_shown(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    from cryptography.hazmat.primitives.serialization import pkcs12

    good = v7_certificate(days_left=80)
    httpserver.expect_request(v7_path("www.example.test")).respond_with_json(reply_body(good))
    result = _order(run_module, v7_args, tmp_path, [dict(name="www.example.test", pfx=True)],
                    pfx_password="My-0wn-Pfx-Secret")
    assert result["certificates"][0]["material"] is True
    key, cert, _extra = pkcs12.load_key_and_certificates(
        (tmp_path / "www.example.test" / "cert.pfx").read_bytes(), b"My-0wn-Pfx-Secret")
    assert cert == good["_material"].leaf and key is not None
    _no_secrets(run_module.last_stdout, good, extra=["My-0wn-Pfx-Secret", PFX_PASSWORD])


def test_many_names_one_run_per_step_in_input_order(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    good = v7_certificate(name="*.example.test", days_left=80, sans=["*.example.test"])
    due = v7_certificate(name="www.example.test", days_left=3, order_uri=OLD_ORDER_URI)
    other = v7_certificate(name="api.example.test", days_left=81)
    new = v7_certificate(name="www.example.test", days_left=90, order_uri=ORDER_URI, key_type="ec")
    # the client sends %2A; the server sees the decoded path
    wildcard = "/public/v1/subscription/%s/core/certificate/*.example.test" % SUB
    httpserver.expect_ordered_request(wildcard).respond_with_json(reply_body(good))
    httpserver.expect_ordered_request(v7_path("www.example.test")).respond_with_json(reply_body(due))
    httpserver.expect_ordered_request(v7_path("api.example.test")).respond_with_json(reply_body(other))
    # every name is read and decided before the first order
    httpserver.expect_ordered_request(v7_path("www.example.test", "/order")).respond_with_json(V7_ORDER)
    httpserver.expect_ordered_request(v7_path("www.example.test", "/finalize")).respond_with_json(reply_body(new))
    names = ["*.example.test", "www.example.test", "api.example.test"]
    result = _order(run_module, v7_args, tmp_path, [dict(name=n, challenge_type="dns") for n in names])
    assert [e["name"] for e in result["certificates"]] == names
    assert [e["ordered"] for e in result["certificates"]] == [False, True, False]
    assert [e["material"] for e in result["certificates"]] == [True, False, True]
    assert result["requests"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_wildcard.example.test", "api.example.test"]
    finished = _finish(run_module, v7_args, tmp_path, result["certificates"])
    assert [e["name"] for e in finished["certificates"]] == ["www.example.test"]
    assert finished["requests"] == 1
    assert len(httpserver.log) == 5  # 1 + 3 + 1: a good name costs 1, a renewal 3
    httpserver.check_assertions()
    _check_material(tmp_path / "_wildcard.example.test", good["_material"], "*.example.test")
    _check_material(tmp_path / "www.example.test", new["_material"], "www.example.test")
    _no_secrets(run_module.last_stdout, good, due, other, new)


def test_force_orders_without_reading_and_finish_reads_once(
        httpserver, run_module, v7_args, v7_certificate, tmp_path):
    old = v7_certificate(days_left=80, order_uri=OLD_ORDER_URI)
    new = v7_certificate(days_left=90, order_uri=ORDER_URI, key_type="ec")
    httpserver.expect_ordered_request(v7_path("www.example.test", "/order")).respond_with_json(V7_ORDER)
    httpserver.expect_ordered_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(old))
    httpserver.expect_ordered_request(v7_path("www.example.test", "/finalize")).respond_with_json(reply_body(new))
    result = _order(run_module, v7_args, tmp_path, [dict(name="www.example.test")], force=True)
    assert result["requests"] == 1
    [entry] = result["certificates"]
    assert entry["ordered"] is True and entry["reason"] == "forced"
    assert entry["previous"] == dict(known=False, exists=None, order_uri=None, issue_date=None)
    assert entry["certificate"] is None
    finished = _finish(run_module, v7_args, tmp_path, result["certificates"])
    assert finished["requests"] == 2  # nothing was read before: read, then finalize (as rcl_finalize does)
    assert len(httpserver.log) == 3
    httpserver.check_assertions()
    _check_material(tmp_path / "www.example.test", new["_material"], "www.example.test")


def test_finish_reads_once_when_the_finalize_reply_has_no_pfx(httpserver, run_module, v7_args, v7_certificate,
                                                              tmp_path):
    new = v7_certificate(days_left=90, order_uri=ORDER_URI)
    bare = {key: value for key, value in reply_body(new).items() if key not in ("pfxString", "password")}
    httpserver.expect_ordered_request(v7_path("www.example.test", "/finalize")).respond_with_json(bare)
    httpserver.expect_ordered_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(new))
    orders = [dict(name="www.example.test", ordered=True, order_uri=ORDER_URI, root_domain="example.test",
                   challenge_type="dns", pfx=False,
                   previous=dict(known=True, exists=True, order_uri=OLD_ORDER_URI, issue_date="2024-01-01T00:00:00Z"))]
    finished = _finish(run_module, v7_args, tmp_path, orders)
    assert finished["requests"] == 2, finished
    httpserver.check_assertions()
    _check_material(tmp_path / "www.example.test", new["_material"], "www.example.test")


def test_check_mode_orders_nothing_and_writes_nothing(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    good = v7_certificate(name="api.example.test", days_left=80)
    due = v7_certificate(days_left=5, order_uri=OLD_ORDER_URI)
    httpserver.expect_request(v7_path("api.example.test"), method="GET").respond_with_json(reply_body(good))
    httpserver.expect_request(v7_path("www.example.test"), method="GET").respond_with_json(reply_body(due))
    certificates = [dict(name="api.example.test", pfx=True), dict(name="www.example.test")]
    result = _order(run_module, v7_args, tmp_path, certificates, check_mode=True)
    assert result["changed"] is True
    assert [e["ordered"] for e in result["certificates"]] == [False, True]
    assert [e["material"] for e in result["certificates"]] == [True, False]  # would be written
    assert result["certificates"][1]["order_uri"] is None
    assert [entry[0].path for entry in httpserver.log] == [v7_path("api.example.test"), v7_path("www.example.test")]
    assert list(tmp_path.iterdir()) == []

    # as a play in check mode chains them: the orders of step=order in check mode have no order_uri
    for orders in (result["certificates"], [dict(result["certificates"][1], order_uri=ORDER_URI)]):
        finished = _finish(run_module, v7_args, tmp_path, orders, check_mode=True)
        assert finished["changed"] is True, finished
        assert [(e["name"], e["status"], e["material"]) for e in finished["certificates"]] == [
            ("www.example.test", "pending", False)]
        assert finished["requests"] == 0
    assert len(httpserver.log) == 2
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_material_of_names_done_before(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    good = v7_certificate(name="api.example.test", days_left=80)
    due = v7_certificate(days_left=5)
    mail = v7_certificate(name="mail.example.test", days_left=70)
    httpserver.expect_ordered_request(v7_path("api.example.test")).respond_with_json(reply_body(good))
    httpserver.expect_ordered_request(v7_path("www.example.test")).respond_with_json(reply_body(due))
    httpserver.expect_ordered_request(v7_path("mail.example.test")).respond_with_json(reply_body(mail))
    httpserver.expect_ordered_request(v7_path("www.example.test", "/order")).respond_with_data(
        "Order limit reached.", status=400, content_type="text/plain")
    result = _order(run_module, v7_args, tmp_path, [dict(name="api.example.test"), dict(name="www.example.test"),
                                                    dict(name="mail.example.test")])
    assert result["failed"] is True
    assert "Order limit reached." in result["msg"]
    assert result["msg"].startswith("www.example.test: ")
    assert result["api_message"] == "Order limit reached."
    assert result["certificate_name"] == "www.example.test"
    assert result["material_written"] == ["api.example.test", "mail.example.test"] and result["ordered"] == []
    assert result["requests"] == 4
    assert len(httpserver.log) == 4  # every name read before the first order; the order is not retried
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api.example.test", "mail.example.test"]
    _no_secrets(run_module.last_stdout, good, due, mail)


def test_a_name_failing_after_its_read_leaves_no_order_behind(
        httpserver, run_module, v7_args, v7_certificate, tmp_path):
    """The second name's material is unusable: the first name, due, is not ordered (its order would be lost)."""
    due = v7_certificate(days_left=5)
    wrong = v7_certificate(name="api.example.test", days_left=80, sans=["other.example.test"])
    httpserver.expect_ordered_request(v7_path("www.example.test")).respond_with_json(reply_body(due))
    httpserver.expect_ordered_request(v7_path("api.example.test")).respond_with_json(reply_body(wrong))
    result = _order(run_module, v7_args, tmp_path, [dict(name="www.example.test"), dict(name="api.example.test")])
    assert result["failed"] is True and result["msg"].startswith("api.example.test: ")
    assert result["ordered"] == [] and len(httpserver.log) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_good_certificate_that_does_not_cover_the_names_is_due(
        httpserver, run_module, v7_args, v7_certificate, tmp_path):
    """A SAN entry whose portal certificate lists only the apex: ordered, not taken as it is."""
    apex = v7_certificate(name="example.test", days_left=80, sans=["example.test"])
    httpserver.expect_ordered_request(v7_path("example.test")).respond_with_json(reply_body(apex))
    httpserver.expect_ordered_request(v7_path("example.test", "/order")).respond_with_json(V7_ORDER)
    result = _order(run_module, v7_args, tmp_path, [dict(name="example.test", san=True, challenge_type="dns")])
    [entry] = result["certificates"]
    assert entry["ordered"] is True and entry["material"] is False
    assert "does not cover *.example.test" in entry["reason"]
    assert list(tmp_path.iterdir()) == []


def test_bad_material_is_not_written(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    wrong = v7_certificate(days_left=80, sans=["other.example.test"])
    httpserver.expect_request(v7_path("www.example.test")).respond_with_json(reply_body(wrong))
    result = _order(run_module, v7_args, tmp_path, [dict(name="www.example.test")])
    assert result["failed"] is True
    assert result["failed_check"] == "names"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("certificates, message", [
    ([dict(name="www.example.test"), dict(name="WWW.Example.test")], "listed twice"),
    ([dict(name="www.exa_mple.test")], "www.exa_mple.test"),
    ([dict(name="*.example.test", challenge_type="http")], "wildcard"),
    ([dict(name="www.example.test", san=True, root_domain="example.test")], "apex"),
    ([dict(name="www.example.test", colour="blue")], "unknown keys colour"),
    ([dict(root_domain="example.test")], "no name"),
    ([dict(name="www.example.test", pfx="maybe")], "pfx must be a boolean"),
    (["www.example.test"], "unable to convert to dict"),  # ansible-core's check
    ([dict(name="www.example.test", san="sometimes")], "san must be a boolean"),
])
def test_bad_certificates_fail_before_any_request(httpserver, run_module, v7_args, tmp_path, certificates, message):
    # the good entry comes first: every entry is checked before the first request
    result = _order(run_module, v7_args, tmp_path, [dict(name="ok.example.test")] + certificates)
    assert result["failed"] is True
    assert message in result["msg"], result["msg"]
    assert len(httpserver.log) == 0
    assert API_KEY not in run_module.last_stdout


@pytest.mark.parametrize("material_dir, message", [
    ("missing", "not an existing directory"),
    ("file", "not an existing directory"),
    ("relative/dir", "absolute path"),
])
def test_bad_material_dir_fails_before_any_request(httpserver, run_module, v7_args, tmp_path, material_dir, message):
    (tmp_path / "file").write_text("x")
    path = material_dir if "/" in material_dir else str(tmp_path / material_dir)
    for step, more in (("order", dict(certificates=[dict(name="www.example.test")])),
                       ("finish", dict(orders=[dict(name="www.example.test", ordered=True, order_uri=ORDER_URI)]))):
        result = run_module(rcl_obtain.main, dict(v7_args, step=step, material_dir=path, **more))
        assert result["failed"] is True
        assert message in result["msg"], result["msg"]
    assert len(httpserver.log) == 0


@pytest.mark.parametrize("args, message", [
    (dict(step="order", material_dir="/tmp"), "certificates"),
    (dict(step="finish", material_dir="/tmp"), "orders"),
    (dict(step="order", certificates=[dict(name="www.example.test")]), "material_dir"),
    (dict(step="order", material_dir="/tmp", certificates=[], orders=[]), "mutually exclusive"),
])
def test_missing_options_fail_before_any_request(httpserver, run_module, v7_args, args, message):
    result = run_module(rcl_obtain.main, dict(v7_args, **args))
    assert result["failed"] is True
    assert message in result["msg"], result["msg"]
    assert len(httpserver.log) == 0


@pytest.mark.parametrize("orders, message", [
    ([dict(name="www.example.test", ordered=True)], "order_uri"),
    ([dict(name="www.example.test", ordered=True, order_uri="nope")], "order_uri"),
    ([dict(name="www.example.test", ordered=True, order_uri=ORDER_URI, previous=dict(known=True, issue_date="soon"))],
     "issue_date"),
    ([dict(name="www.example.test", ordered=True, order_uri=ORDER_URI)] * 2, "listed twice"),
    ("www.example.test", "orders"),
])
def test_bad_orders_fail_before_any_request(httpserver, run_module, v7_args, tmp_path, orders, message):
    result = _finish(run_module, v7_args, tmp_path, orders)
    assert result["failed"] is True
    assert message in result["msg"], result["msg"]
    assert len(httpserver.log) == 0


def test_a_link_in_material_dir_is_left_alone(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    good = v7_certificate(days_left=80)
    httpserver.expect_request(v7_path("www.example.test")).respond_with_json(reply_body(good))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    material = tmp_path / "material"
    material.mkdir()
    (material / "www.example.test").symlink_to(elsewhere)
    result = _order(run_module, v7_args, material, [dict(name="www.example.test")])
    assert result["failed"] is True
    assert "not a directory" in result["msg"]
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in material.iterdir()) == ["www.example.test"]  # no temporary directory left
    assert (material / "www.example.test").is_symlink()


def test_an_earlier_directory_of_the_name_is_replaced(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    good = v7_certificate(days_left=80)
    httpserver.expect_request(v7_path("www.example.test")).respond_with_json(reply_body(good))
    earlier = tmp_path / "www.example.test"
    earlier.mkdir()
    (earlier / "privkey.pem").write_text("stale")
    (earlier / "stray").write_text("x")
    result = _order(run_module, v7_args, tmp_path, [dict(name="www.example.test")])
    assert result["certificates"][0]["material"] is True, result
    _check_material(earlier, good["_material"], "www.example.test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["www.example.test"]


# ---------------------------------------------------------------------------
# V8


def _v8_args(httpserver):
    return dict(api_version="v8", api_url=httpserver.url_for("/v8"), subscription_id=SUB, api_key=API_KEY, retries=0)


def _v8_path(suffix):
    return "/v8/%s/%s" % (SUB, suffix)


V8_ORDER = {"certificateName": "www.example.test", "rootDomain": "example.test", "challengeType": "dns",
            "orderUri": ORDER_URI, "tokens": [{"tokenName": "_acme-challenge.www", "tokenValue": "value-www",
                                               "challengeType": "dns", "domain": "www.example.test"}]}


@pytest.mark.parametrize("old_polls", [0, 1])
def test_v8_renewal_request_count(httpserver, run_module, v7_certificate, tmp_path, old_polls):
    """read + order | schedule + polls until the new certificate shows (previous from step order, not re-read)."""
    old = v7_certificate(days_left=5, order_uri=OLD_ORDER_URI)
    new = v7_certificate(days_left=90, order_uri=ORDER_URI, key_type="ec")
    get = _v8_path("get/certificatename/www.example.test")
    httpserver.expect_ordered_request(get, method="GET").respond_with_json(reply_body(old))
    httpserver.expect_ordered_request(_v8_path("order/create"), method="POST").respond_with_json(V8_ORDER)
    httpserver.expect_ordered_request(_v8_path("schedule/create"), method="POST", json={
        "certificateName": "www.example.test", "rootDomain": "example.test", "challengeType": "dns",
        "target": "Stand Alone", "subscriptionId": SUB, "orderUri": ORDER_URI}).respond_with_data("")
    for _poll in range(old_polls):  # issuance not done yet: the old certificate (same issue date) again
        httpserver.expect_ordered_request(get, method="GET").respond_with_json(reply_body(old))
    httpserver.expect_ordered_request(get, method="GET").respond_with_json(reply_body(new))
    args = _v8_args(httpserver)
    ordered = _order(run_module, args, tmp_path, [dict(name="www.example.test", challenge_type="dns")])
    assert ordered["requests"] == 2, ordered
    finished = _finish(run_module, args, tmp_path, ordered["certificates"])
    assert finished["requests"] == 2 + old_polls, finished
    assert finished["certificates"][0]["status"] == "valid"
    assert len(httpserver.log) == 4 + old_polls
    httpserver.check_assertions()
    _check_material(tmp_path / "www.example.test", new["_material"], "www.example.test")
    _no_secrets(run_module.last_stdout, old, new)


def test_v8_good_certificate_costs_one_request(httpserver, run_module, v7_certificate, tmp_path):
    good = v7_certificate(days_left=80)
    httpserver.expect_request(_v8_path("get/certificatename/www.example.test")).respond_with_json(reply_body(good))
    result = _order(run_module, _v8_args(httpserver), tmp_path, [dict(name="www.example.test", challenge_type="dns")])
    assert result["requests"] == 1 and result["changed"] is False
    _check_material(tmp_path / "www.example.test", good["_material"], "www.example.test")


# ---------------------------------------------------------------------------
# V6


def _v6_args(httpserver):
    return dict(api_version="v6", api_url=httpserver.url_for("/v6"), subscription_id=SUB, client_id="client-1",
                client_secret="cl13nt~S3cret.value", token_url=httpserver.url_for("/token"), retries=0)


def _v6(action):
    return "/v6/order/subscription/%s/%s" % (SUB, action)


def _v6_order(status):
    return {"status": status, "orderUri": ORDER_URI, "certificateUri": None,
            "validationTokens": [{"tokenName": "_acme-challenge.www", "tokenValue": "value-www",
                                  "challengeType": "DNS"}],
            "challenges": [{"challengeType": "dns-01", "status": "valid" if status != "pending" else "pending",
                            "token": "tok"}]}


TOKEN = {"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0eXAiOiJKV1Q.v6-token.sig"}


def test_v6_renewal_request_count(httpserver, run_module, v7_certificate, tmp_path):
    """token, read, order | token, read order, validate, poll order, finalize, read certificate."""
    old = v7_certificate(days_left=5, order_uri=OLD_ORDER_URI)
    new = v7_certificate(days_left=90, order_uri=ORDER_URI, key_type="ec")
    cert = "/v6/certificate/subscription/%s/get" % SUB
    expect = httpserver.expect_ordered_request
    expect("/token", method="POST").respond_with_json(TOKEN)
    expect(cert, method="GET", query_string={"name": "www.example.test"}).respond_with_json(reply_body(old))
    expect(_v6("create"), method="POST", json={"hostName": "www.example.test", "rootDomain": "example.test",
                                               "challengeType": "DNS", "isSAN": False}).respond_with_json(
        _v6_order("pending"))
    expect("/token", method="POST").respond_with_json(TOKEN)
    expect(_v6("get"), method="POST").respond_with_json(_v6_order("pending"))
    expect(_v6("validate"), method="POST").respond_with_data("")
    expect(_v6("get"), method="POST").respond_with_json(_v6_order("ready"))
    expect(_v6("finalize"), method="POST").respond_with_json(dict(_v6_order("valid"), certificateUri="https://x/c"))
    expect(cert, method="GET", query_string={"name": "www.example.test"}).respond_with_json(reply_body(new))
    args = _v6_args(httpserver)
    ordered = _order(run_module, args, tmp_path, [dict(name="www.example.test", challenge_type="dns")])
    assert ordered["requests"] == 3, ordered  # token, read, order
    finished = _finish(run_module, args, tmp_path, ordered["certificates"])
    assert finished["requests"] == 6, finished  # token + the five the API needs, no extra read
    assert finished["certificates"][0]["status"] == "valid"
    assert len(httpserver.log) == 9
    httpserver.check_assertions()
    _check_material(tmp_path / "www.example.test", new["_material"], "www.example.test")
    _no_secrets(run_module.last_stdout, old, new, extra=["cl13nt~S3cret.value", TOKEN["access_token"]])


def test_v6_good_certificate_costs_one_request_and_the_token(httpserver, run_module, v7_certificate, tmp_path):
    good = v7_certificate(days_left=80)
    httpserver.expect_ordered_request("/token", method="POST").respond_with_json(TOKEN)
    httpserver.expect_ordered_request("/v6/certificate/subscription/%s/get" % SUB).respond_with_json(reply_body(good))
    result = _order(run_module, _v6_args(httpserver), tmp_path, [dict(name="www.example.test", challenge_type="dns")])
    assert result["requests"] == 2 and result["changed"] is False
    _check_material(tmp_path / "www.example.test", good["_material"], "www.example.test")
