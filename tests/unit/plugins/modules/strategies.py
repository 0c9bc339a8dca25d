# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hypothesis strategies and oracles for the module-contract properties (``test_properties.py``).

For every option of every module this file knows three things:

* values that are valid (the module must succeed with them against the stub API),
* hostile values (wrong types, huge and negative numbers, control characters, dot
  segments, non-latin-1 text, very long strings, None, ...),
* an oracle, ``classify(value)``, that says what the contract demands of a value:

  ``VALID``     the module succeeds;
  ``INVALID``   the module fails before any request, and ``msg`` names the option;
  ``BOUNDARY``  either of the two above (accepted, or refused up front and named), never
                a failure after a request (typically numbers out of range);
  ``OK``        nothing specific (a plausible value the stub does not serve, or one the
                contract leaves open); the universal properties still hold.

The oracle is written from the documented contract (doc fragment, module docs, API.md,
the reliability review), not from what the code does today.
"""

from __future__ import annotations

import base64
import datetime
import os
import pwd
import grp
import re
import typing as t
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from hypothesis import strategies as st

# ---------------------------------------------------------------------------
# Constants

SUB = "sub_df45ghfh463nfhh"
NAME = "www.example.test"
ROOT = "example.test"
OLD_ORDER_URI = "https://acme.test/order/1/old"
ORDER_URI = "https://acme.test/order/116443104/10568102114"
V6_ORDER_URI = "https://acme-v02.api.letsencrypt.org/acme/order/527702946/93863252796"

API_KEY = "SECRET-APIKEY-1"
CLIENT_SECRET = "SECRET-CLIENT-2"
PFX_PASSWORD = "SECRET-PFX-3"
REPLY_PASSWORD = "SECRET-PFX-REPLY"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1Q.SECRET-TOKEN-6.O4J411Fzg"
SECRET_URL_BASE = "https://storage.test"
# Every secret of these tests carries this marker: it must never appear in a module's output.
MARKER = "SECRET"

VALID = "valid"
INVALID = "invalid"
BOUNDARY = "boundary"
OK = "ok"

# C0 (tab and newline allowed), DEL and C1: what a msg must not carry raw (L3)
MSG_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
CONTROL = "".join(chr(c) for c in list(range(0, 32)) + list(range(0x7f, 0xa0)))
LDH = re.compile(r"^[a-z0-9-]+$")

# ---------------------------------------------------------------------------
# Replies


def api_date(dt: datetime.datetime) -> str:
    """The API's format: seven fractional digits, no zone."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%07d" % (dt.microsecond * 10)


def download_urls(base: str) -> dict[str, str]:
    return {key: "%s/SECRET-URL-%s%s" % (base, key, ext) for key, ext in (
        ("pemUrl", ".pem"), ("pfxUrl", ".pfx"), ("cerUrl", ".cer"), ("crtUrl", ".crt"),
        ("txtUrl", "-certdownload.txt"), ("keyUrl", ".key"), ("keyTxtUrl", ".txt"),
        ("certCrtUrl", "-cert.crt"), ("cabundleCrtUrl", "-cabundle.crt"), ("fullchainCrtUrl", "-fullchain.crt"))}


