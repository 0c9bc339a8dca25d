"""The sandbox's services: env, BIND (zones, TSIG updates), the HTTP-01 responder, Pebble, lifecycle."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update
import requests
from cryptography import x509

from emuclient import HERE, Sandbox, load_pfx, run_sandbox, start_sandbox

REQUIRED_KEYS = {
    "v7_url", "v6_url", "v8_url", "token_url", "api_key", "subscription_id", "client_id", "client_secret",
    "tenant_id", "ca_path", "acme_roots", "dns_server", "dns_port", "tsig_key_name", "tsig_key_secret",
    "tsig_algorithm", "zones", "webroot", "admin_url", "certificates", "seed_roots",
}


def test_env_has_every_key(sandbox: Sandbox) -> None:
    env = sandbox.env
    assert REQUIRED_KEYS <= set(env)
    assert env["v7_url"] == "https://127.0.0.1:19443/public"
    assert env["v6_url"] == "https://127.0.0.1:19443/production/ssl/core/v1"
    assert env["v8_url"] == "https://127.0.0.1:19443/prod/v3/ssl/certificate/subscription"
    assert env["token_url"] == "https://127.0.0.1:19443/%s/oauth2/v2.0/token" % env["tenant_id"]
    assert env["dns_server"] == "127.0.0.3" and env["dns_port"] == 53
    assert env["tsig_algorithm"] == "hmac-sha256"
    assert env["zones"] == ["example.test", "example2.test"]
    for key in ("ca_path", "acme_roots", "seed_roots", "webroot"):
        assert os.path.exists(env[key]), key
    names = {c["name"]: c for c in env["certificates"]}
    assert {"due.example.test", "fresh.example.test", "example.test", "www.example2.test"} <= set(names)
    assert names["example.test"]["san"] == ["example.test", "*.example.test"]
    assert names["www.example2.test"]["challenge_type"] == "HTTP"
    for cert in env["certificates"]:
        assert set(cert) >= {"name", "root_domain", "challenge_type", "san", "expiry_date"}
    # `sandbox env` prints the same thing
    res = run_sandbox(sandbox.state_dir, "env")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["api_key"] == env["api_key"]


def test_acme_roots_are_pebbles(sandbox: Sandbox) -> None:
    with open(sandbox.env["acme_roots"], "rb") as fh:
        certs = x509.load_pem_x509_certificates(fh.read())
    subjects = [c.subject.rfc4514_string() for c in certs]
    assert any("Pebble Root CA" in s for s in subjects)
    assert any("Pebble Intermediate CA" in s for s in subjects)
    resp = requests.get(sandbox.env["pebble_mgmt_url"] + "/roots/0", verify=sandbox.env["pebble_ca_path"], timeout=5)
    assert resp.text.strip() in open(sandbox.env["acme_roots"]).read()


def test_dns_zones_answer(sandbox: Sandbox) -> None:
    for zone in sandbox.env["zones"]:
        for name in (zone, "www." + zone, "anything-%s.%s" % (os.getpid(), zone), "*." + zone):
            assert sandbox.query(name, "A") == ["127.0.0.1"], name
        assert sandbox.query(zone, "NS") == ["ns1.%s." % zone]
        assert sandbox.query("ns1." + zone, "A") == ["127.0.0.3"]
    # the parent zone delegates (wait_for_txt walks test. -> example.test.)
    assert sandbox.query("test.", "NS") == ["ns1.test."]
    # not authoritative elsewhere, no recursion
    q = dns.message.make_query("pypi.org.", dns.rdatatype.A)
    resp = dns.query.udp(q, sandbox.env["dns_server"], port=53, timeout=3)
    assert resp.rcode() == dns.rcode.REFUSED


def test_dns_update_needs_tsig(sandbox: Sandbox) -> None:
    name = "_acme-challenge.tsig-%d" % os.getpid()
    sandbox.txt_set("example.test", name, ["one", "two"])
    try:
        assert sorted(sandbox.query(name + ".example.test.", "TXT")) == ['"one"', '"two"']
    finally:
        sandbox.txt_delete("example.test", name)
    assert sandbox.query(name + ".example.test.", "TXT") == []
    unsigned = dns.update.Update("example.test")
    unsigned.add(name, 60, "TXT", '"nope"')
    resp = dns.query.tcp(unsigned, sandbox.env["dns_server"], port=53, timeout=5)
    assert resp.rcode() == dns.rcode.REFUSED


def test_nsupdate_cli_with_env(sandbox: Sandbox, tmp_path: os.PathLike) -> None:
    assert shutil.which("nsupdate"), "nsupdate missing: scripts/setup installs bind9-dnsutils"
    env = sandbox.env
    script = ("server {s} {p}\nzone example.test\nkey {alg}:{kn} {ks}\n"
              "update add cli.example.test. 60 TXT \"from-nsupdate\"\nsend\n").format(
        s=env["dns_server"], p=env["dns_port"], alg=env["tsig_algorithm"], kn=env["tsig_key_name"],
        ks=env["tsig_key_secret"])
    res = subprocess.run(["nsupdate"], input=script, capture_output=True, text=True, timeout=20, check=False)
    assert res.returncode == 0, res.stderr
    assert sandbox.query("cli.example.test.", "TXT") == ['"from-nsupdate"']
    sandbox.txt_delete("example.test", "cli")


def test_http01_responder_serves_webroot_any_host(sandbox: Sandbox) -> None:
    path = os.path.join(sandbox.env["webroot"], ".well-known", "acme-challenge", "tok-123")
    with open(path, "w") as fh:
        fh.write("tok-123.thumbprint")
    try:
        url = "http://127.0.0.1:%d/.well-known/acme-challenge/tok-123" % sandbox.env["http01_port"]
        for host in ("www.example2.test", "whatever.invalid"):
            resp = requests.get(url, headers={"Host": host}, timeout=5)
            assert resp.status_code == 200 and resp.text == "tok-123.thumbprint"
        assert requests.get(url + "x", timeout=5).status_code == 404
        assert requests.get(url.replace("tok-123", "..%2Fetc"), timeout=5).status_code == 404
    finally:
        os.unlink(path)


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def test_lifecycle_plain_http_idempotent_start_and_clean_stop(tmp_path: os.PathLike) -> None:
    """A second, short-lived sandbox: --plain-http, start twice, status, stop leaves nothing behind."""
    state = os.path.join(str(tmp_path), "state")
    ports = ["--api-port", "29443", "--admin-port", "29444", "--http01-port", "25002", "--pebble-port", "34000",
             "--pebble-mgmt-port", "35000", "--dns-addr", "127.0.0.4", "--plain-http", "--cert-validity", "3600",
             "--setting", "key_type=ec256"]
    try:
        env = start_sandbox(state, *ports)
        assert env["v7_url"] == "http://127.0.0.1:29443/public" and env["plain_http"] is True
        again = start_sandbox(state, *ports)  # already running -> ok, same processes
        assert again["pids"] == env["pids"]
        assert run_sandbox(state, "status").returncode == 0
        assert env["cert_validity"] == 3600
        sb = Sandbox(env, state)
        resp = sb.get(sb.v7("due.example.test"), headers=sb.auth())
        assert resp.status_code == 200 and resp.json()["certificateName"] == "due.example.test"
        # a renewal over plain HTTP; Pebble's certificates now last an hour (certificateValidityPeriod)
        order = sb.v7_order("due.example.test")
        cleanup = sb.answer_tokens("example.test", order["validationTokens"])
        try:
            resp = sb.v7_finalize("due.example.test", order["orderUri"])
        finally:
            cleanup()
        assert resp.status_code == 200, resp.text
        _key, leaf, _chain = load_pfx(resp.json()["pfxString"], resp.json()["password"])
        assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(hours=1)
        assert resp.json()["certificateDownloadUrl"]["pemUrl"].startswith("http://127.0.0.1:29443/download/")
    finally:
        res = run_sandbox(state, "stop")
    assert res.returncode == 0, res.stderr
    status = run_sandbox(state, "status")
    assert status.returncode == 3, status.stdout
    for pid in env["pids"].values():
        assert not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z"
    for port in (29443, 29444, 25002, 34000, 35000):
        assert not _port_open(port), port
    ip = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True,
                        check=True).stdout
    assert "127.0.0.4/" not in ip
    assert os.path.exists(os.path.join(HERE, "sandbox"))
