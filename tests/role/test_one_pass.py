"""One pass per host: the role checks each host in one module run and deploys each certificate as a unit.

Six hosts share one name, each with another file layout (every path left out once). The tests build on each other:
first run, converged run (module runs counted by a callback), drift, renewals (requests, backups), a failure at each
file of the deploy, a killed run's leftovers, the key material in hostvars, and the collection of names at 500
hosts.
"""

from __future__ import annotations

import glob
import json
import os
import stat
import subprocess
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from emuclient import key_matches
from roleharness import PLAYBOOKS, Estate, run_ansible

NAME = "layout.example.test"
# host -> the paths it leaves out ('' deploys no such file); pfx_path is left out unless set
LAYOUTS: dict[str, dict[str, str]] = {
    "full": {},
    "no-cert": {"certificate_path": ""},
    "no-chain": {"chain_path": ""},
    "no-fullchain": {"fullchain_path": ""},
    "no-key": {"privatekey_path": ""},
    "no-pfx": {},
}
FILE_NAMES = {"certificate_path": "cert.pem", "chain_path": "chain.pem", "fullchain_path": "fullchain.pem",
              "privatekey_path": "privkey.pem", "pfx_path": "cert.pfx"}


def entry(est: Estate, host: str) -> dict[str, Any]:
    item: dict[str, Any] = {"name": NAME}
    if host != "no-pfx":
        item["pfx_path"] = os.path.join(est.cert_dir(host, NAME), "cert.pfx")
    item.update(LAYOUTS[host])
    return item


def paths(est: Estate, host: str) -> dict[str, str]:
    """option -> path of the files the host holds."""
    item = entry(est, host)
    return {option: os.path.join(est.cert_dir(host, NAME), file_name) for option, file_name in FILE_NAMES.items()
            if item.get(option, None if option == "pfx_path" else "default") not in ("", None)}


