# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclCertificateError,
    redact_url,
)


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
