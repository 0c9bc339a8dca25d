# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each fault kind of the emulator against the modules, per API generation (playbooks/faults.yml).

What the modules promise: reads are retried (and the log shows how often); order creation
is retried on 429 only; malformed replies and broken PKCS#12 fail clearly and leave deployed
files alone; waits end within ``wait_timeout``; a failed challenge names the order.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from rclit import Ansible, Run, seed

VERSIONS = ["v6", "v7", "v8"]
WAIT_TIMEOUT = 4  # as in faults.yml
SLACK = 3.0  # module start-up and one poll interval


@pytest.fixture(scope="module", params=VERSIONS)
def faults(request: pytest.FixtureRequest, ansible: Ansible, tmp_path_factory: pytest.TempPathFactory) -> Run:
    version = request.param
    name = "faults-%s.example.test" % version
    seed(ansible.sandbox, dict(name=name, expires_in_days=60, password=_portal_password(version)))
    fault_dir = str(tmp_path_factory.mktemp("faults-" + version))
    run = ansible.run("faults.yml", {"rcl_api_version": version, "fault_cert": name, "fault_dir": fault_dir})
    assert run.rc == 0, run.output[-8000:]
    return run


def _version(run: Run) -> str:
    return str(run.extra_vars["rcl_api_version"])


def _statuses(run: Run, case: str, endpoint: str) -> list[int]:
    return [entry["status"] for entry in run.requests(case, "%s.%s" % (_version(run), endpoint))]


def _others(run: Run, case: str, endpoint: str) -> list[str]:
    """Requests of the case other than ``endpoint`` and the V6 token."""
    wanted = "%s.%s" % (_version(run), endpoint)
    return [e["endpoint"] for e in run.requests(case) if e["endpoint"] not in (wanted, "token")]


def _portal_password(version: str) -> str:
    return "faults-portal-Secret-%s" % version


def _no_secret(run: Run, result: dict[str, Any]) -> None:
    text = repr(result)
    for secret in (_portal_password(_version(run)), "pfxString", "/download/", "PRIVATE KEY"):
        assert secret not in text, secret


# -- reads: retried, then successful ------------------------------------------------------

READ_RETRIED = {
    "read_status_500": [500, 200],
    "read_status_502_twice": [502, 502, 200],
    "read_status_503": [503, 200],
    "read_rate_limit": [429, 200],
    "read_drop": [0, 200],
}


@pytest.mark.parametrize("case", sorted(READ_RETRIED))
def test_read_is_retried(faults: Run, case: str) -> None:
    result = faults.result(case)
    assert not result.get("failed") and result["exists"] is True, result
    assert _statuses(faults, case, "get_certificate") == READ_RETRIED[case]
    assert not _others(faults, case, "get_certificate")


def test_read_rate_limit_honours_retry_after(faults: Run) -> None:
    first, second = faults.requests("read_rate_limit", _version(faults) + ".get_certificate")
    assert second["time"] - first["time"] >= 0.9  # Retry-After: 1


def test_read_slower_than_timeout_is_retried(faults: Run) -> None:
    result = faults.result("read_delay")
    assert not result.get("failed") and result["exists"] is True, result
    # the delayed request (answered after the client gave up) and the retry
    assert _statuses(faults, "read_delay", "get_certificate") == [200, 200]


def test_read_malformed_json_fails_clearly(faults: Run) -> None:
    result = faults.result("read_malformed_json")
    assert result["failed"] is True
    assert "is not valid JSON" in result["msg"], result["msg"]
    assert _statuses(faults, "read_malformed_json", "get_certificate") == [200]  # a 200 is not retried
    _no_secret(faults, result)


def test_token_request_is_retried(faults: Run) -> None:
    result = faults.result("read_token_status_503")
    assert not result.get("failed") and result["exists"] is True, result
    tokens = [e["status"] for e in faults.requests("read_token_status_503", "token")]
    # V6 asks Azure AD for a token (safe to repeat); V7 and V8 send the API key and ask nobody.
    assert tokens == ([503, 200] if _version(faults) == "v6" else [])
    assert _statuses(faults, "read_token_status_503", "get_certificate") == [200]


# -- order creation: never repeated blindly -------------------------------------------------

CREATE_NOT_RETRIED = {
    "create_status_500": "HTTP 500",
    "create_status_502": "HTTP 502",
    "create_status_503": "HTTP 503",
    "create_drop": "failed",
    "create_delay": "timed out",
    "create_malformed_json": "is not valid JSON",
}


@pytest.mark.parametrize("case", sorted(CREATE_NOT_RETRIED))
def test_create_order_is_not_retried(faults: Run, case: str) -> None:
    result = faults.result(case)
    assert result["failed"] is True and "order_uri" not in result, result
    assert CREATE_NOT_RETRIED[case] in result["msg"], result["msg"]
    assert "create" in result["msg"] or "order" in result["msg"], result["msg"]
    # exactly one creation request; force=true reads nothing
    assert len(_statuses(faults, case, "create_order")) == 1
    assert not _others(faults, case, "create_order")
    if case.startswith("create_status_"):
        # the API's text body, verbatim
        assert result["api_message"].endswith("(injected fault)") and result["api_message"] in result["msg"]


