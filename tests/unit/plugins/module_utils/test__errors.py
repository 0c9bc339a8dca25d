# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclCertificateError,
    RclError,
    redact_url,
    terminal_safe,
)

HOSTILE_BODY = "Bad\x1b[2J\x1b[31m request\x00\x07\r\nX-Injected: 1"
RAW_CONTROLS = [chr(c) for c in range(0x20) if c != 0x09] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]


def test_api_error_keeps_body_verbatim():
    err = RclApiError(400, "https://api.test/x", "Certificate name is not defined.\n")
    result = err.to_result()
    assert result["api_message"] == "Certificate name is not defined."
    assert result["http_status"] == 400
    assert result["msg"].endswith(": Certificate name is not defined.")


def test_redact_url_drops_query_and_userinfo():
    assert redact_url("https://u:p@h.test/a/b?sig=secret") == "https://h.test/a/b?<redacted>"
    assert redact_url("https://h.test/a?x=1", keep_query=True) == "https://h.test/a?x=1"


def test_certificate_error_names_check():
    err = RclCertificateError("key does not match", check="key_match")
    assert err.to_result() == {"msg": "key does not match", "failed_check": "key_match"}


def test_terminal_safe_escapes_ansi_and_forged_lines():
    assert terminal_safe(HOSTILE_BODY) == "Bad\\x1b[2J\\x1b[31m request\\x00\\x07\\r\\nX-Injected: 1"


@pytest.mark.parametrize("char", RAW_CONTROLS + ["\ud800", "\udfff"])
def test_terminal_safe_escapes_every_control(char):
    escaped = terminal_safe("a%sb" % char)
    assert escaped.startswith("a\\") and escaped.endswith("b")
    assert char not in escaped
    assert all(0x20 <= ord(c) < 0x7F for c in escaped)


def test_terminal_safe_keeps_text_tab_and_unicode():
    text = "Order\tnot ready: café ✓ \\ back\\slash \u00e9\u4e2d"
    assert terminal_safe(text) == text
    assert terminal_safe("") == ""
    assert terminal_safe("\x85\x9b\x7f") == "\\x85\\x9b\\x7f"


def test_to_result_is_terminal_safe():
    err = RclApiError(400, "https://api.test/x", HOSTILE_BODY)
    result = err.to_result()
    for key in ("msg", "api_message"):
        value = result[key]
        assert not any(c in value for c in ("\x1b", "\x00", "\x07", "\r", "\n")), key
    assert result["api_message"] == "Bad\\x1b[2J\\x1b[31m request\\x00\\x07\\r\\nX-Injected: 1"
    assert result["msg"].endswith(": " + result["api_message"])
    assert result["http_status"] == 400
    assert err.body == HOSTILE_BODY  # the exception keeps the body verbatim


def test_to_result_escapes_every_str_detail():
    err = RclError("two\nlines", path="/tmp/a\x1b[2Jb", names=["ok", "x\ry"], count=3, nested={"k": "v\x00"})
    result = err.to_result()
    assert result == {
        "msg": "two\\nlines",
        "path": "/tmp/a\\x1b[2Jb",
        "names": ["ok", "x\\ry"],
        "count": 3,
        "nested": {"k": "v\\x00"},
    }
    assert err.msg == "two\nlines" and err.details["path"] == "/tmp/a\x1b[2Jb"
