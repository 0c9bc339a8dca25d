# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rcl_cert_deploy's action plugin on the controller: what it reads of the material directory, and how it splits it."""

from __future__ import annotations

import base64
import json
import os
import typing as t

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.rcl.ssl.plugins.action.rcl_cert_deploy import read_material, split

from ..module_utils.test__hostdeploy import entry, material


def _write_material(directory: str, given: dict[str, t.Any]) -> None:
    os.makedirs(directory, mode=0o700)
    for kind, name in (("certificate", "cert.pem"), ("chain", "chain.pem"), ("fullchain", "fullchain.pem"),
                       ("privatekey", "privkey.pem")):
        with open(os.path.join(directory, name), "w") as handle:
            handle.write(given[kind])
    with open(os.path.join(directory, "cert.pfx"), "wb") as handle:
        handle.write(base64.b64decode(given["pfx"]))
    with open(os.path.join(directory, "facts.json"), "w") as handle:
        json.dump(given["facts"], handle)


def test_action_reads_the_material_of_the_listed_certificates(tmp_path: t.Any) -> None:
    given = material(1, name="*.example.test")
    _write_material(str(tmp_path / "mat" / "_wildcard.example.test"), given)
    _write_material(str(tmp_path / "mat" / "other.example.test"), material(2, name="other.example.test"))
    spec = entry(str(tmp_path / "ssl"), name="*.example.test")
    found = read_material(str(tmp_path / "mat"), [spec, entry(str(tmp_path / "ssl"), name="absent.example.test")])
    assert list(found) == ["*.example.test"]  # other.example.test is not this host's; absent has none
    assert found["*.example.test"]["privatekey"] == given["privatekey"]
    assert found["*.example.test"]["pfx"] == given["pfx"]
    assert found["*.example.test"]["facts"]["not_after"] == given["facts"]["not_after"]
    public, secret = split(found)  # what the action hands the module: key and PFX only in the no_log option
    assert set(secret["*.example.test"]) == {"privatekey", "pfx"}
    assert "privatekey" not in public["*.example.test"] and "pfx" not in public["*.example.test"]


def test_action_refuses_links_and_relative_dirs(tmp_path: t.Any) -> None:
    given = material(1)
    directory = str(tmp_path / "mat" / "www.example.test")
    _write_material(directory, given)
    os.unlink(os.path.join(directory, "privkey.pem"))
    os.symlink("/etc/passwd", os.path.join(directory, "privkey.pem"))
    spec = entry(str(tmp_path / "ssl"))
    with pytest.raises(AnsibleActionFail, match="cannot read"):
        read_material(str(tmp_path / "mat"), [spec])
    with pytest.raises(AnsibleActionFail, match="not a directory"):
        read_material("relative/dir", [spec])
