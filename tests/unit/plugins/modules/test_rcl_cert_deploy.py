# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rcl_cert_deploy as Ansible runs it: its JSON, masking, check and diff mode (its action plugin: tests/unit/plugins/action)."""

from __future__ import annotations

import json
import os
import stat
import typing as t

from ansible_collections.rcl.ssl.plugins.modules import rcl_cert_deploy

from ..module_utils.test__hostdeploy import FILES, entry, material
from ..module_utils.test__hostdeploy import split as split_material


def test_deploy_then_converged_then_drift(run_module: t.Any, tmp_path: t.Any) -> None:
    base = str(tmp_path / "ssl")
    spec = entry(base)
    first = run_module(rcl_cert_deploy.main, dict(certificates=[spec]))
    assert first["changed"] is False and first["needs_content"] == ["www.example.test"]

    given = material(1)
    public, secret = split_material({"www.example.test": given})
    done = run_module(rcl_cert_deploy.main, dict(certificates=[spec], material=public, keys=secret), diff=True)
    assert done["changed"] is True and done["content_changed"] == ["www.example.test"] and done["needs_content"] == []
    text = json.dumps(done)
    assert given["privatekey"].split("\n")[1] not in text and given["pfx"] not in text  # masked / never returned
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in json.dumps(done["invocation"]["module_args"]["keys"])
    assert done["certificates"][0]["deployed"]["sans"] == ["www.example.test"]  # names are not masked
    assert "serial: 01" in done["diff"][0]["after"]

    again = run_module(rcl_cert_deploy.main, dict(certificates=[spec]))
    assert again["changed"] is False and again["needs_content"] == []
    assert again["certificates"][0]["deployed"]["sans"] == ["www.example.test"]

    key = os.path.join(base, "www.example.test", FILES["privatekey"])
    os.chmod(key, 0o640)
    checked = run_module(rcl_cert_deploy.main, dict(certificates=[spec]), check_mode=True)
    assert checked["changed"] is True and stat.S_IMODE(os.stat(key).st_mode) == 0o640
    fixed = run_module(rcl_cert_deploy.main, dict(certificates=[spec]))
    assert fixed["changed"] is True and fixed["needs_content"] == [] and fixed["content_changed"] == []
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_errors_are_clear_and_touch_nothing(run_module: t.Any, tmp_path: t.Any) -> None:
    spec = entry(str(tmp_path / "ssl"))
    res = run_module(rcl_cert_deploy.main, dict(certificates=[spec], material={"other.example.test": material(1)}))
    assert res["failed"] and "not in certificates" in res["msg"]
    res = run_module(rcl_cert_deploy.main, dict(certificates=[spec], material_dir=str(tmp_path)))
    assert res["failed"] and "action plugin" in res["msg"]
    res = run_module(rcl_cert_deploy.main, dict(certificates=[spec], backup_keep=-1))
    assert res["failed"] and "backup_keep" in res["msg"]
    assert not os.path.exists(str(tmp_path / "ssl"))


def test_a_failed_certificate_fails_the_module_and_still_reports_what_changed(run_module: t.Any, tmp_path: t.Any) -> None:
    base = str(tmp_path / "ssl")
    good, bad = entry(base, name="a.example.test"), entry(base, name="b.example.test", owner="no-such-user-rcl")
    public, secret = split_material({"a.example.test": material(1, "a.example.test"), "b.example.test": material(1, "b.example.test")})
    res = run_module(rcl_cert_deploy.main, dict(certificates=[good, bad], material=public, keys=secret))
    assert res["failed"] is True and res["msg"].startswith("b.example.test: ")
    assert res["content_changed"] == ["a.example.test"] and res["failures"] == ["b.example.test"]
