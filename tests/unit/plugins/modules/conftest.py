# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's ``main()`` for real: its JSON on stdout, against a local HTTP server.

``run_module`` lets ``exit_json`` / ``fail_json`` do their work (including Ansible's
masking of no_log values) and parses what the module printed, exactly as the
controller would see it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import typing as t

import pytest

SUB = "sub_df45ghfh463nfhh"
API_KEY = "45ref546-67rf-65ytr-65tr-546trfred"
PFX_PASSWORD = "pwd1234-Secret"
SECRET_URL = "https://storage.test/bf0e9b01-a0cc-4a0e-b232-75265afd2c1d"


def api_date(dt: datetime.datetime) -> str:
    """The API's format: seven fractional digits, no zone (the collection's one formatter)."""
    from ansible_collections.rcl.ssl.plugins.module_utils._time import format_api_datetime

    return format_api_datetime(dt)


@contextlib.contextmanager
def module_args(args: dict[str, t.Any]) -> t.Iterator[None]:
    """The arguments ``AnsibleModule`` reads, the way each ansible-core passes them.

    ansible-core 2.19 and later have ``ansible.module_utils.testing.patch_module_args``, which
    also runs the module outside the controller context; 2.16 to 2.18 read the serialized
    ``basic._ANSIBLE_ARGS`` (what community.crypto's ``set_module_args`` sets).
    """
    from ansible.module_utils.common.parameters import PASS_VARS

    if "inject_invocation" in PASS_VARS:  # ansible-core 2.21+: as with INJECT_INVOCATION=true (and -vvvv)
        args = dict(args, _ansible_inject_invocation=True)
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        from ansible.module_utils import basic
        from ansible.module_utils.common.text.converters import to_bytes

        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved
        return
    from ansible.module_utils import _internal as ansible_internal

    was_controller = getattr(ansible_internal, "is_controller", False)
    ansible_internal.is_controller = False
    try:
        with patch_module_args(args):
            yield
    finally:
        ansible_internal.is_controller = was_controller


class ModuleRunner:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.last_stdout = ""

    def __call__(self, main: t.Callable[[], None], args: dict[str, t.Any], check_mode: bool = False,
                 diff: bool = False) -> dict[str, t.Any]:
        from ansible.module_utils.common import warnings as ansible_warnings

        # A module runs in a process of its own; here several share one with controller code
        # (the filter tests): forget earlier warnings, and run as a module, not the controller.
        for name in ("_global_warnings", "_global_deprecations"):
            getattr(ansible_warnings, name, []).clear()
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        self.capsys.readouterr()
        with module_args(args):
            with pytest.raises(SystemExit):
                main()
        self.last_stdout = self.capsys.readouterr().out
        return json.loads(self.last_stdout)


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str]) -> ModuleRunner:
    return ModuleRunner(capsys)


@pytest.fixture
def v7_args(httpserver: t.Any) -> dict[str, t.Any]:
    return dict(api_version="v7", api_url=httpserver.url_for("/public"), subscription_id=SUB, api_key=API_KEY,
                retries=0)


def v7_path(name: str, suffix: str = "") -> str:
    from urllib.parse import quote

    return "/public/v1/subscription/%s/core/certificate/%s%s" % (SUB, quote(name, safe=""), suffix)


@pytest.fixture
def v7_certificate(pki: t.Callable[..., t.Any]) -> t.Callable[..., dict[str, t.Any]]:
    """A V7 Certificate reply (the documented example's shape) around real PKCS#12 material."""

    def build(name: str = "www.example.test", days_left: int = 60, order_uri: str = "https://acme.test/order/1/1",
              sans: t.Sequence[str] | None = None, root_domain: str = "example.test", **pki_args: t.Any) -> dict[str, t.Any]:
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        expiry = now + datetime.timedelta(days=days_left)
        material = pki(sans=list(sans or [name]), password=PFX_PASSWORD,
                       not_after=expiry.replace(tzinfo=datetime.timezone.utc), **pki_args)
        urls = {key: "%s%s" % (SECRET_URL, ext) for key, ext in (
            ("pemUrl", ".pem"), ("pfxUrl", ".pfx"), ("cerUrl", ".cer"), ("crtUrl", ".crt"),
            ("txtUrl", "-certdownload.txt"), ("keyUrl", ".key"), ("keyTxtUrl", ".txt"),
            ("certCrtUrl", "-cert.crt"), ("cabundleCrtUrl", "-cabundle.crt"), ("fullchainCrtUrl", "-fullchain.crt"))}
        reply = {
            "certificateName": name,
            "rootDomain": root_domain,
            "email": "support@rclapp.com",
            "challengeType": "DNS",
            "orderUri": order_uri,
            "issueDate": api_date(now - datetime.timedelta(days=30)),
            "expiryDate": api_date(expiry),
            "id": 342,
            "password": PFX_PASSWORD,
            "pfxString": base64.b64encode(material.pkcs12).decode(),
            "certificateDownloadUrl": urls,
        }
        reply["_material"] = material  # not sent: stripped by serve()
        return reply

    return build


def reply_body(reply: dict[str, t.Any]) -> dict[str, t.Any]:
    return {key: value for key, value in reply.items() if not key.startswith("_")}


def secrets_of(reply: dict[str, t.Any]) -> list[str]:
    """Every secret a Certificate reply carries, plus the API key."""
    found = [API_KEY, reply["password"], reply["pfxString"][:40]]
    found.extend(reply["certificateDownloadUrl"].values())
    found.append(SECRET_URL)
    return found