def certificate_reply(pkcs12: bytes, expiry: datetime.datetime, name: str = NAME, order_uri: str = OLD_ORDER_URI,
                      url_base: str = SECRET_URL_BASE, password: str = REPLY_PASSWORD) -> dict[str, t.Any]:
    """The documented V7 Certificate reply (API.md), field order as documented."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return {
        "certificateName": name,
        "rootDomain": ROOT,
        "email": "support@rclapp.com",
        "challengeType": "DNS",
        "orderUri": order_uri,
        "issueDate": api_date(now - datetime.timedelta(days=30)),
        "expiryDate": api_date(expiry.replace(tzinfo=None)),
        "id": 342,
        "password": password,
        "pfxString": base64.b64encode(pkcs12).decode(),
        "certificateDownloadUrl": download_urls(url_base),
    }


V7_ORDER = {
    "status": "pending",
    "validationTokens": [{"tokenName": "_acme-challenge.www", "tokenValue": "pder_53er44PhE-keudgge45630",
                          "challengeType": "DNS", "domain": NAME}],
    "orderUri": ORDER_URI,
    "certificateUri": None,
}

V6_ORDER = {
    "status": "pending",
    "validationTokens": [{"tokenName": "_acme-challenge.www", "tokenValue": "hW9A7-hOZw1WQxLaxZbZRtrn5r3Tq9ufJ5IYxCODB3w",
                          "challengeType": "DNS"}],
    "challenges": [{"challengeType": "dns-01", "status": "pending", "token": "OavU5bQv41k5885ofozqxSJs5TgCulc4THtfdixGWdQ"}],
    "orderUri": V6_ORDER_URI,
    "certificateUri": None,
}


def v7_path(name: str = NAME, suffix: str = "") -> str:
    return "/public/v1/subscription/%s/core/certificate/%s%s" % (SUB, quote(name, safe=""), suffix)


# ---------------------------------------------------------------------------
# Generic hostile values

CURATED_HOSTILE: list[t.Any] = [
    None, "", " ", ".", "..", "/", "%2e%2e", "%2e%2e/%2e%2e", "..%2f..", "a/../b", "\n", "\r\n", "x\n",
    "x\r\nX-Injected: 1", "\x00", "a\x00b", "k\u20acy", "\u65e5\u672c\u8a9e", "\u202e", "\x1b[2J\x1b[31m",
    "javascript:alert(1)", "ftp://x/y", "not-a-url", "x" * 10000, "a." * 200, "-1", "0", "1e999", "NaN", "True",
    "yes", "{{ x }}", "[]", "{}", 10 ** 12, 10 ** 10, -1, -(10 ** 12), 0, 1.5, -0.5, 1e300, True, False, [],
    ["a", "b"], {}, {"a": "b"}, [{"a": 1}],
]

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
_control_text = st.text(alphabet=CONTROL + "ab./%:", min_size=1, max_size=12)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10 ** 9, max_value=10 ** 15),
    st.integers(max_value=-1), st.floats(allow_nan=False, allow_infinity=False),
)
_containers = st.one_of(
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
_long = st.integers(min_value=254, max_value=5000).map(lambda n: "a" * n)

INJECTIONS = ["\n", "\r\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\u20ac", "/", " ", "..", "%0a", "%2e%2e", "\t",
              "\u2028", "\ufeff", "?", "#", "@", "\\"]


def mutate(valid: st.SearchStrategy[t.Any]) -> st.SearchStrategy[str]:
    """A valid string with one hostile fragment inserted (the near-valid values find the most)."""
    def build(args: tuple[t.Any, str, int]) -> str:
        value, fragment, where = args
        text = str(value)
        where = where % (len(text) + 1)
        return text[:where] + fragment + text[where:]

    return st.tuples(valid.filter(lambda v: isinstance(v, str) and v != ""), st.sampled_from(INJECTIONS),
                     st.integers(min_value=0, max_value=200)).map(build)


def hostile(valid: st.SearchStrategy[t.Any] | None = None) -> st.SearchStrategy[t.Any]:
    parts = [st.sampled_from(CURATED_HOSTILE), _text, _control_text, _scalars, _containers, _long]
    if valid is not None:
        parts.append(mutate(valid))
    return st.one_of(*parts)


def secret_values(marker: str) -> st.SearchStrategy[t.Any]:
    """Hostile values for a no_log option: each string form keeps ``marker`` intact."""
    wrap = st.tuples(st.one_of(st.sampled_from(["", "\n", "\r\n", "abc\n", "\x00", "k\u20acy-", " ", "\x1b[31m",
                                                "\u00e9", "\t", "line1\r\nX-Injected: 1 "]), _control_text),
                     st.one_of(st.sampled_from(["", "\n", "\r\n", "\x00tail", "\u20ac", " ", "\x85", "\x7f", "\t2"]),
                               _control_text))
    return st.one_of(
        wrap.map(lambda pair: pair[0] + marker + pair[1]),
        st.sampled_from([[marker], {"k": marker}, marker * 300, 10 ** 12, -1, 1.5, True, None, ""]),
    )


# ---------------------------------------------------------------------------
# Oracles


def as_text(value: t.Any) -> str | None:
    """What ansible-core makes of a value for ``type: str`` (it converts, with a warning)."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def has_control(text: str) -> bool:
    return any(ch in CONTROL for ch in text)


