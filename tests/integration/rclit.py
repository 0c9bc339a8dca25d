# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the integration tests: run playbooks against the sandbox, read what they recorded.

Playbooks record each step (module result + the emulator's request log) through the
test-only action ``rcl_emu`` (``playbooks/action_plugins``) into a JSON file read here.
The sandbox helpers come from the emulator's tests (``tests/emulator/tests/emuclient.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLAYBOOKS = os.path.join(HERE, "playbooks")
sys.path.insert(0, os.path.join(REPO, "tests", "emulator", "tests"))

from emuclient import SANDBOX, Sandbox  # noqa: E402  pylint: disable=wrong-import-position

# Ports of this suite's sandbox: other sandboxes (a developer's, the emulator's own tests,
# other engineers') keep theirs.
PORTS = ["--api-port", "51443", "--admin-port", "51444", "--http01-port", "51502",
         "--pebble-port", "52000", "--pebble-mgmt-port", "52001", "--dns-addr", "127.0.0.6"]
# validation_timeout bounds V7 finalize / V8 issuance inside the emulator (stuck challenges).
SETTINGS = {"validation_timeout": 3, "schedule_delay": 0.3, "key_type": "ec256"}
PLAYBOOK_TIMEOUT = 240


@dataclass
class Run:
    """One ansible-playbook run: exit code, output, and what the playbook recorded."""

    rc: int
    output: str
    elapsed: float
    extra_vars: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)

    def case(self, case_id: str) -> dict[str, Any]:
        """An entry of the extra variable ``cases`` by its id."""
        return next(case for case in self.extra_vars["cases"] if case["id"] == case_id)

    def step(self, name: str) -> dict[str, Any]:
        assert name in self.results, "step %s was not recorded (rc=%d):\n%s" % (name, self.rc, self.output[-6000:])
        return self.results[name]

    def result(self, name: str) -> dict[str, Any]:
        return self.step(name)["result"]

    def requests(self, name: str, endpoint: str | None = None) -> list[dict[str, Any]]:
        entries = self.step(name)["requests"]
        return [e for e in entries if endpoint is None or e["endpoint"] == endpoint]


class Ansible:
    """Runs playbooks from ``playbooks/`` with the collection, the sandbox and a results file."""

    def __init__(self, sandbox: Sandbox, workdir: str) -> None:
        self.sandbox = sandbox
        self.workdir = workdir
        # Make this checkout visible as ansible_collections/rcl/ssl.
        collections = os.path.join(workdir, "collections")
        os.makedirs(os.path.join(collections, "ansible_collections", "rcl"))
        os.symlink(REPO, os.path.join(collections, "ansible_collections", "rcl", "ssl"))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANSIBLE_", "RCL_")) and k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": collections,
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,  # discovery picks a broken shim here
            "ANSIBLE_LOCAL_TEMP": os.path.join(workdir, "ansible-local"),
            "ANSIBLE_REMOTE_TEMP": os.path.join(workdir, "ansible-remote"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            # The TSIG key reaches nsupdate through the environment.
            "RCL_IT_TSIG_KEY_NAME": sandbox.env["tsig_key_name"],
            "RCL_IT_TSIG_KEY_SECRET": sandbox.env["tsig_key_secret"],
        })
        self.env = env
        self.emu = {k: v for k, v in sandbox.env.items() if k not in ("certificates", "subscriptions", "pids")}
        playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        self.playbook_bin = playbook_bin if os.path.exists(playbook_bin) else (shutil.which("ansible-playbook") or "")
        self._runs = 0

    def run(self, playbook: str, extra_vars: dict[str, Any] | None = None, verbosity: int = 0) -> Run:
        """Run ``playbooks/<playbook>`` in the sandbox's DNS view (``sandbox exec``: wait_for_txt needs it)."""
        self._runs += 1
        base = os.path.join(self.workdir, "run%02d" % self._runs)
        os.makedirs(base)
        results_file = os.path.join(base, "results.json")
        extra = {"emu": self.emu, "results_file": results_file}
        extra.update(extra_vars or {})
        vars_file = os.path.join(base, "vars.json")
        with open(vars_file, "w") as handle:
            json.dump(extra, handle)
        cmd = [SANDBOX, "--state-dir", self.sandbox.state_dir, "exec", "--",
               self.playbook_bin, "-i", "localhost,", "-c", "local", "-e", "@" + vars_file,
               os.path.join(PLAYBOOKS, playbook)]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        start = time.monotonic()
        proc = subprocess.run(cmd, env=self.env, cwd=base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=PLAYBOOK_TIMEOUT, check=False)
        elapsed = time.monotonic() - start
        results = {}
        if os.path.exists(results_file):
            with open(results_file) as handle:
                results = json.load(handle)
        return Run(proc.returncode, proc.stdout, elapsed, extra_vars or {}, results)


def seed(sandbox: Sandbox, *certificates: dict[str, Any]) -> None:
    """Upsert portal certificates into the sandbox's (first) subscription; fresh key and dates each time."""
    env = sandbox.env
    sub = {"id": env["subscription_id"], "api_key": env["api_key"], "email": "ops@example.test",
           "certificates": [dict({"root_domain": "example.test", "challenge_type": "DNS"}, **cert)
                            for cert in certificates]}
    sandbox.seed({"subscriptions": [sub]})


def portal_certificate(sandbox: Sandbox, name: str) -> dict[str, Any]:
    """The emulator's admin view of a portal certificate (password, serial, order URI, issuer)."""
    found = [c for c in sandbox.admin_call("GET", "/certificates") if c["name"] == name]
    assert len(found) == 1, found
    return found[0]
