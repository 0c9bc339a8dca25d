# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module with service=certifire and service=servertastic against the emulator (playbooks/services/).

Two playbook runs, each once and at -vvvv so their output can be searched for secrets: Certifire's whole
life of a certificate (certifire.yml); Servertastic's DNS, FILE and EMAIL names, then the input errors of both
services that must fail before any request (servertastic.yml, which imports inputs.yml). The tests read the
recorded steps (result + the emulator's request log of each step).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12
from emuclient import Sandbox, key_matches, openssl_verify, sans
from rclit import Ansible, Run

# Requests that create something at the service (an order, a reissue, a paid token, a placed order).
CREATING = {"certifire.create_order", "certifire.reissue", "servertastic.generatetoken", "servertastic.place"}
PEM_FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")

CF_NAME = "cf-flow.example.test"
CF_PROVIDER = "cf-provider.example.test"
CF_OBTAIN = "cf-obtain.example.test"
CF_PFX_PASSWORD = "cf-pfx-Secret-5e0b"

ST_CASES = {
    "dns": dict(name="st-dns.example.test", zone="example.test", challenge_type="dns", full=True),
    "http": dict(name="st-http.example2.test", zone="example2.test", challenge_type="http"),
}
ST_MAIL = "st-mail.example.test"
ST_OBTAIN = "st-obtain.example.test"
ST_PASSPHRASE = "st-state-Passphrase-41c7"
ST_WRONG_PASSPHRASE = "st-wrong-Passphrase-9d02"


# -- the runs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services(ansible: Ansible) -> Ansible:
    """The session's runner: playbooks/services/ has its own action_plugins (rcl_emu, svc_emu)."""
    ansible.sandbox.settings(certifire_key_bits=2048, certifire_write_delay=0.3, servertastic_queue_seconds=0)
    return ansible


def _pebble_base(sandbox: Sandbox) -> str:
    """Pebble's base URL without the trailing slash (the module adds it; the emulator falls back to /dir)."""
    return sandbox.env["acme_directory"].rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def certifire(services: Ansible, tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = str(tmp_path_factory.mktemp("certifire"))
    dest, material = os.path.join(base, "dest"), os.path.join(base, "material")
    os.makedirs(dest)
    os.makedirs(material, mode=0o700)
    run = services.run("services/certifire.yml", dict(
        cf_name=CF_NAME, cf_provider_name=CF_PROVIDER, cf_obtain_name=CF_OBTAIN,
        cf_dest=dest, cf_material=material, cf_pfx_password=CF_PFX_PASSWORD,
        acme_server=_pebble_base(services.sandbox)), verbosity=4)
    assert run.rc == 0, run.output[-8000:]
    return run


@pytest.fixture(scope="module")
def servertastic(services: Ansible, tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = str(tmp_path_factory.mktemp("servertastic"))
    cases = []
    for case_id, spec in ST_CASES.items():
        dest = os.path.join(base, "dest-" + case_id)
        os.makedirs(dest)
        cases.append(dict(spec, id=case_id, dest=dest))
    mail_dest, material = os.path.join(base, "dest-mail"), os.path.join(base, "material")
    os.makedirs(mail_dest)
    os.makedirs(material, mode=0o700)
    try:
        run = services.run("services/servertastic.yml", dict(
            st_cases=cases, st_mail=ST_MAIL, st_mail_dest=mail_dest, st_obtain=ST_OBTAIN, st_material=material,
            st_state_dir=os.path.join(base, "state"), st_passphrase=ST_PASSPHRASE,
            st_wrong_passphrase=ST_WRONG_PASSPHRASE, inputs_state_dir=os.path.join(base, "inputs-state")),
            verbosity=4)
    finally:  # what the playbook published
        sandbox = services.sandbox
        for spec in ST_CASES.values():
            if spec["challenge_type"] == "dns":
                sandbox.txt_delete(spec["zone"], spec["name"] + ".")
        sandbox.txt_delete("example.test", ST_OBTAIN + ".")
        validation_file = os.path.join(sandbox.env["webroot"], ".well-known", "pki-validation", "fileauth.txt")
        if os.path.exists(validation_file):
            os.unlink(validation_file)
    assert run.rc == 0, run.output[-8000:]
    return run


@pytest.fixture(scope="module")
def inputs(servertastic: Run) -> Run:
    """The input errors run as the last play of servertastic.yml."""
    return servertastic


# -- helpers ---------------------------------------------------------------------------------------


def endpoints(run: Run, step: str) -> list[str]:
    return [entry["endpoint"] for entry in run.requests(step)]


def steps(run: Run) -> list[str]:
    return list(run.results)


def load_chain(path: str) -> list[x509.Certificate]:
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificates(handle.read())


def load_key(path: str) -> Any:
    with open(path, "rb") as handle:
        return load_pem_private_key(handle.read(), None)


def mode(path: str) -> str:
    return "%04o" % (os.stat(path).st_mode & 0o7777)


def check_deployed(directory: str, name: str, roots: str, files: tuple[str, ...] = PEM_FILES) -> x509.Certificate:
    """The files of one name: the leaf covers it, the chain file supplies what ``roots`` (a root only) lacks,
    the key matches, the modes are the modules' defaults, and no temporary file was left behind."""
    fullchain = load_chain(os.path.join(directory, "fullchain.pem"))
    leaf, chain = fullchain[0], fullchain[1:]
    assert chain, "the fullchain has no intermediate"
    if "cert.pem" in files:
        assert load_chain(os.path.join(directory, "cert.pem")) == [leaf]
    if "chain.pem" in files:
        assert load_chain(os.path.join(directory, "chain.pem")) == chain
    openssl_verify(leaf, chain, roots)
    assert name in sans(leaf)
    assert key_matches(load_key(os.path.join(directory, "privkey.pem")), leaf)
    for file_name in files:
        assert mode(os.path.join(directory, file_name)) == ("0600" if file_name in ("privkey.pem", "cert.pfx")
                                                            else "0644"), file_name
    assert sorted(os.listdir(directory)) == sorted(files)  # written by rename: nothing half-written left
    return leaf


def serial_of(result: dict[str, Any]) -> int:
    return int(result["certificate"]["serial"].replace(":", ""), 16)


def no_traceback(run: Run, result: dict[str, Any]) -> None:
    # ansible-core 2.19 adds "(traceback unavailable)" at -vvv when a module fails without an exception
    assert result.get("exception", "(traceback unavailable)") == "(traceback unavailable)", result
    assert "Traceback" not in result.get("msg", ""), result
    assert "Traceback (most recent call last)" not in run.output


# -- Certifire -------------------------------------------------------------------------------------


def test_certifire_check_mode_predicts_an_order_and_creates_none(certifire: Run) -> None:
    result = certifire.result("order_check")
    assert result["changed"] is True and not result.get("failed"), result
    assert "order_uri" not in result and result["reason"].startswith("no certificate from Certifire")
    assert endpoints(certifire, "order_check") == ["certifire.list_certificates"]


def test_certifire_order_with_acme_server(certifire: Run, sandbox: Sandbox) -> None:
    result = certifire.result("order")
    assert result["changed"] is True and result["service"] == "certifire", result
    assert result["order_uri"] == "%s/api/order/%d" % (sandbox.env["certifire_url"], result["order"]["order_id"])
    # the service validates by itself: nothing to publish
    assert result["challenge_data"] == [] and result["challenge_data_dns"] == {}
    assert result["order"]["status"] == "processing" and result["resumed"] is False
    assert endpoints(certifire, "order") == ["certifire.list_certificates", "certifire.acme", "certifire.create_order"]
    # the ACME account was registered at the sandbox Pebble given as acme_server (a "/" added)
    account = next(a for a in sandbox.admin_call("GET", "/certifire/accounts") if a["id"] == result["order"]["account_id"])
    assert account["server"] == _pebble_base(sandbox) + "/", account
    assert account["directory_uri"] == _pebble_base(sandbox) + "/dir"  # the emulator's fallback for Pebble


def test_certifire_order_info_by_order_uri_and_by_name(certifire: Run) -> None:
    order_uri = certifire.result("order")["order_uri"]
    info = certifire.result("info_order")
    assert info["changed"] is False and info["order_uri"] == order_uri, info
    assert info["order"]["status"] in ("processing", "valid") and info["order"]["order_id"] > 0
    assert set(endpoints(certifire, "info_order")) == {"certifire.get_order"}

    by_name = certifire.result("info_name")
    assert by_name["changed"] is False and by_name["exists"] is True, by_name
    assert by_name["certificate"]["id"] == certifire.result("finalize")["certificate"]["id"]
    assert by_name["certificate"]["name"] == CF_NAME and by_name["certificate"]["days_remaining"] >= 88
    assert endpoints(certifire, "info_name") == ["certifire.list_certificates"]


def test_certifire_finalize_waits_for_the_certificate(certifire: Run, sandbox: Sandbox) -> None:
    result = certifire.result("finalize")
    # Certifire issues by itself: waiting and reading change nothing
    assert result["changed"] is False and result["status"] == "valid", result
    cert = result["certificate"]
    assert cert["sans"] == [CF_NAME] and cert["days_remaining"] >= 88 and "Pebble" in cert["issuer"]
    api = endpoints(certifire, "finalize")
    # polls the order, then reads the certificate it resolved to; nothing else
    assert api[-1] == "certifire.get_certificate" and set(api[:-1]) == {"certifire.get_order"}, api
    held = {c["id"]: c for c in sandbox.admin_call("GET", "/certifire/certificates")}[cert["id"]]
    assert int(held["serial"], 16) == serial_of(result)


def test_certifire_fetch_check_mode_diff_and_again(certifire: Run) -> None:
    check = certifire.result("fetch_check")
    assert check["changed"] is True and not check.get("failed"), check
    assert all(facts is None for facts in certifire.step("fetch_check")["files"].values())  # nothing written
    assert check["diff"]["before"] == {} and check["diff"]["after"]["sans"] == [CF_NAME]

    fetch = certifire.result("fetch")
    assert fetch["changed"] is True and all(f["changed"] for f in fetch["files"]), fetch
    assert fetch["diff"]["before"] == {} and fetch["diff"]["after"]["serial"] == fetch["certificate"]["serial"]
    assert serial_of(fetch) == serial_of(certifire.result("finalize"))
    assert endpoints(certifire, "fetch_check") == ["certifire.list_certificates"]
    files = certifire.step("fetch")["files"]
    assert {os.path.basename(p): f["mode"] for p, f in files.items()} == {
        "cert.pem": "0644", "chain.pem": "0644", "fullchain.pem": "0644", "privkey.pem": "0600", "cert.pfx": "0600"}
    assert endpoints(certifire, "fetch") == ["certifire.list_certificates"]

    again = certifire.result("fetch_again")
    assert again["changed"] is False and not any(f["changed"] for f in again["files"]), again
    assert "diff" not in again  # diff mode shows changes only
    assert certifire.step("fetch_again")["files"] == files
    assert endpoints(certifire, "fetch_again") == ["certifire.list_certificates"]


def test_certifire_second_order_is_not_due(certifire: Run) -> None:
    result = certifire.result("order_again")
    assert result["changed"] is False and "valid for" in result["reason"], result
    assert "order_uri" not in result and result["certificate"]["name"] == CF_NAME
    assert endpoints(certifire, "order_again") == ["certifire.list_certificates"]


def test_certifire_finalize_again_changes_nothing(certifire: Run) -> None:
    result = certifire.result("finalize_again")
    assert result["status"] == "valid" and not CREATING.intersection(endpoints(certifire, "finalize_again"))
    assert result["certificate"]["id"] == certifire.result("finalize")["certificate"]["id"]
    assert result["changed"] is False, result


def test_certifire_force_with_certifire_reissue_sends_copy_with_a_warning(certifire: Run, sandbox: Sandbox) -> None:
    old = certifire.result("finalize")["certificate"]
    result = certifire.result("reissue")
    assert result["changed"] is True and result["reason"] == "forced", result
    assert any("revokes the live certificate" in w for w in result.get("warnings", [])), result
    assert result["order_uri"] == "%s#after=%s" % (certifire.result("order")["order_uri"], old["id"])
    entries = certifire.requests("reissue")
    assert [(e["method"], e["endpoint"]) for e in entries] == [
        ("GET", "certifire.list_certificates"), ("COPY", "certifire.reissue")]

    new = certifire.result("reissue_finalize")
    assert new["changed"] is False and new["status"] == "valid", new
    assert new["certificate"]["id"] != old["id"] and serial_of(new) != serial_of(certifire.result("finalize"))
    held = {c["id"]: c["status"] for c in sandbox.admin_call("GET", "/certifire/certificates")}
    assert held[old["id"]] == "revoked"  # the live certificate was revoked before the new one existed

    fetch = certifire.result("fetch_reissued")
    assert fetch["changed"] is True and serial_of(fetch) == serial_of(new), fetch
    before, after = certifire.step("fetch")["files"], certifire.step("fetch_reissued")["files"]
    cert_path = [p for p in after if p.endswith("/cert.pem")][0]
    assert after[cert_path] != before[cert_path]


def test_certifire_force_alone_posts_the_order_again(certifire: Run, sandbox: Sandbox) -> None:
    live = certifire.result("reissue_finalize")["certificate"]
    result = certifire.result("force_repost")
    assert result["changed"] is True and result["reason"] == "forced", result
    assert not result.get("warnings"), result  # nothing is revoked
    assert result["order_uri"] == "%s#after=%s" % (certifire.result("order")["order_uri"], live["id"])
    api = endpoints(certifire, "force_repost")
    assert api[:3] == ["certifire.list_certificates", "certifire.acme", "certifire.create_order"], api
    assert set(api[3:]) <= {"certifire.get_order"}, api  # the order it found again is read, not reissued

    renewed = certifire.result("force_repost_finalize")
    assert renewed["changed"] is False and renewed["status"] == "valid", renewed
    assert renewed["certificate"]["id"] != live["id"]
    held = {c["id"]: c["status"] for c in sandbox.admin_call("GET", "/certifire/certificates")}
    assert held[live["id"]] == "valid" and held[renewed["certificate"]["id"]] == "valid"  # renewal revokes nothing


def test_certifire_copy_only_with_force_and_certifire_reissue(certifire: Run) -> None:
    for step in steps(certifire):
        if step == "reissue":
            continue
        entries = certifire.requests(step)
        assert not [e for e in entries if e["endpoint"] == "certifire.reissue" or e["method"] == "COPY"], step
    creating = {step: [e for e in endpoints(certifire, step) if e in CREATING] for step in steps(certifire)}
    assert {step: found for step, found in creating.items() if found} == {
        "order": ["certifire.create_order"], "reissue": ["certifire.reissue"], "provider": ["certifire.create_order"],
        "obtain_order": ["certifire.create_order"], "force_repost": ["certifire.create_order"]}


def test_certifire_deployed_files_chain_to_pebble(certifire: Run, sandbox: Sandbox) -> None:
    dest = certifire.extra_vars["cf_dest"]
    leaf = check_deployed(dest, CF_NAME, sandbox.env["acme_root_certs"], PEM_FILES + ("cert.pfx",))
    assert leaf.serial_number == serial_of(certifire.result("reissue_finalize"))
    with open(os.path.join(dest, "cert.pfx"), "rb") as handle:
        key, pfx_leaf, _extra = pkcs12.load_key_and_certificates(handle.read(), CF_PFX_PASSWORD.encode())
    assert pfx_leaf == leaf and key is not None and key_matches(key, leaf)


def test_certifire_unknown_provider_fails_with_id_0(certifire: Run) -> None:
    result = certifire.result("provider")
    assert result["failed"] is True and "order_uri" not in result, result
    assert "'gandi'" in result["msg"] and "id 0" in result["msg"], result["msg"]
    assert endpoints(certifire, "provider") == [
        "certifire.list_certificates", "certifire.acme", "certifire.create_order"]
    no_traceback(certifire, result)


def test_certifire_obtain_order_and_finish(certifire: Run, sandbox: Sandbox) -> None:
    order = certifire.result("obtain_order")
    by_name = {c["name"]: c for c in order["certificates"]}
    assert by_name[CF_OBTAIN]["ordered"] is True and by_name[CF_OBTAIN]["order_uri"], order
    assert by_name[CF_NAME]["ordered"] is False and by_name[CF_NAME]["material"] is True
    assert by_name[CF_NAME]["challenge_type"] is None  # the entry's dns is ignored: the service validates itself
    # one list read serves both names (the due decision and the material of the one not due)
    assert endpoints(certifire, "obtain_order") == [
        "certifire.list_certificates", "certifire.acme", "certifire.create_order"]

    finish = certifire.result("obtain_finish")
    done = {c["name"]: c for c in finish["certificates"]}
    assert finish["changed"] is False and done[CF_OBTAIN]["status"] == "valid" and done[CF_OBTAIN]["material"]
    assert CF_NAME not in done  # not ordered: its material came with step order
    assert not CREATING.intersection(endpoints(certifire, "obtain_finish"))
    material = certifire.extra_vars["cf_material"]
    for name in (CF_OBTAIN, CF_NAME):
        directory = os.path.join(material, name)
        assert mode(directory) == "0700"
        chain = load_chain(os.path.join(directory, "fullchain.pem"))
        openssl_verify(chain[0], chain[1:], sandbox.env["acme_root_certs"])
        assert key_matches(load_key(os.path.join(directory, "privkey.pem")), chain[0])
        assert name in sans(chain[0])
        assert all(mode(os.path.join(directory, f)) == "0600" for f in os.listdir(directory))


# -- Servertastic ----------------------------------------------------------------------------------


def _admin_orders(sandbox: Sandbox, name: str) -> list[dict[str, Any]]:
    return [o for o in sandbox.admin_call("GET", "/servertastic/orders") if o["domain_name"] == name]


def test_servertastic_check_mode_creates_nothing(servertastic: Run) -> None:
    case = "dns"
    result = servertastic.result(case + "/order_check")
    assert result["changed"] is True and not result.get("failed") and "order_uri" not in result, result
    # no state yet for this name: nothing to read, and no token, no placing
    assert endpoints(servertastic, case + "/order_check") == []
    assert servertastic.step(case + "/order_check")["files"] == servertastic.step(case + "/before")["files"]


@pytest.mark.parametrize("case", sorted(ST_CASES))
def test_servertastic_order_returns_what_to_publish(servertastic: Run, sandbox: Sandbox, case: str) -> None:
    name = ST_CASES[case]["name"]
    result = servertastic.result(case + "/order")
    assert result["changed"] is True and result["resumed"] is False and result["service"] == "servertastic", result
    reference = result["order"]["reference"]
    assert result["order_uri"] == "servertastic:" + reference and reference.startswith("rcl-")
    assert result["order"]["status"] == "pending"
    assert result["order"]["service_status"] == "Awaiting Customer Verification"
    assert endpoints(servertastic, case + "/order") == [
        "servertastic.generatetoken", "servertastic.place", "servertastic.review"]
    (admin,) = _admin_orders(sandbox, name)
    assert admin["reference"] == reference and admin["dv_auth_method"] == ("DNS" if case == "dns" else "FILE")
    (entry,) = result["challenge_data"]
    assert entry["identifier"] == name
    if case == "dns":
        # the TXT value on the base domain (the name itself: no www. or *.)
        assert result["challenge_data_dns"] == {name: [admin["dns_string"]]}
        assert entry["challenges"]["dns-01"]["record"] == name
    else:
        assert result["challenge_data_dns"] == {}
        assert entry["challenges"]["http-01"] == {"resource": ".well-known/pki-validation/fileauth.txt",
                                                  "resource_value": admin["file_contents"]}
    if case == "dns":
        info = servertastic.result(case + "/info_order")
        assert info["changed"] is False and info["order_uri"] == result["order_uri"], info
        assert info["order"]["status"] == "pending" and info["challenge_data"] == result["challenge_data"]
        assert endpoints(servertastic, case + "/info_order") == ["servertastic.review"]


@pytest.mark.parametrize("case", sorted(ST_CASES))
def test_servertastic_finalize_and_fetch(servertastic: Run, sandbox: Sandbox, case: str) -> None:
    name = ST_CASES[case]["name"]
    result = servertastic.result(case + "/finalize")
    assert result["changed"] is True and result["status"] == "valid", result
    assert result["certificate"]["sans"] == [name] and "Servertastic" in result["certificate"]["issuer"]
    api = endpoints(servertastic, case + "/finalize")
    assert set(api) <= {"servertastic.review", "servertastic.pollauth"} and api[0] == "servertastic.review", api

    fetch = servertastic.result(case + "/fetch")
    assert fetch["changed"] is True and all(f["changed"] for f in fetch["files"]), fetch
    assert fetch["diff"]["before"] == {} and fetch["diff"]["after"]["serial"] == fetch["certificate"]["serial"]
    assert endpoints(servertastic, case + "/fetch") == ["servertastic.review"]
    dest = next(c["dest"] for c in servertastic.extra_vars["st_cases"] if c["id"] == case)
    leaf = check_deployed(dest, name, sandbox.env["servertastic_roots"])
    assert leaf.serial_number == serial_of(result) == int(_admin_orders(sandbox, name)[0]["serial"], 16)


def test_servertastic_second_run_is_quiet(servertastic: Run) -> None:
    info = servertastic.result("dns/info_name")
    assert info["exists"] is True and info["certificate"]["name"] == ST_CASES["dns"]["name"], info
    assert "pending_order_uri" not in info
    assert endpoints(servertastic, "dns/info_name") == ["servertastic.review"]

    check = servertastic.result("dns/fetch_check")
    assert check["changed"] is True and check["diff"]["before"] == {}, check
    assert all(facts is None for facts in servertastic.step("dns/fetch_check")["files"].values())

    again = servertastic.result("dns/fetch_again")
    assert again["changed"] is False and not any(f["changed"] for f in again["files"]), again
    assert servertastic.step("dns/fetch_again")["files"] == servertastic.step("dns/fetch")["files"]
    assert "diff" not in again

    order = servertastic.result("dns/order_again")
    assert order["changed"] is False and "valid for" in order["reason"], order
    assert endpoints(servertastic, "dns/order_again") == ["servertastic.review"]

    finalize = servertastic.result("dns/finalize_again")
    assert finalize["changed"] is False and finalize["status"] == "valid", finalize
    assert endpoints(servertastic, "dns/finalize_again") == ["servertastic.review"]


def test_servertastic_state_file_is_sealed(servertastic: Run, sandbox: Sandbox) -> None:
    state_dir = servertastic.extra_vars["st_state_dir"]
    path = os.path.join(state_dir, "servertastic.json")
    assert mode(state_dir) == "0700" and mode(path) == "0600"
    with open(path) as handle:
        text = handle.read()
    data = json.loads(text)
    assert set(data["certificates"]) == {c["name"] for c in ST_CASES.values()} | {ST_MAIL, ST_OBTAIN}
    tokens = [o["order_token"] for o in sandbox.admin_call("GET", "/servertastic/orders")]
    assert "PRIVATE KEY" not in text and not [t for t in tokens if t in text]


def test_servertastic_email_order_unfinished_then_resumed_without_new_token(servertastic: Run, sandbox: Sandbox) -> None:
    order = servertastic.result("mail/order")
    assert order["changed"] is True and order["resumed"] is False, order
    assert order["approval"]["approver_email"] == "admin@" + ST_MAIL and order["challenge_data"] == []
    assert endpoints(servertastic, "mail/order") == [
        "servertastic.generatetoken", "servertastic.place", "servertastic.review"]

    timeout = servertastic.result("mail/finalize_timeout")
    assert timeout["failed"] is True and timeout["msg"].startswith("Timed out after 2"), timeout
    assert "the next run resumes it without a new token" in timeout["msg"]
    assert timeout["order_uri"] == order["order_uri"]
    assert set(endpoints(servertastic, "mail/finalize_timeout")) == {"servertastic.review"}  # no pollauth for EMAIL
    no_traceback(servertastic, timeout)

    pending = servertastic.result("mail/info_pending")
    assert pending["exists"] is False and pending["pending_order_uri"] == order["order_uri"], pending
    assert endpoints(servertastic, "mail/info_pending") == []

    resumed = servertastic.result("mail/resume")
    assert resumed["changed"] is True and resumed["resumed"] is True, resumed
    assert resumed["reason"] == "resuming the unfinished order " + order["order_uri"]
    assert resumed["order_uri"] == order["order_uri"]
    assert endpoints(servertastic, "mail/resume") == ["servertastic.review"]  # no new token, no placing

    finalize = servertastic.result("mail/finalize")
    assert finalize["changed"] is True and finalize["status"] == "valid", finalize
    assert not CREATING.intersection(endpoints(servertastic, "mail/finalize"))
    assert servertastic.result("mail/fetch")["changed"] is True
    leaf = check_deployed(servertastic.extra_vars["st_mail_dest"], ST_MAIL, sandbox.env["servertastic_roots"],
                          ("fullchain.pem", "privkey.pem"))
    (admin,) = _admin_orders(sandbox, ST_MAIL)  # one token for the name, however many runs
    assert admin["status"] == "Completed" and int(admin["serial"], 16) == leaf.serial_number


def test_servertastic_wrong_state_passphrase_fails_clearly(servertastic: Run) -> None:
    path = os.path.join(servertastic.extra_vars["st_state_dir"], "servertastic.json")
    result = servertastic.result("wrong_passphrase/fetch")
    assert result["failed"] is True, result
    assert result["msg"] == ("Cannot open the sealed servertastic order of %s in %s: it was sealed with another "
                             "state_passphrase (or api_key)" % (ST_MAIL, path)), result["msg"]
    assert endpoints(servertastic, "wrong_passphrase/fetch") == []
    no_traceback(servertastic, result)
    # nothing rewritten: neither the deployed files nor the state file
    assert servertastic.step("wrong_passphrase/fetch")["files"] == servertastic.step("mail/fetch")["files"]


def test_servertastic_obtain_order_and_finish(servertastic: Run, sandbox: Sandbox) -> None:
    order = servertastic.result("obtain_order")
    by_name = {c["name"]: c for c in order["certificates"]}
    assert order["changed"] is True and by_name[ST_OBTAIN]["ordered"] is True, order
    assert list(by_name[ST_OBTAIN]["challenge_data_dns"]) == [ST_OBTAIN]
    assert by_name[ST_MAIL]["ordered"] is False and by_name[ST_MAIL]["material"] is True
    # ST_MAIL's review (due decision and material share it), then ST_OBTAIN's token, placing and review
    assert endpoints(servertastic, "obtain_order") == [
        "servertastic.review", "servertastic.generatetoken", "servertastic.place", "servertastic.review"]

    finish = servertastic.result("obtain_finish")
    done = {c["name"]: c for c in finish["certificates"]}
    assert finish["changed"] is True and done[ST_OBTAIN]["status"] == "valid" and done[ST_OBTAIN]["material"], finish
    assert not CREATING.intersection(endpoints(servertastic, "obtain_finish"))
    for name in (ST_OBTAIN, ST_MAIL):
        directory = os.path.join(servertastic.extra_vars["st_material"], name)
        chain = load_chain(os.path.join(directory, "fullchain.pem"))
        openssl_verify(chain[0], chain[1:], sandbox.env["servertastic_roots"])
        assert key_matches(load_key(os.path.join(directory, "privkey.pem")), chain[0]) and name in sans(chain[0])
        assert mode(directory) == "0700"


# -- input errors ----------------------------------------------------------------------------------

INPUT_ERRORS = {
    "st_missing_contacts": "Ordering from service=servertastic needs contacts",
    "st_bad_product": "product_code must look like RapidSSL-12",
    "st_email_no_approver": "challenge_type=email needs approver_email",
    "rcl_with_product_code": "product_code is not used by service=rcl",
    "cf_no_username": "service=certifire needs api_username",
    "cf_product_code": "product_code is not used by service=certifire",
    "cf_finalize_pfx_password": "pfx_password is not used by service=certifire",
}


@pytest.mark.parametrize("case", sorted(INPUT_ERRORS))
def test_input_error_fails_before_any_request(inputs: Run, case: str) -> None:
    result = inputs.result(case)
    assert result["failed"] is True and INPUT_ERRORS[case] in result["msg"], result
    assert inputs.requests(case) == []
    # no state file either
    assert all(facts is None for facts in inputs.step(case)["files"].values())
    no_traceback(inputs, result)


# -- secrets ---------------------------------------------------------------------------------------


def secrets(sandbox: Sandbox, key_files: list[str]) -> dict[str, str]:
    """Every secret the services' runs handle, by what it is."""
    env = sandbox.env
    basic = base64.b64encode(("%s:%s" % (env["certifire_username"], env["certifire_password"])).encode()).decode()
    found = {
        "certifire password": env["certifire_password"],
        "Basic header value": basic,
        "servertastic api key": env["servertastic_api_key"],
        "state_passphrase": ST_PASSPHRASE,
        "wrong state_passphrase": ST_WRONG_PASSPHRASE,
        "certifire pfx password": CF_PFX_PASSWORD,
        "private key PEM header": "PRIVATE KEY",
    }
    for order in sandbox.admin_call("GET", "/servertastic/orders"):
        found["order token of %s" % order["reference"]] = order["order_token"]
    for path in key_files:
        if os.path.exists(path):
            with open(path) as handle:
                lines = [line for line in handle.read().splitlines() if line and not line.startswith("-----")]
            found.update({"key line %d of %s" % (i, path): line for i, line in enumerate(lines)})
    return found


def where(output: str, secret: str) -> str:
    """The line where a secret shows, the secret itself masked."""
    line = next(line for line in output.splitlines() if secret in line)
    return line.replace(secret, "<THE SECRET>")[:600]


@pytest.mark.parametrize("which", ["certifire", "servertastic"])
def test_verbose_output_has_no_secret(request: pytest.FixtureRequest, sandbox: Sandbox, which: str) -> None:
    run: Run = request.getfixturevalue(which)
    if which == "certifire":
        keys = [os.path.join(run.extra_vars["cf_dest"], "privkey.pem")]
        keys += [os.path.join(run.extra_vars["cf_material"], name, "privkey.pem") for name in (CF_NAME, CF_OBTAIN)]
    else:
        keys = [os.path.join(c["dest"], "privkey.pem") for c in run.extra_vars["st_cases"]]
        keys.append(os.path.join(run.extra_vars["st_mail_dest"], "privkey.pem"))
        keys += [os.path.join(run.extra_vars["st_material"], name, "privkey.pem") for name in (ST_MAIL, ST_OBTAIN)]
    output = run.output
    assert "<localhost> EXEC" in output and "AnsiballZ_rcl_finalize.py" in output  # it is verbose
    assert output.count("FAILED!") >= (1 if which == "certifire" else 8)  # with the failing runs
    leaked = {what: where(output, value) for what, value in secrets(sandbox, keys).items() if value and value in output}
    assert not leaked, leaked