def ansible_bool(value: t.Any) -> bool | None:
    from ansible.module_utils.parsing.convert_bool import boolean

    try:
        return boolean(value, strict=True)
    except TypeError:
        return None


def ansible_int(value: t.Any) -> int | None:
    from ansible.module_utils.common.validation import check_type_int

    try:
        return check_type_int(value)
    except (TypeError, ValueError):
        return None


def ansible_dict(value: t.Any) -> dict[str, t.Any] | None:
    from ansible.module_utils.common.validation import check_type_dict

    try:
        return check_type_dict(value)
    except (TypeError, ValueError):
        return None


def ansible_path(value: t.Any) -> str | None:
    text = as_text(value)
    if text is None:
        return None
    return os.path.expanduser(os.path.expandvars(text))


def hostname_verdict(value: t.Any, option_required: bool, wildcard: bool, served: str | None,
                     fqdn: bool | None = None) -> str:
    """Host names are LDH labels (IDNs may be accepted), at least two labels for a certificate (``fqdn``)."""
    fqdn = option_required if fqdn is None else fqdn
    text = as_text(value)
    if text is None or text == "":
        return INVALID if option_required else OK
    if served is not None and text == served:
        return VALID
    if has_control(text) or any(ch in text for ch in " /\\?#%@:;,'\"[]{}()<>!$&+=|^`~\u2028\u2029\ufeff\u202e"):
        return INVALID
    if len(text) > 253:
        return INVALID
    host = text[:-1] if text.endswith(".") else text
    if wildcard and host.startswith("*."):
        host = host[2:]
    labels = host.split(".")
    if any(label == "" for label in labels) or "*" in host:
        return INVALID
    for label in labels:
        if len(label) > 63 or label.startswith("-") or label.endswith("-"):
            return INVALID
        if label.isascii() and not LDH.match(label.lower()):
            return INVALID
    if fqdn and len(labels) < 2:
        return INVALID  # a certificate is for a fully qualified name
    return OK


def identifier_verdict(value: t.Any, served: str) -> str:
    """subscription_id: a path segment of every URL (letters, digits and . _ ~ -, no dot segment)."""
    text = as_text(value)
    if text is None or text == "":
        return INVALID
    if text == served:
        return VALID
    if not re.match(r"^[A-Za-z0-9._~-]+\Z", text) or text in (".", ".."):
        return INVALID
    return OK


def url_verdict(value: t.Any) -> str:
    text = as_text(value)
    if text is None or text == "":
        return OK
    if has_control(text) or any(ch.isspace() for ch in text):
        return INVALID
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return INVALID
    if parts.scheme.lower() not in ("http", "https") or not host:
        return INVALID
    return OK


def api_key_verdict(value: t.Any) -> str:
    text = as_text(value)
    if text is None or text.strip() == "":
        return INVALID  # V7 needs it
    if text == API_KEY:
        return VALID
    inner = text.strip()
    if any((ch in CONTROL and ch != "\t") for ch in inner) or any(ord(ch) > 0xFF for ch in inner):
        return INVALID  # cannot be sent in a header: refused up front, never echoed (M2, M5)
    return OK


def bool_verdict(value: t.Any) -> str:
    if value is None:
        return OK
    return VALID if ansible_bool(value) is not None else INVALID


def int_verdict(value: t.Any, low: int | None, high: int | None, boundary_high: int | None = None,
                boundary_low: int | None = None) -> str:
    """VALID in [low, high]; BOUNDARY up to the extremes; INVALID if not an int or below ``boundary_low``."""
    if value is None:
        return OK
    if isinstance(value, bool):
        return OK  # ansible-core takes a bool as an int
    number = ansible_int(value)
    if number is None:
        return INVALID
    if low is not None and number < low:
        if boundary_low is not None and number >= boundary_low:
            return BOUNDARY
        return INVALID
    if high is not None and number > high:
        return BOUNDARY if boundary_high is None or number <= boundary_high else INVALID
    return VALID


def choice_verdict(value: t.Any, choices: t.Sequence[str], valid: t.Sequence[t.Any]) -> str:
    if value is None:
        return OK  # an explicit null: ansible-core's choices check decides (it refuses it today)
    if value in valid:
        return VALID
    text = as_text(value)
    return OK if text in choices else INVALID


