# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The name rules shared by the modules, the filters and the role."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils import _names
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._names import (
    check_challenge,
    dns_record_fqdn,
    normalize_host,
    registrable_domain,
    root_domain_for,
    safe_dir_name,
    validate_certificate_name,
    validate_identifier,
    validate_order_uri,
    validate_url,
    wanted_names,
)

LABEL_63 = "a" * 63
NAME_253 = ".".join([LABEL_63, LABEL_63, LABEL_63, "a" * 57, "com"])  # 63*3 + 57 + 3 + 4 dots = 253
assert len(NAME_253) == 253


# -- normalize_host / validate_certificate_name ----------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("www.example.com", "www.example.com"),
    ("  WWW.Example.COM  ", "www.example.com"),
    ("*.example.com", "*.example.com"),
    ("*.Shop.CO.UK", "*.shop.co.uk"),
    ("example.com", "example.com"),
    ("a.b.c.example.com", "a.b.c.example.com"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("a-b.c-d.example", "a-b.c-d.example"),
    ("1.example.com", "1.example.com"),
    ("x.duckdns.org", "x.duckdns.org"),
    (LABEL_63 + ".com", LABEL_63 + ".com"),
    (NAME_253, NAME_253),
])
def test_valid_names(value: str, expected: str) -> None:
    assert validate_certificate_name(value) == expected
    assert normalize_host(value) == expected


@pytest.mark.parametrize("value, message", [
    # Layout
    ("", "certificate_name is empty"),
    ("   ", "certificate_name is empty"),
    (".", "end with a dot"),
    ("..", "end with a dot"),
    ("www.example.com.", "end with a dot"),
    ("example", "not a fully qualified"),
    ("localhost", "not a fully qualified"),
    ("a..b", "invalid label ''"),
    (".example.com", "invalid label ''"),
    ("-a.b", "invalid label '-a'"),
    ("a-.b", "invalid label 'a-'"),
    ("a.-b.com", "invalid label '-b'"),
    (LABEL_63 + "a.com", "invalid label"),
    ("a" + NAME_253, "longer than 253"),
    ("1.2.3.4", "last label is a number"),
    ("example.com,www.example.com", "san=true"),
    # Wildcards
    ("*", "'\\*' is allowed only as a leading"),
    ("*.*.a.b", "'\\*' is allowed only as a leading"),
    ("a.*.b", "'\\*' is allowed only as a leading"),
    ("*a.example.com", "'\\*' is allowed only as a leading"),
    ("www.*", "'\\*' is allowed only as a leading"),
    ("**.example.com", "'\\*' is allowed only as a leading"),
    # Whitespace and control characters, anywhere
    ("www.example.com\n", "whitespace or control"),
    ("www\n.example.test", "whitespace or control"),
    ("\nwww.example.com", "whitespace or control"),
    ("www example.com", "whitespace or control"),
    ("www.example.com\t", "whitespace or control"),
    ("www.exa\x00mple.com", "whitespace or control"),
    ("www.exa\x1bmple.com", "whitespace or control"),
    ("www.exa\x7fmple.com", "whitespace or control"),
    ("www.exa\x85mple.com", "whitespace or control"),
    ("www.example.com\u00a0", "whitespace or control"),
    ("www.example.com\u2028", "whitespace or control"),
    ("www.example.com\r", "whitespace or control"),
    # Characters a host name cannot hold (paths, queries, escapes, Unicode)
    ("%2e%2e", "may hold only"),
    ("%2e.example.com", "may hold only"),
    ("a/b.c", "may hold only"),
    ("../etc.example.com", "may hold only"),
    ("a?b.c", "may hold only"),
    ("a#b.c", "may hold only"),
    ("a_b.example.com", "may hold only"),
    ("user@example.com", "may hold only"),
    ("example.com:443", "may hold only"),
    ("a\\b.com", "may hold only"),
    ("bücher.example", "may hold only"),
    ("\u212aelvin.example.com", "may hold only"),  # KELVIN SIGN lower-cases to ASCII k
    ("ex\u0430mple.com", "may hold only"),  # Cyrillic a
    ("\ufeffexample.com", "may hold only"),
    ("例え.jp", "may hold only"),
])
def test_malformed_names(value: str, message: str) -> None:
    with pytest.raises(RclInputError, match=message) as info:
        validate_certificate_name(value)
    assert info.value.msg.startswith("certificate_name")


