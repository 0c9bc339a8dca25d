# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Static checks of the layering: an API generation is one unit under ``plugins/module_utils/_api/``.

Outside ``_api/`` no code compares anything with a version name (``"v7"``), tests membership
in a set of them, or picks by one: the generation object answers every version question.
"""

from __future__ import annotations

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(ROOT, "plugins")
API_DIR = os.path.join(PLUGINS, "module_utils", "_api")
VERSION_NAME = re.compile(r"\A[vV]\d+\Z")


def _is_version(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(VERSION_NAME.match(node.value))
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_version(item) for item in node.elts)
    return False


def version_branches(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """Every comparison with, membership test in, or lookup by a version-name literal."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        operands: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            operands = [node.left] + list(node.comparators)
        elif isinstance(node, ast.Subscript):
            operands = [node.slice]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            operands = list(node.args[:1])
        elif isinstance(node, ast.match_case):
            operands = [getattr(node.pattern, "value", node.pattern)]
        if any(_is_version(operand) for operand in operands):
            found.append((getattr(node, "lineno", 0), ast.unparse(node)))
    return found


def _python_files() -> list[str]:
    files = []
    for base, dirs, names in os.walk(PLUGINS):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        if os.path.commonpath([base, API_DIR]) == API_DIR:
            continue
        files.extend(os.path.join(base, name) for name in names if name.endswith(".py"))
    return sorted(files)


@pytest.mark.parametrize(
    "snippet",
    [
        'if version == "v6":\n    pass',
        'x = "v8" != api_version',
        'ok = version in ("v6", "v8")',
        'cls = ADAPTERS["v7"]',
        'cls = ADAPTERS.get("V7")',
        'match version:\n    case "v6":\n        pass',
    ],
)
def test_checker_finds_version_branches(snippet):
    assert version_branches(snippet), snippet


@pytest.mark.parametrize("snippet", ['name = "v7 is the default"', 'if level == "v":\n    pass', "x = {'a': 1}['a']"])
def test_checker_ignores_other_strings(snippet):
    assert version_branches(snippet) == []


def test_plugins_have_python_files_outside_api():
    names = [os.path.relpath(path, PLUGINS) for path in _python_files()]
    assert "modules/rcl_order.py" in names and "module_utils/_client.py" in names and "module_utils/_common.py" in names
    assert not any(name.startswith("module_utils/_api/") for name in names)


def test_no_version_branch_outside_api():
    offenders = []
    for path in _python_files():
        with open(path, encoding="utf-8") as handle:
            for line, text in version_branches(handle.read(), path):
                offenders.append("%s:%d: %s" % (os.path.relpath(path, ROOT), line, text))
    assert offenders == []


def _module_utils() -> list[str]:
    found = []
    for base, dirs, names in os.walk(os.path.join(PLUGINS, "module_utils")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found.extend(os.path.join(base, n) for n in names if n.endswith(".py") and n != "__init__.py")
    return sorted(found)


@pytest.mark.parametrize("path", _module_utils(), ids=lambda p: os.path.relpath(p, PLUGINS))
def test_module_utils_are_marked_private_and_export_what_exists(path):
    import importlib

    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    assert "This module_util is private to the rcl.ssl collection" in source
    relative = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    module = importlib.import_module("ansible_collections.rcl.ssl." + relative)
    exported = getattr(module, "__all__", None)
    assert exported, "%s has no __all__" % relative
    assert [name for name in exported if not hasattr(module, name)] == []