def id_verdict(value: t.Any, kind: str) -> str:
    """owner/group: a name known on this host or a numeric id (32 bits)."""
    text = as_text(value)
    if text is None or text in ("root", "0"):
        return VALID
    if text == "":
        return OK  # "not specified" or refused: either is fine
    if isinstance(value, int) and not isinstance(value, bool):
        return OK if 0 <= value < 2 ** 32 - 1 else INVALID
    stripped = text.strip()
    if stripped.isdigit() and stripped.isascii():
        return OK if int(stripped) < 2 ** 32 - 1 else INVALID
    try:
        (pwd.getpwnam if kind == "owner" else grp.getgrnam)(stripped)
    except (KeyError, ValueError):
        return INVALID
    return OK


_OCTAL = re.compile(r"^(?:0o|0)?[0-7]{1,4}\Z")
_SYMBOLIC = re.compile(r"^[ugoa]*[-+=][rwxXst]*([-+=][rwxXst]*)*(,[ugoa]*[-+=][rwxXst]*([-+=][rwxXst]*)*)*\Z")


def mode_verdict(value: t.Any, valid: t.Sequence[t.Any]) -> str:
    if value in valid and type(value) in (type(v) for v in valid):
        return VALID
    if value is None or value == "":
        return OK
    if isinstance(value, bool) or isinstance(value, (float, list, dict)):
        return INVALID
    if isinstance(value, int):
        return OK if 0 <= value <= 0o7777 else INVALID
    text = str(value).strip()
    if _OCTAL.match(text) or _SYMBOLIC.match(text):
        return OK
    return INVALID


def csr_verdict(value: t.Any) -> str:
    keys = ("country_name", "locality", "state", "organization", "organization_unit")
    if value is None:
        return VALID
    converted = value if isinstance(value, dict) else (ansible_dict(value) if isinstance(value, str) else None)
    if converted is None:
        return INVALID
    if any(key not in keys for key in converted):
        return INVALID
    for item in converted.values():
        if isinstance(item, (dict, list)):
            return INVALID
        if item is not None and not isinstance(item, str):
            return OK
    return VALID if all(isinstance(v, (str, type(None))) and (v is None or not has_control(v))
                        for v in converted.values()) else OK


def ca_path_verdict(value: t.Any, valid: str) -> str:
    path = ansible_path(value)
    if path is None or path == "":
        return VALID if path is None else OK
    if path == valid:
        return VALID
    if "\x00" in path:
        return INVALID
    try:
        exists = os.path.exists(path)
    except (ValueError, OSError):
        return INVALID
    return OK if exists else INVALID  # a CA bundle that does not exist verifies nothing (M5)


def path_verdict(value: t.Any, option: str, ctx: "Context", args: dict[str, t.Any]) -> str:
    """A destination of rcl_cert_fetch; ``args`` are the other options of the run."""
    path = ansible_path(value)
    if path is None or path == "":
        return OK
    if "\x00" in path:
        return INVALID
    full = os.path.join(ctx.cwd, path)
    others = [ansible_path(args.get(name)) for name in PATH_OPTIONS if name != option]
    if any(other and os.path.join(ctx.cwd, other) == full for other in others):
        return INVALID  # two options name the same file
    try:
        if os.path.isdir(full):
            return INVALID
        if not os.path.isdir(os.path.dirname(os.path.normpath(full))):
            return INVALID  # the parent directory must exist
        if os.path.exists(os.path.dirname(full)) and not os.path.isdir(os.path.dirname(full)):
            return INVALID
    except (ValueError, OSError):
        return INVALID
    base = os.path.basename(full)
    if (os.path.isabs(path) and os.path.dirname(full) == ctx.out and len(base) < 200 and base.isascii()
            and base.isprintable() and " " not in base):
        return VALID
    return OK


def safe_path(value: t.Any, ctx: "Context") -> bool:
    """Never let a generated destination point outside the sandbox (the tests run as root)."""
    path = ansible_path(value)
    if not path or "\x00" in path:
        return True
    full = os.path.normpath(os.path.join(ctx.cwd, path))
    if full.startswith(ctx.root + os.sep):
        return True
    if full.startswith("/nonexistent-rcl"):
        return True
    try:
        return os.path.isdir(full)  # replacing a directory is refused by rename(2) anyway
    except (ValueError, OSError):
        return True


