"""DNS providers: Route 53 for real against moto's server, custom end to end through the role,
cloudflare and azure_dns in check mode for their argument wiring."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

from roleharness import HERE, PLAYBOOKS, Estate, run_ansible

MOTO_PORT = 39501
RECORDS = [
    {"name": "_acme-challenge.example.test", "values": ["value-apex", "value-wildcard"], "zone": "example.test",
     "record": "_acme-challenge", "provider": "x", "certificate_name": "example.test"},
    {"name": "_acme-challenge.www.example.test", "values": ["value-www"], "zone": "example.test",
     "record": "_acme-challenge.www", "provider": "x", "certificate_name": "www.example.test"},
]


def run_provider(collections: str, workdir: str, provider: str, step: str, extra: dict[str, Any],
                 check: bool = False) -> dict[str, Any]:
    result_file = os.path.join(workdir, "result-%s-%s-%d.json" % (provider, step, time.monotonic_ns()))
    variables = dict(extra, provider=provider, step=step, records=RECORDS, result_file=result_file)
    vars_file = result_file + ".vars.json"
    with open(vars_file, "w") as fh:
        json.dump(variables, fh)
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "@" + vars_file,
           os.path.join(PLAYBOOKS, "dns_provider.yml")]
    if check:
        cmd.insert(1, "--check")
    res = run_ansible(cmd, collections)
    assert res.rc == 0, res
    with open(result_file) as fh:
        return json.load(fh)


# -- Route 53 (moto) ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import boto3  # noqa: F401  pylint: disable=unused-import  # amazon.aws.route53 needs it; scripts/setup installs it
    log = open(str(tmp_path_factory.mktemp("moto") / "moto.log"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", MOTO_PORT), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start (see %s)" % log.name)
                time.sleep(0.2)
        yield "http://127.0.0.1:%d" % MOTO_PORT
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_route53_records_created_as_one_set_and_removed(moto: str, collections_path: str, tmp_path: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # botocore wants one; route53's own `region` is another thing

    client = boto3.client("route53", endpoint_url=moto, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    zone_id = client.create_hosted_zone(Name="example.test.", CallerReference=str(time.time()))["HostedZone"]["Id"]
    creds = {"rcl_certificate_route53": {"endpoint_url": moto, "access_key": "testing", "secret_key": "testing"}}

    def txt_sets() -> dict[str, list[str]]:
        sets = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return {s["Name"]: sorted(r["Value"] for r in s["ResourceRecords"]) for s in sets if s["Type"] == "TXT"}

    assert run_provider(collections_path, str(tmp_path), "route53", "create", creds) == {"failed": False}
    assert txt_sets() == {"_acme-challenge.example.test.": ['"value-apex"', '"value-wildcard"'],
                          "_acme-challenge.www.example.test.": ['"value-www"']}
    # idempotent: a second create changes nothing
    assert run_provider(collections_path, str(tmp_path), "route53", "create", creds) == {"failed": False}
    assert len(txt_sets()) == 2
    assert run_provider(collections_path, str(tmp_path), "route53", "cleanup", creds) == {"failed": False}
    assert txt_sets() == {}


# -- check mode wiring: cloudflare, azure_dns ------------------------------------------------

ARGUMENT_ERRORS = ("Unsupported parameters", "missing required arguments", "value of", "is not a valid",
                   "must be one of", "mutually exclusive", "unable to convert")


def _assert_reached_module(result: dict[str, Any], provider: str) -> None:
    """The module accepted its arguments (it may then fail to reach the service or lack its library)."""
    text = json.dumps(result)
    assert not any(err in text for err in ARGUMENT_ERRORS), text
    assert result.get("failed") is False or "msg" in result, text


@pytest.mark.parametrize("step", ["create", "cleanup"])
def test_cloudflare_wiring_in_check_mode(collections_path: str, tmp_path: Any, step: str) -> None:
    result = run_provider(collections_path, str(tmp_path), "cloudflare", step,
                          {"rcl_certificate_cloudflare_api_token": "not-a-real-token"}, check=True)
    _assert_reached_module(result, "cloudflare")
    # got as far as looking the zone up at the API (no network here): the arguments were wired right,
    # one call per TXT value (Cloudflare keeps one record per value)
    msgs = [item.get("msg", "") for item in result["results"]]
    assert len(msgs) == 3 and all("/zones?name=example.test" in msg for msg in msgs), msgs


@pytest.mark.parametrize("step", ["create", "cleanup"])
def test_azure_dns_wiring_in_check_mode(collections_path: str, tmp_path: Any, step: str) -> None:
    result = run_provider(collections_path, str(tmp_path), "azure_dns", step,
                          {"rcl_certificate_azure_resource_group": "rg-dns",
                           "rcl_certificate_azure_auth": {"subscription_id": "00000000-0000-0000-0000-000000000000",
                                                          "client_id": "client-id-1", "secret": "client-secret-1",
                                                          "tenant": "tenant-1"}}, check=True)
    _assert_reached_module(result, "azure_dns")
    # azure-mgmt-dns is not installed here: the module fails after accepting its arguments
    msgs = [item.get("msg", "") for item in result["results"]]
    assert len(msgs) == 2 and all("Failed to import" in msg for msg in msgs), msgs


def test_unknown_records_shape_is_refused(collections_path: str, tmp_path: Any) -> None:
    """Sanity check of the harness: a wrong argument is reported as such."""
    result = run_provider(collections_path, str(tmp_path), "azure_dns", "create",
                          {"rcl_certificate_azure_resource_group": "rg", "rcl_certificate_dns_ttl": "not-a-number"},
                          check=True)
    assert any(err in json.dumps(result) for err in ARGUMENT_ERRORS + ("int",)), result


# -- custom, end to end through the role -------------------------------------------------------

def test_custom_provider_end_to_end(sandbox: Any, collections_path: str, tmp_path: Any) -> None:
    est = Estate(sandbox, collections_path, str(tmp_path))
    log = os.path.join(str(tmp_path), "custom-dns.log")
    est.add_host("custom1", [{"name": "due.example.test", "dns_provider": "custom"}])
    est.vars.update(rcl_certificate_dns_custom_create_tasks=os.path.join(HERE, "files", "custom-dns-create.yml"),
                    rcl_certificate_dns_custom_cleanup_tasks=os.path.join(HERE, "files", "custom-dns-cleanup.yml"),
                    custom_dns_log=log)
    est.clear_requests()
    res = est.run()
    assert res.rc == 0, res
    assert est.count("v7.create_order") == {"due.example.test": 1}
    with open(log) as fh:
        lines = fh.read().splitlines()
    assert [line.split()[0] for line in lines] == ["create", "cleanup"], lines
    assert "zone=example.test record=_acme-challenge.due" in lines[0]
    assert sandbox.query("_acme-challenge.due.example.test", "TXT") == []
    assert os.path.exists(os.path.join(est.cert_dir("custom1", "due.example.test"), "fullchain.pem"))
