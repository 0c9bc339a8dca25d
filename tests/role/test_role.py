"""The rcl_certificate role against the emulator: 3 names over 4 hosts, V7, DNS-01 (nsupdate into BIND) and HTTP-01.

The tests of this module build on each other (first run, second run, check mode, forced renewal, failure)."""

from __future__ import annotations

import os
import stat
from typing import Any, Iterator

import pytest
from cryptography import x509

from cryptography.hazmat.primitives import serialization
from emuclient import key_matches, openssl_verify, sans
from roleharness import Estate

SAN = "example.test"                 # DNS SAN: example.test + *.example.test
WILDCARD = "*.example2.test"         # DNS wildcard
HTTP = "www.example2.test"           # HTTP-01
NAMES = (SAN, WILDCARD, HTTP)
HOSTS = {
    "web1": [{"name": SAN, "san": True, "reload": [], "notify": ["web reload"]}],
    "web2": [{"name": SAN, "san": True}, {"name": WILDCARD}],
    "web3": [{"name": HTTP, "challenge_type": "http", "owner": "nobody", "group": "nogroup", "mode": "0640"}],
    "web4": [{"name": WILDCARD, "notify": ["web reload"]}],
}
FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")


@pytest.fixture(scope="module")
def estate(sandbox: Any, collections_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    # The wildcard is not in the default seed: add it to the portal, due for renewal.
    sandbox.seed_cert(WILDCARD, root="example2.test", challenge="DNS", days=10)
    est = Estate(sandbox, collections_path, str(tmp_path_factory.mktemp("estate")))
    for host, certs in HOSTS.items():
        est.add_host(host, certs)
    est.clear_requests()
    yield est


def snapshot(est: Estate) -> dict[str, bytes]:
    found = {}
    for host in est.hosts:
        for root, _dirs, files in os.walk(est.host_dir(host)):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as fh:
                    found[path] = fh.read()
    return found


def txt(sb: Any, name: str) -> list[str]:
    return sb.query(name, "TXT")


def token_files(sb: Any) -> list[str]:
    path = os.path.join(sb.env["webroot"], ".well-known", "acme-challenge")
    return os.listdir(path) if os.path.isdir(path) else []


def load(path: str) -> list[x509.Certificate]:
    with open(path, "rb") as fh:
        return x509.load_pem_x509_certificates(fh.read())


def test_first_run_deploys_one_order_per_name(estate: Estate) -> None:
    res = estate.run()
    assert res.rc == 0, res
    assert all(res.changed(host) > 0 for host in HOSTS), res
    # one order and one finalize per name, however many hosts share it
    assert estate.count("v7.create_order") == {name: 1 for name in NAMES}, estate.requests()
    assert estate.count("v7.finalize") == {name: 1 for name in NAMES}
    # and one certificate read, before ordering: the finalize reply carries the certificate and its PFX
    assert estate.count("v7.get_certificate") == {name: 1 for name in NAMES}
    assert len(estate.requests()) == 3 * len(NAMES)
    expected_sans = {SAN: {SAN, "*." + SAN}, WILDCARD: {WILDCARD}, HTTP: {HTTP}}
    for host, certs in HOSTS.items():
        for cert in certs:
            directory = estate.cert_dir(host, cert["name"])
            assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
            leaf = load(os.path.join(directory, "cert.pem"))[0]
            chain = load(os.path.join(directory, "chain.pem"))
            assert load(os.path.join(directory, "fullchain.pem")) == [leaf] + chain
            openssl_verify(leaf, chain, estate.sb.env["acme_root_certs"])  # issued by Pebble, not the seed CA
            assert set(sans(leaf)) == expected_sans[cert["name"]]
            with open(os.path.join(directory, "privkey.pem"), "rb") as fh:
                key = serialization.load_pem_private_key(fh.read(), None)
            assert key_matches(key, leaf)
            modes = {name: stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) for name in FILES}
            public = 0o640 if host == "web3" else 0o644
            assert modes == {"cert.pem": public, "chain.pem": public, "fullchain.pem": public, "privkey.pem": 0o600}
            owner = os.stat(os.path.join(directory, "privkey.pem"))
            if host == "web3":
                import grp
                import pwd
                assert (pwd.getpwuid(owner.st_uid).pw_name, grp.getgrgid(owner.st_gid).gr_name) == ("nobody", "nogroup")
            else:
                assert (owner.st_uid, owner.st_gid) == (0, 0)
    # the two hosts sharing a name got the same certificate
    assert load(os.path.join(estate.cert_dir("web1", SAN), "cert.pem")) == \
        load(os.path.join(estate.cert_dir("web2", SAN), "cert.pem"))
    # challenges cleaned up
    assert txt(estate.sb, "_acme-challenge.example.test") == []
    assert txt(estate.sb, "_acme-challenge.example2.test") == []
    assert token_files(estate.sb) == []
    # handlers: notified where a file changed
    assert os.path.exists(os.path.join(estate.host_dir("web4"), "reloads"))
    assert os.path.exists(os.path.join(estate.host_dir("web1"), "reloads"))
    assert not os.path.exists(os.path.join(estate.host_dir("web3"), "reloads"))


