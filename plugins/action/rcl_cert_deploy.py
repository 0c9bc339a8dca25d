# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller side of rcl.ssl.rcl_cert_deploy: reads ``material_dir`` (written by
rcl.ssl.rcl_obtain) and hands the material of this host's certificates to the module: the
certificates in ``material``, the key and PFX in the ``no_log`` argument ``keys``. Nothing
read here goes into the task result."""

from __future__ import annotations

import base64
import json
import os
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclError
from ansible_collections.rcl.ssl.plugins.module_utils._files import read_file
from ansible_collections.rcl.ssl.plugins.module_utils._names import safe_dir_name
from ansible_collections.rcl.ssl.plugins.module_utils._obtain import FACTS_FILE, MATERIAL_FILES

MAX_SIZE = 1024 * 1024
SECRET_KINDS = ("privatekey", "pfx")  # handed to the module in its no_log option `keys`


def _read(path: str) -> bytes:
    """A regular file of the material directory (never a link, never more than MAX_SIZE)."""
    try:
        data = read_file(path, max_size=MAX_SIZE, follow=False)
    except RclError as exc:
        raise AnsibleActionFail(exc.msg) from None
    if data is None:
        raise AnsibleActionFail("cannot read %s: missing, or a symbolic link" % path)
    return data


def read_material(material_dir: str, certificates: t.Any) -> dict[str, dict[str, t.Any]]:
    """The material of every certificate of ``certificates`` that ``material_dir`` holds (all kinds in one dict
    per name; ``split`` separates the secrets)."""
    if not os.path.isabs(material_dir) or not os.path.isdir(material_dir):
        raise AnsibleActionFail("material_dir %s is not a directory on the controller" % material_dir)
    material: dict[str, dict[str, t.Any]] = {}
    for entry in certificates if isinstance(certificates, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue  # the module reports bad entries
        name = entry["name"]
        try:
            directory = os.path.join(material_dir, safe_dir_name(name.strip()))
        except RclError:
            continue  # the module reports the bad name
        if not os.path.isdir(directory) or os.path.islink(directory):
            continue
        try:
            facts = json.loads(_read(os.path.join(directory, FACTS_FILE)).decode("utf-8"))
        except ValueError:
            raise AnsibleActionFail("%s/%s is not valid JSON" % (directory, FACTS_FILE)) from None
        item: dict[str, t.Any] = {"facts": facts}
        for spec in entry.get("files") or []:
            kind = spec.get("kind") if isinstance(spec, dict) else None
            if kind not in MATERIAL_FILES:
                continue
            data = _read(os.path.join(directory, MATERIAL_FILES[kind]))
            item[kind] = base64.b64encode(data).decode("ascii") if kind == "pfx" else data.decode("utf-8")
        material[name] = item
    return material


def split(material: dict[str, dict[str, t.Any]]) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """(material, keys) as the module takes them: the key and PFX apart, in the no_log option."""
    public = {name: {k: v for k, v in item.items() if k not in SECRET_KINDS} for name, item in material.items()}
    secret = {name: {k: v for k, v in item.items() if k in SECRET_KINDS} for name, item in material.items()}
    return public, secret


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        del tmp  # not used
        args = dict(self._task.args)
        material_dir = args.pop("material_dir", None)
        if material_dir:
            if args.get("material") or args.get("keys"):
                raise AnsibleActionFail("parameters are mutually exclusive: material|material_dir, keys|material_dir")
            material = read_material(os.path.expanduser(str(material_dir)), args.get("certificates"))
            if material:
                args["material"], args["keys"] = split(material)
        module_result = self._execute_module(module_name="rcl.ssl.rcl_cert_deploy", module_args=args,
                                             task_vars=task_vars)
        invocation = module_result.get("invocation")
        if isinstance(invocation, dict) and isinstance(invocation.get("module_args"), dict):
            invocation["module_args"].pop("material", None)  # certificates: long, and the caller has them
            invocation["module_args"].pop("keys", None)
            if material_dir:
                invocation["module_args"]["material_dir"] = material_dir
        result.update(module_result)
        return result
