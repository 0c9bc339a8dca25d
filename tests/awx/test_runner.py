"""The role as AWX / Automation Controller runs it: docs/examples/awx/certificates.yml through ansible-runner,
with the RCL SSL API credentials only from the example credential type's injectors, rendered as AWX renders them.

The first tests check the credential types and this suite's own tools (AWX's validation, the renderer, the
secret scanner); the job tests build on each other: a first job converges two hosts (V7, DNS-01 through
nsupdate), a second job on a fresh controller disk finds them converged with no API request, a third job with
a V6 credential deploys a good portal certificate to a third host. Every job runs at -vvvv and everything it
left behind is searched for every secret."""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import stat
import textwrap
from typing import Any, Iterator

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from awxharness import (EXAMPLES, ROOT, Job, Scan, b64_slice, credential_input_errors, credential_type_errors,
                        inject, load_yaml, pem_body_line, run_job, scan_tree, store_secrets)
from emuclient import Sandbox, key_matches, openssl_verify, sans

PLAYBOOK = os.path.join(EXAMPLES, "certificates.yml")
GUIDE = os.path.join(ROOT, "docs", "docsite", "rst", "guide_awx.rst")
V7_NAME = "due.example.test"     # seeded, DNS-01, 10 days left: renewed by the first job (read, order, finalize)
V6_NAME = "fresh.example.test"   # seeded, DNS-01, 80 days left: the portal's certificate is good (token + read)
FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")
# Printed at the end (pytest -s): what each job's scan covered.
SUMMARY: dict[str, str] = {}


# -- the credential types -----------------------------------------------------------------------------------
def test_credential_types_are_what_awx_accepts(credential_types: dict[str, Any]) -> None:
    for ct in credential_types.values():
        assert credential_type_errors(ct) == [], ct["name"]
    # The check can fail: what AWX refuses is refused here too.
    broken = copy.deepcopy(credential_types["rcl"])
    broken["injectors"]["env"]["RCL_API_KEY"] = "{{ api_token }}"                      # no such field
    broken["injectors"]["env"]["ANSIBLE_CONFIG"] = "{{ api_url }}"                     # reserved
    broken["injectors"]["env"]["RCL_CA_PATH"] = "{{ tower.filename.ca }}"              # no such file template
    broken["inputs"]["fields"].append({"id": "flag", "label": "Flag", "type": "boolean", "secret": True})
    errors = "\n".join(credential_type_errors(broken))
    for expected in ("api_token", "ANSIBLE_CONFIG", "RCL_CA_PATH", "secret not allowed for boolean"):
        assert expected in errors, errors


def test_credential_type_matches_the_modules_options(credential_types: dict[str, Any]) -> None:
    """Every connection option with an RCL_* fallback has its field and its injector; secrets are the no_log ones."""
    from ansible_collections.rcl.ssl.plugins.module_utils._common import connection_argspec

    spec = connection_argspec().argument_spec
    # This type is RCL SSL's: the other services' own options come from credential types of their own (below).
    others = {"service", "api_username", "api_password"}
    fallbacks = {option: s["fallback"][1][0] for option, s in spec.items() if s.get("fallback") and option not in others}
    ct = credential_types["rcl"]
    env = ct["injectors"]["env"]
    fields = {f["id"]: f for f in ct["inputs"]["fields"]}
    assert set(env) == set(fallbacks.values())
    for option, var in fallbacks.items():
        field_id = "ca_bundle" if option == "ca_path" else option   # a file: the CA bundle's text, not a path
        assert field_id in fields, option
        assert bool(fields[field_id].get("secret")) == bool(spec[option].get("no_log")), option
        if option != "ca_path":
            assert env[var] == "{{ %s }}" % option
    assert sorted(fields["api_version"]["choices"]) == sorted(spec["api_version"]["choices"])
    assert fields["api_version"]["default"] == fields["api_version"]["choices"][0] == spec["api_version"]["default"]
    assert set(ct["inputs"]["required"]) == {"api_version", "subscription_id"}
    # the doc fragment documents the same variables
    with open(os.path.join(ROOT, "plugins", "doc_fragments", "rcl.py")) as fh:
        documented = set(re.findall(r"E\((RCL_[A-Z_]+)\)", fh.read()))
    service_env = {spec[o]["fallback"][1][0] for o in others} | {"RCL_STATE_DIR", "RCL_STATE_PASSPHRASE"}
    assert documented == set(env) | service_env
    # Certifire's and Servertastic's types inject extra variables of their own; their secrets are secret fields
    for name, secrets in (("certifire", {"api_password"}), ("servertastic", {"api_key", "state_passphrase"})):
        other = load_yaml(os.path.join(ROOT, "docs", "examples", "awx", "credential_type_%s.yml" % name))
        other_fields = {f["id"]: f for f in other["inputs"]["fields"]}
        assert {f for f, v in other_fields.items() if v.get("secret")} == secrets, name
        assert other["injectors"]["extra_vars"] == {"%s_%s" % (name, f): "{{ %s }}" % f for f in other_fields}
        assert "env" not in other["injectors"], name  # RCL_API_KEY would collide with RCL SSL's credential
    # the TSIG key type sets the role's own variables, with the role's choices
    role = load_yaml(os.path.join(ROOT, "roles", "rcl_certificate", "meta", "argument_specs.yml"))
    options = role["argument_specs"]["main"]["options"]
    tsig = credential_types["tsig"]
    for var in tsig["injectors"]["extra_vars"]:
        assert var in options, var
    algorithm = {f["id"]: f for f in tsig["inputs"]["fields"]}["key_algorithm"]
    assert set(algorithm["choices"]) <= set(options["rcl_certificate_nsupdate_key_algorithm"]["choices"])
    assert algorithm["default"] == options["rcl_certificate_nsupdate_key_algorithm"]["default"]