@pytest.fixture(scope="module")
def estate(sandbox: Any, collections_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    sandbox.seed_cert(NAME, root="example.test", challenge="DNS", days=60)  # good in the portal
    est = Estate(sandbox, collections_path, str(tmp_path_factory.mktemp("one-pass")))
    for host in LAYOUTS:
        est.add_host(host, [entry(est, host)])
    est.vars["rcl_certificate_pfx_password"] = "pfx-secret-1234"
    est.vars.update(rcl_certificate_owner="root", rcl_certificate_group="root")  # wanted: drift is measured from it
    est.clear_requests()
    yield est


def leaf_and_key(est: Estate, host: str) -> tuple[x509.Certificate, Any]:
    files = paths(est, host)
    if "privatekey_path" in files:
        with open(files["privatekey_path"], "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), None)
    else:
        with open(files["pfx_path"], "rb") as fh:
            key = pkcs12.load_key_and_certificates(fh.read(), b"pfx-secret-1234")[0]
    pem = files.get("certificate_path") or files["fullchain_path"]
    with open(pem, "rb") as fh:
        leaf = x509.load_pem_x509_certificates(fh.read())[0]
    return leaf, key


def snapshot(est: Estate) -> dict[str, bytes]:
    found = {}
    for host in est.hosts:
        for root, _dirs, files in os.walk(est.host_dir(host)):
            for name in files:
                with open(os.path.join(root, name), "rb") as fh:
                    found[os.path.join(root, name)] = fh.read()
    return found


def leftovers(est: Estate) -> list[str]:
    return [path for host in est.hosts for path in glob.glob(os.path.join(est.host_dir(host), "**", ".*.rcl-*"),
                                                             recursive=True)]


def test_first_run_deploys_every_layout_with_one_request(estate: Estate) -> None:
    res = estate.run("converge_dump.yml", count_module_runs=True)
    assert res.rc == 0, res
    # the portal's certificate is good: one read, whose reply carries the PFX; nothing ordered
    assert [r["endpoint"] for r in estate.requests()] == ["v7.get_certificate"], estate.requests()
    for host in LAYOUTS:
        assert res.changed(host) > 0, res
        leaf, key = leaf_and_key(estate, host)
        assert key_matches(key, leaf), host
        assert sorted(os.listdir(estate.cert_dir(host, NAME))) == sorted(
            [FILE_NAMES[o] for o in paths(estate, host)] + [
                "." + ("cert.pem" if "certificate_path" in paths(estate, host) else "fullchain.pem") + ".rcl.json"])
        # check + deploy: two module runs on each host, whatever the number of files
        assert res.module_runs[host] == 2, res.module_runs
    # the controller: one tempfile, two rcl_obtain (order; finish skipped: nothing ordered), one file removal
    assert res.module_runs.get("localhost", 0) <= 4, res.module_runs


def test_no_key_material_in_hostvars_after_the_role(estate: Estate) -> None:
    dump = os.path.join(estate.workdir, "hostvars.json")
    with open(dump) as fh:
        text = fh.read()
    assert json.loads(text)  # written by the play after the role
    _leaf, key = leaf_and_key(estate, "full")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    body = "".join(pem.strip().splitlines()[1:-1])
    assert "PRIVATE KEY" not in text and body[:40] not in text
    with open(paths(estate, "full")["pfx_path"], "rb") as fh:
        import base64
        assert base64.b64encode(fh.read()).decode()[:40] not in text


def test_converged_run_is_one_module_run_per_host_and_no_request(estate: Estate) -> None:
    estate.clear_requests()
    before = snapshot(estate)
    res = estate.run(count_module_runs=True)
    assert res.rc == 0, res
    assert {host: res.changed(host) for host in LAYOUTS} == {host: 0 for host in LAYOUTS}, res
    assert estate.requests() == []
    assert snapshot(estate) == before
    assert {host: res.module_runs.get(host, 0) for host in LAYOUTS} == {host: 1 for host in LAYOUTS}, res.module_runs
    assert "localhost" not in res.module_runs, res.module_runs  # nothing runs on the controller either


def test_mode_and_owner_drift_is_fixed_without_a_request(estate: Estate) -> None:
    key = paths(estate, "full")["privatekey_path"]
    cert = paths(estate, "no-chain")["certificate_path"]
    os.chmod(key, 0o644)
    os.chown(cert, 65534, 65534)
    estate.clear_requests()
    res = estate.run(count_module_runs=True)
    assert res.rc == 0, res
    assert res.changed("full") == 1 and res.changed("no-chain") == 1 and res.changed("no-cert") == 0, res
    assert estate.requests() == []
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert (os.stat(cert).st_uid, os.stat(cert).st_gid) == (0, 0)
    assert res.module_runs["full"] == 1


def test_renewal_costs_three_requests_and_backups_stay_bounded(estate: Estate) -> None:
    for _round in range(3):
        estate.clear_requests()
        res = estate.run(extra={"rcl_certificate_force": True})
        assert res.rc == 0, res
        endpoints = [r["endpoint"] for r in estate.requests()]
        # force: order without a read; the read that guards against finalizing twice; finalize, whose reply
        # carries the certificate and PFX: 3
        assert endpoints == ["v7.create_order", "v7.get_certificate", "v7.finalize"], endpoints
    for host in LAYOUTS:
        directory = estate.cert_dir(host, NAME)
        leaf, key = leaf_and_key(estate, host)
        assert key_matches(key, leaf)
        for option, path in paths(estate, host).items():
            backups = glob.glob(path + ".*~")
            assert len(backups) == 1, (path, os.listdir(directory))  # rcl_certificate_backup_keep: 1
            mode = stat.S_IMODE(os.stat(backups[0]).st_mode)
            assert mode == (0o600 if option in ("privatekey_path", "pfx_path") else 0o644), (backups[0], oct(mode))
    # a renewal that reads first (not forced): the portal's certificate expires within remaining_days
    estate.clear_requests()
    res = estate.run(extra={"rcl_certificate_remaining_days": 400})
    assert res.rc == 0, res
    assert [r["endpoint"] for r in estate.requests()] == ["v7.get_certificate", "v7.create_order", "v7.finalize"]


def _immutable(path: str, on: bool) -> None:
    proc = subprocess.run(["chattr", "+i" if on else "-i", path], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "chattr is needed for this test (ext4 or similar): %s" % proc.stderr


def test_a_failure_at_any_file_leaves_cert_and_key_matching(estate: Estate) -> None:
    """On each host another file cannot be replaced (immutable): that host fails, its set stays the old one.

    The chain file is not among them: a renewal by the same CA gives the same chain, which is not rewritten.
    The deployment record, written last, is (host no-fullchain): every file was replaced when it fails."""
    broken = {"full": "pfx_path", "no-cert": "privatekey_path", "no-chain": "fullchain_path",
              "no-fullchain": "record", "no-key": "certificate_path"}

    def target(host: str, option: str) -> str:
        if option == "record":
            return os.path.join(estate.cert_dir(host, NAME), ".cert.pem.rcl.json")
        return paths(estate, host)[option]

    before = snapshot(estate)
    for host, option in broken.items():
        _immutable(target(host, option), True)
    try:
        res = estate.run(extra={"rcl_certificate_force": True, "rcl_certificate_remaining_days": 30})
    finally:
        for host, option in broken.items():
            _immutable(target(host, option), False)
    assert res.rc != 0, res
    assert res.recap["no-pfx"]["failed"] == 0 and res.changed("no-pfx") > 0, res
    now = snapshot(estate)
    for host in broken:
        assert res.recap[host]["failed"] == 1, res
        assert "Operation not permitted" in res.out
        files = {p: c for p, c in now.items() if p.startswith(estate.cert_dir(host, NAME) + os.sep) and "~" not in p}
        assert files == {p: c for p, c in before.items() if p in files}, host  # byte for byte the old set
        leaf, key = leaf_and_key(estate, host)
        assert key_matches(key, leaf)
    assert leftovers(estate) == []
    # the next run finds every host's set whole and valid: nothing to do, no request
    estate.clear_requests()
    res = estate.run()
    assert res.rc == 0 and all(res.changed(host) == 0 for host in LAYOUTS), res
    assert estate.requests() == []


def test_a_killed_deploy_is_repaired_by_the_next_run(estate: Estate) -> None:
    """What a run killed in the middle of a commit leaves: a new certificate with the old key, a temporary
    file and an internal backup. The next run puts a whole set back, with one read, and removes them."""
    files = paths(estate, "full")
    directory = estate.cert_dir("full", NAME)
    older = glob.glob(files["certificate_path"] + ".*~")[0]  # the certificate before the last renewal
    with open(older, "rb") as src, open(files["certificate_path"], "rb") as now:
        assert src.read() != now.read()
    with open(older, "rb") as src, open(files["certificate_path"], "wb") as dst:
        dst.write(src.read())
    for leftover in (".cert.pem.rcl-ab12cd34", ".privkey.pem.rcl-orig-zz99yy88"):
        with open(os.path.join(directory, leftover), "w") as fh:
            fh.write("partial")
    estate.clear_requests()
    res = estate.run()
    assert res.rc == 0, res
    assert [r["endpoint"] for r in estate.requests()] == ["v7.get_certificate"]
    assert res.changed("full") > 0 and res.changed("no-chain") == 0, res
    leaf, key = leaf_and_key(estate, "full")
    assert key_matches(key, leaf)
    assert leftovers(estate) == []
    estate.clear_requests()
    res = estate.run()
    assert res.rc == 0 and all(res.changed(host) == 0 for host in LAYOUTS), res
    assert estate.requests() == []


def test_collecting_the_names_of_500_hosts_takes_seconds(collections_path: str, tmp_path: Any) -> None:
    """The role's collection task (tasks/collect.yml) over 500 hosts holding 10 names each, 1 in 7 needing one."""
    hosts = {}
    for index in range(500):
        specs = [{"name": "n%d.example.test" % n, "root_domain": "example.test", "challenge_type": "dns", "san": False,
                  "pfx": n == 3, "files": []} for n in range(10)]
        hosts["h%03d" % index] = {
            "ansible_connection": "local", "__rcl_certificate_specs": specs,
            "__rcl_certificate_check": {"changed": False,
                                        "needs_content": ["n%d.example.test" % (index % 10)] if index % 7 == 0 else []}}
    inventory = str(tmp_path / "inventory.json")
    with open(inventory, "w") as fh:
        json.dump({"all": {"hosts": hosts}}, fh)
    res = run_ansible(["ansible-playbook", "-i", inventory, os.path.join(PLAYBOOKS, "collect_timing.yml")],
                      collections_path, timeout=300)
    assert res.rc == 0, res
    line = [text for text in res.out.splitlines() if "COLLECTED" in text][0]
    seconds, names, pfx = line.split("COLLECTED", 1)[1].strip().strip('"').split()
    assert (int(names), pfx) == (10, "n3.example.test"), line
    print("collection at 500 hosts: %s s" % seconds)
    assert float(seconds) < 5.0, line
