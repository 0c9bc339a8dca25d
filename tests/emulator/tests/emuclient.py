"""Helpers for the emulator's own tests: plain requests + dnspython, nothing from the collection."""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Iterator
from urllib.parse import quote

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/emulator
SANDBOX = os.path.join(HERE, "sandbox")
TIMEOUT = 30


class Sandbox:
    def __init__(self, env: dict[str, Any], state_dir: str) -> None:
        self.env = env
        self.state_dir = state_dir
        self.http = requests.Session()
        # REQUESTS_CA_BUNDLE in the environment would override Session.verify: ignore the environment
        self.http.trust_env = False
        self.http.verify = env["ca_path"]
        self.sid = env["subscription_id"]
        self.key = env["api_key"]
        self.admin = env["admin_url"]
        self._token: str | None = None

    # -- raw HTTP --------------------------------------------------------
    def get(self, url: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT)
        return self.http.get(url, **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT)
        return self.http.post(url, **kw)

    def delete(self, url: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT)
        return self.http.delete(url, **kw)

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer %s" % (key or self.key)}

    # -- admin -------------------------------------------------------------
    def admin_call(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, self.admin + path, json=body, timeout=TIMEOUT)
        assert resp.ok, (resp.status_code, resp.text)
        return resp.json()

    def fault(self, **spec: Any) -> dict[str, Any]:
        return self.admin_call("POST", "/faults", spec)

    def clear_faults(self) -> None:
        self.admin_call("DELETE", "/faults")

    def settings(self, **values: Any) -> dict[str, Any]:
        return self.admin_call("POST", "/settings", values)

    def seed(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self.admin_call("POST", "/seed", doc)

    def seed_cert(self, name: str, root: str = "example.test", challenge: str = "DNS", san: Any = False,
                  days: float = 10, **extra: Any) -> None:
        """Add a portal certificate to the default subscription."""
        sub = {"id": self.sid, "api_key": self.key, "email": "ops@example.test",
               "certificates": [dict({"name": name, "root_domain": root, "challenge_type": challenge, "san": san,
                                      "expires_in_days": days, "password": "pw-" + name}, **extra)]}
        self.seed({"subscriptions": [sub]})

    # -- V7 ------------------------------------------------------------------
    def v7(self, name: str, suffix: str = "") -> str:
        return "%s/v1/subscription/%s/core/certificate/%s%s" % (self.env["v7_url"], self.sid, quote(name, safe=""),
                                                                suffix)

    def v7_order(self, name: str) -> dict[str, Any]:
        resp = self.get(self.v7(name, "/order"), headers=self.auth())
        assert resp.status_code == 200, resp.text
        return resp.json()

    def v7_finalize(self, name: str, order_uri: str) -> requests.Response:
        return self.get(self.v7(name, "/finalize"), params={"orderuri": order_uri}, headers=self.auth(),
                        timeout=60)

    # -- V6 ------------------------------------------------------------------
    def token(self, fresh: bool = False, **override: str) -> str:
        if self._token and not fresh and not override:
            return self._token
        form = {"grant_type": "client_credentials", "client_id": self.env["client_id"],
                "client_secret": self.env["client_secret"], "scope": self.env["token_scope"]}
        form.update(override)
        resp = self.post(self.env["token_url"], data=form)
        assert resp.status_code == 200, resp.text
        token = resp.json()["access_token"]
        if not override:
            self._token = token
        return token

    def v6(self, path: str) -> str:
        kind, _sep, rest = path.partition("/")
        return "%s/%s/subscription/%s/%s" % (self.env["v6_url"], kind, self.sid, rest)

    def v6_post(self, path: str, body: dict[str, Any], token: str | None = None) -> requests.Response:
        return self.post(self.v6(path), json=body, headers=self.auth(token or self.token()), timeout=60)

    def v6_wait_settled(self, order_uri: str, timeout: float = 15) -> dict[str, Any]:
        """Poll V6 get order until it is no longer pending."""
        ref = {"orderUri": order_uri, "challengeType": "DNS", "rootDomain": "example.test"}

        def settled() -> dict[str, Any] | None:
            order = self.v6_post("order/get", ref).json()
            return order if order["status"] != "pending" else None

        return wait_until(settled, timeout=timeout)

    # -- V8 ------------------------------------------------------------------
    def v8(self, path: str) -> str:
        return "%s/%s/%s" % (self.env["v8_url"], self.sid, path)

    # -- DNS -------------------------------------------------------------------
    def _update(self, zone: str) -> dns.update.Update:
        key = (self.env["tsig_algorithm"], self.env["tsig_key_secret"])
        keyring = dns.tsigkeyring.from_text({self.env["tsig_key_name"]: key})
        return dns.update.Update(zone, keyring=keyring, keyalgorithm=self.env["tsig_algorithm"])

    def _send(self, upd: dns.update.Update) -> None:
        resp = dns.query.tcp(upd, self.env["dns_server"], port=self.env["dns_port"], timeout=5)
        assert resp.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(resp.rcode())

    def txt_set(self, zone: str, name: str, values: list[str]) -> None:
        upd = self._update(zone)
        upd.delete(name, "TXT")
        for value in values:
            upd.add(name, 60, "TXT", '"%s"' % value)
        self._send(upd)

    def txt_delete(self, zone: str, name: str) -> None:
        upd = self._update(zone)
        upd.delete(name, "TXT")
        self._send(upd)

    def query(self, name: str, rdtype: str) -> list[str]:
        q = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
        resp = dns.query.udp(q, self.env["dns_server"], port=self.env["dns_port"], timeout=3)
        return [r.to_text() for rrset in resp.answer for r in rrset]

    def answer_tokens(self, zone: str, tokens: list[dict[str, Any]]) -> Callable[[], None]:
        """Publish the validation tokens (TXT records or webroot files); returns a clean-up function."""
        by_name: dict[str, list[str]] = {}
        files = []
        for tok in tokens:
            if tok["challengeType"].upper() == "DNS":
                by_name.setdefault(tok["tokenName"], []).append(tok["tokenValue"])
            else:
                path = os.path.join(self.env["webroot"], ".well-known", "acme-challenge", tok["tokenName"])
                with open(path, "w") as fh:
                    fh.write(tok["tokenValue"])
                files.append(path)
        for name, values in by_name.items():
            self.txt_set(zone, name, values)

        def cleanup() -> None:
            for name in by_name:
                self.txt_delete(zone, name)
            for path in files:
                if os.path.exists(path):
                    os.unlink(path)

        return cleanup


def load_pfx(b64: str, password: str) -> tuple[Any, x509.Certificate, list[x509.Certificate]]:
    key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(b64), password.encode())
    assert key is not None and cert is not None
    return key, cert, list(extra)


