# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of the packaging tests: the checkout's root, the tools they call.

A tool that is missing fails the test that needs it, with the command that installs it; nothing
here installs anything.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
# Collections the role's task files may call without declaring them anywhere.
OWN = {"ansible.builtin", "rcl.ssl"}
INSTALL_HINT = "install the development requirements: python3 -m pip install -r requirements-dev.txt"


def require_tool(name: str) -> str:
    """The path of a command on PATH, or a test failure that says how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH: {INSTALL_HINT}", pytrace=False)
    return path


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; a non-zero exit fails the test with the command and its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}",
            pytrace=False,
        )
    return proc


def role_collections() -> tuple[set[str], set[str]]:
    """Collections the role's task files call: (always, DNS-provider only), FQCN prefixes."""
    always: set[str] = set()
    provider: set[str] = set()
    fqcn = r"([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*"
    patterns = [
        re.compile(r"^\s*(?:-\s+)?" + fqcn + r":", re.M),    # a module as a task key
        re.compile(r"group/" + fqcn),                        # module_defaults action groups
        re.compile(r"\|\s*" + fqcn),                         # filters and tests
        re.compile(r"""['"]""" + fqcn + r"""['"]"""),        # map('ns.coll.filter')
    ]
    for path in ROLES.glob("*/tasks/**/*.yml"):
        text = path.read_text(encoding="utf-8")
        found = {m.group(1) for p in patterns for m in p.finditer(text)} - OWN
        (provider if "dns" in path.relative_to(ROLES).parts[2:-1] else always).update(found)
    return always, provider