@pytest.mark.parametrize("value", [None, 1, ["www.example.com"], b"www.example.com", {"name": "x"}])
def test_name_must_be_a_string(value: t.Any) -> None:
    with pytest.raises(RclInputError, match="certificate_name must be a string"):
        validate_certificate_name(value)


def test_messages_name_the_option_and_cut_the_value() -> None:
    with pytest.raises(RclInputError) as info:
        normalize_host("x y" + "a" * 500, "root_domain")
    assert info.value.msg.startswith("root_domain 'x ya")
    assert "a" * 100 not in info.value.msg and "..." in info.value.msg
    with pytest.raises(RclInputError, match="a wildcard is not allowed") as info:
        normalize_host("*.example.com", "root_domain", allow_wildcard=False)
    assert info.value.msg.startswith("root_domain '*.example.com'")


# -- registrable_domain / root_domain_for ----------------------------------------------------------

@pytest.mark.parametrize("host, expected", [
    ("www.shop.co.uk", "shop.co.uk"),
    ("*.shop.co.uk", "shop.co.uk"),
    ("shop.co.uk", "shop.co.uk"),
    ("a.b.c.example.com", "example.com"),
    ("example.com", "example.com"),
    ("www.shop.example.co.uk", "example.co.uk"),
    ("a.b.example.test", "example.test"),  # unknown TLD: the default * rule
    ("x.duckdns.org", "x.duckdns.org"),  # private section: its own registrable domain
    ("www.x.duckdns.org", "x.duckdns.org"),
    ("co.uk", None),
    ("com", None),
    ("duckdns.org", None),
])
def test_registrable_domain(host: str, expected: str | None) -> None:
    assert registrable_domain(host) == expected


@pytest.mark.parametrize("name, root, san, expected", [
    ("www.shop.co.uk", None, False, "shop.co.uk"),
    ("*.shop.co.uk", None, False, "shop.co.uk"),
    ("a.b.c.example.com", None, False, "example.com"),
    ("example.com", None, False, "example.com"),
    ("x.duckdns.org", None, False, "x.duckdns.org"),
    ("a.b.example.test", None, False, "example.test"),
    ("shop.example.com", None, True, "shop.example.com"),  # SAN: the name itself
    ("shop.co.uk", None, True, "shop.co.uk"),
    ("www.shop.example.co.uk", "shop.example.co.uk", False, "shop.example.co.uk"),
    ("www.example.com", " Example.COM ", False, "example.com"),
    ("example.com", "example.com", False, "example.com"),
    ("*.example.com", "example.com", False, "example.com"),
    ("example.com", "example.com", True, "example.com"),
])
def test_root_domain_for(name: str, root: str | None, san: bool, expected: str) -> None:
    assert root_domain_for(name, root, san) == expected


@pytest.mark.parametrize("name, root, san, message", [
    ("co.uk", None, False, "certificate_name co.uk is a public suffix"),
    ("*.co.uk", None, False, r"certificate_name \*.co.uk is a public suffix"),
    ("duckdns.org", None, False, "is a public suffix"),
    ("co.uk", None, True, "is a public suffix"),
    ("www.example.com", "example.org", False, "certificate_name www.example.com is not within root_domain example.org"),
    ("www.badexample.com", "example.com", False, "is not within root_domain"),
    ("example.com", "www.example.com", False, "is not within root_domain"),
    ("www.example.com", "example.com", True, "A SAN certificate must be named after its apex domain"),
    ("*.example.com", None, True, "A SAN certificate must be named after its apex domain"),
    ("*.example.com", "example.com", True, "A SAN certificate must be named after its apex domain"),
    ("www.example.com", "*.example.com", False, "root_domain '\\*.example.com'"),
    ("www.example.com", "example.com\n", False, "root_domain 'example.com\\\\n'"),
    ("www.example.com", "com", False, "root_domain 'com' is not a fully qualified"),
])
def test_root_domain_for_refuses(name: str, root: str | None, san: bool, message: str) -> None:
    with pytest.raises(RclInputError, match=message):
        root_domain_for(name, root, san)


def test_psl_is_built_once() -> None:
    registrable_domain("www.example.com")
    first = _names._psl
    registrable_domain("www.example.org")
    assert first is not None and _names._psl is first


