# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import base64
import os
import stat

from ansible_collections.rcl.ssl.plugins.modules import rcl_cert_fetch

from .conftest import PFX_PASSWORD, reply_body, secrets_of, v7_path


def _serve(httpserver, reply):
    httpserver.expect_request(v7_path(reply["certificateName"]), method="GET").respond_with_json(reply_body(reply))


def _paths(tmp_path):
    return dict(certificate_path=str(tmp_path / "cert.pem"), chain_path=str(tmp_path / "chain.pem"),
                fullchain_path=str(tmp_path / "fullchain.pem"), privatekey_path=str(tmp_path / "privkey.pem"),
                pfx_path=str(tmp_path / "cert.pfx"))


def _snapshot(tmp_path):
    return {p.name: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(tmp_path.iterdir())}


def test_writes_every_file_then_converges(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    reply = v7_certificate()
    material = reply["_material"]
    _serve(httpserver, reply)
    args = dict(v7_args, certificate_name="www.example.test", **_paths(tmp_path))
    first = run_module(rcl_cert_fetch.main, args)
    assert first["changed"] is True
    assert all(item["changed"] for item in first["files"])
    assert (tmp_path / "cert.pem").read_bytes() == material.pem(material.leaf)
    assert (tmp_path / "chain.pem").read_bytes() == material.pem(*material.intermediates)
    assert (tmp_path / "fullchain.pem").read_bytes() == material.pem(material.leaf, *material.intermediates)
    assert b"PRIVATE KEY" in (tmp_path / "privkey.pem").read_bytes()
    assert base64.b64encode((tmp_path / "cert.pfx").read_bytes()).decode() == reply["pfxString"]
    assert stat.S_IMODE(os.stat(tmp_path / "privkey.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "cert.pfx").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "cert.pem").st_mode) == 0o644
    assert first["certificate"]["sans"] == ["www.example.test"]
    before = _snapshot(tmp_path)

    second = run_module(rcl_cert_fetch.main, args)
    assert second["changed"] is False
    assert _snapshot(tmp_path) == before
    assert len(httpserver.log) == 2  # one read per run: comparing needs the certificate
    for secret in secrets_of(reply):
        assert secret not in run_module.last_stdout
    assert "PRIVATE KEY" not in run_module.last_stdout


def test_check_mode_and_diff_touch_nothing(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    reply = v7_certificate()
    _serve(httpserver, reply)
    result = run_module(rcl_cert_fetch.main, dict(v7_args, certificate_name="www.example.test", **_paths(tmp_path)),
                        check_mode=True, diff=True)
    assert result["changed"] is True
    assert list(tmp_path.iterdir()) == []
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["sans"] == ["www.example.test"]
    assert "PRIVATE KEY" not in run_module.last_stdout


def test_reencrypted_pfx_is_stable(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    from cryptography.hazmat.primitives.serialization import pkcs12

    _serve(httpserver, v7_certificate())
    args = dict(v7_args, certificate_name="www.example.test", pfx_path=str(tmp_path / "x.pfx"), pfx_password="mine")
    assert run_module(rcl_cert_fetch.main, args)["changed"] is True
    key, cert, extra = pkcs12.load_key_and_certificates((tmp_path / "x.pfx").read_bytes(), b"mine")
    assert key is not None and cert is not None
    assert run_module(rcl_cert_fetch.main, args)["changed"] is False
    assert "mine" not in run_module.last_stdout  # a no_log value


def test_mismatched_key_writes_nothing(httpserver, run_module, v7_args, v7_certificate, pki, tmp_path):
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    reply = v7_certificate()
    other = pki(key_type="ec", sans=["www.example.test"], name="Other")
    # cryptography refuses to pair a key with a certificate it does not match: store the leaf as an extra
    blob = pkcs12.serialize_key_and_certificates(b"x", other.leaf_key, None,
                                                 [reply["_material"].leaf] + reply["_material"].intermediates,
                                                 BestAvailableEncryption(PFX_PASSWORD.encode()))
    reply["pfxString"] = base64.b64encode(blob).decode()
    (tmp_path / "fullchain.pem").write_bytes(b"old")
    _serve(httpserver, reply)
    result = run_module(rcl_cert_fetch.main, dict(v7_args, certificate_name="www.example.test", **_paths(tmp_path)))
    assert result["failed"] is True
    assert result["failed_check"] == "key_match"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fullchain.pem"]
    assert (tmp_path / "fullchain.pem").read_bytes() == b"old"


def test_name_check(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    reply = v7_certificate(sans=["other.example.test"])
    _serve(httpserver, reply)
    result = run_module(rcl_cert_fetch.main, dict(v7_args, certificate_name="www.example.test", **_paths(tmp_path)))
    assert result["failed"] is True
    assert result["failed_check"] == "names"
    assert list(tmp_path.iterdir()) == []


def test_return_content_only_key_on_request(httpserver, run_module, v7_args, v7_certificate):
    _serve(httpserver, v7_certificate())
    args = dict(v7_args, certificate_name="www.example.test", return_content=True)
    result = run_module(rcl_cert_fetch.main, args)
    assert result["content"]["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "private_key" not in result["content"]
    result = run_module(rcl_cert_fetch.main, dict(args, return_private_key=True))
    assert "PRIVATE KEY" in result["content"]["private_key"]


def test_nothing_to_do_fails_before_request(httpserver, run_module, v7_args):
    result = run_module(rcl_cert_fetch.main, dict(v7_args, certificate_name="www.example.test"))
    assert result["failed"] is True
    assert "Nothing to do" in result["msg"]
    assert len(httpserver.log) == 0


def test_destinations_checked_before_any_request(httpserver, run_module, v7_args, tmp_path):
    os.mkfifo(str(tmp_path / "fifo.pem"))  # a blocking read would hang the module
    (tmp_path / "dangling.pem").symlink_to(tmp_path / "nowhere" / "x.pem")
    cases = [
        (dict(certificate_path=str(tmp_path / "fifo.pem")), "certificate_path"),
        (dict(fullchain_path=str(tmp_path / "dangling.pem"), follow=True), "dangling"),
        (dict(privatekey_path=str(tmp_path / "missing" / "key.pem")), "privatekey_path"),
        (dict(pfx_path=str(tmp_path)), "pfx_path"),
        (dict(certificate_path=str(tmp_path / "c.pem"), owner="4294967296"), "owner"),
        (dict(certificate_path=str(tmp_path / "c.pem"), group="no-such-group-rcl"), "group"),
        (dict(certificate_path=str(tmp_path / "c.pem"), mode="u=banana"), "mode"),
    ]
    for extra, fragment in cases:
        result = run_module(rcl_cert_fetch.main, dict(v7_args, certificate_name="www.example.test", **extra))
        assert result["failed"] is True and fragment in result["msg"], (extra, result["msg"])
    assert len(httpserver.log) == 0


def test_pfx_behind_a_link_is_replaced_not_read(httpserver, run_module, v7_args, v7_certificate, tmp_path):
    _serve(httpserver, v7_certificate())
    elsewhere = tmp_path / "elsewhere.pfx"
    elsewhere.write_bytes(b"not yours")
    (tmp_path / "cert.pfx").symlink_to(elsewhere)
    result = run_module(rcl_cert_fetch.main, dict(v7_args, certificate_name="www.example.test",
                                                  pfx_path=str(tmp_path / "cert.pfx")))
    assert result["changed"] is True, result
    assert not os.path.islink(str(tmp_path / "cert.pfx")) and elsewhere.read_bytes() == b"not yours"
