# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each fault kind of the emulator against the modules with service=certifire and service=servertastic.

The promises of test_int_faults.py, for the two other services (playbooks/services/faults_*.yml, each run
once at -vvvv): reads are retried within ``retries`` on 5xx, 429 (honouring Retry-After), dropped connections
and timeouts; a request that creates something (Certifire's POST /api/order and COPY, Servertastic's
generatetoken and place) is sent once, never again after it may have reached the service (429 only is
retried), and a Servertastic order whose reply was lost is found again by its reference; malformed JSON fails
with a clear message; permanent errors fail at once with the service's own message; waits end within
``wait_timeout``; Certifire's GET order answering 500 until its worker wrote the order is waited out.
"""

from __future__ import annotations

import base64
import os
import re
import secrets as random
from typing import Any

import pytest
from emuclient import Sandbox
from rclit import Ansible, Run

SLACK = 6.0  # module start-up and one poll interval, on a busy two-core machine
CF_FAULT_CERT = "cf-faults.example.test"
ST_FAULT_CERT = "st-faults.example.test"
ST_PASSPHRASE = "st-faults-Passphrase-e81a"
OTHER_USER = "other-ops"


@pytest.fixture(scope="module")
def services(ansible: Ansible) -> Ansible:
    """The session's runner: playbooks/services/ has its own action_plugins (rcl_emu, svc_emu)."""
    ansible.sandbox.settings(certifire_key_bits=2048, certifire_write_delay=0.3, servertastic_queue_seconds=0)
    return ansible


@pytest.fixture(scope="module")
def other_password(sandbox: Sandbox) -> str:
    """A second Certifire user (made by the admin user), who owns none of the orders."""
    password = "other-Secret-" + random.token_hex(6)
    reply = sandbox.http.post(sandbox.env["certifire_url"] + "/api/users", json={"username": OTHER_USER,
                              "password": password}, auth=(sandbox.env["certifire_username"],
                                                           sandbox.env["certifire_password"]), timeout=30)
    assert reply.status_code == 201, reply.text
    return password


