"""Certifire "ACME Orders" (PROVIDERS.md section 1): auth, accounts, orders issued by Pebble through BIND,
renewal by re-POST, reissue by COPY, revocation, destinations (HTTP-01), faults, admin."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from typing import Any, Callable, Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from emuclient import Sandbox, key_matches, openssl_verify, sans, wait_until


class Certifire:
    """Requests against ``certifire_url`` with HTTP Basic."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.url = sandbox.env["certifire_url"] + "/api"
        self.auth = (sandbox.env["certifire_username"], sandbox.env["certifire_password"])

    def call(self, method: str, path: str, auth: Any = True, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        if auth is True:
            auth = self.auth
        return self.sb.http.request(method, self.url + path, auth=auth or None, **kw)

    def account(self, email: str = "ops@example.test") -> int:
        resp = self.call("POST", "/acme", json={"email": email})
        assert resp.status_code in (200, 201), resp.text
        return int(resp.json()["id"])

    def order(self, domains: list[str], **extra: Any) -> requests.Response:
        body = {"domains": domains, "account": extra.pop("account", None) or self.account()}
        body.update(extra)
        return self.call("POST", "/order", json=body)

    def get_order(self, oid: int) -> requests.Response:
        return self.call("GET", "/order/%d" % oid)

    def wait_order(self, oid: int, done: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            resp = self.get_order(oid)
            if resp.status_code == 500:  # not written yet
                return None
            assert resp.status_code == 200, resp.text
            order = resp.json()
            return order if done(order) else None

        return wait_until(check, timeout=timeout, interval=0.2)

    def wait_valid(self, oid: int, not_cert: int | None = None) -> dict[str, Any]:
        return self.wait_order(oid, lambda o: o["status"] == "valid" and o["resolved_cert_id"] not in (None, not_cert))

    def certificate(self, cid: int) -> dict[str, Any]:
        resp = self.call("GET", "/certificate/%d" % cid)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
def cf(sandbox: Sandbox) -> Iterator[Certifire]:
    sandbox.settings(certifire_key_bits=2048, certifire_write_delay=0.3)
    yield Certifire(sandbox)
    sandbox.settings(certifire_key_bits=2048, certifire_write_delay=0.3)


def is_html(resp: requests.Response) -> bool:
    return resp.headers["Content-Type"].startswith("text/html")


def leaf_of(cert: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert["body"].encode())


def pebble_status(sandbox: Sandbox, cert: dict[str, Any]) -> str:
    serial = format(leaf_of(cert).serial_number, "x")
    resp = requests.get("%s/cert-status-by-serial/%s" % (sandbox.env["pebble_mgmt_url"], serial),
                        verify=sandbox.env["pebble_ca_path"], timeout=10)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["Status"])


# ---------------------------------------------------------------------------- auth, users
def test_basic_auth_token_and_users(cf: Certifire) -> None:
    for auth in (None, ("admin", "wrong"), ("nobody", "x")):
        resp = cf.call("GET", "/resource", auth=auth)
        assert resp.status_code == 401 and resp.text == "Unauthorized Access" and is_html(resp)
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="Authentication Required"'
    assert cf.call("POST", "/order", auth=None, json={}).status_code == 401
    assert cf.call("GET", "/resource").json() == {"data": "Hello, admin!"}
    token = cf.call("GET", "/token").json()
    assert token["duration"] == 600 and token["token"].count(".") == 2
    assert cf.call("GET", "/resource", auth=(token["token"], "unused")).json() == {"data": "Hello, admin!"}
    # users: admin creates; GET /api/users/<id> needs no auth
    name = "user-%d" % time.monotonic_ns()
    resp = cf.call("POST", "/users", json={"username": name, "password": "pw"})
    assert resp.status_code == 201 and resp.json() == {"username": name}
    uid = int(resp.headers["Location"].rsplit("/", 1)[1])
    assert cf.call("GET", "/users/%d" % uid, auth=None).json() == {"username": name}
    resp = cf.call("POST", "/users", json={"username": name, "password": "pw"})
    assert resp.status_code == 400 and resp.json() == {"status": "Username %s already exists" % name}
    resp = cf.call("POST", "/users", auth=(name, "pw"), json={"username": name + "x", "password": "pw"})
    assert resp.status_code == 400 and is_html(resp)  # only an admin creates users
    assert cf.call("GET", "/users/99999", auth=None).status_code == 400


# ---------------------------------------------------------------------------- accounts
def test_account_created_then_exists(cf: Certifire) -> None:
    email = "acct-%d@example.test" % time.monotonic_ns()
    resp = cf.call("POST", "/acme", json={"email": email})
    assert resp.status_code == 201, resp.text
    aid = resp.json()["id"]
    assert resp.json() == {"status": "New account created", "id": aid}
    assert resp.headers["account_id"] == str(aid)
    assert resp.headers["Location"].endswith("/certifire/api/acme/%d" % aid)
    assert resp.headers["Location"].startswith("http://")  # url_for(_external=True) behind a TLS proxy
    # same email + server + user: the same account; form-encoded works too
    resp = cf.call("POST", "/acme", data={"email": email})
    assert resp.status_code == 200 and resp.json() == {"status": "Account already exists", "id": aid}
    acct = cf.call("GET", "/acme/%d" % aid).json()
    assert set(acct) == {"id", "email", "key", "uri", "server", "directory_uri", "organization",
                         "organizational_unit", "country", "state", "location", "user_id"}
    assert acct["email"] == email and acct["key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert acct["server"] == cf.sb.env["acme_directory"][: -len("dir")]
    assert acct["directory_uri"] == cf.sb.env["acme_directory"]  # /directory is 404 at Pebble: /dir
    assert acct["uri"].startswith("https://127.0.0.1:") and acct["organization"] == "certifire"
    assert cf.call("GET", "/acme").json()[str(aid)]["email"] == email
    # errors: HTML 400 without email / for an unknown id
    for resp in (cf.call("POST", "/acme", json={"server": "x"}), cf.call("GET", "/acme/99999")):
        assert resp.status_code == 400 and is_html(resp)
    # an account of another user
    other = "other-%d" % time.monotonic_ns()
    cf.call("POST", "/users", json={"username": other, "password": "pw"})
    resp = cf.call("GET", "/acme/%d" % aid, auth=(other, "pw"))
    assert resp.status_code == 400 and resp.json() == {"status": "This account does not belong to you!"}
    resp = cf.call("POST", "/order", auth=(other, "pw"), json={"domains": ["x.example.test"], "account": aid})
    assert resp.status_code == 400 and resp.json() == {"status": "This account does not belong to you!"}


# ---------------------------------------------------------------------------- orders and certificates
def test_order_unwritten_then_valid_with_pebble_certificate(cf: Certifire) -> None:
    cf.sb.settings(certifire_write_delay=1.5)
    name = "cf-order.example.test"
    resp = cf.order([name])
    assert resp.status_code == 201, resp.text
    oid = resp.json()["id"]
    assert resp.json() == {"status": "New order created, Please wait some time before acessing the order",
                           "id": oid}
    assert resp.headers["Location"].endswith("/certifire/api/order/%d" % oid)
    # quirk: 500 (HTML) until the worker has written contents; the list fails too
    early = cf.get_order(oid)
    assert early.status_code == 500 and is_html(early)
    assert cf.call("GET", "/order").status_code == 500
    order = cf.wait_valid(oid)
    cid = order["resolved_cert_id"]
    assert set(order) == {"id", "hash", "contents", "uri", "type", "provider", "key", "csr", "domains",
                          "account_id", "user_id", "status", "resolved_cert_id", "organization",
                          "organizational_unit", "country", "state", "location"}
    assert order["domains"] == [name] and order["type"] == "dns" and order["provider"] == "route53"
    assert order["hash"] == hashlib.sha256(name.encode()).hexdigest()
    assert order["contents"]["status"] == "valid" and order["contents"]["identifiers"] == [
        {"type": "dns", "value": name}]
    assert order["uri"].startswith("https://127.0.0.1:")
    resp = cf.get_order(oid)
    assert resp.headers["Certificate"] == "%s/certifire/api/certificate/%d" % (cf.sb.env["base_url"], cid)
    assert cf.call("GET", "/order").json()[str(oid)]["resolved_cert_id"] == cid
    # the certificate
    cert = cf.certificate(cid)
    assert set(cert) == {"id", "order_id", "user_id", "status", "body", "intermediate", "chain", "key", "csr",
                         "expiry", "fingerprint"}
    assert cert["status"] == "valid" and cert["order_id"] == oid and cert["id"] == cid
    assert cert["key"].startswith("-----BEGIN RSA PRIVATE KEY-----") and cert["key"] == order["key"]
    assert cert["csr"] == order["csr"]
    leaf = leaf_of(cert)
    key = serialization.load_pem_private_key(cert["key"].encode(), None)
    assert key_matches(key, leaf) and sans(leaf) == [name]
    inter = x509.load_pem_x509_certificates(cert["intermediate"].encode())
    assert len(inter) == 1 and cert["chain"] == cert["body"] + cert["intermediate"]
    openssl_verify(leaf, inter, cf.sb.env["acme_root_certs"])
    assert cert["fingerprint"] == hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert cert["expiry"] == leaf.not_valid_after_utc.strftime("%Y-%m-%d")
    assert dt.date.fromisoformat(cert["expiry"]) > dt.date.today()
    assert str(cid) in cf.call("GET", "/certificate").json()
    # the TXT record is gone again
    assert cf.sb.query("_acme-challenge." + name, "TXT") == []


def test_apex_and_wildcard_dns(cf: Certifire) -> None:
    names = ["cf-wild.example2.test", "*.cf-wild.example2.test"]
    resp = cf.order(names)
    assert resp.status_code == 201, resp.text
    cert = cf.certificate(cf.wait_valid(resp.json()["id"])["resolved_cert_id"])
    assert sorted(sans(leaf_of(cert))) == sorted(names)
    assert leaf_of(cert).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == names[0]


def test_repost_renews_without_revoking(cf: Certifire) -> None:
    name = "cf-renew.example.test"
    oid = cf.order([name]).json()["id"]
    first = cf.wait_valid(oid)
    old_id = first["resolved_cert_id"]
    old = cf.certificate(old_id)
    resp = cf.order([name])
    assert resp.status_code == 200 and resp.json() == {"status": "Order already exists", "id": oid}
    renewed = cf.wait_valid(oid, not_cert=old_id)
    new = cf.certificate(renewed["resolved_cert_id"])
    assert new["fingerprint"] != old["fingerprint"] and new["key"] == old["key"]  # same stored CSR and key
    assert cf.certificate(old_id)["status"] == "valid"  # not revoked
    assert pebble_status(cf.sb, old) == "Valid"


def test_copy_revokes_then_reissues_and_revoke_purge(cf: Certifire) -> None:
    name = "cf-reissue.example.test"
    oid = cf.order([name]).json()["id"]
    old_id = cf.wait_valid(oid)["resolved_cert_id"]
    resp = cf.call("COPY", "/order/%d" % oid)
    assert resp.status_code == 200 and resp.json() == {"status": "Reordering", "id": oid}
    order = cf.wait_valid(oid, not_cert=old_id)
    old = cf.certificate(old_id)
    assert old["status"] == "revoked" and pebble_status(cf.sb, old) == "Revoked"
    new_id = order["resolved_cert_id"]
    # DELETE revokes (then 201 when already revoked); the order becomes "revoked"
    resp = cf.call("DELETE", "/certificate/%d" % new_id)
    assert resp.status_code == 200 and resp.json() == {"status": "Revoked"}
    resp = cf.call("DELETE", "/certificate/%d" % new_id)
    assert resp.status_code == 201 and resp.json() == {"status": "This certificate is already revoked"}
    assert cf.get_order(oid).json()["status"] == "revoked"
    # PURGE a revoked certificate: deleted, resolved_cert_id null
    resp = cf.call("PURGE", "/certificate/%d" % new_id)
    assert resp.status_code == 200 and resp.json() == {"status": "Deleted already revoked certificate"}
    resp = cf.call("GET", "/certificate/%d" % new_id)
    assert resp.status_code == 400 and resp.json() == {"status": "There is no such certificate!"}
    assert cf.get_order(oid).json()["resolved_cert_id"] is None
    assert "Certificate" not in cf.get_order(oid).headers
    # a re-POST of a revoked order does nothing; reissue: true issues again
    assert cf.order([name]).status_code == 200
    resp = cf.order([name], reissue=True)
    assert resp.status_code == 200 and resp.json()["id"] == oid
    assert cf.wait_valid(oid)["resolved_cert_id"] not in (old_id, new_id)


def csr_pem(name: str) -> str:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_deregister_account_revokes_its_certificates(cf: Certifire) -> None:
    aid = cf.account("dereg-%d@example.test" % time.monotonic_ns())
    oid = cf.order(["cf-dereg.example.test"], account=aid).json()["id"]
    cid = cf.wait_valid(oid)["resolved_cert_id"]
    resp = cf.call("DELETE", "/acme/%d" % aid)
    assert resp.status_code == 200 and resp.json() == {"status": "Done"}
    assert cf.certificate(cid)["status"] == "revoked"
    assert cf.get_order(oid).json()["status"] == "revoked"
    resp = cf.call("GET", "/acme/%d" % aid)
    assert resp.status_code == 400 and is_html(resp)
    assert cf.call("COPY", "/order/%d" % oid).status_code == 500  # the order's account is gone


def test_order_errors(cf: Certifire) -> None:
    aid = cf.account()
    resp = cf.order(["cf-x.example.test"], account=aid, provider="cloudflare")
    assert resp.status_code == 200 and resp.json() == {"status": "Order already exists", "id": 0}
    for extra in ({"type": "http"}, {"csr": csr_pem("cf-x.example.test")}, {"account": 99999}):
        resp = cf.order(["cf-x.example.test"], **dict({"account": aid}, **extra))
        assert resp.status_code == 500 and is_html(resp), extra
    resp = cf.call("POST", "/order", json={"account": aid})
    assert resp.status_code == 400 and resp.json() == {"status": "Provide atleast one domain or destination"}
    resp = cf.call("POST", "/order", data="not json")
    assert resp.status_code == 400 and is_html(resp)
    resp = cf.call("GET", "/certificate/99999")
    assert resp.status_code == 400 and resp.json() == {"status": "There is no such certificate!"}
    assert resp.headers["Content-Type"].startswith("application/json")
    for method, path in (("GET", "/order/99999"), ("COPY", "/order/99999")):
        resp = cf.call(method, path)
        assert resp.status_code == 400 and is_html(resp)
    resp = cf.call("GET", "/order/abc", auth=None)  # routing before auth
    assert resp.status_code == 404 and is_html(resp)
    resp = cf.call("DELETE", "/order/1")
    assert resp.status_code == 405 and "COPY" in resp.headers["Allow"] and is_html(resp)


# ---------------------------------------------------------------------------- destinations (HTTP-01)
def test_sftp_destination_http01(cf: Certifire) -> None:
    host = "cf-web.example.test"
    resp = cf.call("POST", "/destination", json={"host": "www.example.com", "password": "pw"})
    assert resp.status_code == 400 and "Error creating destination" in resp.json()["status"]
    resp = cf.call("POST", "/destination", json={"host": host, "user": "deploy", "password": "pw"})
    assert resp.status_code == 201 and resp.json()["status"] == "New destination created", resp.text
    did = resp.json()["id"]
    challenge_dir = os.path.join(cf.sb.env["webroot"], ".well-known", "acme-challenge")
    before = set(os.listdir(challenge_dir))
    dest = cf.call("GET", "/destination/%d" % did).json()
    assert dest["status"] == "SSH Connection OK" and dest["challengeDestinationPath"] == "/var/www/html"
    resp = cf.call("POST", "/order", json={"account": cf.account(), "type": "sftp", "destination": did})
    assert resp.status_code == 201, resp.text
    order = cf.wait_valid(resp.json()["id"])
    assert order["domains"] == [host] and order["type"] == "sftp"
    cert = cf.certificate(order["resolved_cert_id"])
    assert sans(leaf_of(cert)) == [host]
    # the issued files went to the destination's certDestinationPath (a local folder)
    folder = os.path.join(cf.sb.state_dir, "services", "certifire", "destinations", str(did), "etc", "nginx", "certs",
                          host)
    with open(os.path.join(folder, host + ".pem")) as fh:
        assert fh.read() == cert["body"] + cert["intermediate"]
    assert set(os.listdir(challenge_dir)) == before  # the challenge file is gone again


# ---------------------------------------------------------------------------- faults
def test_status_fault_then_success(cf: Certifire) -> None:
    aid = cf.account()
    cf.sb.fault(endpoint="certifire.create_order", kind="status", status=503)
    resp = cf.order(["cf-503.example.test"], account=aid)
    assert resp.status_code == 503
    resp = cf.order(["cf-503.example.test"], account=aid)
    assert resp.status_code == 201, resp.text  # the 503 created nothing
    cf.wait_valid(resp.json()["id"])


def test_stuck_pending(cf: Certifire) -> None:
    cf.sb.fault(endpoint="certifire.create_order", kind="stuck_pending")
    oid = cf.order(["cf-stuck.example.test"]).json()["id"]
    order = cf.wait_order(oid, lambda o: True)
    time.sleep(1.5)
    order = cf.get_order(oid).json()
    assert order["status"] == "Pending" and order["contents"]["status"] == "pending"
    assert order["resolved_cert_id"] is None


def test_challenge_fail(cf: Certifire) -> None:
    cf.sb.fault(endpoint="certifire.create_order", kind="challenge_fail")
    oid = cf.order(["cf-fail.example.test"]).json()["id"]
    order = cf.wait_order(oid, lambda o: o["contents"]["status"] == "invalid")
    assert order["status"] == "Pending" and order["resolved_cert_id"] is None  # no failure status
    # recover by re-POST
    assert cf.order(["cf-fail.example.test"]).status_code == 200
    assert cf.wait_valid(oid)["contents"]["status"] == "valid"


def test_challenge_fail_on_reissue(cf: Certifire) -> None:
    oid = cf.order(["cf-fail-copy.example.test"]).json()["id"]
    cid = cf.wait_valid(oid)["resolved_cert_id"]
    cf.sb.fault(endpoint="certifire.reissue", kind="challenge_fail")
    assert cf.call("COPY", "/order/%d" % oid).status_code == 200
    order = cf.wait_order(oid, lambda o: o["contents"]["status"] == "invalid")
    assert order["status"] == "revoked" and order["resolved_cert_id"] == cid  # the live one was revoked first
    assert cf.certificate(cid)["status"] == "revoked"


def test_mismatched_key(cf: Certifire) -> None:
    oid = cf.order(["cf-mismatch.example.test"]).json()["id"]
    cid = cf.wait_valid(oid)["resolved_cert_id"]
    cf.sb.fault(endpoint="certifire.get_certificate", kind="mismatched_key")
    bad = cf.certificate(cid)
    good = cf.certificate(cid)
    assert not key_matches(serialization.load_pem_private_key(bad["key"].encode(), None), leaf_of(bad))
    assert key_matches(serialization.load_pem_private_key(good["key"].encode(), None), leaf_of(good))
    assert bad["body"] == good["body"]


def test_semantic_fault_endpoints_are_checked(cf: Certifire) -> None:
    resp = requests.post(cf.sb.admin + "/faults", json={"endpoint": "certifire.get_order", "kind": "stuck_pending"},
                         timeout=10)
    assert resp.status_code == 400


# ---------------------------------------------------------------------------- request log, admin
def test_request_log_and_admin(cf: Certifire) -> None:
    aid = cf.account()
    cf.sb.admin_call("DELETE", "/requests")
    cf.call("GET", "/resource", auth=None)
    cf.call("POST", "/acme", json={"email": "ops@example.test"})
    oid = cf.order(["cf-log.example.test"], account=aid).json()["id"]
    cid = cf.wait_valid(oid)["resolved_cert_id"]
    cf.call("GET", "/certificate/%d" % cid)
    cf.call("COPY", "/order/%d" % oid)
    cf.call("GET", "/nope")
    log = cf.sb.admin_call("GET", "/requests")
    got = [(e["method"], e["endpoint"], e["status"]) for e in log if e["endpoint"] != "certifire.get_order"]
    assert got == [("GET", "certifire.resource", 401), ("POST", "certifire.acme", 200),
                   ("POST", "certifire.create_order", 201), ("GET", "certifire.get_certificate", 200),
                   ("COPY", "certifire.reissue", 200), ("GET", "certifire.unknown", 404)]
    assert any(e["endpoint"] == "certifire.get_order" and e["status"] == 200 for e in log)
    assert log[0]["path"] == "/certifire/api/resource"
    cf.wait_valid(oid, not_cert=cid)
    # admin views
    orders = cf.sb.admin_call("GET", "/certifire/orders")
    mine = next(o for o in orders if o["id"] == oid)
    assert [r["reissue"] for r in mine["runs"]] == [False, True] and mine["runs"][-1]["result"].startswith("issued")
    certs = cf.sb.admin_call("GET", "/certifire/certificates")
    assert {c["id"]: c["status"] for c in certs}[cid] == "revoked"
    assert any(a["id"] == aid for a in cf.sb.admin_call("GET", "/certifire/accounts"))
    assert cf.sb.admin_call("GET", "/settings")["certifire_key_bits"] == 2048


def test_admin_reset(cf: Certifire) -> None:
    cf.account()
    forgotten = cf.sb.admin_call("POST", "/certifire/reset")["forgotten"]
    assert forgotten["accounts"] >= 1
    assert cf.sb.admin_call("GET", "/certifire/orders") == []
    assert cf.call("GET", "/acme").json() == {}
    assert cf.call("GET", "/resource").status_code == 200  # the sandbox user stays
