# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""certificate_todo (names across the play's hosts), the deploy entries of certificate_spec, and
certificate_challenges on an rcl_obtain result."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.rcl.ssl.plugins.filter.certificate_challenges import certificate_challenges
from ansible_collections.rcl.ssl.plugins.filter.certificate_spec import certificate_spec
from ansible_collections.rcl.ssl.plugins.filter.certificate_todo import certificate_todo


def host(entries: list[dict[str, Any]], needs: list[str], **check: Any) -> dict[str, Any]:
    return {"__rcl_certificate_specs": certificate_spec(entries, base_dir="/etc/ssl/rcl"),
            "__rcl_certificate_check": dict(check, needs_content=needs)}


def test_one_entry_per_name_with_pfx_if_any_host_wants_it() -> None:
    hostvars = {
        "a": host([{"name": "www.example.com"}, {"name": "api.example.com"}], ["www.example.com"]),
        "b": host([{"name": "www.example.com", "pfx_path": "/srv/www.pfx"}], ["www.example.com"]),
        "c": host([{"name": "api.example.com"}], []),
        "d": host([{"name": "mail.example.com"}], ["mail.example.com"], failed=True),  # its check failed
    }
    todo = certificate_todo(["a", "b", "c", "d", "gone"], hostvars)
    assert todo["obtain"] == [dict(name="www.example.com", root_domain="example.com", challenge_type="dns",
                                   san=False, pfx=True, service="rcl")]
    assert todo["hosts"] == {"www.example.com": ["a", "b"]}
    assert [spec["name"] for spec in todo["specs"]] == ["www.example.com"]


def test_one_name_with_two_meanings_is_refused() -> None:
    hostvars = {
        "a": host([{"name": "example.com", "san": True}], ["example.com"]),
        "b": host([{"name": "example.com"}], ["example.com"]),
    }
    with pytest.raises(AnsibleFilterError, match="example.com has san True on one host and False on b"):
        certificate_todo(["a", "b"], hostvars)


def test_nothing_to_do() -> None:
    todo = certificate_todo(["a"], {"a": host([{"name": "www.example.com"}], [])})
    assert todo == dict(obtain=[], specs=[], hosts={})
    with pytest.raises(AnsibleFilterError, match="list of the play's hosts"):
        certificate_todo("a", {})


def test_deploy_entry_is_what_rcl_cert_deploy_takes() -> None:
    spec = certificate_spec([{"name": "example.com", "san": True, "chain_path": "", "owner": "www-data",
                              "pfx_path": "/srv/example.pfx"}], base_dir="/etc/ssl/rcl")[0]
    assert spec["deploy"] == dict(
        name="example.com", names=["example.com", "*.example.com"], owner="www-data", group=None, backup=True,
        files=[dict(kind="certificate", path="/etc/ssl/rcl/example.com/cert.pem", mode="0644"),
               dict(kind="fullchain", path="/etc/ssl/rcl/example.com/fullchain.pem", mode="0644"),
               dict(kind="privatekey", path="/etc/ssl/rcl/example.com/privkey.pem", mode="0600"),
               dict(kind="pfx", path="/srv/example.pfx", mode="0600")],
        directories=spec["directories"])


def test_a_key_can_be_left_out_only_with_a_pfx() -> None:
    assert certificate_spec([{"name": "a.example.com", "privatekey_path": "", "pfx_path": "/srv/a.pfx"}])
    with pytest.raises(AnsibleFilterError, match="privatekey_path can only be empty with a pfx_path"):
        certificate_spec([{"name": "a.example.com", "privatekey_path": ""}])


def test_challenges_from_an_obtain_result() -> None:
    specs = certificate_spec([{"name": "example.com", "san": True, "dns_provider": "route53"},
                              {"name": "www.example.org", "challenge_type": "http", "webroot": "/srv/www"}])
    result = {"certificates": [
        {"name": "example.com", "ordered": True, "order_uri": "https://ca/order/1",
         "challenge_data_dns": {"_acme-challenge.example.com": ["v1", "v2"]}},
        {"name": "www.example.org", "ordered": True, "order_uri": "https://ca/order/2",
         "challenge_data": [{"identifier": "www.example.org", "challenges": {
             "http-01": {"resource": ".well-known/acme-challenge/tok", "resource_value": "tok.thumb"}}}]},
        {"name": "api.example.com", "ordered": False},
    ]}
    assert certificate_challenges(result, "dns", specs=specs) == [dict(
        name="_acme-challenge.example.com", values=["v1", "v2"], zone="example.com", record="_acme-challenge",
        provider="route53", certificate_name="example.com", keep_others=False)]
    assert certificate_challenges(result, "http", specs=specs) == [dict(
        certificate_name="www.example.org", identifier="www.example.org", resource=".well-known/acme-challenge/tok",
        resource_value="tok.thumb", webroot="/srv/www")]
    # a host that does not hold the HTTP name publishes nothing
    assert certificate_challenges(result, "http", specs=specs[:1]) == []
