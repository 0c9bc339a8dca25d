# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Counts, per host, the module runs a playbook really made there; writes them as JSON.

Test/benchmark helper, not shipped with the collection. Enable it with

    ANSIBLE_CALLBACK_PLUGINS=<checkout>/tests/benchmarks/callback_plugins
    ANSIBLE_CALLBACKS_ENABLED=module_runs
    RCL_MODULE_RUNS_FILE=/path/to/counts.json

What counts as one module run on host H:
- a task result reported ok, failed or unreachable (never a skipped one) of a task without a loop, or one
  item (ok or failed, not skipped) of a looped task: each item runs the module once;
- H is the host the module ran on: the ``delegate_to`` host for delegated tasks (a ``run_once`` +
  ``delegate_to: localhost`` task counts once, for ``localhost``), else the inventory host;
- tasks whose action runs on the controller only are left out (CONTROLLER_ONLY below: set_fact, debug,
  assert, fail, meta, include_*/import_*, add_host, group_by, include_vars, validate_argument_spec, ...).
An action plugin that runs several modules in one task (``copy`` runs ``stat`` and then ``copy``) counts
once; handlers count like tasks.

The JSON written at the end of the playbook (the file is replaced):

    {"hosts": {"web1": {"module_runs": 12, "changed": 0, "failed": 0, "unreachable": 0}, "localhost": {...}},
     "actions": {"web1": {"ansible.builtin.slurp": 8, ...}, ...},
     "controller_only": [...], "complete": true}

("complete": false when the playbook ended without its recap, e.g. on a parse error: written at exit.)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: module_runs
type: aggregate
short_description: counts the module runs per host and writes them as JSON
description:
  - Counts per host the task results (loop items one by one) that really ran a module on that host, the
    delegated host for delegated tasks, leaving out skipped results and controller-only actions.
  - Writes the counts as JSON to the file named by the environment variable E(RCL_MODULE_RUNS_FILE) at the
    end of the playbook; does nothing without it.
requirements:
  - enable in the callbacks_enabled setting (ANSIBLE_CALLBACKS_ENABLED=module_runs)
"""

import atexit
import json
import os

from ansible.plugins.callback import CallbackBase

# Actions that run on the controller only (action plugins without a module, or strategy-level keywords).
CONTROLLER_ONLY = frozenset((
    "set_fact", "debug", "assert", "fail", "meta", "include_tasks", "include_role", "import_tasks",
    "import_role", "import_playbook", "include", "add_host", "group_by", "include_vars",
    "validate_argument_spec", "set_stats", "pause",
))
_BUILTIN_PREFIXES = ("ansible.builtin.", "ansible.legacy.")


def _short(action):
    """'ansible.builtin.set_fact' / 'ansible.legacy.set_fact' / 'set_fact' -> 'set_fact'; others unchanged."""
    for prefix in _BUILTIN_PREFIXES:
        if action.startswith(prefix):
            return action[len(prefix):]
    return action


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "module_runs"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._hosts = {}
        self._actions = {}
        self._written = False
        atexit.register(self._write, False)  # a playbook that aborts (e.g. a parse error) has no stats event

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _payload(result):
        payload = getattr(result, "result", None)  # ansible-core 2.19+
        if payload is None:
            payload = result._result
        return payload

    @staticmethod
    def _action(result):
        task = result._task
        return str(getattr(task, "action", "") or "")

    def _where(self, result, payload):
        """The host the module ran on: the delegated host, else the inventory host."""
        delegated = payload.get("_ansible_delegated_vars") or {}
        host = delegated.get("ansible_delegated_host")
        if not host:
            delegate_to = getattr(result._task, "delegate_to", None)
            host = delegate_to if isinstance(delegate_to, str) and "{{" not in delegate_to else None
        return str(host or result._host.get_name())

    def _count(self, result, kind):
        payload = self._payload(result)
        action = self._action(result)
        if _short(action) in CONTROLLER_ONLY or payload.get("skipped"):
            return
        host = self._where(result, payload)
        counts = self._hosts.setdefault(host, {"module_runs": 0, "changed": 0, "failed": 0, "unreachable": 0})
        counts["module_runs"] += 1
        if kind in ("failed", "unreachable"):
            counts[kind] += 1
        elif payload.get("changed"):
            counts["changed"] += 1
        per_action = self._actions.setdefault(host, {})
        per_action[action] = per_action.get(action, 0) + 1

    @staticmethod
    def _looped(result, payload):
        task = result._task
        return (isinstance(payload.get("results"), list) or getattr(task, "loop", None) is not None
                or bool(getattr(task, "loop_with", None)))

    # -- events -------------------------------------------------------------------------------
    # A looped task reports each item (counted there) and then one summary result (not counted).
    def v2_runner_on_ok(self, result):
        if not self._looped(result, self._payload(result)):
            self._count(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        payload = self._payload(result)
        if not self._looped(result, payload):
            self._count(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._count(result, "unreachable")

    def v2_runner_item_on_ok(self, result):
        self._count(result, "ok")

    def v2_runner_item_on_failed(self, result):
        self._count(result, "failed")

    def v2_playbook_on_stats(self, stats):
        self._write(True)

    def _write(self, complete):
        path = os.environ.get("RCL_MODULE_RUNS_FILE")
        if not path or self._written:
            return
        self._written = True
        doc = {"hosts": self._hosts, "actions": self._actions, "controller_only": sorted(CONTROLLER_ONLY),
               "complete": complete}
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