# ---------------------------------------------------------------------------
# Profiles: one module, one API generation, its valid arguments and its stub API


PATH_OPTIONS = ("certificate_path", "chain_path", "fullchain_path", "privatekey_path", "pfx_path")


@dataclass
class Context:
    """Per test: the stub API's URL, a sandbox, the certificate replies."""

    url: str
    root: str  # the sandbox
    cwd: str  # the working directory of the run (relative destinations land here)
    out: str  # where the destinations are
    ca_file: str
    reply: dict[str, t.Any]
    new_reply: dict[str, t.Any]
    pfx: bytes


@dataclass
class Option:
    valid: t.Callable[[Context], st.SearchStrategy[t.Any]]
    classify: t.Callable[[t.Any, Context, dict[str, t.Any]], str]
    bad: t.Callable[[Context], st.SearchStrategy[t.Any]] | None = None
    secret_marker: str | None = None

    def strategy(self, ctx: Context) -> st.SearchStrategy[t.Any]:
        valid = self.valid(ctx)
        if self.secret_marker:
            return st.one_of(valid, secret_values(self.secret_marker))
        bad = self.bad(ctx) if self.bad else hostile(valid)
        return st.one_of(valid, bad)


def _const(*values: t.Any) -> t.Callable[[Context], st.SearchStrategy[t.Any]]:
    return lambda ctx: st.sampled_from(list(values))


def connection_options(version: str) -> dict[str, Option]:
    v6 = version == "v6"
    opts = dict(
        api_version=Option(_const(version), lambda v, c, a: choice_verdict(v, ("v6", "v7", "v8"), (version,))),
        api_url=Option(
            lambda ctx: st.sampled_from([ctx.url + ("/v6" if v6 else "/public"),
                                         ctx.url + ("/v6/" if v6 else "/public/"), None]),
            # None is "not set": the vendor's URL (unreachable here: the tests' proxy refuses it)
            lambda v, c, a: VALID if v in (c.url + ("/v6" if v6 else "/public"),
                                           c.url + ("/v6/" if v6 else "/public/")) else url_verdict(v),
            # "" means "not set": the default (public) URL; never generated here so that no test leaves the host
            bad=lambda ctx: hostile(st.just(ctx.url + "/public")).filter(lambda v: v != ""),
        ),
        subscription_id=Option(_const(SUB), lambda v, c, a: identifier_verdict(v, SUB)),
        api_key=Option(_const(API_KEY), lambda v, c, a: OK if v6 else api_key_verdict(v), secret_marker=API_KEY),
        client_id=Option(_const("cid-1") if v6 else _const(None, "cid-1"),
                         (lambda v, c, a: VALID if v == "cid-1" else (INVALID if not as_text(v) else OK)) if v6
                         else (lambda v, c, a: VALID if v in (None, "cid-1") else OK)),
        client_secret=Option(_const(CLIENT_SECRET),
                             (lambda v, c, a: VALID if v == CLIENT_SECRET else (INVALID if not as_text(v) else OK))
                             if v6 else (lambda v, c, a: VALID if v in (None, CLIENT_SECRET) else OK),
                             secret_marker=CLIENT_SECRET),
        tenant_id=Option(_const(None), lambda v, c, a: VALID if v is None else OK),
        token_url=Option(
            (lambda ctx: st.just(ctx.url + "/token")) if v6 else _const(None),
            (lambda v, c, a: VALID if v == c.url + "/token" else (INVALID if not as_text(v) else url_verdict(v)))
            if v6 else (lambda v, c, a: VALID if v is None else OK),
        ),
        validate_certs=Option(_const(True, False, "yes", "no"), lambda v, c, a: bool_verdict(v)),
        ca_path=Option(lambda ctx: st.sampled_from([None, ctx.ca_file]),
                       lambda v, c, a: ca_path_verdict(v, c.ca_file),
                       bad=lambda ctx: st.one_of(hostile(st.just(ctx.ca_file)),
                                                 st.sampled_from(["/nonexistent/ca.pem", "~/nonexistent-ca.pem"]))),
        timeout=Option(_const(5, 30, "10"), lambda v, c, a: int_verdict(v, 1, 600)),
        retries=Option(_const(0, 1, "2"), lambda v, c, a: int_verdict(v, 0, 5)),
    )
    return opts


