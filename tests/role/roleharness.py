"""Helpers of the role tests: an estate of local hosts, ansible-playbook through `sandbox exec`, the request log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator", "tests"))

from emuclient import SANDBOX, Sandbox  # noqa: E402

# Our own ports and DNS address: other people's sandboxes run on other ports at the same time.
ROLE_PORTS = [
    "--api-port", "39443", "--admin-port", "39444", "--http01-port", "35002",
    "--pebble-port", "44000", "--pebble-mgmt-port", "45000", "--dns-addr", "127.0.0.5",
    "--setting", "validation_timeout=8", "--setting", "key_type=ec256",
]
PLAYBOOKS = os.path.join(HERE, "playbooks")
# The callback that counts module runs per host (shared with the benchmark).
CALLBACKS = os.path.join(ROOT, "tests", "benchmarks", "callback_plugins")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def role_vars(env: dict[str, Any], dns_wait_timeout: int = 30, finalize_timeout: int = 60) -> dict[str, Any]:
    """The role's public variables that point it at a sandbox (its `sandbox env`); V7, nsupdate into its BIND."""
    return {
        "rcl_certificate_api": {"api_url": env["v7_url"], "subscription_id": env["subscription_id"],
                                "api_key": env["api_key"], "ca_path": env["ca_path"]},
        "rcl_certificate_nsupdate_server": env["dns_server"],
        "rcl_certificate_nsupdate_port": env["dns_port"],
        "rcl_certificate_nsupdate_key_name": env["tsig_key_name"],
        "rcl_certificate_nsupdate_key_secret": env["tsig_key_secret"],
        "rcl_certificate_nsupdate_key_algorithm": env["tsig_algorithm"],
        "rcl_certificate_dns_servers": [env["dns_server"]],
        "rcl_certificate_dns_wait_timeout": dns_wait_timeout,
        "rcl_certificate_finalize_timeout": finalize_timeout,
    }


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.rc = proc.returncode
        self.module_runs: dict[str, int] = {}
        self.out = proc.stdout + proc.stderr
        self.seconds = seconds
        self.recap = {m.group(1): dict(ok=int(m.group(2)), changed=int(m.group(3)), unreachable=int(m.group(4)),
                                       failed=int(m.group(5)), skipped=int(m.group(6)))
                      for m in RECAP.finditer(proc.stdout)}

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]

    def __repr__(self) -> str:  # shown by pytest on failure
        return "<rc=%s recap=%s>\n%s" % (self.rc, self.recap, self.out[-6000:])


class Estate:
    """Hosts (local connection, one directory each) and the variables that point the role at the sandbox."""

    def __init__(self, sandbox: Sandbox, collections: str, workdir: str) -> None:
        self.sb = sandbox
        self.collections = collections
        self.workdir = workdir
        self.hosts: dict[str, dict[str, Any]] = {}
        self.vars: dict[str, Any] = role_vars(sandbox.env)
        self.vars["rcl_certificate_webroot"] = sandbox.env["webroot"]

    def host_dir(self, host: str) -> str:
        return os.path.join(self.workdir, "hosts", host)

    def add_host(self, host: str, certificates: list[dict[str, Any]], **hostvars: Any) -> None:
        hv = {"ansible_connection": "local", "rcl_certificate_base_dir": os.path.join(self.host_dir(host), "ssl"),
              "rcl_certificate_certificates": certificates}
        hv.update(hostvars)
        self.hosts[host] = hv

    def cert_dir(self, host: str, name: str) -> str:
        return os.path.join(self.host_dir(host), "ssl", name.replace("*", "_wildcard"))

    def write(self) -> tuple[str, str]:
        inventory = os.path.join(self.workdir, "inventory.json")
        with open(inventory, "w") as fh:
            json.dump({"all": {"hosts": self.hosts}}, fh, indent=1)
        extra = os.path.join(self.workdir, "vars.json")
        with open(extra, "w") as fh:
            json.dump(self.vars, fh, indent=1)
        return inventory, extra

    def run(self, playbook: str = "converge.yml", *args: str, extra: dict[str, Any] | None = None,
            limit: str | None = None, timeout: float = 240, count_module_runs: bool = False) -> Result:
        inventory, extra_file = self.write()
        cmd = [SANDBOX, "--state-dir", self.sb.state_dir, "exec", "--", "ansible-playbook",
               "-i", inventory, "-e", "@" + extra_file]
        if extra:
            path = os.path.join(self.workdir, "extra-%d.json" % time.monotonic_ns())
            with open(path, "w") as fh:
                json.dump(extra, fh)
            cmd += ["-e", "@" + path]
        if limit:
            cmd += ["--limit", limit]
        cmd += list(args) + [os.path.join(PLAYBOOKS, playbook)]
        env: dict[str, str] = {}
        runs_file = os.path.join(self.workdir, "module-runs.json")
        if count_module_runs:
            env.update(ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="module_runs",
                       RCL_MODULE_RUNS_FILE=runs_file)
            if os.path.exists(runs_file):
                os.unlink(runs_file)
        result = run_ansible(cmd, self.collections, timeout, env)
        if count_module_runs:
            with open(runs_file) as fh:
                result.module_runs = {host: counts["module_runs"] for host, counts in json.load(fh)["hosts"].items()}
        return result

    # -- the emulator's request log ------------------------------------------------------
    def requests(self) -> list[dict[str, Any]]:
        return self.sb.admin_call("GET", "/requests")

    def clear_requests(self) -> None:
        self.sb.admin_call("DELETE", "/requests")

    def count(self, endpoint: str) -> dict[str, int]:
        """Requests to an endpoint per certificate name (the last path segment before the action)."""
        counts: dict[str, int] = {}
        for req in self.requests():
            if req["endpoint"] == endpoint:
                name = _cert_name(req["path"])
                counts[name] = counts.get(name, 0) + 1
        return counts


def _cert_name(path: str) -> str:
    from urllib.parse import unquote

    parts = path.split("/certificate/", 1)[1].split("/")
    return unquote(parts[0])


def run_ansible(cmd: list[str], collections: str, timeout: float = 240, extra_env: dict[str, str] | None = None) -> Result:
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=collections,
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0")
    env.pop("ANSIBLE_CONFIG", None)
    env.update(extra_env or {})
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False, cwd=HERE)
    return Result(proc, time.monotonic() - started)
