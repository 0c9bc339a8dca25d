# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration tests: the real modules, run by ansible-playbook, against the emulator sandbox.

One sandbox per session, in a temporary state folder, on ports of its own (``rclit.PORTS``),
always stopped (``emuclient.running_sandbox``: teardown, exceptions, SIGTERM, exit).
"""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rclit import PORTS, SETTINGS, Ansible  # noqa: E402  pylint: disable=wrong-import-position
from emuclient import Sandbox, running_sandbox  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    args = list(PORTS)
    for key, value in SETTINGS.items():
        args += ["--setting", "%s=%s" % (key, value)]
    with running_sandbox(str(tmp_path_factory.mktemp("sandbox-state")), *args) as sb:
        yield sb


@pytest.fixture(scope="session")
def ansible(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    return Ansible(sandbox, str(tmp_path_factory.mktemp("ansible")))
