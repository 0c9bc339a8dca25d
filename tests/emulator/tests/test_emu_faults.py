"""Fault injection: every kind is observable; counting, listing and clearing."""

from __future__ import annotations

import base64
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from emuclient import Sandbox, key_matches, load_pfx, sans


def test_status_fault_count_and_listing(sandbox: Sandbox) -> None:
    url = sandbox.v7("due.example.test")
    fault = sandbox.fault(endpoint="v7.get_certificate", kind="status", status=503, count=2)
    assert fault["count"] == 2 and fault["id"]
    assert [f["id"] for f in sandbox.admin_call("GET", "/faults")] == [fault["id"]]
    for _i in range(2):
        resp = sandbox.get(url, headers=sandbox.auth())
        assert resp.status_code == 503 and resp.headers["Content-Type"].startswith("text/plain") and resp.text
    assert sandbox.get(url, headers=sandbox.auth()).status_code == 200
    assert sandbox.admin_call("GET", "/faults") == []  # used up


def test_status_fault_until_cleared_and_star(sandbox: Sandbox) -> None:
    sandbox.fault(endpoint="*", kind="status", status=500, count=0)
    assert sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth()).status_code == 500
    assert sandbox.post(sandbox.env["token_url"], data={}).status_code == 500
    assert sandbox.get(sandbox.v8("get/certificatename/due.example.test"), headers=sandbox.auth()).status_code == 500
    assert sandbox.admin_call("DELETE", "/faults")["cleared"] == 1
    assert sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth()).status_code == 200


def test_delete_single_fault(sandbox: Sandbox) -> None:
    a = sandbox.fault(endpoint="v6.finalize", kind="status", status=502, count=-1)
    b = sandbox.fault(endpoint="token", kind="rate_limit", retry_after=3)
    assert sandbox.admin_call("DELETE", "/faults/%d" % a["id"])["cleared"] == 1
    assert [f["id"] for f in sandbox.admin_call("GET", "/faults")] == [b["id"]]


def test_bad_fault_specs_are_refused(sandbox: Sandbox) -> None:
    for spec in ({"endpoint": "v9.nope", "kind": "status"}, {"endpoint": "v7.finalize", "kind": "explode"},
                 {"endpoint": "token", "kind": "truncated_pfx"}, {"endpoint": "v7.finalize", "kind": "status",
                                                                  "status": 404}):
        resp = requests.post(sandbox.admin + "/faults", json=spec, timeout=10)
        assert resp.status_code == 400, spec


def test_rate_limit(sandbox: Sandbox) -> None:
    sandbox.fault(endpoint="token", kind="rate_limit", retry_after=7)
    resp = sandbox.post(sandbox.env["token_url"], data={})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.headers["Content-Type"].startswith("text/plain")
    sandbox.token(fresh=True)  # next request passes


def test_delay_beats_client_timeout(sandbox: Sandbox) -> None:
    sandbox.fault(endpoint="v6.list_certificates", kind="delay", seconds=2)
    token = sandbox.token()
    with pytest.raises(requests.exceptions.ReadTimeout):
        sandbox.get(sandbox.v6("certificate/get/all"), headers=sandbox.auth(token), timeout=0.5)
    assert sandbox.get(sandbox.v6("certificate/get/all"), headers=sandbox.auth(token)).status_code == 200


def test_drop_closes_connection(sandbox: Sandbox) -> None:
    sandbox.fault(endpoint="v8.get_certificate", kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        sandbox.get(sandbox.v8("get/certificatename/due.example.test"), headers=sandbox.auth())
    assert sandbox.get(sandbox.v8("get/certificatename/due.example.test"), headers=sandbox.auth()).status_code == 200
    log = sandbox.admin_call("GET", "/requests")
    assert any(e["endpoint"] == "v8.get_certificate" and e["status"] == 0 for e in log)


def test_malformed_json(sandbox: Sandbox) -> None:
    sandbox.fault(endpoint="v7.get_certificate", kind="malformed_json")
    resp = sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth())
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        resp.json()


def test_truncated_pfx_in_reply_and_download(sandbox: Sandbox) -> None:
    sandbox.fault(endpoint="v7.get_certificate", kind="truncated_pfx")
    cert = sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth()).json()
    with pytest.raises(ValueError):
        load_pfx(cert["pfxString"], cert["password"])
    good = sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth()).json()
    load_pfx(good["pfxString"], good["password"])
    sandbox.fault(endpoint="download", kind="truncated_pfx")
    data = requests.get(good["certificateDownloadUrl"]["pfxUrl"], verify=sandbox.env["ca_path"], timeout=10).content
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, good["password"].encode())


def _pfx_key_and_leaf(b64: str, password: str) -> tuple[object, x509.Certificate]:
    key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(b64), password.encode())
    assert key is not None
    return key, cert if cert is not None else extra[0]