def test_guide_shows_the_credential_types_as_shipped(credential_types: dict[str, Any]) -> None:
    with open(GUIDE) as fh:
        text = fh.read()
    blocks = []
    for match in re.finditer(r"^\.\. code-block:: yaml\n((?:\n|   .*\n)+)", text, re.M):
        blocks.append(yaml_or_none(textwrap.dedent(match.group(1))))
    for ct in credential_types.values():
        shown = {"inputs": ct["inputs"], "injectors": ct["injectors"]}
        assert any(isinstance(b, dict) and {k: b.get(k) for k in ("inputs", "injectors")} == shown for b in blocks), \
            ct["name"]


def yaml_or_none(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


# -- this suite's tools ---------------------------------------------------------------------------------------
def test_injection_follows_awx(tmp_path: Any, credential_types: dict[str, Any]) -> None:
    rcl, tsig = credential_types["rcl"], credential_types["tsig"]
    # V7 without a CA bundle: every variable is set, the empty ones to "" (the modules take "" as not set).
    got = inject(rcl, {"api_version": "v7", "subscription_id": "sub_1", "api_key": "k" * 12}, str(tmp_path))
    assert got.env == {"RCL_API_VERSION": "v7", "RCL_API_URL": "", "RCL_SUBSCRIPTION_ID": "sub_1",
                       "RCL_API_KEY": "k" * 12, "RCL_CLIENT_ID": "", "RCL_CLIENT_SECRET": "", "RCL_TENANT_ID": "",
                       "RCL_TOKEN_URL": "", "RCL_CA_PATH": ""}
    empty = got.files["template.ca_bundle"]           # AWX writes the file anyway; nothing points at it
    assert os.path.dirname(empty) == str(tmp_path / "env") and os.path.getsize(empty) == 0
    assert stat.S_IMODE(os.stat(empty).st_mode) == 0o600
    # With a CA bundle: RCL_CA_PATH names the file holding it.
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    got = inject(rcl, {"api_version": "v7", "subscription_id": "sub_1", "api_key": "k" * 12, "ca_bundle": pem},
                 str(tmp_path))
    with open(got.env["RCL_CA_PATH"]) as fh:
        assert fh.read() == pem
    # The TSIG key: extra variables in a file passed with -e, every string !unsafe (never templated).
    got = inject(tsig, {"key_name": "acme", "key_secret": "c2VjcmV0{{ x }}", "key_algorithm": "hmac-sha256"},
                 str(tmp_path))
    assert got.env == {} and got.args[0] == "-e" and got.args[1].startswith("@" + str(tmp_path / "env"))
    with open(got.args[1][1:]) as fh:
        text = fh.read()
    assert "!unsafe 'rcl_certificate_nsupdate_key_secret': !unsafe 'c2VjcmV0{{ x }}'" in text
    # What AWX refuses in a credential.
    assert credential_input_errors(rcl, {"api_version": "v9", "api_key": "k"}) == [
        "api_version: 'v9' is not one of ['v7', 'v6', 'v8']", "subscription_id is required by RCL SSL API"]


def test_scanner_finds_planted_secrets(tmp_path: Any) -> None:
    """The scan can fail: secrets planted in job events (JSON-escaped), stdout and a stray file are found; the
    runner's env dumps are reported apart."""
    ident = "job"
    key_line = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg" + "A1b2C3d4E5f6G7h8"
    canaries = {"api key": "3f1c2a9e-7b4d-4e8a", "private key": key_line, "short": "abc"}
    layout = {
        "env/envvars": "RCL_API_KEY: 3f1c2a9e-7b4d-4e8a\n",
        "artifacts/job/command": json.dumps({"env": {"RCL_API_KEY": "3f1c2a9e-7b4d-4e8a"}}),
        "artifacts/job/job_events/1-a.json": json.dumps({"stdout": "x\n" + key_line + "\ny"}),
        "artifacts/job/job_events/2-b.json": json.dumps({"event_data": {"res": {
            "url": "https://h/download/Zx9_-abcdEFGH/f.pfx"}}}),
        "artifacts/job/stdout": "Authorization: Bearer abcdefgh1234\n",
        "artifacts/job/job_events/3-c.json": json.dumps({"stdout": "ok: [web1] abc"}),
        "scratch/tmp/rcl_certificate.x/key.pem": "-----BEGIN PRIVATE KEY-----\n",
    }
    for rel, text in layout.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    scan = scan_tree(str(tmp_path), ident, canaries, {"runner stdout": "token eyJhbGciOiJSUzI1.eyJzdWIiOiIx.sig"})
    assert scan.files == 7 and scan.job_events == 3
    assert scan.allowed == {"env/envvars": ["api key"], "artifacts/job/command": ["api key"]}
    assert scan.hits == {"artifacts/job/job_events/1-a.json": ["private key"],
                         "artifacts/job/job_events/2-b.json": ["download URL"],
                         "artifacts/job/stdout": ["bearer token"],
                         "scratch/tmp/rcl_certificate.x/key.pem": ["private key PEM"],
                         "runner stdout": ["JWT (access token)"]}   # "abc" is too short to search for


# -- jobs -------------------------------------------------------------------------------------------------------
class Awx:
    """The controller's side of the story: credentials, the inventory, the jobs run so far."""

    def __init__(self, sandbox: Sandbox, collections: str, types: dict[str, Any], base: str) -> None:
        self.sb = sandbox
        self.collections = collections
        self.types = types
        self.base = base
        env = sandbox.env
        with open(env["ca_path"]) as fh:
            ca_bundle = fh.read()
        # The credentials a controller admin would create; values from the sandbox.
        self.v7 = {"api_version": "v7", "api_url": env["v7_url"], "subscription_id": env["subscription_id"],
                   "api_key": env["api_key"], "ca_bundle": ca_bundle}
        self.v6 = {"api_version": "v6", "api_url": env["v6_url"], "subscription_id": env["subscription_id"],
                   "client_id": env["client_id"], "client_secret": env["client_secret"],
                   "tenant_id": env["tenant_id"], "token_url": env["token_url"], "ca_bundle": ca_bundle}
        self.tsig = {"key_name": env["tsig_key_name"], "key_secret": env["tsig_key_secret"],
                     "key_algorithm": env["tsig_algorithm"]}
        # Password of the deployed PFX files: job extra variables (in AWX: a vault or a credential of its own).
        self.pfx_password = "awx-pfx-" + secrets.token_hex(8)
        self.hosts: dict[str, list[dict[str, Any]]] = {}

    def host_dir(self, host: str) -> str:
        return os.path.join(self.base, "hosts", host)

    def cert_dir(self, host: str, name: str) -> str:
        return os.path.join(self.host_dir(host), "ssl", name)

    def inventory(self) -> dict[str, Any]:
        """Group webservers: local hosts, each with its own directory; the role's DNS settings as group variables
        (an AWX inventory's variables). No credential in here."""
        env = self.sb.env
        group_vars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "rcl_certificate_dns_provider": "nsupdate",
            "rcl_certificate_nsupdate_server": env["dns_server"],
            "rcl_certificate_nsupdate_port": env["dns_port"],
            "rcl_certificate_dns_servers": [env["dns_server"]],
            "rcl_certificate_dns_wait_timeout": 30,
            "rcl_certificate_finalize_timeout": 60,
        }
        hosts = {host: {"rcl_certificate_base_dir": os.path.join(self.host_dir(host), "ssl"),
                        "rcl_certificate_certificates": certs} for host, certs in self.hosts.items()}
        return {"all": {"children": {"webservers": {"vars": group_vars, "hosts": hosts}}}}

    def run(self, ident: str, credential: dict[str, Any]) -> Job:
        self.sb.admin_call("DELETE", "/requests")
        return run_job(ident, os.path.join(self.base, "jobs"), self.sb, self.collections, PLAYBOOK,
                       [(self.types["rcl"], credential), (self.types["tsig"], self.tsig)], self.inventory(),
                       extravars={"rcl_certificate_pfx_password": self.pfx_password})

    def requests(self) -> list[str]:
        return [r["endpoint"] for r in self.sb.admin_call("GET", "/requests")]

    def canaries(self) -> dict[str, str]:
        """Every secret there is: the emulator's (keys, client secrets, tokens, passwords, keys, PFX files, download
        tokens), the TSIG key, the PFX password of the role, and what was deployed (keys, PFX files)."""
        found = store_secrets(self.sb)
        found["TSIG key secret"] = self.sb.env["tsig_key_secret"]
        found["role PFX password"] = self.pfx_password
        for host, certs in self.hosts.items():
            for cert in certs:
                directory = self.cert_dir(host, cert["name"])
                key = os.path.join(directory, "privkey.pem")
                if os.path.exists(key):
                    with open(key) as fh:
                        found["deployed key %s/%s" % (host, cert["name"])] = pem_body_line(fh.read())
                if cert.get("pfx_path") and os.path.exists(cert["pfx_path"]):
                    with open(cert["pfx_path"], "rb") as fb:
                        found["deployed PFX %s/%s" % (host, cert["name"])] = b64_slice(fb.read())
        return found

    def check_job(self, job: Job) -> Scan:
        """Common to every job: the job saw the injected RCL_* variables and no other; nothing stayed on the
        controller's scratch disk; no secret anywhere in what the job left behind."""
        rcl_env = {k: v for k, v in job.job_env.items() if k.startswith("RCL_")}
        assert rcl_env == job.injected.env
        assert not any(k in job.job_env for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"))
        tmp = os.path.join(job.private_data_dir, "scratch", "tmp")
        assert [n for n in os.listdir(tmp) if n.startswith("rcl_certificate")] == []
        canaries = self.canaries()
        # The secrets this job was given are canaries long enough to search for (the scanner drops short ones).
        given = [v for k, v in job.injected.env.items() if k in ("RCL_API_KEY", "RCL_CLIENT_SECRET") and v]
        given += [self.sb.env["tsig_key_secret"], self.pfx_password]
        assert given and all(len(v) >= 8 and v in canaries.values() for v in given), "a given secret is no canary"
        scan = scan_tree(job.private_data_dir, job.ident, canaries, {"runner stdout": job.stdout})
        assert scan.hits == {}, scan.hits
        assert scan.job_events > 20
        SUMMARY[job.ident] = ("%.1f s, %d job events + %d other files scanned for %d secrets and %d patterns: "
                              "%d hits; allowed (runner's inputs and env dump): %s"
                              % (job.seconds, scan.job_events, scan.files - scan.job_events,
                                 len([v for v in canaries.values() if len(v) >= 8]), 4, scan.total(),
                                 {k: len(v) for k, v in scan.allowed.items()}))
        return scan


@pytest.fixture(scope="module")
def awx(sandbox: Sandbox, collections_path: str, credential_types: dict[str, Any],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Awx]:
    controller = Awx(sandbox, collections_path, credential_types, str(tmp_path_factory.mktemp("awx")))
    pfx = os.path.join(controller.cert_dir("web1", V7_NAME), "bundle.pfx")
    controller.hosts = {"web1": [{"name": V7_NAME, "pfx_path": pfx}], "web2": [{"name": V7_NAME}]}
    yield controller
    print("\n" + "\n".join("%s: %s" % item for item in SUMMARY.items()))


def load(path: str) -> list[x509.Certificate]:
    with open(path, "rb") as fh:
        return x509.load_pem_x509_certificates(fh.read())


def verify_deployed(awx: Awx, host: str, name: str, roots: str) -> x509.Certificate:
    directory = awx.cert_dir(host, name)
    leaf = load(os.path.join(directory, "cert.pem"))[0]
    chain = load(os.path.join(directory, "chain.pem"))
    assert load(os.path.join(directory, "fullchain.pem")) == [leaf] + chain
    openssl_verify(leaf, chain, roots)
    assert sans(leaf) == [name]
    with open(os.path.join(directory, "privkey.pem"), "rb") as fh:
        assert key_matches(serialization.load_pem_private_key(fh.read(), None), leaf)
    assert stat.S_IMODE(os.stat(os.path.join(directory, "privkey.pem")).st_mode) == 0o600
    return leaf


def snapshot(awx: Awx) -> dict[str, bytes]:
    found = {}
    for root, _dirs, files in os.walk(os.path.join(awx.base, "hosts")):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                found[os.path.join(root, name)] = fh.read()
    return found


def test_first_job_converges_the_hosts(awx: Awx) -> None:
    job = awx.run("job-1-v7", awx.v7)
    assert job.rc == 0 and job.status == "successful", job
    assert job.changed("web1") > 0 and job.changed("web2") > 0, job
    # one certificate read, one order, one finalize for the name both hosts hold
    assert awx.requests() == ["v7.get_certificate", "v7.create_order", "v7.finalize"]
    leaf = verify_deployed(awx, "web1", V7_NAME, awx.sb.env["acme_root_certs"])  # issued by Pebble now
    assert verify_deployed(awx, "web2", V7_NAME, awx.sb.env["acme_root_certs"]) == leaf
    with open(awx.hosts["web1"][0]["pfx_path"], "rb") as fh:
        key, cert, _extra = pkcs12.load_key_and_certificates(fh.read(), awx.pfx_password.encode())
    assert cert == leaf and key is not None and key_matches(key, leaf)
    assert awx.sb.query("_acme-challenge.%s" % V7_NAME, "TXT") == []                 # cleaned up
    awx.check_job(job)


def test_second_job_on_a_fresh_controller_makes_no_request(awx: Awx) -> None:
    """A new private data directory, HOME and TMPDIR: nothing of the first job is left on the controller's side,
    and the hosts' deployment records are all the role needs."""
    before = snapshot(awx)
    job = awx.run("job-2-v7", awx.v7)
    assert job.rc == 0 and job.status == "successful", job
    assert job.changed("web1") == 0 and job.changed("web2") == 0 and not job.stats.get("failures"), job
    assert awx.requests() == []
    assert snapshot(awx) == before
    awx.check_job(job)


def test_v6_credential_deploys_a_good_portal_certificate(awx: Awx) -> None:
    """Another credential of the same type (V6: client id, secret, tenant, token URL; no API key): a new host gets
    the portal's certificate as it is, the converged hosts make no request."""
    awx.hosts["web3"] = [{"name": V6_NAME}]
    before = snapshot(awx)
    job = awx.run("job-3-v6", awx.v6)
    assert job.rc == 0 and job.status == "successful", job
    assert job.injected.env["RCL_API_KEY"] == "" and job.injected.env["RCL_CLIENT_SECRET"]
    assert job.changed("web3") > 0, job
    # web1 and web2 are converged: what changed in their name is the controller's work for the play (run_once on
    # the first host: the material directory, created and removed), not their files
    for host in ("web1", "web2"):
        assert {where for _task, where in job.changed_tasks(host)} <= {"localhost"}, job.changed_tasks(host)
    assert {k: v for k, v in snapshot(awx).items() if "/web3/" not in k} == before
    assert awx.requests() == ["token", "v6.get_certificate"]
    verify_deployed(awx, "web3", V6_NAME, awx.sb.env["seed_roots"])                # the seeded certificate
    awx.check_job(job)
