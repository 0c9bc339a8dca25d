"""The rcl_certificate role with the three ordering systems mixed in one play (issue 10).

Hosts hold an RCL SSL name (V7, DNS-01), a Certifire name (the service validates itself: no challenge step), and
Servertastic names validated by DNS (TXT on the base domain), by FILE (.well-known/pki-validation/) and by EMAIL
(approved through the emulator's admin call while the run waits). The tests build on each other: first run,
converged run (no request at all), an EMAIL order left pending by a failed run and resumed without a new token,
Certifire's forced reissue (COPY, never sent without force)."""

from __future__ import annotations

import json
import os
import stat
import threading
from typing import Any, Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from emuclient import key_matches, openssl_verify, sans
from roleharness import Estate

RCL = "rclmix.example.test"           # seeded in the portal by the fixture, due: V7 DNS-01
CERTIFIRE = "cf.example.test"         # Certifire validates through its "route53" (the sandbox BIND)
CERTIFIRE_2 = "cf2.example.test"      # deployed beside a pending Servertastic name
ST_DNS = "st-dns.example.test"        # Servertastic DNS: TXT on st-dns.example.test itself
ST_FILE = "st-file.example2.test"     # Servertastic FILE: http://<name>/.well-known/pki-validation/fileauth.txt
ST_MAIL = "st-mail.example.test"      # Servertastic EMAIL: approved through the admin call
ST_PENDING = "st-wait.example2.test"  # Servertastic EMAIL, left pending by a failed run
ST_AWX = "st-awx.example.test"        # Servertastic EMAIL, pending across two "AWX jobs" (fresh controller disks)
HOSTS = {
    "mix1": [{"name": RCL}, {"name": CERTIFIRE, "service": "certifire"}],
    "mix2": [{"name": ST_DNS, "service": "servertastic"},
             {"name": ST_FILE, "service": "servertastic", "challenge_type": "http"}],
    "mix3": [{"name": ST_MAIL, "service": "servertastic", "challenge_type": "email",
              "approver_email": "admin@" + ST_MAIL},
             {"name": CERTIFIRE, "service": "certifire"}],
}
ROOTS = {RCL: "acme_roots", CERTIFIRE: "acme_roots", CERTIFIRE_2: "acme_roots", ST_DNS: "servertastic_roots", ST_FILE: "servertastic_roots",
         ST_MAIL: "servertastic_roots", ST_PENDING: "servertastic_roots", ST_AWX: "servertastic_roots"}
CONTACTS = {
    "tech": {"first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0000", "email": "ada@example.test",
             "title": "Operations"},
    "admin": {"first_name": "Alan", "last_name": "Turing", "phone": "+44 20 7946 0001", "email": "alan@example.test",
              "title": "CTO"},
}


def service_vars(env: dict[str, Any], state_dir: str) -> dict[str, Any]:
    return {
        "rcl_certificate_services": {
            "certifire": {"api_url": env["certifire_url"], "api_username": env["certifire_username"],
                          "api_password": env["certifire_password"], "ca_path": env["ca_path"],
                          "acme_account_email": "hostmaster@example.test"},
            "servertastic": {"api_url": env["servertastic_url"], "api_key": env["servertastic_api_key"],
                             "ca_path": env["ca_path"], "product_code": "RapidSSL-12", "contacts": CONTACTS,
                             "state_passphrase": "role-test-state-passphrase"},
        },
        "rcl_certificate_state_dir": state_dir,
    }


