# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's filter plugins, called directly: no sandbox, no Ansible run."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.rcl.ssl.plugins.filter.certificate_challenges import certificate_challenges
from ansible_collections.rcl.ssl.plugins.filter.certificate_spec import certificate_spec
from ansible_collections.rcl.ssl.plugins.filter.certificate_status import certificate_status

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(names: list[str], days: int, ca: tuple[Any, x509.Certificate] | None = None) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_key, ca_cert = ca if ca else (key, None)
    builder = (x509.CertificateBuilder().subject_name(_name(names[0]))
               .issuer_name(ca_cert.subject if ca_cert else _name(names[0]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=days)))
    if ca is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


CA = issue(["Test Intermediate"], 3650)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def slurped(spec: dict[str, Any], files: dict[str, bytes | None]) -> dict[str, Any]:
    results = []
    for item in spec["files"]:
        data = files.get(item["kind"])
        if data is None:
            results.append({"item": item, "failed": False, "msg": "file not found: %s" % item["path"]})
        else:
            results.append({"item": item, "content": base64.b64encode(data).decode(), "encoding": "base64"})
    return {"results": results, "changed": False}


def deployed(names: list[str], days: int, key: Any = None) -> tuple[dict[str, bytes], Any]:
    leaf_key, leaf = issue(names, days, CA)
    return {"certificate": pem(leaf), "chain": pem(CA[1]), "fullchain": pem(leaf, CA[1]),
            "privatekey": key_pem(key or leaf_key)}, leaf


