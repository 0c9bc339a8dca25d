# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX example playbook calls awx.awx modules with options those modules have.

ansible-lint and galaxy-importer lint the example with the awx.awx modules mocked (the collection
does not depend on awx.awx), so nothing else checks its arguments: this test reads each module's
argument spec with ansible-doc from the awx.awx of the main environment (the ansible package).
"""

from __future__ import annotations

import json
import os
import subprocess
import typing as t

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "docs", "examples", "awx", "job_template.yml")
TASK_KEYWORDS = {"name", "loop", "loop_control", "when", "register", "no_log", "vars", "tags", "delegate_to",
                 "run_once", "changed_when", "failed_when", "become", "environment", "module_defaults"}


def _options(module: str) -> set[str]:
    out = subprocess.run(["ansible-doc", "--json", module], capture_output=True, text=True, check=False)
    assert out.returncode == 0, "ansible-doc %s failed (is awx.awx installed? pip install ansible):\n%s" % (
        module, out.stderr[-2000:])
    doc = json.loads(out.stdout)[module]["doc"]
    names: set[str] = set()
    for name, spec in doc.get("options", {}).items():
        names.add(name)
        names.update(spec.get("aliases", []))
    return names


def _awx_tasks() -> list[dict[str, t.Any]]:
    with open(EXAMPLE) as f:
        plays = yaml.safe_load(f)
    return [task for play in plays for task in play.get("tasks", [])
            if any(key.startswith("awx.awx.") for key in task)]


def test_every_awx_task_uses_options_its_module_has() -> None:
    tasks = _awx_tasks()
    assert len(tasks) >= 7, "the example lost its awx.awx tasks"
    cache: dict[str, set[str]] = {}
    for task in tasks:
        extra = set(task) - TASK_KEYWORDS
        assert len(extra) == 1, "task %r: one module per task, got %s" % (task.get("name"), sorted(extra))
        module = extra.pop()
        args = task[module]
        assert isinstance(args, dict), "task %r: arguments as a mapping" % task.get("name")
        known = cache.setdefault(module, _options(module))
        unknown = sorted(set(args) - known)
        assert not unknown, "task %r: %s has no option %s" % (task.get("name"), module, ", ".join(unknown))
