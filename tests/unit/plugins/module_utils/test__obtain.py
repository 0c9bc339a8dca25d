# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_obtain: the material directory writer, ``previous`` round trip, and finalizing with a known previous
certificate (no read before finalizing) next to the unchanged default (read first)."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils import _obtain
from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate, FinalizeRequest, Waiter
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclFileError

from ...conftest import API_PREFIX, SID, body

NAME = "www.shopeneur.com"
V7_ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/116443104/99"  # not the fixture's order


def test_write_material_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0o277)
    try:
        _obtain.write_material(str(tmp_path), "*.example.com", {"privkey.pem": b"key", "cert.pem": b"cert"})
    finally:
        os.umask(old)
    directory = tmp_path / "_wildcard.example.com"
    assert stat.S_IMODE(os.lstat(directory).st_mode) == 0o700
    for name, content in (("privkey.pem", b"key"), ("cert.pem", b"cert")):
        assert (directory / name).read_bytes() == content
        assert stat.S_IMODE(os.lstat(directory / name).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_wildcard.example.com"]


def test_write_material_refuses_a_file_in_the_way_and_leaves_nothing(tmp_path):
    (tmp_path / "www.example.com").write_text("mine")
    with pytest.raises(RclFileError, match="not a directory"):
        _obtain.write_material(str(tmp_path), "www.example.com", {"cert.pem": b"cert"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["www.example.com"]
    assert (tmp_path / "www.example.com").read_text() == "mine"


def test_previous_round_trip_keeps_the_instant_to_the_microsecond():
    issued = datetime(2023, 8, 29, 4, 53, 7, 447622, tzinfo=timezone.utc)
    shown = _obtain.previous_result(Certificate(NAME, order_uri="https://acme.test/order/1/1", issue_date=issued),
                                    known=True)
    assert shown == dict(known=True, exists=True, order_uri="https://acme.test/order/1/1",
                         issue_date="2023-08-29T04:53:07.447622Z")
    cert, known = _obtain._previous(shown, "orders[0]", NAME)
    assert known is True and cert is not None
    assert cert.issue_date == issued and cert.order_uri == "https://acme.test/order/1/1"
    assert _obtain._previous(_obtain.previous_result(None, known=True), "orders[0]", NAME) == (None, True)
    assert _obtain._previous(_obtain.previous_result(None, known=False), "orders[0]", NAME) == (None, False)
    assert _obtain._previous(None, "orders[0]", NAME) == (None, False)


@pytest.mark.parametrize("known, expected_paths", [
    (True, ["finalize"]),  # what the caller read stands in for the read
    (False, ["read", "finalize"]),  # the default, as rcl_finalize does it
])
def test_v7_finalize_reads_first_only_when_previous_is_unknown(httpserver, api_adapter, clock, known,
                                                               expected_paths):
    cert_path = "%s/v1/subscription/%s/core/certificate/%s" % (API_PREFIX["v7"], SID, NAME)
    httpserver.expect_request(cert_path, method="GET").respond_with_data(body("v7/certificate.json"),
                                                                         content_type="application/json")
    httpserver.expect_request(cert_path + "/finalize", method="GET").respond_with_data(
        body("v7/certificate.json"), content_type="application/json")
    adapter = api_adapter("v7")
    previous = Certificate(NAME, order_uri="https://acme.test/order/1/old")
    req = FinalizeRequest(NAME, V7_ORDER_URI, previous=previous if known else None, previous_known=known)
    result = adapter.finalize(req, Waiter(60, sleep=clock.sleep, monotonic=clock), True, False)
    assert result.changed is True and result.status == "valid"
    paths = ["finalize" if request.path.endswith("/finalize") else "read" for request, _response in httpserver.log]
    assert paths == expected_paths