@pytest.fixture(scope="module")
def certifire(services: Ansible, other_password: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    fault_dir = str(tmp_path_factory.mktemp("certifire-faults"))
    run = services.run("services/faults_certifire.yml", dict(
        fault_cert=CF_FAULT_CERT, fault_dir=fault_dir, other_user=OTHER_USER, other_password=other_password),
        verbosity=4)
    assert run.rc == 0, run.output[-8000:]
    return run


@pytest.fixture(scope="module")
def servertastic(services: Ansible, tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = str(tmp_path_factory.mktemp("servertastic-faults"))
    try:
        run = services.run("services/faults_servertastic.yml", dict(
            fault_cert=ST_FAULT_CERT, fault_dir=base, st_state_dir=os.path.join(base, "state"),
            st_passphrase=ST_PASSPHRASE), verbosity=4)
    finally:
        for name in (ST_FAULT_CERT, "st-stuck.example.test", "st-mismatch.example.test"):
            services.sandbox.txt_delete("example.test", name + ".")
    assert run.rc == 0, run.output[-8000:]
    return run


RUNS = {"certifire": "certifire", "servertastic": "servertastic"}


@pytest.fixture(scope="module", params=sorted(RUNS))
def faults(request: pytest.FixtureRequest) -> Run:
    """Both runs, for the cases they share."""
    run: Run = request.getfixturevalue(request.param)
    run.extra_vars["service"] = request.param
    return run


# -- helpers ---------------------------------------------------------------------------------------

READ = {"certifire": "certifire.list_certificates", "servertastic": "servertastic.review"}
CREATE = {"certifire": "certifire.create_order", "servertastic": "servertastic.generatetoken"}
CREATED = {"certifire": 201, "servertastic": 200}


def _service(run: Run) -> str:
    return str(run.extra_vars["service"])


def _statuses(run: Run, case: str, endpoint: str) -> list[int]:
    return [entry["status"] for entry in run.requests(case, endpoint)]


def _endpoints(run: Run, case: str) -> list[str]:
    return [entry["endpoint"] for entry in run.requests(case)]


def _others(run: Run, case: str, endpoint: str) -> list[str]:
    return [e for e in _endpoints(run, case) if e != endpoint]


def _clear_failure(run: Run, result: dict[str, Any]) -> None:
    """Failed with a message, not a traceback; no secret in the result."""
    assert result["failed"] is True and result["msg"], result
    assert result.get("exception", "(traceback unavailable)") == "(traceback unavailable)", result
    text = repr(result)
    assert not re.search(r"(order_token|api_key)=(?!<redacted>)", text), text  # URLs show them redacted
    for secret in ("PRIVATE KEY", "Authorization"):
        assert secret not in text, secret


def _elapsed(run: Run, case: str) -> float:
    return float(run.step(case)["time"] - run.step(case + "/start")["time"])


# -- reads: retried, then successful ------------------------------------------------------------------

READ_RETRIED = {
    "read_status_500": [500, 200],
    "read_rate_limit": [429, 200],
    "read_drop": [0, 200],
    "read_delay": [200, 200],  # the delayed request (answered after the client gave up) and the retry
}


@pytest.mark.parametrize("case", sorted(READ_RETRIED))
def test_read_is_retried(faults: Run, case: str) -> None:
    result = faults.result(case)
    assert not result.get("failed") and result["exists"] is True, result
    endpoint = READ[_service(faults)]
    assert _statuses(faults, case, endpoint) == READ_RETRIED[case]
    assert not _others(faults, case, endpoint)


def test_read_retried_twice(certifire: Run) -> None:
    result = certifire.result("read_status_502_twice")
    assert not result.get("failed") and result["exists"] is True, result
    assert _statuses(certifire, "read_status_502_twice", "certifire.list_certificates") == [502, 502, 200]


def test_read_rate_limit_honours_retry_after(faults: Run) -> None:
    first, second = faults.requests("read_rate_limit", READ[_service(faults)])
    assert second["time"] - first["time"] >= 0.9  # Retry-After: 1


def test_read_malformed_json_fails_clearly(faults: Run) -> None:
    result = faults.result("read_malformed_json")
    _clear_failure(faults, result)
    assert "is not valid JSON" in result["msg"], result["msg"]
    assert _statuses(faults, "read_malformed_json", READ[_service(faults)]) == [200]  # a 200 is not retried


# -- creating requests: never repeated blindly ------------------------------------------------------

CREATE_NOT_RETRIED = {
    "create_status_503": "HTTP 503",
    "create_drop": "failed",
    "create_delay": "timed out",
    "create_malformed_json": "is not valid JSON",
}


@pytest.mark.parametrize("case", sorted(CREATE_NOT_RETRIED))
def test_create_is_sent_once(faults: Run, case: str) -> None:
    result = faults.result(case)
    _clear_failure(faults, result)
    assert "order_uri" not in result and CREATE_NOT_RETRIED[case] in result["msg"], result["msg"]
    endpoint = CREATE[_service(faults)]
    assert len(_statuses(faults, case, endpoint)) == 1
    # Certifire reads its certificates and finds the ACME account first; Servertastic has nothing to read yet
    assert _others(faults, case, endpoint) == (
        ["certifire.list_certificates", "certifire.acme"] if _service(faults) == "certifire" else [])
    if case == "create_status_503":
        assert result["http_status"] == 503 and result["api_message"] == "Service Unavailable (injected fault)"
        assert result["api_message"] in result["msg"]


def test_create_is_retried_on_rate_limit(faults: Run) -> None:
    result = faults.result("create_rate_limit")
    assert result["changed"] is True and result["order_uri"], result
    endpoint = CREATE[_service(faults)]
    assert _statuses(faults, "create_rate_limit", endpoint) == [429, CREATED[_service(faults)]]
    first, second = faults.requests("create_rate_limit", endpoint)
    assert second["time"] - first["time"] >= 0.9  # Retry-After: 1


def test_certifire_account_lookup_is_retried(certifire: Run) -> None:
    # POST /api/acme finds or creates the account of the e-mail: safe to repeat
    result = certifire.result("acme_status_503")
    assert result["changed"] is True and result["order_uri"], result
    assert _statuses(certifire, "acme_status_503", "certifire.acme") == [503, 200]
    assert _statuses(certifire, "acme_status_503", "certifire.create_order") == [201]


@pytest.mark.parametrize("case, status, text", [("reissue_status_503", 503, "HTTP 503"), ("reissue_drop", 0, "failed")])
def test_certifire_copy_is_sent_once(certifire: Run, sandbox: Sandbox, case: str, status: int, text: str) -> None:
    result = certifire.result(case)
    _clear_failure(certifire, result)
    assert text in result["msg"], result["msg"]
    assert any("revokes the live certificate" in w for w in result.get("warnings", [])), result
    assert [(e["method"], e["status"]) for e in certifire.requests(case, "certifire.reissue")] == [("COPY", status)]
    assert _others(certifire, case, "certifire.reissue") == ["certifire.list_certificates"]
    # nothing reached the worker: the live certificate is not revoked
    held = {c["id"]: c["status"] for c in sandbox.admin_call("GET", "/certifire/certificates")}
    assert held[certifire.result("deploy")["certificate"]["id"]] == "valid"


@pytest.mark.parametrize("case, again, expected", [
    ("create_delay", "create_delay/again", ["servertastic.showtokens", "servertastic.place", "servertastic.review"]),
    ("create_status_503", "create_status_503/again",
     ["servertastic.showtokens", "servertastic.generatetoken", "servertastic.place", "servertastic.review"]),
])
def test_servertastic_lost_token_reply_is_looked_up(servertastic: Run, sandbox: Sandbox, case: str, again: str,
                                                    expected: list[str]) -> None:
    """The next run asks showtokens for the reference before generating a token (points) again."""
    result = servertastic.result(again)
    assert result["changed"] is True and result["resumed"] is True, result
    assert result["order"]["service_status"] == "Awaiting Customer Verification"
    assert _endpoints(servertastic, again) == expected
    name = [o for o in sandbox.admin_call("GET", "/servertastic/orders")
            if o["reference"] == result["order"]["reference"]]
    assert len(name) == 1  # one token for the order, whichever run generated it


def test_servertastic_place_is_sent_once_then_resumed(servertastic: Run, sandbox: Sandbox) -> None:
    result = servertastic.result("place_status_503")
    _clear_failure(servertastic, result)
    assert "HTTP 503" in result["msg"] and result["api_message"] == "Service Unavailable (injected fault)", result
    assert _endpoints(servertastic, "place_status_503") == ["servertastic.generatetoken", "servertastic.place"]
    again = servertastic.result("place_status_503/again")
    assert again["changed"] is True and again["resumed"] is True, again
    # asks first (the order is still "Order Placed"), then places it; no new token
    assert _endpoints(servertastic, "place_status_503/again") == [
        "servertastic.review", "servertastic.place", "servertastic.review"]
    assert again["order"]["service_status"] == "Awaiting Customer Verification"


# -- permanent errors: the service's own message, at once -------------------------------------------


def test_servertastic_error_message_verbatim(servertastic: Run) -> None:
    for case, status, message in (("bad_product", 400, "Invalid st_product_code: NoSuchSSL-12"),
                                  ("wrong_api_key", 403, "Invalid api_key")):
        result = servertastic.result(case)
        _clear_failure(servertastic, result)
        assert result["http_status"] == status and result["api_message"] == message, result
        assert result["msg"].startswith("Servertastic returned HTTP %d to generatetoken" % status)
        assert result["msg"].endswith(": " + message) and "api_key=<redacted>" in result["msg"]
        assert _statuses(servertastic, case, "servertastic.generatetoken") == [status]
        assert _others(servertastic, case, "servertastic.generatetoken") == []


def test_servertastic_refused_token_leaves_no_order_behind(servertastic: Run) -> None:
    result = servertastic.result("bad_product/corrected")
    assert not result.get("failed") and result["changed"] is True and result["order_uri"], result
    assert result["resumed"] is False


def test_servertastic_refused_api_key_leaves_no_order_behind(servertastic: Run) -> None:
    result = servertastic.result("wrong_api_key/corrected")
    assert not result.get("failed") and result["changed"] is True and result["order_uri"], result


def test_certifire_wrong_password(certifire: Run) -> None:
    result = certifire.result("wrong_password")
    _clear_failure(certifire, result)
    assert result["http_status"] == 401 and "Unauthorized Access" in result["msg"], result
    assert _statuses(certifire, "wrong_password", "certifire.list_certificates") == [401]


def test_certifire_html_error_page_text(certifire: Run) -> None:
    result = certifire.result("unknown_order")
    _clear_failure(certifire, result)
    assert result["http_status"] == 400, result
    text = "The browser (or proxy) sent a request that this server could not understand."
    assert text in result["api_message"] and "<" not in result["api_message"], result
    assert result["msg"].startswith("Certifire returned HTTP 400 for ") and result["msg"].endswith(result["api_message"])
    assert _statuses(certifire, "unknown_order", "certifire.get_order") == [400]
    assert _others(certifire, "unknown_order", "certifire.get_order") == []


def test_certifire_json_status_text(certifire: Run) -> None:
    result = certifire.result("not_yours")
    _clear_failure(certifire, result)
    assert result["http_status"] == 400 and result["api_message"] == "This order does not belong to you!", result
    assert result["msg"].endswith(": This order does not belong to you!")
    assert _statuses(certifire, "not_yours", "certifire.get_order") == [400]


def test_certifire_key_mismatch_keeps_deployed_files(certifire: Run) -> None:
    result = certifire.result("material_mismatched_key")
    _clear_failure(certifire, result)
    assert result["failed_check"] == "key_match", result
    assert certifire.step("material_mismatched_key")["files"] == certifire.step("deploy")["files"]
    assert all(certifire.step("deploy")["files"].values())
    assert _statuses(certifire, "material_mismatched_key", "certifire.list_certificates") == [200]


# -- waits ------------------------------------------------------------------------------------------


def test_certifire_unwritten_order_is_waited_out(certifire: Run) -> None:
    result = certifire.result("write_delay")
    assert not result.get("failed") and result["changed"] is False and result["status"] == "valid", result
    statuses = _statuses(certifire, "write_delay", "certifire.get_order")
    assert statuses[0] == 500 and statuses[-1] == 200 and 500 in statuses, statuses
    assert _endpoints(certifire, "write_delay")[-1] == "certifire.get_certificate"
    assert not {"certifire.create_order", "certifire.reissue"}.intersection(_endpoints(certifire, "write_delay"))


def test_certifire_stuck_order_gives_up_within_wait_timeout(certifire: Run) -> None:
    result = certifire.result("stuck_pending")
    order_uri = certifire.result("stuck_pending/start")["order_uri"]
    _clear_failure(certifire, result)
    assert re.match(r"Timed out after 4(\.0)? seconds waiting for Certifire order \d+", result["msg"]), result["msg"]
    assert result["order_uri"] == order_uri
    elapsed = _elapsed(certifire, "stuck_pending")
    assert 4 <= elapsed < 4 + SLACK, elapsed
    assert set(_endpoints(certifire, "stuck_pending")) == {"certifire.get_order"}


def test_certifire_failed_challenge_fails_at_once(certifire: Run) -> None:
    result = certifire.result("challenge_fail")
    order_uri = certifire.result("challenge_fail/start")["order_uri"]
    _clear_failure(certifire, result)
    assert "is invalid" in result["msg"] and result["order_uri"] == order_uri, result
    assert result["status"] == "invalid"
    assert _elapsed(certifire, "challenge_fail") < 20  # not the wait_timeout: the ACME order said invalid
    assert set(_endpoints(certifire, "challenge_fail")) == {"certifire.get_order"}


def test_servertastic_stuck_order_gives_up_within_wait_timeout(servertastic: Run) -> None:
    result = servertastic.result("stuck_pending")
    _clear_failure(servertastic, result)
    assert re.match(r"Timed out after 3(\.0)? seconds waiting for Servertastic order ", result["msg"]), result["msg"]
    assert "(still 'Awaiting Provider Approval')" in result["msg"]
    assert "the next run resumes it without a new token" in result["msg"]
    assert result["order_uri"] == servertastic.result("stuck_pending/start")["order_uri"]
    elapsed = _elapsed(servertastic, "stuck_pending")
    assert 3 <= elapsed < 3 + SLACK, elapsed
    assert set(_endpoints(servertastic, "stuck_pending")) == {"servertastic.review"}


def test_servertastic_key_mismatch_fails_then_the_order_finishes(servertastic: Run) -> None:
    result = servertastic.result("mismatched_key")
    _clear_failure(servertastic, result)
    assert result["failed_check"] == "key_match" and "does not belong to the key of order" in result["msg"], result
    assert set(_endpoints(servertastic, "mismatched_key")) <= {"servertastic.review", "servertastic.pollauth"}
    # the order stays in the state file: the next finalize (no fault) issues it
    again = servertastic.result("mismatched_key/again")
    assert again["changed"] is True and again["status"] == "valid", again
    assert _endpoints(servertastic, "mismatched_key/again") == ["servertastic.review"]


# -- secrets ----------------------------------------------------------------------------------------


def test_verbose_output_has_no_secret(faults: Run, sandbox: Sandbox, other_password: str) -> None:
    env = sandbox.env
    basic = base64.b64encode(("%s:%s" % (env["certifire_username"], env["certifire_password"])).encode()).decode()
    other = base64.b64encode(("%s:%s" % (OTHER_USER, other_password)).encode()).decode()
    secrets = {"certifire password": env["certifire_password"], "Basic header value": basic,
               "other user's password": other_password, "other user's Basic header value": other,
               "servertastic api key": env["servertastic_api_key"], "state_passphrase": ST_PASSPHRASE,
               "mistyped servertastic api key": "not-the-reseller-key",
               "private key PEM header": "PRIVATE KEY"}
    for order in sandbox.admin_call("GET", "/servertastic/orders"):
        secrets["order token of %s" % order["reference"]] = order["order_token"]
    output = faults.output
    assert "<localhost> EXEC" in output and output.count("FAILED!") >= 10  # verbose, with the failing runs
    leaked = {what: next(line for line in output.splitlines() if value in line).replace(value, "<THE SECRET>")[:600]
              for what, value in secrets.items() if value in output}
    assert not leaked, leaked
