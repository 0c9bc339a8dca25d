# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only action: talk to the emulator's admin API and record results for pytest.

Runs on the controller, in-process (no module upload), so arming a fault or reading the
request log costs milliseconds instead of a ``uri`` task's half second. Steps, in order:

- ``record: NAME`` (+ ``result: <registered var>``, ``files: [paths]``, ``settle: seconds``):
  wait ``settle`` seconds (let delayed requests finish and get logged), read the request
  log, and append ``{NAME: {result, requests, files, time}}`` to ``results_file``
  (files: sha256 and mode of each path, None when missing);
- ``faults: [specs]``: clear every fault, then add these;
- ``settings: {...}``: change emulator settings;
- ``clear_log: true``: clear the request log.

``admin_url`` and ``results_file`` default to the variables ``emu.admin_url`` and ``results_file``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import typing as t
import urllib.request

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


def _plain(value: t.Any) -> t.Any:
    """Registered results as plain JSON types (ansible-core tags its strings and containers)."""
    return json.loads(json.dumps(value, default=str))


def _file_facts(path: str) -> dict[str, str] | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    return {"sha256": hashlib.sha256(data).hexdigest(), "mode": "%04o" % (os.stat(path).st_mode & 0o7777)}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def _admin(self, admin_url: str, method: str, path: str, body: t.Any = None) -> t.Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(admin_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return json.loads(response.read().decode("utf-8") or "null")
        except Exception as exc:  # pylint: disable=broad-except
            raise AnsibleActionFail("admin %s %s failed: %s" % (method, path, exc))

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        admin_url = args.get("admin_url") or self._templar.template(task_vars["emu"])["admin_url"]
        result["changed"] = False

        name = args.get("record")
        if name:
            time.sleep(float(args.get("settle") or 0))
            results_file = args.get("results_file") or self._templar.template(task_vars["results_file"])
            entry = {
                "result": _plain(args.get("result")),
                "requests": self._admin(admin_url, "GET", "/requests"),
                "files": {path: _file_facts(path) for path in args.get("files") or []},
                "time": time.time(),
            }
            recorded: dict[str, t.Any] = {}
            if os.path.exists(results_file):
                with open(results_file) as handle:
                    recorded = json.load(handle)
            recorded[str(name)] = entry
            with open(results_file + ".tmp", "w") as handle:
                json.dump(recorded, handle)
            os.replace(results_file + ".tmp", results_file)

        if "faults" in args:
            self._admin(admin_url, "DELETE", "/faults")
            if args["faults"]:
                self._admin(admin_url, "POST", "/faults", _plain(args["faults"]))
        if args.get("settings"):
            self._admin(admin_url, "POST", "/settings", _plain(args["settings"]))
        if args.get("clear_log"):
            self._admin(admin_url, "DELETE", "/requests")
        return result
