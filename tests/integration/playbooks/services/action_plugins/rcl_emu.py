# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only action ``rcl_emu`` for the playbooks of this directory: the one of ``playbooks/action_plugins``.

Ansible (and ansible-lint) find action plugins next to the playbook; this loads the shared file, so both
directories record steps the same way.
"""

from __future__ import annotations

import importlib.util
import os

_SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "action_plugins", "rcl_emu.py")
_SPEC = importlib.util.spec_from_file_location("rcl_ssl_integration_rcl_emu", os.path.normpath(_SHARED))
assert _SPEC is not None and _SPEC.loader is not None
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)

ActionModule = _MODULE.ActionModule
