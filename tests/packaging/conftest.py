# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures of the packaging tests: the tarball, built once, and the tools they call.

The tarball is built the way a release is: ``ansible-galaxy collection build`` on the copy of
the files that ``scripts/collection-tree`` copies (tracked, and untracked ones git does not ignore).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from _packaging import ROOT, require_tool, run


@pytest.fixture(scope="session")
def galaxy() -> dict[str, Any]:
    """The checkout's galaxy.yml."""
    with open(ROOT / "galaxy.yml", encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


@pytest.fixture(scope="session")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rcl-ssl-<version>.tar.gz built from a clean copy of the checkout."""
    ansible_galaxy = require_tool("ansible-galaxy")
    base = tmp_path_factory.mktemp("tree")
    env = dict(os.environ, RCL_COLLECTION_TREE=str(base))
    tree = run(["bash", str(ROOT / "scripts" / "collection-tree")], env=env).stdout.strip()
    dist = tmp_path_factory.mktemp("dist")
    run([ansible_galaxy, "collection", "build", tree, "--output-path", str(dist)])
    (built,) = dist.glob("*.tar.gz")
    return built


@pytest.fixture(scope="session")
def members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    """The tarball's entries by path (``./`` stripped)."""
    with tarfile.open(tarball) as tar:
        return {m.name.removeprefix("./"): m for m in tar.getmembers()}


@pytest.fixture(scope="session")
def unpacked(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball extracted, to read its files."""
    dest = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    return dest


@pytest.fixture(scope="session")
def collections_path(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collections path holding the tarball installed (without its dependencies)."""
    ansible_galaxy = require_tool("ansible-galaxy")
    dest = tmp_path_factory.mktemp("collections")
    run([ansible_galaxy, "collection", "install", "--no-deps", "-p", str(dest), str(tarball)],
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest)))
    return dest
