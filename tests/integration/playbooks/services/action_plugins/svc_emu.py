# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only action of the services' playbooks: what a person or a DNS provider does, in-process.

Runs on the controller without a module upload (milliseconds instead of a module run), through the emulator
tests' client (``tests/emulator/tests/emuclient.py``). Each argument is optional; they run in this order:

- ``txt_set: {zone, records: {fqdn: [values]}}``: replace each TXT record set (RFC 2136 + TSIG, sandbox BIND);
- ``txt_delete: {zone, names: [fqdn]}``: remove those TXT record sets;
- ``admin: {method, path, body}``: one call of the emulator's admin API (``path`` below ``/admin``), such as
  ``POST /servertastic/approve`` (an approver approves an EMAIL order). Its reply is not returned: it may hold
  secrets (Servertastic order tokens) that the verbose output must not show.

The sandbox env comes from the variable ``emu``.
"""

from __future__ import annotations

import os
import sys
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_EMULATOR_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 4, "emulator", "tests")
if _EMULATOR_TESTS not in sys.path:
    sys.path.insert(0, os.path.normpath(_EMULATOR_TESTS))

from emuclient import Sandbox  # noqa: E402  pylint: disable=wrong-import-position


def _relative(fqdn: str, zone: str) -> str:
    name = str(fqdn).rstrip(".")
    return "@" if name == zone else name[: -len(zone) - 1] if name.endswith("." + zone) else name + "."


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super(ActionModule, self).run(tmp, task_vars)
        env = dict(self._templar.template((task_vars or {})["emu"]))
        sandbox = Sandbox(env, env.get("state_dir", ""))
        args = self._task.args
        try:
            if args.get("txt_set"):
                spec = args["txt_set"]
                for fqdn, values in dict(spec["records"]).items():
                    sandbox.txt_set(spec["zone"], _relative(fqdn, spec["zone"]), [str(v) for v in values])
                result["changed"] = True
            if args.get("txt_delete"):
                spec = args["txt_delete"]
                for fqdn in spec["names"]:
                    sandbox.txt_delete(spec["zone"], _relative(fqdn, spec["zone"]))
                result["changed"] = True
            if args.get("admin"):
                call = args["admin"]
                sandbox.admin_call(str(call.get("method", "GET")), str(call["path"]), call.get("body"))
                result["changed"] = True
        except (AssertionError, OSError, KeyError, ValueError) as exc:
            raise AnsibleActionFail("svc_emu failed: %s" % exc)
        result.setdefault("changed", False)
        return result
