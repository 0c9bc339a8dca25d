"""Admin API: request log, run-time seeding, settings; download links; the Ansible DNS proof."""

from __future__ import annotations

import base64
import datetime as dt
import os
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from emuclient import HERE, Sandbox, key_matches, openssl_verify, run_sandbox, sans


def test_request_log_and_clearing(sandbox: Sandbox) -> None:
    sandbox.admin_call("DELETE", "/requests")
    token = sandbox.token(fresh=True)
    cert = sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth()).json()
    sandbox.get(sandbox.v7("nope.example.test"), headers=sandbox.auth())
    sandbox.get(sandbox.v6("certificate/get/all"), headers=sandbox.auth(token))
    requests.get(cert["certificateDownloadUrl"]["keyUrl"], verify=sandbox.env["ca_path"], timeout=10)
    sandbox.get(sandbox.env["base_url"] + "/no/such/path")
    sandbox.admin_call("GET", "/faults")  # admin calls are not logged
    log = sandbox.admin_call("GET", "/requests")
    got = [(e["method"], e["endpoint"], e["status"]) for e in log]
    assert got == [("POST", "token", 200), ("GET", "v7.get_certificate", 200), ("GET", "v7.get_certificate", 404),
                   ("GET", "v6.list_certificates", 200), ("GET", "download", 200), ("GET", "unknown", 404)]
    assert log[1]["path"] == "/public/v1/subscription/%s/core/certificate/due.example.test" % sandbox.sid
    assert all(set(e) >= {"method", "path", "status", "endpoint"} for e in log)
    assert sandbox.admin_call("DELETE", "/requests")["cleared"] == 6
    assert sandbox.admin_call("GET", "/requests") == []


def test_seed_at_run_time(sandbox: Sandbox) -> None:
    doc = {"subscriptions": [{
        "id": "sub_second", "api_key": "key-second", "email": "second@example.test",
        "clients": [{"client_id": "cid-second", "client_secret": "secret-second", "tenant_id": "tenant-second"}],
        "certificates": [{"name": "www.example.test", "root_domain": "example.test", "challenge_type": "DNS",
                          "expires_in_days": 10, "password": "p2"}],
    }]}
    result = sandbox.seed(doc)
    mine = [c for c in result["certificates"] if c["subscription_id"] == "sub_second"]
    assert [c["name"] for c in mine] == ["www.example.test"] and mine[0]["issuer"] == "seed"
    url = "%s/v1/subscription/sub_second/core/certificate/www.example.test" % sandbox.env["v7_url"]
    assert sandbox.get(url, headers=sandbox.auth(sandbox.key)).status_code == 401  # key of the other subscription
    resp = sandbox.get(url, headers=sandbox.auth("key-second"))
    assert resp.status_code == 200
    data = resp.json()
    key, leaf, chain = pkcs12.load_key_and_certificates(base64.b64decode(data["pfxString"]), b"p2")
    assert key_matches(key, leaf) and sans(leaf) == ["www.example.test"]
    expected = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10)
    assert abs((leaf.not_valid_after_utc - expected).total_seconds()) < 60
    openssl_verify(leaf, list(chain), sandbox.env["seed_roots"])
    # its V6 client works with its own tenant
    token_url = sandbox.env["token_url"].replace(sandbox.env["tenant_id"], "tenant-second")
    resp = sandbox.post(token_url, data={"grant_type": "client_credentials", "client_id": "cid-second",
                                         "client_secret": "secret-second", "scope": sandbox.env["token_scope"]})
    assert resp.status_code == 200
    # bad seeds are refused with a reason
    bad = {"subscriptions": [{"id": "sub_bad", "api_key": "k", "certificates": [
        {"name": "*.example.test", "root_domain": "example.test", "challenge_type": "HTTP"}]}]}
    resp = requests.post(sandbox.admin + "/seed", json=bad, timeout=10)
    assert resp.status_code == 400 and "DNS" in resp.json()["error"]


def test_expired_seed_certificate(sandbox: Sandbox) -> None:
    sandbox.seed_cert("old.example.test", days=-3)
    cert = sandbox.get(sandbox.v7("old.example.test"), headers=sandbox.auth()).json()
    assert cert["expiryDate"] < dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def test_download_urls_serve_files_and_expire(sandbox: Sandbox) -> None:
    cert = sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth()).json()
    urls = cert["certificateDownloadUrl"]
    ca = sandbox.env["ca_path"]

    def fetch(key: str) -> bytes:
        resp = requests.get(urls[key], verify=ca, timeout=10)  # no Authorization header needed
        assert resp.status_code == 200, (key, resp.text)
        return resp.content

    leaf = x509.load_pem_x509_certificates(fetch("certCrtUrl"))
    bundle = x509.load_pem_x509_certificates(fetch("cabundleCrtUrl"))
    full = x509.load_pem_x509_certificates(fetch("fullchainCrtUrl"))
    assert len(leaf) == 1 and len(bundle) >= 1 and full == leaf + bundle
    assert x509.load_pem_x509_certificates(fetch("pemUrl")) == full
    assert x509.load_pem_x509_certificates(fetch("crtUrl")) == full
    assert x509.load_pem_x509_certificates(fetch("txtUrl")) == full
    assert x509.load_der_x509_certificate(fetch("cerUrl")) == leaf[0]
    key = serialization.load_pem_private_key(fetch("keyUrl"), None)
    assert key_matches(key, leaf[0])
    assert fetch("keyTxtUrl") == fetch("keyUrl")
    pkey, pcert, _extra = pkcs12.load_key_and_certificates(fetch("pfxUrl"), cert["password"].encode())
    assert pcert == leaf[0] and key_matches(pkey, pcert)
    # unguessable, and no other file behind the token
    token = urls["pemUrl"].split("/")[-2]
    assert len(token) >= 30
    assert requests.get(urls["pemUrl"].replace(token, "x" * len(token)), verify=ca, timeout=10).status_code == 404
    assert requests.get(urls["pemUrl"] + ".bak", verify=ca, timeout=10).status_code == 404
    # links expire
    sandbox.settings(download_ttl=1)
    short = sandbox.get(sandbox.v7("due.example.test"), headers=sandbox.auth()).json()["certificateDownloadUrl"]
    assert requests.get(short["pemUrl"], verify=ca, timeout=10).status_code == 200
    time.sleep(1.3)
    resp = requests.get(short["pemUrl"], verify=ca, timeout=10)
    assert resp.status_code == 403 and "expired" in resp.text
    assert requests.get(urls["pemUrl"], verify=ca, timeout=10).status_code == 200  # the older, longer link


def test_settings_validation(sandbox: Sandbox) -> None:
    assert sandbox.admin_call("GET", "/settings")["key_type"] == "ec256"
    assert requests.post(sandbox.admin + "/settings", json={"nope": 1}, timeout=10).status_code == 400
    assert requests.post(sandbox.admin + "/settings", json={"download_ttl": -1}, timeout=10).status_code == 400


def test_ansible_nsupdate_and_wait_for_txt(sandbox: Sandbox) -> None:
    """The proof: community.general.nsupdate + community.dns.wait_for_txt, unchanged, via 'sandbox exec'."""
    res = run_sandbox(sandbox.state_dir, "exec", "--", os.path.join(HERE, "dns-proof.sh"),
                      "_acme-challenge.ansible-proof", "example2.test", timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "== DNS proof OK" in res.stdout
    assert '"ns1.example2.test."' in res.stdout
    # the machine's own resolver configuration is untouched
    assert sandbox.env["dns_server"] not in open("/etc/resolv.conf").read()