def test_missing_publicsuffixlist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_names, "HAS_PUBLICSUFFIXLIST", False)
    monkeypatch.setattr(_names, "PUBLICSUFFIXLIST_IMPORT_ERROR", "Traceback...\nModuleNotFoundError: no module")
    monkeypatch.setattr(_names, "_psl", None)
    with pytest.raises(RclInputError, match="needs the Python library publicsuffixlist >= 1.0"):
        registrable_domain("www.example.com")
    with pytest.raises(RclInputError, match="publicsuffixlist"):
        root_domain_for("www.example.com")
    assert root_domain_for("www.example.com", "example.com") == "example.com"  # a given root needs no PSL


def test_dependency_constants() -> None:
    assert _names.HAS_PUBLICSUFFIXLIST is True and _names.PUBLICSUFFIXLIST_IMPORT_ERROR is None
    assert _names.PUBLICSUFFIXLIST_MIN_VERSION == "1.0"
    assert set(_names.__all__) >= {"normalize_host", "registrable_domain", "root_domain_for", "wanted_names",
                                   "check_challenge", "safe_dir_name", "dns_record_fqdn", "validate_order_uri",
                                   "validate_url", "validate_identifier", "validate_certificate_name"}


# -- wanted_names / check_challenge ----------------------------------------------------------------

@pytest.mark.parametrize("name, ctype, san, expected", [
    ("www.example.com", "dns", False, ["www.example.com"]),
    ("www.example.com", "http", False, ["www.example.com"]),
    ("*.example.com", "dns", False, ["*.example.com"]),
    ("example.com", "dns", True, ["example.com", "*.example.com"]),
    ("example.com", "http", True, ["example.com", "www.example.com"]),
    ("example.com", "DNS-01", True, ["example.com", "*.example.com"]),
    ("shop.co.uk", "HTTP", True, ["shop.co.uk", "www.shop.co.uk"]),
])
def test_wanted_names(name: str, ctype: str, san: bool, expected: list[str]) -> None:
    assert wanted_names(name, ctype, san) == expected


@pytest.mark.parametrize("ctype, message", [(None, "needed"), ("tls-alpn-01", "must be dns or http")])
def test_wanted_names_of_a_san_need_a_challenge(ctype: t.Any, message: str) -> None:
    with pytest.raises(RclInputError, match=message):
        wanted_names("example.com", ctype, True)


@pytest.mark.parametrize("name, ctype, expected", [
    ("www.example.com", None, None),
    ("www.example.com", "", None),
    ("www.example.com", "dns", "dns"),
    ("www.example.com", "DNS", "dns"),
    ("www.example.com", "dns-01", "dns"),
    ("www.example.com", "DNS-01", "dns"),
    ("www.example.com", " http ", "http"),
    ("www.example.com", "HTTP", "http"),
    ("www.example.com", "http-01", "http"),
    ("*.example.com", "dns", "dns"),
    ("*.example.com", None, None),
    ("", "http", "http"),
])
def test_check_challenge(name: str, ctype: t.Any, expected: str | None) -> None:
    assert check_challenge(name, ctype) == expected


@pytest.mark.parametrize("name, ctype, message", [
    ("www.example.com", "tls-alpn-01", "challenge_type must be dns or http"),
    ("www.example.com", "dns01", "challenge_type must be dns or http"),
    ("www.example.com", "dns\n", "challenge_type must be dns or http"),
    ("www.example.com", 1, "challenge_type must be dns or http"),
    ("*.example.com", "http", r"The HTTP challenge cannot validate the wildcard \*.example.com: use challenge_type=dns"),
    ("*.example.com", "HTTP-01", "use challenge_type=dns"),
])
def test_check_challenge_refuses(name: str, ctype: t.Any, message: str) -> None:
    with pytest.raises(RclInputError, match=message):
        check_challenge(name, ctype)


# -- safe_dir_name / dns_record_fqdn ---------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("*.example.com", "_wildcard.example.com"),
    ("www.example.com", "www.example.com"),
    ("example.com", "example.com"),
])
def test_safe_dir_name(name: str, expected: str) -> None:
    assert safe_dir_name(name) == expected


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "a\x00b"])
def test_safe_dir_name_refuses(name: str) -> None:
    with pytest.raises(RclInputError, match="cannot be used as a directory name"):
        safe_dir_name(name)


@pytest.mark.parametrize("token, root, expected", [
    ("_acme-challenge.www", "shop.co.uk", "_acme-challenge.www.shop.co.uk"),
    ("_acme-challenge", "example.com", "_acme-challenge.example.com"),
    ("_acme-challenge.www.shop.co.uk", "shop.co.uk", "_acme-challenge.www.shop.co.uk"),
    ("_acme-challenge.www.shop.co.uk.", "shop.co.uk.", "_acme-challenge.www.shop.co.uk"),
    ("_ACME-Challenge.WWW", "Example.com", "_acme-challenge.www.example.com"),
    ("example.com", "example.com", "example.com"),
    ("_acme-challenge.notexample.com", "example.com", "_acme-challenge.notexample.com.example.com"),
])
def test_dns_record_fqdn(token: str, root: str, expected: str) -> None:
    assert dns_record_fqdn(token, root) == expected