def name_option(required: bool, served: str | None = NAME) -> Option:
    return Option(_const(NAME), lambda v, c, a: hostname_verdict(v, required, True, served))


def root_option() -> Option:
    return Option(_const(None, ROOT), lambda v, c, a: VALID if v in (None, ROOT)
                  else hostname_verdict(v, False, False, None))


def challenge_option(valid: t.Sequence[t.Any] = (None, "dns")) -> Option:
    return Option(_const(*valid), lambda v, c, a: choice_verdict(v, ("dns", "http"), valid))


def bool_option(*valid: t.Any, ok: t.Sequence[t.Any] = ()) -> Option:
    def classify(v: t.Any, c: Context, a: dict[str, t.Any]) -> str:
        verdict = bool_verdict(v)
        if verdict == VALID and ansible_bool(v) in [ansible_bool(x) for x in ok]:
            return OK
        return verdict
    return Option(_const(*valid), classify)


def email_option() -> Option:
    return Option(_const(None, "hostmaster@example.test"),
                  lambda v, c, a: VALID if v in (None, "hostmaster@example.test") else OK)


def order_uri_option(served: str, required: bool = True) -> Option:
    def classify(v: t.Any, c: Context, a: dict[str, t.Any]) -> str:
        if v == served:
            return VALID
        text = as_text(v)
        if not text:
            return INVALID if required else OK  # rcl_order_info: not given means "list the certificates"
        return url_verdict(v)
    return Option(_const(served), classify,
                  bad=lambda ctx: st.one_of(hostile(st.just(served)),
                                            st.sampled_from(["not-a-url", "javascript:alert(1)", "ftp://x/y",
                                                             "https://", "https:///x", "//acme.test/o/1"])))


def exclusive(valid: t.Any) -> Option:
    """Mutually exclusive with the profile's options when given: None or "" is "not given", any other value fails
    up front (rcl_order_info takes both order_uri and certificate_name with another service, so the modules check
    the exclusion for service=rcl themselves)."""
    return Option(_const(valid), lambda v, c, a: VALID if v in (None, "") else INVALID)


@dataclass
class Profile:
    """A module in one API generation, its valid arguments and what the stub serves."""

    name: str
    module: str
    version: str
    base: t.Callable[[Context], dict[str, t.Any]]
    options: dict[str, Option] = field(default_factory=dict)

    def args(self, ctx: Context) -> dict[str, t.Any]:
        args = dict(api_version=self.version, subscription_id=SUB, api_key=API_KEY, client_secret=CLIENT_SECRET,
                    retries=0, timeout=5)
        args["api_url"] = ctx.url + ("/v6" if self.version == "v6" else "/public")
        if self.version == "v6":
            args.update(client_id="cid-1", token_url=ctx.url + "/token")
        args.update(self.base(ctx))
        return args


def _fetch_base(ctx: Context) -> dict[str, t.Any]:
    return dict(certificate_name=NAME, pfx_password=PFX_PASSWORD,
                certificate_path=os.path.join(ctx.out, "cert.pem"), chain_path=os.path.join(ctx.out, "chain.pem"),
                fullchain_path=os.path.join(ctx.out, "fullchain.pem"),
                privatekey_path=os.path.join(ctx.out, "privkey.pem"), pfx_path=os.path.join(ctx.out, "cert.pfx"))


def _path_option(option: str) -> Option:
    def valid(ctx: Context) -> st.SearchStrategy[t.Any]:
        return st.sampled_from([_fetch_base(ctx)[option], os.path.join(ctx.out, "alt-%s" % option), None])

    def bad(ctx: Context) -> st.SearchStrategy[t.Any]:
        targeted = st.sampled_from([
            os.path.join(ctx.root, "missing-dir", "x.pem"),  # a missing directory
            ctx.out,  # a directory as the target
            ctx.out + "/",
            "/",
            "/nonexistent-rcl/x.pem",
            os.path.join(ctx.out, "sub"),  # an existing directory
            os.path.join(ctx.out, "cert.pem", "x"),  # a file as the directory
            os.path.join(ctx.out, "x" * 300),
            os.path.join(ctx.out, "a\nb.pem"),
            os.path.join(ctx.out, ".."),
        ])
        return st.one_of(targeted, hostile(st.just(os.path.join(ctx.out, "x.pem")))).filter(lambda v: safe_path(v, ctx))

    return Option(valid, lambda v, c, a: path_verdict(v, option, c, a), bad=bad)