def test_mismatched_key(sandbox: Sandbox) -> None:
    sandbox.fault(endpoint="v6.get_certificate", kind="mismatched_key")
    resp = sandbox.get(sandbox.v6("certificate/get"), params={"name": "due.example.test"},
                       headers=sandbox.auth(sandbox.token()))
    cert = resp.json()
    key, leaf = _pfx_key_and_leaf(cert["pfxString"], cert["pfxPassword"])
    assert sans(leaf) == ["due.example.test"]
    assert not key_matches(key, leaf)
    cert = sandbox.get(sandbox.v6("certificate/get"), params={"name": "due.example.test"},
                       headers=sandbox.auth(sandbox.token())).json()
    key, leaf = _pfx_key_and_leaf(cert["pfxString"], cert["pfxPassword"])
    assert key_matches(key, leaf)
    # downloads: the .key file does not match the certificate
    sandbox.fault(endpoint="download", kind="mismatched_key")
    urls = cert["certificateDownloadUrls"]
    ca = sandbox.env["ca_path"]
    bad_key = serialization.load_pem_private_key(requests.get(urls["keyUrl"], verify=ca, timeout=10).content, None)
    good_leaf = x509.load_pem_x509_certificate(requests.get(urls["certCrtUrl"], verify=ca, timeout=10).content)
    assert not key_matches(bad_key, good_leaf)


def test_stuck_pending_v7_finalize_gives_up(sandbox: Sandbox) -> None:
    name = "stuck7.example.test"
    sandbox.seed_cert(name)
    sandbox.settings(validation_timeout=1.5)
    sandbox.fault(endpoint="v7.create_order", kind="stuck_pending")
    order = sandbox.v7_order(name)
    cleanup = sandbox.answer_tokens("example.test", order["validationTokens"])
    try:
        start = time.monotonic()
        resp = sandbox.v7_finalize(name, order["orderUri"])
        took = time.monotonic() - start
    finally:
        cleanup()
    assert resp.status_code == 400 and "still pending" in resp.text and name in resp.text
    assert 1.4 < took < 10


def test_stuck_pending_v6_stays_pending(sandbox: Sandbox) -> None:
    req = {"hostName": "stuck6.example.test", "rootDomain": "example.test", "email": "ops@example.test",
           "challengeType": "DNS", "isSAN": False}
    order = sandbox.v6_post("order/create", req).json()
    ref = {"orderUri": order["orderUri"], "challengeType": "DNS", "rootDomain": "example.test"}
    cleanup = sandbox.answer_tokens("example.test", order["validationTokens"])
    try:
        sandbox.fault(endpoint="v6.validate", kind="stuck_pending")
        assert sandbox.v6_post("order/validate", {"orderUri": order["orderUri"], "challengeType": "DNS"}
                               ).status_code == 200
        time.sleep(1.0)
        assert sandbox.v6_post("order/get", ref).json()["status"] == "pending"
        # the order stays stuck: validating again does not help either
        assert sandbox.v6_post("order/validate", {"orderUri": order["orderUri"], "challengeType": "DNS"}
                               ).status_code == 200
        time.sleep(0.5)
        assert sandbox.v6_post("order/get", ref).json()["status"] == "pending"
    finally:
        cleanup()


def test_challenge_fail_v7(sandbox: Sandbox) -> None:
    name = "fail7.example.test"
    sandbox.seed_cert(name)
    order = sandbox.v7_order(name)
    cleanup = sandbox.answer_tokens("example.test", order["validationTokens"])  # correct TXT record
    try:
        sandbox.fault(endpoint="v7.finalize", kind="challenge_fail")
        resp = sandbox.v7_finalize(name, order["orderUri"])
    finally:
        cleanup()
    assert resp.status_code == 400 and name in resp.text and "could not be verified" in resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_challenge_fail_v6_makes_order_invalid(sandbox: Sandbox) -> None:
    req = {"hostName": "fail6.example.test", "rootDomain": "example.test", "email": "ops@example.test",
           "challengeType": "DNS", "isSAN": False}
    sandbox.fault(endpoint="v6.create_order", kind="challenge_fail")
    order = sandbox.v6_post("order/create", req).json()
    cleanup = sandbox.answer_tokens("example.test", order["validationTokens"])
    try:
        assert sandbox.v6_post("order/validate", {"orderUri": order["orderUri"], "challengeType": "DNS"}
                               ).status_code == 200
        final = sandbox.v6_wait_settled(order["orderUri"])
    finally:
        cleanup()
    assert final["status"] == "invalid"


def test_fault_on_download_status(sandbox: Sandbox) -> None:
    cert = sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth()).json()
    sandbox.fault(endpoint="download", kind="status", status=502)
    url = cert["certificateDownloadUrl"]["pemUrl"]
    assert requests.get(url, verify=sandbox.env["ca_path"], timeout=10).status_code == 502
    assert requests.get(url, verify=sandbox.env["ca_path"], timeout=10).status_code == 200