def status(spec: dict[str, Any], files: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return certificate_status([spec], slurped(spec, files), now=NOW, **kw)[0]


# -- certificate_spec ------------------------------------------------------------------------

def test_spec_defaults_wildcard_and_san() -> None:
    specs = certificate_spec([{"name": "*.Example.com"}, {"name": "example.org", "san": True, "challenge_type": "http",
                                                          "chain_path": "", "pfx_path": "/srv/x.pfx", "webroot": "/srv/www"}],
                             base_dir="/etc/ssl/rcl", defaults={"mode": "0640", "reload": "nginx"})
    wild, san = specs
    assert wild["safe_name"] == "_wildcard.example.com" and wild["root_domain"] == "example.com"
    assert [f["path"] for f in wild["files"]] == ["/etc/ssl/rcl/_wildcard.example.com/" + n for n in
                                                  ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")]
    assert [f["mode"] for f in wild["files"]] == ["0640", "0640", "0640", "0600"]
    assert wild["reload"] == ["nginx"] and wild["wanted_names"] == ["*.example.com"]
    assert san["wanted_names"] == ["example.org", "www.example.org"]
    assert [f["kind"] for f in san["files"]] == ["certificate", "fullchain", "privatekey", "pfx"] and san["pfx"]
    assert {"path": "/srv", "mode": None} in san["directories"]
    assert san["directories"][0] == {"path": "/etc/ssl/rcl", "mode": "0755"}


@pytest.mark.parametrize("name, extra, root, zone", [
    # The root domain and the zone come from the Public Suffix List, not from the last two labels.
    ("www.shop.co.uk", {}, "shop.co.uk", "shop.co.uk"),
    ("*.shop.co.uk", {}, "shop.co.uk", "shop.co.uk"),
    ("www.shop.example.co.uk", {}, "example.co.uk", "example.co.uk"),
    ("a.b.c.example.com", {}, "example.com", "example.com"),
    ("www.x.duckdns.org", {}, "x.duckdns.org", "x.duckdns.org"),
    ("shop.co.uk", {"san": True}, "shop.co.uk", "shop.co.uk"),
    ("www.shop.co.uk", {"root_domain": "Shop.co.uk", "dns_zone": "_acme-challenge.shop.co.uk."},
     "shop.co.uk", "_acme-challenge.shop.co.uk"),
    (" WWW.Example.COM ", {}, "example.com", "example.com"),
])
def test_spec_root_domain_and_zone(name: str, extra: dict[str, Any], root: str, zone: str) -> None:
    spec = certificate_spec([dict(extra, name=name)], base_dir="/etc/ssl/rcl")[0]
    assert (spec["root_domain"], spec["dns_zone"]) == (root, zone)
    assert spec["name"] == name.strip().lower()


def test_spec_www_shop_co_uk() -> None:
    spec = certificate_spec([{"name": "www.shop.co.uk"}], base_dir="/etc/ssl/rcl")[0]
    assert spec["root_domain"] == "shop.co.uk" and spec["dns_zone"] == "shop.co.uk"
    assert spec["wanted_names"] == ["www.shop.co.uk"] and spec["directory"] == "/etc/ssl/rcl/www.shop.co.uk"


@pytest.mark.parametrize("entries, message", [
    ([{"name": "*.example.com", "challenge_type": "http"}], "wildcard"),
    ([{"name": "co.uk"}], "co.uk is a public suffix"),
    ([{"name": "www.example.com."}], "must not end with a dot"),
    ([{"name": "www.example.com\n"}], "control characters"),
    ([{"name": ".."}], "certificate_spec: certificate_name"),
    ([{"name": "a..b.example.com"}], "invalid label"),
    ([{"name": "a.*.example.com"}], "leading"),
    ([{"name": "example.com,www.example.com"}], "san=true"),
    ([{"name": "*.example.com", "san": True}], "apex"),
    ([{"name": "www.example.com", "challenge_type": "tls-alpn-01"}], "challenge_type must be dns or http"),
    ([{"name": "www.example.com", "root_domain": "*.example.com"}], "root_domain"),
    ([{"name": "www.example.com", "san": True, "root_domain": "example.com"}], "apex"),
    ([{"name": "a.example.com"}, {"name": "a.example.com"}], "twice"),
    ([{"name": "a.example.com", "privatekey_path": ""}], "privatekey_path"),
    ([{"name": "a.example.com", "certificate_path": "relative.pem"}], "absolute"),
    ([{"name": "a.example.com", "root_domain": "example.org"}], "not within"),
    ([{"name": "a.example.com", "challenge_type": "http"}], "HTTP-01 needs a web root"),
    ([{"name": "a.example.com", "challenge_type": "http", "webroot": "srv/www"}], "webroot must be an absolute path"),
])
def test_spec_refuses(entries: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        certificate_spec(entries, base_dir="/etc/ssl/rcl")


# -- certificate_status ------------------------------------------------------------------------

SPEC = certificate_spec([{"name": "example.com", "san": True}], base_dir="/etc/ssl/rcl")[0]


def test_status_good_deployment_needs_nothing() -> None:
    files, leaf = deployed(["example.com", "*.example.com"], 60)
    result = status(SPEC, files)
    assert result["needs_work"] is False and result["reasons"] == []
    assert result["deployed"]["days_remaining"] == 60 and "PRIVATE KEY" not in str(result)


def test_status_reasons() -> None:
    files, _leaf = deployed(["example.com", "*.example.com"], 60)
    assert status(SPEC, dict(files, chain=None))["reasons"] == ["/etc/ssl/rcl/example.com/chain.pem: missing"]
    assert status(SPEC, files, force=True)["reasons"] == ["forced"]
    assert "expires in 10 days (threshold 30)" in status(SPEC, deployed(["example.com", "*.example.com"], 10)[0])["reasons"]
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert "key_match" in status(SPEC, dict(files, privatekey=key_pem(other_key)))["reasons"][0]
    assert "does not cover *.example.com" in status(SPEC, deployed(["example.com"], 60)[0])["reasons"][0]
    wrong_full = dict(files, fullchain=pem(issue(["example.com", "*.example.com"], 60, CA)[1], CA[1]))
    assert status(SPEC, wrong_full)["reasons"] == ["the full chain is not the certificate followed by the chain"]
    assert "pem" in status(SPEC, dict(files, certificate=b"garbage\n"))["reasons"][0]


def test_status_empty_chain_is_fine() -> None:
    spec = certificate_spec([{"name": "a.example.com"}], base_dir="/x")[0]
    key, leaf = issue(["a.example.com"], 60, CA)
    files = {"certificate": pem(leaf), "chain": b"", "fullchain": pem(leaf), "privatekey": key_pem(key)}
    assert status(spec, files)["needs_work"] is False


# -- certificate_challenges ------------------------------------------------------------------

def test_challenges_one_record_set_per_name_and_http_files() -> None:
    dns_spec, http_spec = certificate_spec([{"name": "example.com", "san": True, "dns_zone": "example.com"},
                                            {"name": "www.example.org", "challenge_type": "http", "webroot": "/srv/www"}],
                                           base_dir="/x")
    results = {"results": [
        {"item": dns_spec, "changed": True, "order_uri": "https://ca/order/1",
         "challenge_data_dns": {"_acme-challenge.example.com": ["v-apex", "v-wild"]}},
        {"item": http_spec, "changed": True, "order_uri": "https://ca/order/2",
         "challenge_data": [{"identifier": "www.example.org", "challenges": {"http-01": {
             "resource": ".well-known/acme-challenge/tok", "resource_value": "tok.thumb"}}}]},
        {"item": dns_spec, "changed": False, "certificate": {}},
    ]}
    assert certificate_challenges(results, "dns") == [{
        "name": "_acme-challenge.example.com", "values": ["v-apex", "v-wild"], "zone": "example.com",
        "record": "_acme-challenge", "provider": "nsupdate", "certificate_name": "example.com", "keep_others": False}]
    assert certificate_challenges(results, "wait_for_txt") == [
        {"name": "_acme-challenge.example.com", "values": ["v-apex", "v-wild"]}]
    files = certificate_challenges(results, "http", specs=[http_spec])
    assert files == [{"certificate_name": "www.example.org", "identifier": "www.example.org",
                      "resource": ".well-known/acme-challenge/tok", "resource_value": "tok.thumb",
                      "webroot": "/srv/www"}]
    assert certificate_challenges(results, "http", specs=[dns_spec]) == []


def test_challenges_zone_from_public_suffix_list() -> None:
    spec = certificate_spec([{"name": "www.shop.co.uk"}], base_dir="/x")[0]
    result = {"item": spec, "changed": True, "order_uri": "https://ca/order/3",
              "challenge_data_dns": {"_acme-challenge.www.shop.co.uk.": ["v"]}}
    assert certificate_challenges([result], "dns") == [{
        "name": "_acme-challenge.www.shop.co.uk", "values": ["v"], "zone": "shop.co.uk",
        "record": "_acme-challenge.www", "provider": "nsupdate", "certificate_name": "www.shop.co.uk", "keep_others": False}]
    # An entry without dns_zone and root_domain gets its zone from the Public Suffix List too.
    bare = {"name": "www.shop.co.uk", "dns_provider": "none"}
    assert certificate_challenges([dict(result, item=bare)], "dns")[0]["zone"] == "shop.co.uk"


def test_challenges_and_status_refuse_bad_names() -> None:
    bad = {"name": "www.example.com\n"}
    with pytest.raises(AnsibleFilterError, match="certificate_challenges: certificate_name"):
        certificate_challenges([{"item": bad, "changed": True, "order_uri": "https://ca/order/4",
                                 "challenge_data_dns": {"_acme-challenge.www.example.com": ["v"]}}], "dns")
    with pytest.raises(AnsibleFilterError, match="certificate_status: certificate_name"):
        certificate_status([dict(SPEC, name="..")], {"results": []}, now=NOW)


# ---------------------------------------------------------------------------
# certificate_spec: the other ordering systems


def test_spec_service_defaults_and_challenge_types() -> None:
    specs = certificate_spec(
        [{"name": "cf.example.com", "service": "certifire"},
         {"name": "st.example.com", "service": "servertastic", "challenge_type": "email",
          "approver_email": "admin@st.example.com", "product_code": "PositiveSSL-12"},
         {"name": "www.example.org", "service": "servertastic", "challenge_type": "https", "webroot": "/srv/www"}],
        defaults={"challenge_type": "dns"})
    assert [(s["service"], s["challenge_type"], s["wanted_names"]) for s in specs] == [
        ("certifire", None, ["cf.example.com"]), ("servertastic", "email", ["st.example.com"]),
        ("servertastic", "https", ["www.example.org"])]
    assert specs[1]["service_options"] == {"approver_email": "admin@st.example.com", "product_code": "PositiveSSL-12"}
    assert certificate_spec([{"name": "a.example.com"}], defaults={"service": "servertastic"})[0]["service"] == \
        "servertastic"


@pytest.mark.parametrize("entry, message", [
    ({"name": "cf.example.com", "service": "certifire", "challenge_type": "dns"}, "validates the names itself"),
    ({"name": "cf.example.com", "service": "certifire", "san": True}, "orders the name itself"),
    ({"name": "st.example.com", "service": "servertastic", "challenge_type": "http"}, "needs a web root"),
    ({"name": "*.example.com", "service": "servertastic", "challenge_type": "http", "webroot": "/srv"},
     "cannot validate the wildcard"),
    ({"name": "st.example.com", "service": "servertastic", "dns_provider": "route53"}, "replace the whole set"),
    ({"name": "st.example.com", "service": "servertastic", "dns_provider": "azure_dns"}, "replace the whole set"),
    ({"name": "st.example.com", "service": "servertastic", "dns_zone": "acme.example.net"}, "not in the DNS zone"),
    ({"name": "a.example.com", "product_code": "RapidSSL-12"}, "not used by service=rcl"),
    ({"name": "a.example.com", "service": "certifire", "approver_email": "x@example.com"},
     "not used by service=certifire"),
    ({"name": "a.example.com", "service": "venafi"}, "service must be one of"),
])
def test_spec_refuses_what_a_service_cannot_do_before_any_request(entry, message) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        certificate_spec([entry])


def test_spec_servertastic_dns_keeps_other_txt_providers() -> None:
    for provider in ("nsupdate", "cloudflare", "custom", "none"):
        assert certificate_spec([{"name": "www.example.com", "service": "servertastic", "dns_provider": provider}])