def _mode_option(*valid: t.Any) -> Option:
    return Option(_const(*valid), lambda v, c, a: mode_verdict(v, valid),
                  bad=lambda ctx: st.one_of(hostile(st.sampled_from(["0644", "u=rw,g=r,o=r"])),
                                            st.sampled_from(["0999", "abc", "rwxr-xr-x", "0o8", "u+q", "12345", "-0644",
                                                             0o10000, -1, 1.5, True, ["0644"], {"mode": "0644"}])))


def _id_option(kind: str) -> Option:
    return Option(_const(None, "root", "0"), lambda v, c, a: id_verdict(v, kind),
                  bad=lambda ctx: st.one_of(hostile(st.just("root")),
                                            st.sampled_from(["no-such-user-rcl", "root\n", "4294967296", 10 ** 12])))


PROFILES: dict[str, Profile] = {}


def _register(profile: Profile) -> None:
    PROFILES[profile.name] = profile


_register(Profile(
    "rcl_order/v7", "rcl_order", "v7", lambda ctx: dict(certificate_name=NAME),
    dict(connection_options("v7"),
         certificate_name=name_option(True),
         root_domain=root_option(),
         challenge_type=challenge_option(),
         san=bool_option(False, "no", 0, ok=(True,)),
         email=email_option(),
         remaining_days=Option(_const(30, 1, "45", -5, 10 ** 12), lambda v, c, a: int_verdict(v, None, None)),
         force=bool_option(False, True, "yes")),
))

_register(Profile(
    "rcl_order_info/v7", "rcl_order_info", "v7", lambda ctx: dict(certificate_name=NAME),
    dict(connection_options("v7"),
         # optional here: None or "" means "not given" (then V7 refuses to list, up front)
         certificate_name=Option(_const(NAME), lambda v, c, a: hostname_verdict(v, False, True, NAME, fqdn=True)),
         order_uri=exclusive(None),  # mutually exclusive with certificate_name
         challenge_type=challenge_option(),
         # not used when reading a certificate: any value may be ignored
         root_domain=Option(_const(None, ROOT), lambda v, c, a: VALID if v in (None, ROOT) else OK)),
))

_register(Profile(
    "rcl_order_info/v6", "rcl_order_info", "v6",
    lambda ctx: dict(order_uri=V6_ORDER_URI, challenge_type="dns", root_domain=ROOT),
    dict(connection_options("v6"),
         order_uri=order_uri_option(V6_ORDER_URI, required=False),
         certificate_name=exclusive(None),  # mutually exclusive with order_uri
         challenge_type=Option(_const("dns"), lambda v, c, a: VALID if v == "dns" else
                               (INVALID if v is None else choice_verdict(v, ("dns", "http"), ("dns",)))),
         root_domain=Option(_const(ROOT), lambda v, c, a: VALID if v == ROOT else
                            (INVALID if not as_text(v) else hostname_verdict(v, False, False, None)))),
))

_register(Profile(
    "rcl_finalize/v7", "rcl_finalize", "v7",
    lambda ctx: dict(certificate_name=NAME, order_uri=ORDER_URI, pfx_password=PFX_PASSWORD, wait_timeout=60),
    dict(connection_options("v7"),
         certificate_name=name_option(True),
         order_uri=order_uri_option(ORDER_URI),
         root_domain=root_option(),
         challenge_type=challenge_option(),
         email=email_option(),
         pfx_password=Option(_const(PFX_PASSWORD, None), lambda v, c, a: VALID if v in (PFX_PASSWORD, None) else OK,
                             secret_marker=PFX_PASSWORD),
         # csr_info is V6 only: in V7 a well-formed one may be accepted or refused, a malformed one is refused
         csr_info=Option(_const(None, {}, {"country_name": "TT", "organization": "Example Ltd"}, "country_name=TT"),
                         lambda v, c, a: VALID if v in (None, {}) else (OK if csr_verdict(v) == VALID else csr_verdict(v)),
                         bad=lambda ctx: st.one_of(
                             hostile(),
                             st.sampled_from(["notadict", ["a"], {"unknown": "x"}, {"country_name": {"a": 1}},
                                              {"country_name": ["TT"]}, "country_name", "{not json"]),
                             st.dictionaries(st.text(max_size=12), st.text(max_size=8), min_size=1, max_size=3))),
         wait=bool_option(True, False, "yes"),
         wait_timeout=Option(_const(60, 300, "120", 86400),
                             lambda v, c, a: int_verdict(v, 1, 86400, boundary_low=0),
                             bad=lambda ctx: st.one_of(hostile(), st.sampled_from([10 ** 12, 10 ** 10, 86401, 0, -1]))),
         ),
))

