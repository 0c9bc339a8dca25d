"""AWX's side of a job, reproduced for the tests: credential types checked and rendered as AWX does it,
jobs run through ansible-runner, and a scan of everything a job left behind for secrets.

Sources followed (ansible/awx at e21dd0a0933f, 2024-10-23):
- awx/main/fields.py: CredentialTypeInputField / CredentialTypeInjectorField (schemas, template check with
  StrictUndefined over 'EXAMPLE' values), CredentialInputField (choices, defaults);
- awx/main/models/credential.py: CredentialType.inject_credential (the rendering below);
- awx/main/utils/safe_yaml.py: safe_dump (credential extra_vars are written `!unsafe`);
- awx/main/constants.py: ENV_BLOCKLIST; awx/main/models/unified_jobs.py: `required` is checked at job start.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shlex
import sqlite3
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "docs", "examples", "awx")
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator", "tests"))

from emuclient import Sandbox  # noqa: E402

# Our own ports and DNS address (role 39443.. 127.0.0.5, integration 51443.. 127.0.0.6, benchmark 49443..
# 127.0.0.7, molecule 39843.. 127.0.0.9, emulator tests 19443/29443.. 127.0.0.3/.4).
AWX_PORTS = [
    "--api-port", "58443", "--admin-port", "58444", "--http01-port", "58502",
    "--pebble-port", "58000", "--pebble-mgmt-port", "58001", "--dns-addr", "127.0.0.11",
    "--setting", "validation_timeout=8", "--setting", "key_type=ec256",
]
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def load_yaml(path: str) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


# -- what AWX accepts as a credential type ---------------------------------------------------------------
INPUTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required": {"type": "array", "items": {"type": "string"}},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"enum": ["string", "boolean"]},
                    "format": {"enum": ["ssh_private_key", "url"]},
                    "choices": {"type": "array", "minItems": 1, "items": {"type": "string"}, "uniqueItems": True},
                    "id": {"type": "string", "pattern": "^[a-zA-Z_]+[a-zA-Z0-9_]*$"},
                    "label": {"type": "string"},
                    "help_text": {"type": "string"},
                    "multiline": {"type": "boolean"},
                    "secret": {"type": "boolean"},
                    "ask_at_runtime": {"type": "boolean"},
                    "default": {},
                },
                "additionalProperties": False,
                "required": ["id", "label"],
            },
        },
    },
}
INJECTORS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file": {"type": "object", "patternProperties": {r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$": {"type": "string"}},
                 "additionalProperties": False},
        "env": {"type": "object",
                "patternProperties": {"^[a-zA-Z_]+[a-zA-Z0-9_]*$": {"type": "string", "pattern": "^[\x00-\x7F]*$"}},
                "additionalProperties": False},
        "extra_vars": {"type": "object",
                       "patternProperties": {r"^[a-zA-Z_\{\}]+[a-zA-Z0-9_\{\}]*$": {
                           "anyOf": [{"type": "string"}, {"type": "array"}, {"$ref": "#/properties/extra_vars"}]}},
                       "additionalProperties": False},
    },
}
ENV_BLOCKLIST = frozenset((
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID", "INVENTORY_UPDATE_ID",
    "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES", "CALLBACK_QUEUE", "CALLBACK_CONNECTION",
    "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS", "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH",
))


class _Namespace:
    pass


def credential_type_errors(ct: dict[str, Any]) -> list[str]:
    """What AWX would refuse in a credential type (the API's validation, in the order it runs)."""
    import jsonschema

    errors = ["inputs: %s" % e.message for e in jsonschema.Draft4Validator(INPUTS_SCHEMA).iter_errors(ct["inputs"])]
    errors += ["injectors: %s" % e.message
               for e in jsonschema.Draft4Validator(INJECTORS_SCHEMA).iter_errors(ct["injectors"])]
    if ct.get("kind") not in ("cloud", "net"):
        errors.append("kind must be cloud or net for a custom credential type, not %r" % ct.get("kind"))
    fields = ct["inputs"].get("fields", [])
    ids = [f["id"] for f in fields]
    if len(ids) != len(set(ids)):
        errors.append("field ids must be unique: %s" % ids)
    for f in fields:
        ftype = f.get("type", "string")
        for key in ("choices", "multiline", "format", "secret"):
            if key in f and ftype != "string":
                errors.append("%s not allowed for %s type (%s)" % (key, ftype, f["id"]))
        if "default" in f and not isinstance(f["default"], {"string": str, "boolean": bool}[ftype]):
            errors.append("%s: default %r is not a %s" % (f["id"], f["default"], ftype))
        if "default" in f and "choices" in f and f["default"] not in f["choices"]:
            errors.append("%s: default %r is not one of the choices" % (f["id"], f["default"]))
    for name in ct["inputs"].get("required", []):
        if name not in ids:
            errors.append("required field %s is not defined" % name)
    injectors = ct["injectors"]
    for var in injectors.get("env", {}):
        if var.startswith("ANSIBLE_") or var in ENV_BLOCKLIST:
            errors.append("environment variable %s is not allowed in credentials" % var)
    # Every template must render with StrictUndefined over the defined fields ('EXAMPLE') and the file names.
    namespace: dict[str, Any] = {name: "EXAMPLE" for name in ids}
    tower = _Namespace()
    templates = list(injectors.get("file", {}))
    if "template" in templates:
        if len(templates) > 1:
            errors.append("must use multi-file syntax when injecting multiple files")
        tower.filename = "EXAMPLE_FILENAME"  # type: ignore[attr-defined]
    elif templates:
        tower.filename = _Namespace()  # type: ignore[attr-defined]
        for name in templates:
            setattr(tower.filename, name.split(".", 1)[1], "EXAMPLE_FILENAME")  # type: ignore[attr-defined]
    namespace["tower"] = tower
    strict = ImmutableSandboxedEnvironment(undefined=StrictUndefined)

    def check(kind: str, key: str, tmpl: str) -> None:
        try:
            strict.from_string(tmpl).render(namespace)
        except (UndefinedError, TemplateSyntaxError) as exc:
            errors.append("%s %s: %s" % (kind, key, exc))

    def check_extra_vars(key: str | None, node: Any) -> None:  # keys are templates too
        if isinstance(node, dict):
            for k, v in node.items():
                check("extra_vars", "a key" if key is None else key, k)
                check_extra_vars(k if key is None else "%s.%s" % (key, k), v)
        elif isinstance(node, list):
            for i, x in enumerate(node):
                check_extra_vars("%s[%d]" % (key, i), x)
        else:
            check("extra_vars", str(key), node)

    for kind, entries in injectors.items():
        if kind == "extra_vars":
            check_extra_vars(None, entries)
        else:
            for key, tmpl in entries.items():
                check(kind, key, tmpl)
    return errors


def credential_input_errors(ct: dict[str, Any], inputs: dict[str, Any]) -> list[str]:
    """What AWX would refuse in a credential of this type, or when starting a job with it."""
    fields = {f["id"]: f for f in ct["inputs"].get("fields", [])}
    errors = ["%s is not a field of %s" % (k, ct["name"]) for k in inputs if k not in fields]
    for k, v in inputs.items():
        if k in fields and "choices" in fields[k] and v not in fields[k]["choices"]:
            errors.append("%s: %r is not one of %s" % (k, v, fields[k]["choices"]))
    errors += ["%s is required by %s" % (k, ct["name"]) for k in ct["inputs"].get("required", []) if not inputs.get(k)]
    return errors


# -- how AWX injects a credential into a job ---------------------------------------------------------------
class _UnsafeDumper(yaml.SafeDumper):
    """awx.main.utils.safe_yaml.SafeStringDumper: every string of a credential's extra_vars is `!unsafe`."""

    def represent_data(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super().represent_data(data)


@dataclass
class Injected:
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)      # ansible-playbook arguments (-e @file)
    files: dict[str, str] = field(default_factory=dict)  # file template name -> path


def inject(ct: dict[str, Any], inputs: dict[str, Any], private_data_dir: str, into: Injected | None = None) -> Injected:
    """CredentialType.inject_credential: file templates first (tower.filename.<name>), then env, then extra_vars.

    Only fields with a value are defined in the namespace; the others render as "" (Jinja's default
    Undefined); every env entry is set, empty or not. Files go to <private_data_dir>/env, mode 0600."""
    out = into or Injected()
    errors = credential_input_errors(ct, inputs)
    assert not errors, errors
    namespace: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, bool) or len(value):
            namespace[name] = value
    tower = _Namespace()
    namespace["tower"] = tower
    sandbox_env = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(private_data_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    for label, tmpl in ct["injectors"].get("file", {}).items():
        data = sandbox_env.from_string(tmpl).render(**namespace)
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as fh:
            fh.write(data)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            tower.filename = path  # type: ignore[attr-defined]
        else:
            if not hasattr(tower, "filename"):
                tower.filename = _Namespace()  # type: ignore[attr-defined]
            setattr(tower.filename, label.split(".", 1)[1], path)  # type: ignore[attr-defined]
        out.files[label] = path
    for var, tmpl in ct["injectors"].get("env", {}).items():
        out.env[var] = sandbox_env.from_string(tmpl).render(**namespace)

    def build(node: Any) -> Any:
        if isinstance(node, dict):
            return {build(k): build(v) for k, v in node.items()}
        if isinstance(node, list):
            return [build(x) for x in node]
        return sandbox_env.from_string(node).render(**namespace)

    extra_vars = build(ct["injectors"].get("extra_vars", {}))
    if extra_vars:
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as fh:
            fh.write(yaml.dump_all([extra_vars], None, Dumper=_UnsafeDumper, default_flow_style=False))
        os.chmod(path, stat.S_IRUSR)
        out.args += ["-e", "@" + path]
    return out


# -- the secret scan -----------------------------------------------------------------------------------
# Shapes that must never appear in a job's output, whatever their value.
SECRET_PATTERNS = {
    "private key PEM": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "download URL": re.compile(r"/download/[A-Za-z0-9_-]{8,}"),
    "JWT (access token)": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\."),
    "bearer token": re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
}


def pem_body_line(pem: str) -> str:
    """The longest base64 line of a PEM block: distinctive, and never wrapped in the middle."""
    lines = [line.strip() for line in pem.splitlines() if line.strip() and not line.startswith("-----")]
    return max(lines, key=len)


def b64_slice(data: bytes) -> str:
    """48 characters from inside the base64 of ``data`` (a PFX: pfxString), at a 4-character boundary."""
    text = base64.b64encode(data).decode()
    return text[64:112] if len(text) >= 112 else text


def store_secrets(sandbox: Sandbox) -> dict[str, str]:
    """Every secret the emulator ever handed out or accepted: keys, client secrets, access tokens, PFX
    passwords, private keys, PFX files and download tokens. Read-only look at its SQLite store: the admin API
    does not list access tokens or download tokens."""
    path = os.path.join(sandbox.state_dir, "emulator.db")
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    found: dict[str, str] = {}
    try:
        for (key,) in db.execute("SELECT api_key FROM subscriptions"):
            found["api key %s" % key[:4]] = key
        for (secret,) in db.execute("SELECT client_secret FROM clients"):
            found["client secret %s" % secret[:4]] = secret
        for (token,) in db.execute("SELECT token FROM tokens"):
            found["access token %s" % token[-6:]] = token
        for (token,) in db.execute("SELECT token FROM downloads"):
            found["download token %s" % token[:4]] = token
        for name, password in db.execute("SELECT name, password FROM certificates"):
            found["portal PFX password of %s" % name] = password
        for file_id, name, password, key_pem, pfx in db.execute(
                "SELECT file_id, name, password, key_pem, pfx FROM material"):
            found["PFX password of %s/%s" % (name, file_id[:6])] = password
            found["private key of %s/%s" % (name, file_id[:6])] = pem_body_line(key_pem)
            found["PFX of %s/%s" % (name, file_id[:6])] = b64_slice(bytes(pfx))
    finally:
        db.close()
    return found


@dataclass
class Scan:
    files: int = 0
    job_events: int = 0
    hits: dict[str, list[str]] = field(default_factory=dict)      # file -> what was found (must stay empty)
    allowed: dict[str, list[str]] = field(default_factory=dict)   # runner's own dumps of the env it was given

    def total(self) -> int:
        return sum(len(v) for v in self.hits.values())


def find_secrets(text: str, canaries: dict[str, str]) -> list[str]:
    found = []
    for label, value in canaries.items():
        if value in text or json.dumps(value)[1:-1] in text:
            found.append(label)
    found += [label for label, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    return found


def scan_tree(private_data_dir: str, ident: str, canaries: dict[str, str], extra_texts: dict[str, str] | None = None
              ) -> Scan:
    """Search every file of a job's private data directory, job events and stdout included, and ``extra_texts``.

    Allowed to hold secrets: ``env/`` (what AWX hands runner: envvars, extravars, the credentials' files; runner
    2.4 keeps them there, not under ``artifacts/<ident>/env``) and ``artifacts/<ident>/command``, where runner
    itself dumps the environment it started the job with (runner's behaviour, as the ecosystem review found; AWX
    removes the whole directory after the job and shows none of it). Everything else, job events and stdout
    included, must hold none."""
    canaries = {label: value for label, value in canaries.items() if value and len(value) >= 8}
    scan = Scan()
    allowed_prefixes = ("env" + os.sep, os.path.join("artifacts", ident, "command"))
    for dirpath, _dirs, files in os.walk(private_data_dir):
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, private_data_dir)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8", "replace")
            scan.files += 1
            if rel.startswith(os.path.join("artifacts", ident, "job_events") + os.sep):
                scan.job_events += 1
            found = find_secrets(text, canaries)
            if found:
                (scan.allowed if rel.startswith(allowed_prefixes) else scan.hits)[rel] = found
    for label, text in (extra_texts or {}).items():
        found = find_secrets(text, canaries)
        if found:
            scan.hits[label] = found
    return scan


# -- a job --------------------------------------------------------------------------------------------------
@dataclass
class Job:
    ident: str
    private_data_dir: str
    rc: int
    status: str
    stats: dict[str, Any]
    stdout: str
    seconds: float
    injected: Injected
    job_env: dict[str, str]
    events: list[dict[str, Any]]

    def changed(self, host: str) -> int:
        return int((self.stats or {}).get("changed", {}).get(host, 0))

    def changed_tasks(self, host: str) -> list[tuple[str, str]]:
        """(task, where it ran) of the tasks that changed something for ``host``; where: the host or a delegate."""
        found = []
        for event in self.events:
            data = event.get("event_data", {})
            if event.get("event") == "runner_on_ok" and data.get("host") == host and data.get("res", {}).get("changed"):
                delegated = data["res"].get("_ansible_delegated_vars", {}).get("ansible_host")
                found.append((data.get("task", ""), delegated or host))
        return found

    def __repr__(self) -> str:  # shown by pytest on failure
        return "<job %s rc=%s status=%s stats=%s>\n%s" % (self.ident, self.rc, self.status, self.stats,
                                                          self.stdout[-8000:])


# Variables of the test process that a job in an execution environment would not have: the RCL_* ones (the
# credentials must come from the injectors only), Ansible's, and the CA bundles that would let the API's
# private CA be trusted without the credential's ca_bundle.
_NOT_IN_A_JOB = ("RCL_", "ANSIBLE_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


@contextlib.contextmanager
def job_environ() -> Iterator[None]:
    """ansible-runner starts the job with a copy of os.environ: leave out what a job would not have."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(_NOT_IN_A_JOB)}
    for k in saved:
        del os.environ[k]
    try:
        yield
    finally:
        os.environ.update(saved)


def dns_wrapper(sandbox: Sandbox, directory: str) -> str:
    """ansible-playbook with /etc/resolv.conf pointing at the sandbox's BIND, in a private mount namespace.

    community.dns.wait_for_txt resolves the name servers' names with the system resolver (see
    tests/emulator/README.md). This is what `sandbox exec` does, without its RCL_SANDBOX_* variables that
    point at the sandbox's env.json: the job sees no credential but the injected ones."""
    path = os.path.join(directory, "ansible-playbook-in-sandbox-dns")
    script = ("#!/bin/sh\nexec unshare --mount --propagation private -- sh -c "
              "'mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"' %s %s \"$@\"\n"
              % (shlex.quote(sandbox.env["resolv_conf"]), shlex.quote(ANSIBLE_PLAYBOOK)))
    with open(path, "w") as fh:
        fh.write(script)
    os.chmod(path, 0o755)
    return path


def run_job(ident: str, base: str, sandbox: Sandbox, collections: str, playbook: str,
            credentials: list[tuple[dict[str, Any], dict[str, Any]]], inventory: dict[str, Any],
            extravars: dict[str, Any] | None = None, verbosity: int = 4, timeout: int = 240) -> Job:
    """One AWX-style job: a fresh private data directory (project, inventory, env), the credentials injected,
    a fresh HOME and TMPDIR (an execution environment's disk does not outlast the job), ansible-runner."""
    import ansible_runner

    pdd = os.path.join(base, ident)
    for sub in ("project", "inventory", "env", "scratch/home", "scratch/tmp"):
        os.makedirs(os.path.join(pdd, sub))
    with open(playbook) as src, open(os.path.join(pdd, "project", os.path.basename(playbook)), "w") as dst:
        dst.write(src.read())  # AWX checks the project out into the job's private data directory
    with open(os.path.join(pdd, "inventory", "hosts.json"), "w") as fh:
        json.dump(inventory, fh, indent=1)
    injected = Injected()
    for ct, inputs in credentials:
        inject(ct, inputs, pdd, into=injected)
    envvars = dict(injected.env)
    envvars.update(ANSIBLE_COLLECTIONS_PATH=collections,
                   HOME=os.path.join(pdd, "scratch", "home"), TMPDIR=os.path.join(pdd, "scratch", "tmp"))
    cmdline = " ".join(shlex.quote(a) for a in [os.path.join(pdd, "project", os.path.basename(playbook))]
                       + injected.args)
    started = time.monotonic()
    with job_environ():
        runner = ansible_runner.run(private_data_dir=pdd, ident=ident, binary=dns_wrapper(sandbox, pdd),
                                    cmdline=cmdline, envvars=envvars, extravars=extravars or {},
                                    verbosity=verbosity, quiet=True, timeout=timeout)
    seconds = time.monotonic() - started
    with open(os.path.join(pdd, "artifacts", ident, "stdout"), errors="replace") as fh:
        stdout = fh.read()
    with open(os.path.join(pdd, "artifacts", ident, "command")) as fh:
        job_env = json.load(fh)["env"]
    return Job(ident, pdd, runner.rc, runner.status, runner.stats or {}, stdout, seconds, injected, job_env,
               list(runner.events))