@pytest.fixture(scope="module")
def estate(sandbox: Any, collections_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    sandbox.settings(certifire_key_bits=2048, certifire_write_delay=0.5)
    sandbox.seed_cert(RCL, root="example.test", challenge="DNS", days=10)
    workdir = str(tmp_path_factory.mktemp("services-estate"))
    est = Estate(sandbox, collections_path, workdir)
    est.vars.update(service_vars(sandbox.env, os.path.join(workdir, "controller-state")))
    for host, certs in HOSTS.items():
        est.add_host(host, certs)
    est.clear_requests()
    yield est


def endpoints(est: Estate) -> dict[str, int]:
    counts: dict[str, int] = {}
    for req in est.requests():
        counts[req["endpoint"]] = counts.get(req["endpoint"], 0) + 1
    return counts


def load(path: str) -> list[x509.Certificate]:
    with open(path, "rb") as fh:
        return x509.load_pem_x509_certificates(fh.read())


def check_deployed(est: Estate, host: str, name: str) -> None:
    directory = est.cert_dir(host, name)
    chain = load(os.path.join(directory, "fullchain.pem"))
    leaf = chain[0]
    assert name in sans(leaf)
    with open(os.path.join(directory, "privkey.pem"), "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), None)
    assert key_matches(key, leaf), (host, name)
    assert stat.S_IMODE(os.stat(os.path.join(directory, "privkey.pem")).st_mode) == 0o600
    openssl_verify(leaf, chain[1:], est.sb.env[ROOTS[name]])


class Approver:
    """Approves the EMAIL orders of ``names`` through the admin call as soon as they wait for it."""

    def __init__(self, sb: Any, names: list[str]) -> None:
        self.sb = sb
        self.names = list(names)
        self.approved: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and self.names:
            for name in list(self.names):
                resp = requests.post(self.sb.admin + "/servertastic/approve", json={"domain": name}, timeout=10)
                if resp.ok:
                    self.names.remove(name)
                    self.approved.append(name)
            self._stop.wait(0.5)

    def __enter__(self) -> Approver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)


def test_first_run_converges_every_service(estate: Estate) -> None:
    points_before = estate.sb.admin_call("GET", "/servertastic/points")
    with Approver(estate.sb, [ST_MAIL]) as approver:
        res = estate.run(timeout=400)
    assert res.rc == 0, res
    assert approver.approved == [ST_MAIL]
    for host, certs in HOSTS.items():
        for cert in certs:
            check_deployed(estate, host, cert["name"])
    counts = endpoints(estate)
    # RCL: read, order, finalize; Certifire: one order for the name shared by two hosts, no COPY
    assert counts.get("v7.create_order") == 1 and counts.get("v7.finalize") == 1, counts
    assert counts.get("certifire.create_order") == 1, counts
    assert "certifire.reissue" not in counts, counts
    # Servertastic: one token (points) and one place per name; pollauth at most for the DNS and FILE names (the
    # emulator's review checks too, so an order may be Completed before the finish step asks)
    assert counts.get("servertastic.generatetoken") == 3, counts
    assert counts.get("servertastic.place") == 3, counts
    assert counts.get("servertastic.pollauth", 0) <= 2, counts
    points_after = estate.sb.admin_call("GET", "/servertastic/points")
    assert points_after != points_before
    # the challenges are gone: no TXT value left at the Servertastic DNS name, no validation file
    assert estate.sb.query(ST_DNS, "TXT") == []
    pki = os.path.join(estate.sb.env["webroot"], ".well-known", "pki-validation")
    assert not os.path.isdir(pki) or os.listdir(pki) == []
    # the state file keeps the issued orders, their token and key sealed (no PEM, no token in clear)
    state_file = os.path.join(estate.vars["rcl_certificate_state_dir"], "servertastic.json")
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    with open(state_file) as fh:
        text = fh.read()
    assert "PRIVATE KEY" not in text
    data = json.loads(text)
    assert sorted(data["certificates"]) == sorted([ST_DNS, ST_FILE, ST_MAIL])
    tokens = [o["order_token"] for o in estate.sb.admin_call("GET", "/servertastic/orders")]
    assert tokens and not any(token in text for token in tokens)
    # and no secret in the output of the run
    env = estate.sb.env
    for secret in (env["certifire_password"], env["servertastic_api_key"], env["api_key"], *tokens):
        assert secret not in res.out


def test_second_run_makes_no_request_to_any_service(estate: Estate) -> None:
    estate.clear_requests()
    res = estate.run()
    assert res.rc == 0, res
    assert all(res.changed(host) == 0 for host in HOSTS), res
    assert estate.requests() == []


def test_pending_email_order_is_resumed_without_a_new_token(estate: Estate) -> None:
    """The pending name fails its host at the end; the host's other certificate is deployed and reloaded first."""
    estate.add_host("mix4", [{"name": ST_PENDING, "service": "servertastic", "challenge_type": "email",
                              "approver_email": "webmaster@" + ST_PENDING},
                             {"name": CERTIFIRE_2, "service": "certifire", "notify": ["web reload"]}])
    estate.clear_requests()
    res = estate.run(extra={"rcl_certificate_finalize_timeout": 4}, limit="mix4")
    assert res.rc != 0, res
    assert "the next run resumes it without a new token" in res.out, res
    assert not os.path.exists(os.path.join(estate.cert_dir("mix4", ST_PENDING), "fullchain.pem"))
    check_deployed(estate, "mix4", CERTIFIRE_2)
    with open(os.path.join(estate.host_dir("mix4"), "reloads")) as fh:
        assert len(fh.read().splitlines()) == 1  # its handler ran although the host failed
    first = endpoints(estate)
    assert first.get("servertastic.generatetoken") == 1 and first.get("servertastic.place") == 1, first
    estate.sb.admin_call("POST", "/servertastic/approve", {"domain": ST_PENDING})
    estate.clear_requests()
    res = estate.run(limit="mix4")
    assert res.rc == 0, res
    second = endpoints(estate)
    assert "servertastic.generatetoken" not in second and "servertastic.place" not in second, second
    check_deployed(estate, "mix4", ST_PENDING)


def test_certifire_force_reposts_and_copy_needs_reissue_too(estate: Estate) -> None:
    estate.add_host("mix5", [{"name": CERTIFIRE, "service": "certifire"}])
    first = load(os.path.join(estate.cert_dir("mix1", CERTIFIRE), "cert.pem"))[0]
    estate.clear_requests()
    res = estate.run(limit="mix5")  # converges mix5 from what the service holds: no order, no COPY
    assert res.rc == 0, res
    assert "certifire.reissue" not in endpoints(estate) and "certifire.create_order" not in endpoints(estate)
    # force: the identical order is posted again - a new certificate, the live one not revoked
    estate.clear_requests()
    res = estate.run(extra={"rcl_certificate_force": True}, limit="mix5", timeout=300)
    assert res.rc == 0, res
    counts = endpoints(estate)
    assert counts.get("certifire.create_order") == 1 and "certifire.reissue" not in counts, counts
    second = load(os.path.join(estate.cert_dir("mix5", CERTIFIRE), "cert.pem"))[0]
    assert second.serial_number != first.serial_number
    revoked = [c for c in estate.sb.admin_call("GET", "/certifire/certificates")
               if str(c.get("status")).lower() == "revoked"]
    assert revoked == [], revoked
    # force with certifire_reissue: COPY, which revokes the live certificate first, with a warning
    services = dict(estate.vars["rcl_certificate_services"])
    services["certifire"] = dict(services["certifire"], certifire_reissue=True)
    estate.clear_requests()
    res = estate.run(extra={"rcl_certificate_force": True, "rcl_certificate_services": services}, limit="mix5",
                     timeout=300)
    assert res.rc == 0, res
    assert endpoints(estate).get("certifire.reissue") == 1, endpoints(estate)
    assert "revokes the live certificate" in res.out
    third = load(os.path.join(estate.cert_dir("mix5", CERTIFIRE), "cert.pem"))[0]
    assert third.serial_number != second.serial_number
    check_deployed(estate, "mix5", CERTIFIRE)


def test_state_host_carries_a_pending_order_across_controllers(estate: Estate) -> None:
    """AWX: each job runs in a fresh container. The state file's copy on rcl_certificate_state_host brings the
    pending order (its sealed token and key) to the next job, which resumes it without a new token."""
    name = ST_AWX
    keeper_dir = os.path.join(estate.workdir, "hosts", "keeper", "state")
    estate.add_host("keeper", [])
    estate.add_host("mix6", [{"name": name, "service": "servertastic", "challenge_type": "email",
                              "approver_email": "hostmaster@" + name}])
    job = {"rcl_certificate_state_host": "keeper", "rcl_certificate_state_host_dir": keeper_dir}
    controller_1 = os.path.join(estate.workdir, "job1-state")
    estate.clear_requests()
    res = estate.run(extra=dict(job, rcl_certificate_state_dir=controller_1, rcl_certificate_finalize_timeout=4),
                     limit="mix6")
    assert res.rc != 0, res
    assert stat.S_IMODE(os.stat(os.path.join(keeper_dir, "servertastic.json")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keeper_dir).st_mode) == 0o700
    with open(os.path.join(keeper_dir, "servertastic.json")) as fh:
        kept = fh.read()
    assert name in kept and "PRIVATE KEY" not in kept
    assert endpoints(estate).get("servertastic.generatetoken") == 1
    estate.sb.admin_call("POST", "/servertastic/approve", {"domain": name})
    estate.clear_requests()
    # the next job: a new controller directory (the first one is gone with its container)
    res = estate.run(extra=dict(job, rcl_certificate_state_dir=os.path.join(estate.workdir, "job2-state")),
                     limit="mix6")
    assert res.rc == 0, res
    assert "servertastic.generatetoken" not in endpoints(estate), endpoints(estate)
    check_deployed(estate, "mix6", name)
    # the state host's copy now holds the issued order (for the renewal and the key's next replacement)
    with open(os.path.join(keeper_dir, "servertastic.json")) as fh:
        assert json.load(fh)["certificates"][name].get("current")