_register(Profile(
    "rcl_cert_fetch/v7", "rcl_cert_fetch", "v7", _fetch_base,
    dict(connection_options("v7"),
         certificate_name=name_option(True),
         certificate_path=_path_option("certificate_path"),
         chain_path=_path_option("chain_path"),
         fullchain_path=_path_option("fullchain_path"),
         privatekey_path=_path_option("privatekey_path"),
         pfx_path=_path_option("pfx_path"),
         pfx_password=Option(_const(PFX_PASSWORD, None), lambda v, c, a: VALID if v in (PFX_PASSWORD, None) else OK,
                             secret_marker=PFX_PASSWORD),
         owner=_id_option("owner"),
         group=_id_option("group"),
         mode=_mode_option("0644", "644", 0o644, "u=rw,g=r,o=r"),
         privatekey_mode=_mode_option("0600", "0640", 0o600, "u=rw,go="),
         backup=bool_option(False, True),
         follow=bool_option(False, True),
         source=Option(_const("pfx", "download"),
                       lambda v, c, a: choice_verdict(v, ("pfx", "download"), ("pfx", "download"))),
         return_content=bool_option(False, True),
         return_private_key=bool_option(False, True)),
))

PAIRS = [(name, option) for name, profile in PROFILES.items() for option in profile.options]


# ---------------------------------------------------------------------------
# Hostile replies


def json_values() -> st.SearchStrategy[t.Any]:
    """Any JSON value (``st.recursive``), NaN and infinities included (Python's json reads them)."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10 ** 18, max_value=10 ** 40),
                       st.floats(), st.text(max_size=20),
                       st.sampled_from(["", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "\ufeff",
                                        "\x1b[31m", "not base64!", "http://", "DNS", "dns-01"]))

    def extend(children: t.Any) -> t.Any:
        return st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4))

    return st.recursive(leaves, extend, max_leaves=8)


REPLY_FIELDS = ("certificateName", "rootDomain", "email", "challengeType", "orderUri", "issueDate", "expiryDate", "id",
                "password", "pfxString", "certificateDownloadUrl")
URL_FIELDS = tuple("certificateDownloadUrl.%s" % key for key in download_urls("x"))


def date_strings() -> st.SearchStrategy[t.Any]:
    offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
        lambda m: "%s%02d:%02d" % ("-" if m < 0 else "+", abs(m) // 60, abs(m) % 60))
    formatted = st.tuples(st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31, 23, 59, 59)),
                          st.one_of(st.just(""), st.just("Z"), offsets),
                          st.integers(min_value=0, max_value=12)).map(
        lambda p: p[0].strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0")
        + ("." + str(p[0].microsecond).rjust(6, "0")[:p[2]].ljust(p[2], "7") if p[2] else "") + p[1])
    return st.one_of(
        st.sampled_from(["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.9999999-23:59",
                         "0001-01-01T00:00:00+23:59", "2023-02-30T00:00:00", "2023-13-01", "2023-08-29T24:00:00",
                         "99999-01-01T00:00:00", "2023-08-29T04:53:07.4476228+99:99", "\u0662\u0660\u0662\u0663-01-01",
                         "2023-08-29T04:53:07.4476228\n", "", " ", "null", "1e400"]),
        formatted,
        st.from_regex(r"\A[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\.[0-9]{0,12})?)?)?"
                      r"(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"),
        st.text(max_size=30),
        st.integers(), st.floats(), st.none(), st.lists(st.integers(), max_size=3),
    )
