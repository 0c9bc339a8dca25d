"""V7: get certificate, create order, finalize (validation at Pebble + issuance)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from emuclient import Sandbox, key_matches, load_pfx, openssl_verify, sans

DATE_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}$"


def test_get_seeded_certificate(sandbox: Sandbox) -> None:
    resp = sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth())
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    cert = resp.json()
    assert set(cert) == {"certificateName", "rootDomain", "email", "challengeType", "orderUri", "issueDate",
                         "expiryDate", "id", "password", "pfxString", "certificateDownloadUrl"}
    assert cert["challengeType"] == "DNS" and cert["rootDomain"] == "example.test"
    assert re.match(DATE_RE, cert["issueDate"]) and re.match(DATE_RE, cert["expiryDate"])
    key, leaf, chain = load_pfx(cert["pfxString"], cert["password"])
    assert key_matches(key, leaf)
    assert sans(leaf) == ["due.example.test"]
    # seeded: signed by the seed CA, with the declared expiry (~10 days)
    openssl_verify(leaf, chain, sandbox.env["seed_roots"])
    left = leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=9, hours=23) < left <= dt.timedelta(days=10)
    expiry = dt.datetime.strptime(cert["expiryDate"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    assert abs((expiry - leaf.not_valid_after_utc).total_seconds()) <= 1
    assert set(cert["certificateDownloadUrl"]) == {"pemUrl", "pfxUrl", "cerUrl", "crtUrl", "txtUrl", "keyUrl",
                                                   "keyTxtUrl", "certCrtUrl", "cabundleCrtUrl", "fullchainCrtUrl"}


def test_dns_order_finalize_issues_real_certificate(sandbox: Sandbox) -> None:
    name = "v7dns.example.test"
    sandbox.seed_cert(name, days=10)
    sandbox.settings(key_type="rsa2048")  # the default outside the test suite
    order = sandbox.v7_order(name)
    assert order["status"] == "pending" and order["certificateUri"] is None
    assert order["orderUri"].startswith("https://127.0.0.1:24000/")
    [tok] = order["validationTokens"]
    assert tok["tokenName"] == "_acme-challenge.v7dns" and tok["challengeType"] == "DNS"
    assert tok["domain"] == name
    assert len(base64.urlsafe_b64decode(tok["tokenValue"] + "=")) == 32  # base64url(SHA-256(...))
    cleanup = sandbox.answer_tokens("example.test", order["validationTokens"])
    try:
        resp = sandbox.v7_finalize(name, order["orderUri"])
    finally:
        cleanup()
    assert resp.status_code == 200, resp.text
    cert = resp.json()
    assert cert["orderUri"] == order["orderUri"] and cert["certificateName"] == name
    key, leaf, chain = load_pfx(cert["pfxString"], "pw-" + name)
    assert key_matches(key, leaf)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert sans(leaf) == [name]
    openssl_verify(leaf, chain, sandbox.env["acme_roots"])
    assert "Pebble" in leaf.issuer.rfc4514_string()
    left = leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=89) < left <= dt.timedelta(days=90)  # certificateValidityPeriod default
    with pytest.raises(AssertionError):  # not the seed CA any more
        openssl_verify(leaf, chain, sandbox.env["seed_roots"])
    # the portal certificate was replaced
    again = sandbox.get(sandbox.v7(name), headers=sandbox.auth()).json()
    assert again["orderUri"] == order["orderUri"] and again["id"] == cert["id"]
    _k, leaf2, _c = load_pfx(again["pfxString"], again["password"])
    assert leaf2.serial_number == leaf.serial_number
    # finalizing a valid order again is refused
    resp = sandbox.v7_finalize(name, order["orderUri"])
    assert resp.status_code == 400 and "already finalized" in resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_san_wildcard_order_two_values_one_record(sandbox: Sandbox) -> None:
    order = sandbox.v7_order("example.test")
    tokens = order["validationTokens"]
    assert len(tokens) == 2
    assert {t["tokenName"] for t in tokens} == {"_acme-challenge"}
    assert tokens[0]["tokenValue"] != tokens[1]["tokenValue"]
    assert {t["domain"] for t in tokens} == {"example.test", "*.example.test"}
    cleanup = sandbox.answer_tokens("example.test", tokens)
    try:
        assert len(sandbox.query("_acme-challenge.example.test.", "TXT")) == 2
        resp = sandbox.v7_finalize("example.test", order["orderUri"])
    finally:
        cleanup()
    assert resp.status_code == 200, resp.text
    _key, leaf, chain = load_pfx(resp.json()["pfxString"], "san-pfx-password")
    assert sorted(sans(leaf)) == ["*.example.test", "example.test"]
    openssl_verify(leaf, chain, sandbox.env["acme_roots"])


def test_wildcard_only_certificate(sandbox: Sandbox) -> None:
    name = "*.wild.example.test"
    sandbox.seed_cert(name, root="example.test")
    order = sandbox.v7_order(name)
    [tok] = order["validationTokens"]
    assert tok["tokenName"] == "_acme-challenge.wild" and tok["domain"] == name
    cleanup = sandbox.answer_tokens("example.test", order["validationTokens"])
    try:
        resp = sandbox.v7_finalize(name, order["orderUri"])
    finally:
        cleanup()
    assert resp.status_code == 200, resp.text
    _k, leaf, _c = load_pfx(resp.json()["pfxString"], "pw-" + name)
    assert sans(leaf) == [name]


def test_http01_order_uses_webroot(sandbox: Sandbox) -> None:
    order = sandbox.v7_order("example2.test")  # HTTP SAN: apex + www
    tokens = order["validationTokens"]
    assert {t["domain"] for t in tokens} == {"example2.test", "www.example2.test"}
    for tok in tokens:
        assert tok["challengeType"] == "HTTP"
        assert tok["tokenValue"].startswith(tok["tokenName"] + ".")  # key authorization = token.thumbprint
    cleanup = sandbox.answer_tokens("example2.test", tokens)
    try:
        resp = sandbox.v7_finalize("example2.test", order["orderUri"])
    finally:
        cleanup()
    assert resp.status_code == 200, resp.text
    _k, leaf, chain = load_pfx(resp.json()["pfxString"], "http-san-pfx-password")
    assert sorted(sans(leaf)) == ["example2.test", "www.example2.test"]
    openssl_verify(leaf, chain, sandbox.env["acme_roots"])


def test_wrong_txt_value_fails_with_text(sandbox: Sandbox) -> None:
    name = "v7wrong.example.test"
    sandbox.seed_cert(name)
    order = sandbox.v7_order(name)
    sandbox.txt_set("example.test", "_acme-challenge.v7wrong", ["not-the-right-value"])
    try:
        resp = sandbox.v7_finalize(name, order["orderUri"])
    finally:
        sandbox.txt_delete("example.test", "_acme-challenge.v7wrong")
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert name in resp.text and "could not be verified" in resp.text
    assert "urn:ietf:params:acme:error" in resp.text  # Pebble's problem type, word for word
    # the order is invalid now: finalize again says so
    again = sandbox.v7_finalize(name, order["orderUri"])
    assert again.status_code == 400 and "invalid" in again.text


def test_missing_txt_record_fails(sandbox: Sandbox) -> None:
    name = "v7none.example.test"
    sandbox.seed_cert(name)
    order = sandbox.v7_order(name)
    resp = sandbox.v7_finalize(name, order["orderUri"])
    assert resp.status_code == 400 and name in resp.text


def test_errors_401_404_400(sandbox: Sandbox) -> None:
    url = sandbox.v7("due.example.test")
    resp = sandbox.get(url)
    assert resp.status_code == 401 and resp.headers["Content-Type"].startswith("text/plain") and resp.text
    assert sandbox.get(url, headers=sandbox.auth("wrong-key")).status_code == 401
    other = url.replace(sandbox.sid, "sub_someone_else")
    assert sandbox.get(other, headers=sandbox.auth()).status_code == 401
    resp = sandbox.get(sandbox.v7("nope.example.test"), headers=sandbox.auth())
    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("text/plain")
    resp = sandbox.get(sandbox.v7("", "/order"), headers=sandbox.auth())
    assert resp.status_code == 400 and resp.text == "Certificate name is not defined."
    resp = sandbox.get(sandbox.v7("due.example.test", "/finalize"), headers=sandbox.auth())
    assert resp.status_code == 400 and resp.text == "Order uri is not defined."
    resp = sandbox.v7_finalize("due.example.test", "https://127.0.0.1:24000/my-order/unknown")
    assert resp.status_code == 404
    assert sandbox.get(sandbox.v7("nope.example.test", "/order"), headers=sandbox.auth()).status_code == 404


def test_order_of_other_certificate_is_refused(sandbox: Sandbox) -> None:
    order = sandbox.v7_order("fresh.example.test")
    resp = sandbox.v7_finalize("due.example.test", order["orderUri"])
    assert resp.status_code == 400 and "fresh.example.test" in resp.text


def test_token_value_is_sha256_of_key_authorization(sandbox: Sandbox) -> None:
    """DNS tokenValue = base64url(SHA-256(HTTP-style key authorization)) for the same ACME token."""
    name = "v7ka.example.test"
    sandbox.seed_cert(name)
    order = sandbox.v7_order(name)
    [tok] = order["validationTokens"]
    # The V6 view of the same order shows the ACME token; the HTTP tokens of another order of
    # the same subscription (same ACME account) reveal the account key thumbprint.
    http = sandbox.v7_order("www.example2.test")["validationTokens"][0]
    thumbprint = http["tokenValue"].split(".", 1)[1]
    v6 = sandbox.v6_post("order/get", {"orderUri": order["orderUri"], "challengeType": "DNS",
                                       "rootDomain": "example.test"})
    assert v6.status_code == 200, v6.text
    acme_token = v6.json()["challenges"][0]["token"]
    digest = hashlib.sha256(("%s.%s" % (acme_token, thumbprint)).encode()).digest()
    assert tok["tokenValue"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