@pytest.mark.parametrize("token, root", [("", "example.com"), ("_acme-challenge", ""), (".", "example.com")])
def test_dns_record_fqdn_refuses(token: str, root: str) -> None:
    with pytest.raises(RclInputError, match="needs a token name and a root domain"):
        dns_record_fqdn(token, root)


# -- validate_order_uri / validate_url -------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("https://acme-v02.api.letsencrypt.org/acme/order/1/2", "https://acme-v02.api.letsencrypt.org/acme/order/1/2"),
    ("  http://127.0.0.1:14000/order/abc  ", "http://127.0.0.1:14000/order/abc"),
    ("HTTPS://ca.example/o", "HTTPS://ca.example/o"),
    ("https://[::1]:8443/order/1", "https://[::1]:8443/order/1"),
])
def test_order_uri(value: str, expected: str) -> None:
    assert validate_order_uri(value) == expected


@pytest.mark.parametrize("value", [
    None, "", 42, "not-a-url", "javascript:alert(1)", "ftp://ca.example/order/1", "http://", "https://",
    "https://ca.example", "https://ca.example/", "https:///order/1", "//ca.example/order/1",
    "https://ca.example/order/1\n", "https://ca.example/order 1", "https://ca.example/order/\x00",
    "https://ca.example:99999/order/1", "https://ca.example:port/order/1", "https://[::1/order/1",
    "https://ca.example/" + "o" * 2048, "file:///etc/passwd",
])
def test_order_uri_refuses(value: t.Any) -> None:
    with pytest.raises(RclInputError, match="order_uri must be an http\\(s\\) URL of an ACME order") as info:
        validate_order_uri(value)
    assert len(info.value.msg) <= len("order_uri must be an http(s) URL of an ACME order, not ") + 80


def test_order_uri_message_hides_user_info() -> None:
    with pytest.raises(RclInputError) as info:
        validate_order_uri("ftp://user:s3cret@ca.example/order/1")
    assert "s3cret" not in info.value.msg
    with pytest.raises(RclInputError, match="finalize_uri"):
        validate_order_uri("x", "finalize_uri")


@pytest.mark.parametrize("value, expected", [
    (None, None),
    ("", None),
    ("https://api.example.com", "https://api.example.com"),
    ("http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api/"),
    (" https://login.example.com/t/oauth2/v2.0/token ", "https://login.example.com/t/oauth2/v2.0/token"),
    ("https://user:pw@api.example.com", "https://user:pw@api.example.com"),
])
def test_url(value: t.Any, expected: str | None) -> None:
    assert validate_url(value, "api_url") == expected


@pytest.mark.parametrize("value", [
    "api.example.com", "ftp://api.example.com", "https://", "https://api.example.com\n", "https://api .example.com",
    "https://api.example.com:0x50", 7, "javascript:alert(1)",
])
def test_url_refuses(value: t.Any) -> None:
    with pytest.raises(RclInputError, match="token_url must be an http\\(s\\) URL"):
        validate_url(value, "token_url")


def test_url_message_hides_secrets() -> None:
    with pytest.raises(RclInputError) as info:
        validate_url("ftp://user:s3cret@api.example.com/?key=k3y", "api_url")
    assert "s3cret" not in info.value.msg and "k3y" not in info.value.msg


# -- validate_identifier ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["sub", "00000000-0000-0000-0000-000000000000", "a.b_c~d-e", "x" * 128])
def test_identifier(value: str) -> None:
    assert validate_identifier(value, "subscription_id") == value


@pytest.mark.parametrize("value", [
    "sub\n", "\nsub", " sub", "sub ", "", ".", "..", "a/b", "a%2fb", "a?b", "a#b", "süb", "x" * 129, None, 5,
])
def test_identifier_refuses(value: t.Any) -> None:
    with pytest.raises(RclInputError, match=r"subscription_id may hold only letters, digits and \. _ ~ -"):
        validate_identifier(value, "subscription_id")
    with pytest.raises(RclInputError, match="^tenant_id may hold only"):
        validate_identifier(value, "tenant_id")