def test_second_run_changes_nothing_and_makes_no_request(estate: Estate) -> None:
    estate.clear_requests()
    before = snapshot(estate)
    res = estate.run()
    assert res.rc == 0, res
    assert {host: res.changed(host) for host in HOSTS} == {host: 0 for host in HOSTS}, res
    assert estate.requests() == []
    assert snapshot(estate) == before
    print("converged run: %.1f s" % res.seconds)


def test_check_mode_on_a_fresh_host_changes_nothing(estate: Estate) -> None:
    estate.add_host("web5", [{"name": SAN, "san": True}, {"name": HTTP, "challenge_type": "http"}])
    try:
        estate.clear_requests()
        before = snapshot(estate)
        res = estate.run("converge.yml", "--check", "--diff")
        assert res.rc == 0, res
        assert res.changed("web5") == 1, res        # reported: would deploy
        assert "not deployed" in res.out
        assert all(res.changed(host) == 0 for host in HOSTS), res
        assert estate.requests() == []               # no order, not even a read
        assert not os.path.exists(estate.host_dir("web5"))
        assert snapshot(estate) == before
    finally:
        del estate.hosts["web5"]


def test_forced_renewal_orders_once_per_name(estate: Estate) -> None:
    estate.clear_requests()
    before = {host: load(os.path.join(estate.cert_dir(host, HOSTS[host][0]["name"]), "cert.pem"))[0].serial_number
              for host in HOSTS}
    res = estate.run(extra={"rcl_certificate_force": True})
    assert res.rc == 0, res
    assert estate.count("v7.create_order") == {name: 1 for name in NAMES}, estate.requests()
    assert estate.count("v7.finalize") == {name: 1 for name in NAMES}
    for host in HOSTS:
        leaf = load(os.path.join(estate.cert_dir(host, HOSTS[host][0]["name"]), "cert.pem"))[0]
        assert leaf.serial_number != before[host]
        # the replaced files were kept (backup: true)
        assert any(name.startswith("cert.pem.") for name in os.listdir(estate.cert_dir(host, HOSTS[host][0]["name"])))
    estate.clear_requests()
    again = estate.run()
    assert all(again.changed(host) == 0 for host in HOSTS), again
    assert estate.requests() == []


def test_finalize_failure_leaves_the_files_and_removes_the_records(estate: Estate) -> None:
    estate.clear_requests()
    before = snapshot(estate)
    fault = {"endpoint": "v7.finalize", "kind": "status", "status": 500, "count": 1}
    estate.sb.fault(**fault)
    try:
        res = estate.run(extra={"rcl_certificate_force": True})
    finally:
        estate.sb.clear_faults()
    assert res.rc != 0, res
    assert any(r["endpoint"] == "v7.finalize" and r["status"] == 500 for r in estate.requests())
    assert snapshot(estate) == before           # byte for byte, no backup file either
    assert txt(estate.sb, "_acme-challenge.example.test") == []
    assert txt(estate.sb, "_acme-challenge.example2.test") == []
    assert token_files(estate.sb) == []
    # the next normal run still finds the deployed files good: nothing to do, no request
    estate.clear_requests()
    res = estate.run()
    assert res.rc == 0 and all(res.changed(host) == 0 for host in HOSTS), res
    assert estate.requests() == []


def test_broken_key_on_one_host_is_fetched_not_ordered(estate: Estate) -> None:
    """A host whose key file was damaged gets the portal's (still valid) certificate: no new order."""
    path = os.path.join(estate.cert_dir("web4", WILDCARD), "privkey.pem")
    with open(path, "w") as fh:
        fh.write("garbage\n")
    estate.clear_requests()
    res = estate.run()
    assert res.rc == 0, res
    assert res.changed("web4") > 0 and res.changed("web2") == 0, res
    assert estate.count("v7.create_order") == {}
    assert [r["endpoint"] for r in estate.requests()] == ["v7.get_certificate"]  # its reply carries the PFX
    leaf = load(os.path.join(estate.cert_dir("web4", WILDCARD), "cert.pem"))[0]
    with open(path, "rb") as fh:
        assert key_matches(serialization.load_pem_private_key(fh.read(), None), leaf)
