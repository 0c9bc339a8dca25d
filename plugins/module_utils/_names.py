# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The one set of rules for certificate names, root domains, challenges and identifiers.

Modules (through ``_client``), the filter plugins and so the role all use these functions,
so a name means the same everywhere. Everything is pure: no request, no file. Failures
raise ``RclInputError``; a message names the option and shows at most 80 characters of
the value (``repr``, so a control character is visible). Regexes match the whole text
(``fullmatch``/``\\Z``): a trailing newline never passes.

The root domain (the registrable domain: ``shop.co.uk`` for ``www.shop.co.uk``) comes
from the Public Suffix List, never from "the last two labels". We use the PyPI library
``publicsuffixlist`` (>= ``PUBLICSUFFIXLIST_MIN_VERSION``): it is maintained, its releases
track the PSL weekly, and it runs wherever the modules run (controller or execution
environment). community.dns ships a PSL copy too, but in ``plugin_utils`` (controller
only, not importable from a module payload), and using it would make community.dns a
hard dependency. Both PSL sections are used (ICANN and private, the library's default),
so ``x.duckdns.org`` is a registrable domain of its own; an unknown TLD follows the
default ``*`` rule (``example.test`` for ``a.b.example.test``). The import is guarded:
callers check ``HAS_PUBLICSUFFIXLIST`` and report ``PUBLICSUFFIXLIST_IMPORT_ERROR``.
"""

from __future__ import annotations

import re
import traceback
import typing as t
from urllib.parse import urlsplit

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError, redact_url

__all__ = [
    "HAS_PUBLICSUFFIXLIST",
    "PUBLICSUFFIXLIST_IMPORT_ERROR",
    "PUBLICSUFFIXLIST_MIN_VERSION",
    "check_challenge",
    "dns_record_fqdn",
    "normalize_host",
    "registrable_domain",
    "root_domain_for",
    "safe_dir_name",
    "validate_certificate_name",
    "validate_identifier",
    "validate_order_uri",
    "validate_url",
    "wanted_names",
]

PUBLICSUFFIXLIST_MIN_VERSION = "1.0"
PUBLICSUFFIXLIST_IMPORT_ERROR: str | None
try:
    import publicsuffixlist
    from publicsuffixlist import PublicSuffixList
except ImportError:
    HAS_PUBLICSUFFIXLIST = False
    PUBLICSUFFIXLIST_IMPORT_ERROR = traceback.format_exc()
else:
    _found = re.match(r"(\d+)\.(\d+)", str(getattr(publicsuffixlist, "__version__", "")))
    if _found and (int(_found.group(1)), int(_found.group(2))) < (1, 0):
        HAS_PUBLICSUFFIXLIST = False
        PUBLICSUFFIXLIST_IMPORT_ERROR = "publicsuffixlist %s is older than %s" % (
            publicsuffixlist.__version__, PUBLICSUFFIXLIST_MIN_VERSION)
    else:
        HAS_PUBLICSUFFIXLIST = True
        PUBLICSUFFIXLIST_IMPORT_ERROR = None

MAX_NAME_LENGTH = 253
MAX_URL_LENGTH = 2048
_SHOWN = 80  # characters of a bad value a message shows at most

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST_CHARS = re.compile(r"[A-Za-z0-9.*-]+")
_IDENTIFIER = re.compile(r"[A-Za-z0-9._~-]{1,128}")
# Whitespace (Unicode included), C0 and C1 controls, DEL.
_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_CHALLENGES = {"dns": "dns", "dns-01": "dns", "http": "http", "http-01": "http"}

_psl: t.Any = None  # the PublicSuffixList, built on first use


def _show(value: t.Any) -> str:
    """``repr(value)``, at most 80 characters."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _public_suffix_list() -> t.Any:
    global _psl
    if _psl is None:
        if not HAS_PUBLICSUFFIXLIST:
            reason = (PUBLICSUFFIXLIST_IMPORT_ERROR or "").strip().splitlines()[-1:]
            raise RclInputError(
                "Deriving a root domain needs the Python library publicsuffixlist >= %s on the host that runs "
                "rcl.ssl (pip install publicsuffixlist), or give root_domain: %s"
                % (PUBLICSUFFIXLIST_MIN_VERSION, "".join(reason) or "not installed")
            )
        _psl = PublicSuffixList()
    return _psl


# ---------------------------------------------------------------------------
# Host names


def normalize_host(value: t.Any, option: str = "certificate_name", allow_wildcard: bool = True) -> str:
    """A fully qualified host name, lower-cased; ``*.`` in front only if ``allow_wildcard``."""
    if not isinstance(value, str):
        raise RclInputError("%s must be a string, not %s" % (option, type(value).__name__))
    name = value.strip(" ")
    if not name:
        raise RclInputError("%s is empty" % option)
    shown = _show(value)
    if _BAD_CHARS.search(name):
        raise RclInputError("%s %s must not contain whitespace or control characters" % (option, shown))
    if "," in name:
        hint = "; for apex + www or apex + wildcard use san=true" if option == "certificate_name" else ""
        raise RclInputError("%s %s must be one host name%s" % (option, shown, hint))
    if len(name) > MAX_NAME_LENGTH:
        raise RclInputError("%s %s is longer than %d characters" % (option, shown, MAX_NAME_LENGTH))
    if name.endswith("."):
        raise RclInputError("%s %s must not end with a dot" % (option, shown))
    if not _HOST_CHARS.fullmatch(name):
        raise RclInputError(
            "%s %s may hold only letters a-z, digits, hyphens and dots (internationalized names as "
            "punycode, xn--...)" % (option, shown))
    name = name.lower()
    wildcard = name.startswith("*.")
    host = name[2:] if wildcard else name
    if "*" in host or (wildcard and not allow_wildcard):
        raise RclInputError(
            "%s %s: %s" % (option, shown, "'*' is allowed only as a leading '*.'" if allow_wildcard
                           else "a wildcard is not allowed here"))
    labels = host.split(".")
    if len(labels) < 2:
        raise RclInputError("%s %s is not a fully qualified domain name" % (option, shown))
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise RclInputError(
                "%s %s has an invalid label %s: labels are 1-63 letters, digits and inner hyphens"
                % (option, shown, _show(label)))
    if labels[-1].isdigit():
        raise RclInputError("%s %s is not a domain name (the last label is a number)" % (option, shown))
    return name


def validate_certificate_name(value: t.Any) -> str:
    """A certificate name as the portal shows it (``www.example.com``, ``*.example.com``), lower-cased."""
    return normalize_host(value, "certificate_name", True)


def registrable_domain(host: str) -> str | None:
    """The registrable domain of ``host`` by the Public Suffix List; None for a public suffix."""
    if not isinstance(host, str):
        raise RclInputError("a host name must be a string, not %s" % type(host).__name__)
    name = host.lower()
    if name.startswith("*."):
        name = name[2:]
    suffix = _public_suffix_list().privatesuffix(name)
    return str(suffix) if suffix else None


def root_domain_for(name: str, root_domain: str | None = None, san: bool = False) -> str:
    """The root domain of a normalized certificate name: ``root_domain`` checked, or derived."""
    if san and "*" in name:
        raise RclInputError(
            "A SAN certificate must be named after its apex domain (e.g. example.com), without '*': it covers "
            "the apex and www. (HTTP) or the apex and *. (DNS); got %s" % name)
    if root_domain:
        root = normalize_host(root_domain, "root_domain", allow_wildcard=False)
        if san and name != root:
            raise RclInputError(
                "A SAN certificate must be named after its apex domain: certificate_name %s must equal "
                "root_domain %s" % (name, root))
        if name != root and not name.endswith("." + root):
            raise RclInputError("certificate_name %s is not within root_domain %s" % (name, root))
        return root
    derived = registrable_domain(name)
    if derived is None:
        raise RclInputError(
            "certificate_name %s is a public suffix (Public Suffix List): name a domain below it" % name)
    return name if san else derived


def wanted_names(name: str, challenge_type: str, san: bool) -> list[str]:
    """The names the certificate covers: the name, plus ``*.`` (DNS) or ``www.`` (HTTP) for SAN."""
    if not san:
        return [name]
    ctype = _challenge(challenge_type)
    if ctype is None:
        raise RclInputError("challenge_type (dns or http) is needed to know the names of a SAN certificate")
    return [name, ("*." if ctype == "dns" else "www.") + name]


def _challenge(challenge_type: t.Any) -> str | None:
    if challenge_type is None:
        return None
    if not isinstance(challenge_type, str):
        raise RclInputError("challenge_type must be dns or http, not %s" % _show(challenge_type))
    text = challenge_type.strip(" ").lower()
    if not text:
        return None
    ctype = _CHALLENGES.get(text)
    if ctype is None:
        raise RclInputError("challenge_type must be dns or http, not %s" % _show(challenge_type))
    return ctype


def check_challenge(name: str, challenge_type: str | None) -> str | None:
    """``DNS``/``dns-01`` -> ``dns``, ``HTTP``/``http-01`` -> ``http``, None stays None; HTTP cannot do a wildcard."""
    ctype = _challenge(challenge_type)
    if ctype == "http" and name and "*" in name:
        raise RclInputError("The HTTP challenge cannot validate the wildcard %s: use challenge_type=dns" % name)
    return ctype


def safe_dir_name(name: str) -> str:
    """The name as a directory name: ``*.example.com`` -> ``_wildcard.example.com``."""
    safe = name.replace("*", "_wildcard") if isinstance(name, str) else ""
    if not safe or safe in (".", "..") or "/" in safe or "\x00" in safe:
        raise RclInputError("%s cannot be used as a directory name" % _show(name))
    return safe


def dns_record_fqdn(token_name: str, root_domain: str) -> str:
    """The DNS-01 record's full name: the token name (relative to the root domain) + the root domain."""
    name = str(token_name or "").strip(" ").rstrip(".").lower()
    root = str(root_domain or "").strip(" ").rstrip(".").lower()
    if not name or not root:
        raise RclInputError("a DNS record needs a token name and a root domain, got %s and %s"
                            % (_show(token_name), _show(root_domain)))
    if name == root or name.endswith("." + root):
        return name  # already a full name
    return "%s.%s" % (name, root)


# ---------------------------------------------------------------------------
# URLs and identifiers


def _http_url(value: t.Any, option: str, what: str) -> str:
    """``value`` stripped of spaces if it is an http(s) URL with a host; else RclInputError."""
    message = "%s must be an http(s) URL%s" % (option, what)
    if not isinstance(value, str):
        raise RclInputError("%s, not %s" % (message, type(value).__name__))
    url = value.strip(" ")
    try:
        parts = urlsplit(url)
        # Reading .port raises ValueError when the port is not a number from 0 to 65535.
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:
        valid = False
    valid = valid and len(url) <= MAX_URL_LENGTH and not _BAD_CHARS.search(url)
    if not valid:
        raise RclInputError("%s, not %s" % (message, _show_url(url)))
    return url


def _show_url(url: str) -> str:
    """At most 80 characters of a URL, without user info or query (they may hold secrets)."""
    return _show(redact_url(url) if "@" in url or "?" in url else url)


def validate_order_uri(value: t.Any, option: str = "order_uri") -> str:
    """An ACME order URL: http(s), a host and a path."""
    url = _http_url(value, option, " of an ACME order")
    if urlsplit(url).path in ("", "/"):
        raise RclInputError("%s must be an http(s) URL of an ACME order, not %s" % (option, _show_url(url)))
    return url


def validate_url(value: t.Any, option: str) -> str | None:
    """An optional http(s) URL with a host (``api_url``, ``token_url``); None when not given."""
    if value is None or (isinstance(value, str) and not value.strip(" ")):
        return None
    return _http_url(value, option, " with a host")


def validate_identifier(value: t.Any, option: str) -> str:
    """An identifier that goes into a URL path (``subscription_id``, ``tenant_id``), as it is."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value) or value in (".", ".."):
        raise RclInputError(
            "%s may hold only letters, digits and . _ ~ - (1 to 128 characters, not . or ..), not %s"
            % (option, _show(value)))
    return value