def key_matches(key: Any, cert: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def sans(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)


def pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def openssl_verify(leaf: x509.Certificate, chain: list[x509.Certificate], roots_file: str) -> None:
    """``openssl verify`` the leaf against ``roots_file`` with the chain as untrusted intermediates."""
    with tempfile.TemporaryDirectory() as tmp:
        leaf_path = os.path.join(tmp, "leaf.pem")
        chain_path = os.path.join(tmp, "chain.pem")
        with open(leaf_path, "wb") as fh:
            fh.write(pem([leaf]))
        with open(chain_path, "wb") as fh:
            fh.write(pem(chain))
        cmd = ["openssl", "verify", "-purpose", "sslserver", "-CAfile", roots_file]
        if chain:
            cmd += ["-untrusted", chain_path]
        res = subprocess.run(cmd + [leaf_path], capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stdout + res.stderr


def wait_until(check: Callable[[], Any], timeout: float = 20, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %ss" % timeout)
        time.sleep(interval)


def run_sandbox(state_dir: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCL_SANDBOX_")}
    return subprocess.run([SANDBOX, "--state-dir", state_dir, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def start_sandbox(state_dir: str, *args: str) -> dict[str, Any]:
    res = run_sandbox(state_dir, "start", *args)
    if res.returncode != 0:
        raise RuntimeError("sandbox start failed (%d):\n%s\n%s" % (res.returncode, res.stdout, res.stderr))
    return json.loads(res.stdout)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")  # pytest then still runs the session teardown


@contextlib.contextmanager
def running_sandbox(state_dir: str, *args: str) -> Iterator[Sandbox]:
    """Start a sandbox in ``state_dir`` (``args``: start options) and always stop it again:
    on leaving the block, on exceptions, on SIGTERM, and at interpreter exit as a last resort."""
    stopped = []

    def stop() -> None:
        if stopped:
            return
        stopped.append(True)
        res = run_sandbox(state_dir, "stop")
        if res.returncode != 0:
            sys.stderr.write("sandbox stop failed:\n%s%s\n" % (res.stdout, res.stderr))

    atexit.register(stop)  # last resort, should the teardown not run
    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        env = start_sandbox(state_dir, *args)
        yield Sandbox(env, state_dir)
    finally:
        stop()
        signal.signal(signal.SIGTERM, previous)


def collection_link(base: str, checkout: str) -> str:
    """``base`` made a collections path holding ansible_collections/rcl/ssl -> ``checkout``; returns ``base``."""
    parent = os.path.join(base, "ansible_collections", "rcl")
    os.makedirs(parent, exist_ok=True)
    os.symlink(checkout, os.path.join(parent, "ssl"))
    return base