def test_create_order_is_retried_on_rate_limit(faults: Run) -> None:
    result = faults.result("create_rate_limit")
    assert result["changed"] is True and result["order_uri"], result
    assert _statuses(faults, "create_rate_limit", "create_order") == [429, 200]
    first, second = faults.requests("create_rate_limit", _version(faults) + ".create_order")
    assert second["time"] - first["time"] >= 0.9  # Retry-After: 1


# -- PKCS#12 faults: nothing deployed changes ------------------------------------------------


def test_deploy_before_pfx_faults(faults: Run) -> None:
    result = faults.result("pfx_deploy")
    assert result["changed"] is True, result
    files = faults.step("pfx_deploy")["files"]
    assert all(files.values()) and files[[p for p in files if p.endswith("privkey.pem")][0]]["mode"] == "0600"


@pytest.mark.parametrize("case, check", [("pfx_truncated", "pkcs12"), ("pfx_mismatched_key", "key_match")])
def test_broken_pfx_fails_and_keeps_files(faults: Run, case: str, check: str) -> None:
    result = faults.result(case)
    assert result["failed"] is True and result["failed_check"] == check, result
    assert faults.step(case)["files"] == faults.step("pfx_deploy")["files"]  # byte for byte, same modes
    assert _statuses(faults, case, "get_certificate") == [200]
    _no_secret(faults, result)


def test_fetch_after_pfx_faults_changes_nothing(faults: Run) -> None:
    result = faults.result("pfx_after_faults")
    assert result["changed"] is False and not result.get("failed"), result
    assert faults.step("pfx_after_faults")["files"] == faults.step("pfx_deploy")["files"]


# -- orders that never validate ------------------------------------------------------------


def _timed_out(result: dict[str, Any]) -> bool:
    return re.match(r"Timed out after %d(\.0)? seconds waiting for " % WAIT_TIMEOUT, result["msg"]) is not None


def _names_order(result: dict[str, Any], order_uri: str) -> bool:
    """The message names the order (V7 shows it in the finalize URL's query)."""
    return order_uri in result["msg"] or urlencode({"orderuri": order_uri}) in result["msg"]


def _elapsed(run: Run, case: str) -> float:
    return float(run.step(case)["time"] - run.step(case + "/start")["time"])


def test_stuck_pending_finalize_gives_up_within_wait_timeout(faults: Run) -> None:
    result = faults.result("stuck_pending")
    order_uri = faults.result("stuck_pending/start")["order_uri"]
    assert result["failed"] is True, result
    elapsed = _elapsed(faults, "stuck_pending")
    assert elapsed < WAIT_TIMEOUT + SLACK, elapsed
    if _version(faults) == "v7":
        # one finalize call; the service gives up validating (emulator validation_timeout 4 s)
        assert result["http_status"] == 400 and "still pending" in result["api_message"]
        assert result["api_message"] in result["msg"] and order_uri in result["msg"]
        assert _statuses(faults, "stuck_pending", "finalize") == [400]
    else:
        assert elapsed >= WAIT_TIMEOUT, elapsed
        assert _timed_out(result) and order_uri in result["msg"], result["msg"]
    if _version(faults) == "v6":
        assert _statuses(faults, "stuck_pending", "validate") == [200]
        assert not _statuses(faults, "stuck_pending", "finalize")


def test_challenge_fail_names_the_order_and_challenge(faults: Run) -> None:
    result = faults.result("challenge_fail")
    order_uri = faults.result("challenge_fail/start")["order_uri"]
    assert result["failed"] is True and _names_order(result, order_uri), result
    assert _elapsed(faults, "challenge_fail") < WAIT_TIMEOUT + SLACK
    version = _version(faults)
    if version == "v7":
        # the API's text: which challenge of which name failed, and Pebble's reason
        assert result["http_status"] == 400 and result["api_message"] in result["msg"], result
        assert "challenge for %s could not be verified" % faults.extra_vars["fault_cert"] in result["api_message"]
    elif version == "v6":
        # the emulator answered the other challenge type: the order is invalid, a new one is needed
        assert "is invalid" in result["msg"] and "a new order is needed" in result["msg"], result["msg"]
        assert result["order_uri"] == order_uri and result["status"] == "invalid"
    else:  # V8 issues in the background: the failure shows as a certificate that never comes
        assert _timed_out(result), result["msg"]


def test_wrong_txt_value_fails_with_the_api_message(faults: Run) -> None:
    result = faults.result("wrong_txt")
    order_uri = faults.result("wrong_txt/start")["order_uri"]
    assert result["failed"] is True and _names_order(result, order_uri), result
    version = _version(faults)
    if version == "v7":
        # the API's text/plain body, quoted verbatim in the message
        assert result["http_status"] == 400 and "Correct value not found for DNS challenge" in result["api_message"]
        assert result["api_message"] in result["msg"]
    elif version == "v6":
        assert "is invalid" in result["msg"] and "dns-01 invalid" in result["msg"], result["msg"]
    else:
        assert _timed_out(result), result["msg"]
