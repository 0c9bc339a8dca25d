# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property-based tests of the module contract (reliability review of 8eac1f8, H1..L5).

Each example runs a module's ``main()`` for real (``run_module``: argument spec, no_log
masking, the JSON the controller would read) against a local stub API (``httpserver``),
with ``_ansible_verbosity=4`` so the result is what ``-vvvv`` shows. Every example must
hold the universal properties:

1. no traceback (in the output or an ``exception`` field);
2. a failure has a non-empty ``msg``;
3. no secret of the run (API key, client secret, PFX passwords, download links, access
   token; every one carries the marker ``SECRET``) appears in the output in any form;

and, depending on what ``strategies`` says of the generated value: a value invalid for
its option fails before any request with a message naming the option; a valid one
succeeds. Hostile replies must in addition give a ``msg`` without raw control characters.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import os
import re
import sys
import time
import traceback
import typing as t
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from . import strategies as S

pytestmark = pytest.mark.filterwarnings("ignore")

# No shrinking: a failing run stays short, and the first failing example is already small (curated values first).
SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=False,
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])

V7_PROFILES = ["rcl_order_info/v7", "rcl_cert_fetch/v7", "rcl_order/v7", "rcl_finalize/v7"]
REPLY_MODULES = ["rcl_order_info/v7", "rcl_cert_fetch/v7", "rcl_order/v7"]  # those that read the certificate


# ---------------------------------------------------------------------------
# Harness

_MATERIAL: dict[str, t.Any] = {}


@pytest.fixture
def ctx(httpserver: t.Any, pki: t.Any, tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch) -> S.Context:
    """A sandbox (the working directory too), a stub API URL, the certificate replies; no RCL_* environment.

    Requests to any other host go to a dead proxy: no example can leave this machine.
    """
    import datetime

    for name in list(os.environ):
        if name.startswith("RCL_") or name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    monkeypatch.setenv("RCL_API_URL", httpserver.url_for("/public"))  # api_url None -> the stub

    root = tmp_path / "sandbox"
    cwd = root / "a" / "b" / "cwd"
    out = root / "out"
    for directory in (cwd, out, out / "sub"):
        directory.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    now = datetime.datetime.now(datetime.timezone.utc)
    if not _MATERIAL:  # real PKCS#12 (EC keys: they load fast), built once for the whole file
        _MATERIAL["current"] = pki(key_type="ec", ca_key_type="ec", sans=[S.NAME], password=S.REPLY_PASSWORD,
                                   not_after=now + datetime.timedelta(days=60))
        _MATERIAL["newer"] = pki(key_type="ec", ca_key_type="ec", sans=[S.NAME], password=S.REPLY_PASSWORD,
                                 not_after=now + datetime.timedelta(days=90))
    material, newer = _MATERIAL["current"], _MATERIAL["newer"]
    ca_file = root / "ca.pem"
    ca_file.write_bytes(material.pem(material.root))
    url = httpserver.url_for("").rstrip("/")
    return S.Context(
        url=url, root=str(root), cwd=str(cwd), out=str(out), ca_file=str(ca_file),
        reply=S.certificate_reply(material.pkcs12, now + datetime.timedelta(days=60), url_base=url + "/storage"),
        new_reply=S.certificate_reply(newer.pkcs12, now + datetime.timedelta(days=90), order_uri=S.ORDER_URI,
                                      url_base=url + "/storage"),
        pfx=material.pkcs12,
    )


def serve_api(httpserver: t.Any, ctx: S.Context, certificate: t.Callable[[t.Any], None] | None = None) -> None:
    """A fresh stub (log and handlers cleared) that answers every documented call of the valid arguments."""
    httpserver.clear()
    handler = httpserver.expect_request(S.v7_path(), method="GET")
    if certificate is None:
        handler.respond_with_json(ctx.reply)
    else:
        certificate(handler)
    httpserver.expect_request(S.v7_path(suffix="/order"), method="GET").respond_with_json(S.V7_ORDER)
    httpserver.expect_request(S.v7_path(suffix="/finalize"), method="GET").respond_with_json(ctx.new_reply)
    httpserver.expect_request("/storage/SECRET-URL-pfxUrl.pfx", method="GET").respond_with_data(
        ctx.pfx, content_type="application/octet-stream")
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"token_type": "Bearer", "expires_in": 3599, "access_token": S.ACCESS_TOKEN})
    httpserver.expect_request("/v6/order/subscription/%s/get" % S.SUB, method="POST").respond_with_json(S.V6_ORDER)
    # Everything else: a plain 404 (the stub's own "no handler" page would list the routes above).
    httpserver.expect_request(re.compile(".*")).respond_with_data("Not Found", status=404, content_type="text/plain")


@dataclass
class Outcome:
    args: dict[str, t.Any]
    result: dict[str, t.Any]
    stdout: str
    requests: list[str]

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    @property
    def msg(self) -> t.Any:
        return self.result.get("msg")

    def __str__(self) -> str:
        shown = {k: (v if not isinstance(v, str) or len(v) < 200 else v[:200] + "...") for k, v in self.args.items()}
        return "args=%r\nrequests=%r\nresult=%s" % (shown, self.requests, self.stdout[:3000])


def run(run_module: t.Any, httpserver: t.Any, ctx: S.Context, profile_name: str,
        overrides: dict[str, t.Any] | None = None, certificate: t.Callable[[t.Any], None] | None = None) -> Outcome:
    profile = S.PROFILES[profile_name]
    os.environ["RCL_API_URL"] = ctx.url + ("/v6" if profile.version == "v6" else "/public")
    args = profile.args(ctx)
    args.update(overrides or {})
    serve_api(httpserver, ctx, certificate)
    main = importlib.import_module("ansible_collections.rcl.ssl.plugins.modules.%s" % profile.module).main
    module_args = dict(args, _ansible_verbosity=4, _ansible_no_log=False)
    try:
        result = run_module(main, module_args)
    except Exception:  # the module let an exception escape: that is a traceback
        raise AssertionError("main() raised (a traceback for the user):\n%s\nargs=%r"
                             % (traceback.format_exc(), args)) from None
    requests = ["%s %s" % (req.method, req.full_path) for req, _resp in httpserver.log]
    return Outcome(args, result, run_module.last_stdout, requests)


def secret_forms(secret: str) -> set[str]:
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             secret.replace("\r", "\\r").replace("\n", "\\n")}
    forms |= {json.dumps(form)[1:-1] for form in list(forms)}
    return {form for form in forms if len(form) >= 6}


def check_universal(out: Outcome, secrets: t.Iterable[str] = (), core_refused: bool = False) -> None:
    """No traceback; a failure has a message; no secret in any form.

    ``core_refused``: ansible-core failed the module before its code ran (see ``refused_by_core``); ansible-core
    2.18 to 2.20 then add their own traceback (of ``_log_to_syslog``) as ``exception``. Only that one is allowed.
    """
    exception = out.result.get("exception")
    if core_refused:
        assert not exception or "_log_to_syslog" in json.dumps(exception), "traceback in 'exception'\n%s" % out
    else:
        assert "Traceback (most recent call last)" not in out.stdout, "traceback in the output\n%s" % out
        if exception:
            text = json.dumps(exception)
            assert "Traceback" not in text and 'File \\"' not in text, "traceback in 'exception'\n%s" % out
    if out.failed:
        assert isinstance(out.msg, str) and out.msg.strip(), "a failure without a message\n%s" % out
    assert S.MARKER not in out.stdout, "a secret is in the output\n%s" % out
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in out.stdout, "secret %r is in the output\n%s" % (secret[:40], out)


SYSLOG_NUL = "Failed to log to syslog (embedded null character)"


def refused_by_core(out: Outcome, value: t.Any) -> bool:
    """ansible-core itself refused the arguments before the module's code ran.

    AnsibleModule logs its invocation to syslog; from Python 3.12 on, ``syslog.syslog`` raises on a
    NUL character, and ansible-core fails the module with its own message (unless the task has
    ``no_log``). Earlier Pythons log the value cut short, and the module's own check answers.
    """
    has_nul = "\\u0000" in json.dumps(value, default=str)
    return (sys.version_info >= (3, 12) and has_nul and out.failed and not out.requests
            and out.msg.startswith(SYSLOG_NUL))


def check_input_contract(out: Outcome, option: str, value: t.Any, verdict: str) -> None:
    where = "option %s=%r (%s)\n%s" % (option, value if not isinstance(value, str) or len(value) < 80
                                       else value[:80] + "...", verdict, out)
    if verdict != S.VALID and refused_by_core(out, value):
        return
    if verdict == S.INVALID:
        assert out.failed, "an invalid value was accepted: " + where
        assert not out.requests, "an invalid value cost a request: " + where
        assert option in out.msg, "the message does not name the option: " + where
    elif verdict == S.VALID:
        assert not out.failed, "a valid value failed: " + where
    elif verdict == S.BOUNDARY and out.failed:
        assert not out.requests, "refused after a request (must be refused up front or accepted): " + where
        assert option in out.msg, "the message does not name the option: " + where


def check_reply_failure(out: Outcome) -> None:
    """A failure caused by a reply: a clear message without raw control characters (L3)."""
    if out.failed:
        bad = S.MSG_FORBIDDEN.search(out.msg)
        assert bad is None, "raw control character %r in msg\n%s" % (bad.group(), out)


def input_example(run_module: t.Any, httpserver: t.Any, ctx: S.Context, profile_name: str, option: str,
                  value: t.Any, extra: dict[str, t.Any] | None = None, verdict: str | None = None) -> Outcome:
    overrides = dict(extra or {})
    overrides[option] = value
    before = snapshot(ctx.out)
    out = run(run_module, httpserver, ctx, profile_name, overrides)
    if verdict is None:
        verdict = S.PROFILES[profile_name].options[option].classify(value, ctx, out.args)
    core_refused = verdict != S.VALID and refused_by_core(out, value)
    check_universal(out, secrets=[ctx.reply["pfxString"][:40]], core_refused=core_refused)
    check_input_contract(out, option, value, verdict)
    if out.failed:
        assert snapshot(ctx.out) == before, "a failed run changed the destinations\n%s" % out
    return out


def snapshot(directory: str) -> dict[str, t.Any]:
    """Names, modes and contents of the files of the sandbox's destination directory."""
    found = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        info = os.lstat(path)
        found[name] = (info.st_mode, info.st_uid, info.st_gid,
                       open(path, "rb").read() if os.path.isfile(path) and not os.path.islink(path) else None)
    return found


def examples(cases: t.Iterable[dict[str, t.Any]]) -> t.Callable[[t.Any], t.Any]:
    """Explicit examples (always run, before the generated ones)."""
    def decorate(test: t.Any) -> t.Any:
        for case in reversed(list(cases)):
            test = example(**case)(test)
        return test
    return decorate


# ---------------------------------------------------------------------------
# Baselines: the valid arguments of every profile succeed (so that failures below mean something)


@pytest.mark.parametrize("profile_name", sorted(S.PROFILES))
def test_baseline_valid_arguments_succeed_without_leaking(profile_name, ctx, httpserver, run_module):
    out = run(run_module, httpserver, ctx, profile_name)
    check_universal(out, secrets=[ctx.reply["pfxString"][:40]])
    assert not out.failed, str(out)


@pytest.mark.parametrize("profile_name", sorted(S.PROFILES))
def test_l2_plain_http_and_unchecked_tls_warn(profile_name, ctx, httpserver, run_module):
    out = run(run_module, httpserver, ctx, profile_name, dict(validate_certs=False))
    warnings = json.dumps(out.result.get("warnings", []))
    assert "api_url" in warnings, "no warning for a plain-http api_url\n%s" % out
    assert "validate_certs" in warnings, "no warning for validate_certs=false\n%s" % out


# ---------------------------------------------------------------------------
# A. Every option of every module, hostile values


@pytest.mark.parametrize("profile_name, option", S.PAIRS, ids=["%s:%s" % pair for pair in S.PAIRS])
@settings(max_examples=5, **SETTINGS)
@given(data=st.data())
def test_a_every_option_hostile_values_fail_cleanly_before_any_request(profile_name, option, data, ctx, httpserver,
                                                                       run_module):
    spec = S.PROFILES[profile_name].options[option]
    value = data.draw(spec.strategy(ctx), label=option)
    input_example(run_module, httpserver, ctx, profile_name, option, value)


CSR_CASES = ["notadict", ["a"], ["country_name", "TT"], {"unknown": "x"}, {"country_name": "TT", "colour": "red"},
             {"country_name": {"nested": 1}}, {"country_name": ["TT"]}, "country_name", "{not json", 5, True, "",
             "a=b c", "[1, 2]"]


@settings(max_examples=20, **SETTINGS)
@examples(dict(value=value) for value in CSR_CASES)
@given(value=st.one_of(
    st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=8), S.json_values()), min_size=1, max_size=3),
    S.hostile(),
))
def test_h2_malformed_csr_info_keeps_credentials_masked(value, ctx, httpserver, run_module):
    out = input_example(run_module, httpserver, ctx, "rcl_finalize/v7", "csr_info", value)
    shown = out.result.get("invocation", {}).get("module_args", {})
    for option in ("api_key", "client_secret", "pfx_password"):
        assert shown.get(option) in (None, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"), \
            "%s shown in clear in invocation\n%s" % (option, out)


M2_KEYS = ["abc\n" + S.API_KEY, S.API_KEY + "\r\nX-Injected: 1", "line1\r\n" + S.API_KEY, S.API_KEY + "\x00tail",
           "\x00" + S.API_KEY, "k\u20acy-" + S.API_KEY, S.API_KEY + "\u2028x", S.API_KEY + "\x1b[31m", S.API_KEY + "\n"]


@settings(max_examples=16, **SETTINGS)
@examples(dict(profile_name=profile, value=key) for key in M2_KEYS for profile in ("rcl_order_info/v7",))
@examples(dict(profile_name=profile, value="abc\n" + S.API_KEY) for profile in V7_PROFILES)
@given(profile_name=st.sampled_from(V7_PROFILES), value=S.secret_values(S.API_KEY))
def test_m2_api_key_with_control_characters_is_refused_and_never_echoed(profile_name, value, ctx, httpserver,
                                                                        run_module):
    input_example(run_module, httpserver, ctx, profile_name, "api_key", value)


def _m5_cases() -> list[dict[str, t.Any]]:
    cases = [dict(profile_name=p, option="timeout", value=10 ** 10, https=False) for p in V7_PROFILES]
    cases += [dict(profile_name=p, option="ca_path", value="/nonexistent/ca.pem", https=False) for p in V7_PROFILES]
    cases += [dict(profile_name=p, option="ca_path", value="/nonexistent/ca.pem", https=True) for p in V7_PROFILES]
    cases += [
        dict(profile_name="rcl_finalize/v7", option="wait_timeout", value=10 ** 12, https=False),
        dict(profile_name="rcl_order_info/v7", option="api_key", value="k\u20acy-" + S.API_KEY, https=False),
        dict(profile_name="rcl_order/v7", option="retries", value=10 ** 12, https=False),
        dict(profile_name="rcl_order_info/v7", option="timeout", value=10 ** 12, https=False),
        dict(profile_name="rcl_order_info/v7", option="timeout", value=-1, https=False),
        dict(profile_name="rcl_order_info/v7", option="timeout", value=0, https=False),
        dict(profile_name="rcl_order_info/v7", option="retries", value=-1, https=False),
    ]
    return cases


@settings(max_examples=12, **SETTINGS)
@examples(_m5_cases())
@given(profile_name=st.sampled_from(V7_PROFILES),
       option=st.sampled_from(["timeout", "retries", "ca_path"]),
       value=st.one_of(st.integers(min_value=10 ** 6, max_value=10 ** 20), st.integers(max_value=0),
                       st.sampled_from(["/nonexistent/ca.pem", "%2e%2e", "", "~/x.pem", 10 ** 10])),
       https=st.booleans())
def test_m5_out_of_range_numbers_missing_ca_and_unsendable_key_fail_before_any_request(
        profile_name, option, value, https, ctx, httpserver, run_module):
    extra = {}
    if https:  # the reviewer's reproduction: the CA bundle matters only for https
        extra["api_url"] = ctx.url.replace("http://", "https://") + "/public"
    out = input_example(run_module, httpserver, ctx, profile_name, option, value, extra=extra)
    if option in ("timeout", "wait_timeout", "retries"):
        # Accepted, or refused up front: never a failure after the state-changing call was sent (M5)
        assert not out.failed or not out.requests, "failed after a request for %s=%r\n%s" % (option, value, out)


NAME_CASES = [".", "..", "www\n.example.test", "www.example.test\n", "%2e%2e", "a/b", "www.example.test/..",
              "..%2f..", "?", "#x", "www..example.test", "", " ", "www.example.test\x00", "*.*.example.test",
              "x" * 300, "www.exa mple.test", "WWW.EXAMPLE.TEST\r\n", "/", "www.example.test/", "-www.example.test"]


@settings(max_examples=24, **SETTINGS)
@examples(dict(profile_name=p, value=v) for v in (".", "..") for p in V7_PROFILES)
@examples(dict(profile_name="rcl_cert_fetch/v7", value=v) for v in NAME_CASES)
@examples(dict(profile_name="rcl_order_info/v7", value=v) for v in NAME_CASES)
@given(profile_name=st.sampled_from(V7_PROFILES), value=st.one_of(S.mutate(st.just(S.NAME)), S.hostile()))
def test_m3_certificate_name_checked_before_any_request(profile_name, value, ctx, httpserver, run_module):
    input_example(run_module, httpserver, ctx, profile_name, "certificate_name", value)


ORDER_URI_CASES = ["not-a-url", "javascript:alert(1)", "ftp://x/y", "https://", "https:///x", "//acme.test/o/1",
                   "acme.test/order/1", "https://acme.test/o/1\n", "https://acme.test/o/\x001", "", "file:///etc/passwd",
                   "https://acme.test:99999/o/1"]


@settings(max_examples=12, **SETTINGS)
@examples(dict(profile_name=p, value=v) for v in ORDER_URI_CASES for p in ("rcl_order_info/v6", "rcl_finalize/v7"))
@given(profile_name=st.sampled_from(["rcl_order_info/v6", "rcl_finalize/v7"]),
       value=st.one_of(S.mutate(st.just(S.ORDER_URI)), S.hostile()))
def test_m3_order_uri_checked_before_any_request(profile_name, value, ctx, httpserver, run_module):
    input_example(run_module, httpserver, ctx, profile_name, "order_uri", value)


def _destination_cases() -> list[dict[str, t.Any]]:
    cases: list[dict[str, t.Any]] = []
    for option in S.PATH_OPTIONS:
        cases += [dict(option=option, value="{root}/missing-dir/x.pem"), dict(option=option, value="{out}"),
                  dict(option=option, value="{out}/sub"), dict(option=option, value="/"),
                  dict(option=option, value="{out}/cert.pem/x")]
    cases += [dict(option="owner", value="no-such-user-rcl"), dict(option="group", value="no-such-group-rcl"),
              dict(option="owner", value="root\n"), dict(option="owner", value="4294967296"),
              dict(option="mode", value="0999"), dict(option="mode", value="abc"), dict(option="mode", value=0o10000),
              dict(option="mode", value=True), dict(option="privatekey_mode", value="u+q"),
              dict(option="privatekey_mode", value=-1), dict(option="privatekey_mode", value=["0600"])]
    return cases


@settings(max_examples=16, **SETTINGS)
@examples(_destination_cases())
@given(option=st.sampled_from(list(S.PATH_OPTIONS) + ["owner", "group", "mode", "privatekey_mode"]),
       value=st.sampled_from(["{root}/missing-dir/x.pem", "{out}", "/", "no-such-user-rcl", "0999", "u+q", -1]))
def test_m3_cert_fetch_destinations_checked_before_any_request(option, value, ctx, httpserver, run_module):
    if isinstance(value, str):
        value = value.format(root=ctx.root, out=ctx.out)
    if option not in S.PATH_OPTIONS and isinstance(value, str) and value.startswith(ctx.root):
        value = "no-such-user-rcl"
    input_example(run_module, httpserver, ctx, "rcl_cert_fetch/v7", option, value)


L1_OPTIONS = [("rcl_order/v7", "subscription_id"), ("rcl_order/v7", "certificate_name"),
              ("rcl_order/v7", "root_domain"), ("rcl_order_info/v7", "certificate_name"),
              ("rcl_cert_fetch/v7", "certificate_name"), ("rcl_finalize/v7", "order_uri"),
              ("rcl_order_info/v6", "order_uri"), ("rcl_order_info/v6", "root_domain"), ("rcl_order/v7", "api_url"),
              ("rcl_finalize/v7", "subscription_id")]


@settings(max_examples=10, **SETTINGS)
@examples([dict(pair=("rcl_order/v7", "subscription_id"), value="sub\n"),
           dict(pair=("rcl_order/v7", "subscription_id"), value=S.SUB + "\n"),
           dict(pair=("rcl_order/v7", "certificate_name"), value="www\n.example.test"),
           dict(pair=("rcl_order/v7", "certificate_name"), value="www.example.test\n"),
           dict(pair=("rcl_order_info/v7", "certificate_name"), value="www.example.test\n"),
           dict(pair=("rcl_cert_fetch/v7", "certificate_name"), value="www.example.test\n"),
           dict(pair=("rcl_order/v7", "root_domain"), value="example.test\n"),
           dict(pair=("rcl_finalize/v7", "order_uri"), value=S.ORDER_URI + "\n"),
           dict(pair=("rcl_order_info/v6", "order_uri"), value=S.V6_ORDER_URI + "\n")])
@given(pair=st.sampled_from(L1_OPTIONS), value=st.none())
def test_l1_trailing_newline_is_refused_before_any_request(pair, value, ctx, httpserver, run_module):
    profile_name, option = pair
    if value is None:  # generated: the option's valid value with a final newline
        value = str(S.PROFILES[profile_name].args(ctx).get(option) or S.ROOT) + "\n"
    out = input_example(run_module, httpserver, ctx, profile_name, option, value)
    assert out.failed and not out.requests, "a trailing newline was accepted\n%s" % out


# ---------------------------------------------------------------------------
# B. Hostile replies to the certificate read


def reply_run(run_module: t.Any, httpserver: t.Any, ctx: S.Context, profile_name: str, body: bytes | str,
              status: int = 200, headers: dict[str, str] | None = None,
              content_type: str | None = "application/json; charset=utf-8",
              overrides: dict[str, t.Any] | None = None) -> Outcome:
    def answer(handler: t.Any) -> None:
        handler.respond_with_data(body, status=status, headers=headers, content_type=content_type)

    out = run(run_module, httpserver, ctx, profile_name, overrides, certificate=answer)
    check_universal(out, secrets=[REPLY["pfxString"][:40], REPLY["pfxString"][100:140]])
    check_reply_failure(out)
    return out


REPLY: dict[str, t.Any] = {}


@pytest.fixture
def reply(ctx: S.Context) -> dict[str, t.Any]:
    """The documented V7 reply for part B: secret PFX password, https://storage.test/SECRET-URL-... links."""
    import base64
    import datetime

    REPLY.clear()
    REPLY.update(S.certificate_reply(base64.b64decode(ctx.reply["pfxString"]),
                                     datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=60)))
    return REPLY


@settings(max_examples=9, **SETTINGS)
@examples(dict(profile_name=p, content_type="application/json; charset=utf-8", order=list(S.REPLY_FIELDS),
               space="", indent=None) for p in REPLY_MODULES)
@examples(dict(profile_name=p, content_type="application/json; charset=utf-8",
               order=["certificateDownloadUrl", "password", "pfxString"] + list(S.REPLY_FIELDS[:8]),
               space="\r\n", indent=2) for p in REPLY_MODULES)
@given(profile_name=st.sampled_from(REPLY_MODULES),
       content_type=st.sampled_from(["application/json; charset=utf-8", "application/json", "text/plain",
                                     "text/plain; charset=utf-8", None]),
       order=st.permutations(S.REPLY_FIELDS), space=st.sampled_from(["", " ", "\n", "\r\n\t"]),
       indent=st.sampled_from([None, 2]))
def test_h1_bom_reply_parses_and_leaks_nothing(
        profile_name, content_type, order, space, indent, reply, ctx, httpserver, run_module):
    body = ("\ufeff" + space + json.dumps({key: reply[key] for key in order}, indent=indent)).encode("utf-8")
    out = reply_run(run_module, httpserver, ctx, profile_name, body, content_type=content_type)
    assert not out.failed, "a BOM-prefixed reply was not understood\n%s" % out
    if profile_name == "rcl_order_info/v7":
        assert out.result.get("exists") is True and out.result["certificate"]["name"] == S.NAME, str(out)


def _corrupt(text: str, kind: str, where: int, garbage: str) -> str:
    cut = 1 + where % (len(text) - 1)
    if kind == "truncate":
        return text[:cut]
    if kind == "bom_truncate":
        return "\ufeff" + text[:cut]
    if kind == "prefix":
        return garbage + text
    if kind == "suffix":
        return text + garbage
    if kind == "flip":
        return text[:cut] + garbage + text[cut + 1:]
    if kind == "html":
        return "<html><body><pre>%s</pre></body></html>" % text
    if kind == "python_repr":
        return repr(json.loads(text))
    raise AssertionError(kind)


@settings(max_examples=24, **SETTINGS)
@examples(dict(profile_name=p, kind=k, where=w, garbage=g, content_type="application/json; charset=utf-8")
          for p in REPLY_MODULES
          for k, w, g in (("truncate", 400, ""), ("prefix", 0, ")]}',\n"), ("prefix", 0, "<html>"),
                          ("python_repr", 0, ""), ("bom_truncate", 300, ""), ("html", 0, "")))
@given(profile_name=st.sampled_from(REPLY_MODULES),
       kind=st.sampled_from(["truncate", "bom_truncate", "prefix", "suffix", "flip", "html", "python_repr"]),
       where=st.integers(min_value=0, max_value=10 ** 6),
       garbage=st.sampled_from(["x", ")]}',\n", "<html><body>", "\x00", "OK ", "null ", "\ufeff\ufeff", "}", ",",
                                "'", "\\", "<!-- -->"]),
       content_type=st.sampled_from(["application/json; charset=utf-8", "text/html", None]))
def test_h1_malformed_reply_with_secrets_is_never_quoted(profile_name, kind, where, garbage, content_type, reply,
                                                         ctx, httpserver, run_module):
    body = _corrupt(json.dumps(reply), kind, where, garbage)
    reply_run(run_module, httpserver, ctx, profile_name, body.encode("utf-8"), content_type=content_type)


@settings(max_examples=9, **SETTINGS)
@examples(dict(profile_name=p, depth=100000, shape=s) for p in REPLY_MODULES for s in ("open", "balanced", "in_reply"))
@given(profile_name=st.sampled_from(REPLY_MODULES), depth=st.integers(min_value=1, max_value=100000),
       shape=st.sampled_from(["open", "balanced", "in_reply", "objects"]))
def test_m4_deeply_nested_reply_fails_cleanly(profile_name, depth, shape, reply, ctx, httpserver, run_module):
    if shape == "open":
        body = "[" * depth
    elif shape == "balanced":
        body = "[" * depth + "]" * depth
    elif shape == "objects":
        body = '{"a":' * depth + "1" + "}" * depth
    else:  # the secrets and a deep field in one reply
        body = json.dumps(reply)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    out = reply_run(run_module, httpserver, ctx, profile_name, body)
    if shape == "open":
        assert out.failed, str(out)


@settings(max_examples=24, **SETTINGS)
@examples(dict(profile_name=p, field=f, value=v) for p in REPLY_MODULES for f in ("expiryDate", "issueDate")
          for v in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"))
@given(profile_name=st.sampled_from(REPLY_MODULES), field=st.sampled_from(["expiryDate", "issueDate", "both"]),
       value=S.date_strings())
def test_m4_overflowing_and_random_dates_fail_cleanly(profile_name, field, value, reply, ctx, httpserver, run_module):
    body = dict(reply)
    for name in (("expiryDate", "issueDate") if field == "both" else (field,)):
        body[name] = value
    reply_run(run_module, httpserver, ctx, profile_name, json.dumps(body))


def _no_long_sleep(value: str) -> bool:
    """Keep the run short: no Retry-After that honestly asks for 2..120 seconds."""
    text = value.strip()
    if text.isascii() and text.isdigit() and 1 < int(text) <= 120:
        return False
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return True
    return when is None or not 1 < when.timestamp() - time.time() <= 121


@settings(max_examples=4, **SETTINGS)
@examples(dict(profile_name=p, value="\u00b2") for p in REPLY_MODULES)
@examples([dict(profile_name="rcl_order_info/v7", value="\u00b3\u00b9")])
@given(profile_name=st.sampled_from(REPLY_MODULES),
       value=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                     min_size=1, max_size=8).filter(_no_long_sleep))
def test_m4_retry_after_with_unicode_digits_fails_cleanly(profile_name, value, reply, ctx, httpserver, run_module):
    out = reply_run(run_module, httpserver, ctx, profile_name, "Service Unavailable", status=503,
                    headers={"Retry-After": value}, content_type="text/plain", overrides=dict(retries=1))
    assert out.failed, str(out)


L3_BODY = "Bad MARK-L3 request\x1b[2J\x1b[31m \x00\x07\r\nX-Injected: 1"


@settings(max_examples=12, **SETTINGS)
@examples(dict(profile_name=p, status=400, extra="") for p in REPLY_MODULES)
@given(profile_name=st.sampled_from(REPLY_MODULES), status=st.sampled_from([400, 401, 403, 409, 422, 500, 502]),
       extra=st.text(alphabet=S.CONTROL + "ab \u2028\u009b\u001b[m", max_size=20))
def test_l3_error_body_control_characters_are_escaped(profile_name, status, extra, reply, ctx, httpserver,
                                                      run_module):
    out = reply_run(run_module, httpserver, ctx, profile_name, L3_BODY + extra, status=status,
                    content_type="text/plain")
    assert out.failed, str(out)
    assert "MARK-L3" in out.msg, "the API's message is not shown\n%s" % out


def _fuzzed_reply(reply: dict[str, t.Any], drop: t.AbstractSet[str], replace: dict[str, t.Any]) -> dict[str, t.Any]:
    body = {key: value for key, value in reply.items() if key not in drop}
    body["certificateDownloadUrl"] = dict(reply["certificateDownloadUrl"])
    for key, value in replace.items():
        if "." in key:
            parent, child = key.split(".", 1)
            if isinstance(body.get(parent), dict):
                body[parent][child] = value
        else:
            body[key] = value
    return body


@settings(max_examples=25, **SETTINGS)
@examples(dict(profile_name=p, drop=set(), replace={"expiryDate": 20231127, "id": [1], "password": {"a": 1}},
               whole=None) for p in REPLY_MODULES)
@examples(dict(profile_name=p, drop=set(), replace={}, whole=w) for p in REPLY_MODULES
          for w in ([], "text", 1e308, None, {"certificateName": None}))
@given(profile_name=st.sampled_from(REPLY_MODULES),
       drop=st.sets(st.sampled_from(S.REPLY_FIELDS), max_size=3),
       replace=st.dictionaries(st.sampled_from(S.REPLY_FIELDS + S.URL_FIELDS), S.json_values(), min_size=1,
                               max_size=4),
       whole=st.one_of(st.none(), st.none(), st.none(), S.json_values()))
def test_m4_h1_wrong_types_in_every_reply_field_fail_cleanly(profile_name, drop, replace, whole, reply, ctx,
                                                             httpserver, run_module):
    body = _fuzzed_reply(reply, drop, replace) if whole is None else whole
    reply_run(run_module, httpserver, ctx, profile_name, json.dumps(body))


FIVE_MIB = 5 * 1024 * 1024


@settings(max_examples=3, **SETTINGS)
@examples(dict(profile_name=p, kind=k) for p in REPLY_MODULES for k in ("html", "padded_json", "broken_json"))
@given(profile_name=st.sampled_from(REPLY_MODULES),
       kind=st.sampled_from(["html", "padded_json", "broken_json", "brackets", "no_charset"]))
def test_l5_five_mib_reply_is_handled_with_a_short_message(profile_name, kind, reply, ctx, httpserver, run_module):
    content_type = "application/json; charset=utf-8"
    if kind == "html":
        body = "<html>" + "A" * FIVE_MIB + json.dumps(reply) + "</html>"
        content_type = "text/html"
    elif kind in ("padded_json", "no_charset"):
        body = json.dumps(dict(reply, padding="x" * FIVE_MIB))
        content_type = "application/json" if kind == "no_charset" else content_type
    elif kind == "broken_json":
        body = json.dumps(reply)[:-1] + ', "padding": "' + "x" * FIVE_MIB
    else:
        body = "[" * FIVE_MIB
    out = reply_run(run_module, httpserver, ctx, profile_name, body.encode("utf-8"), content_type=content_type)
    if out.failed:
        assert len(out.msg) <= 10000, "a %d-character message\n%s" % (len(out.msg), str(out)[:2000])


# ---------------------------------------------------------------------------
# V6 access token (M1)


@settings(max_examples=4, **SETTINGS)
@examples([dict(template="Token {t} is not valid or has expired.")])
@given(template=st.sampled_from(["Token {t} is not valid", "Bearer {t}", '{{"token": "{t}"}}',
                                 "Authorization: Bearer {t}\r\nX: y", "{t}"]))
def test_m1_v6_access_token_echoed_by_the_api_is_masked(template, ctx, httpserver, run_module):
    profile_name = "rcl_order_info/v6"
    os.environ["RCL_API_URL"] = ctx.url + "/v6"
    httpserver.clear()
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"token_type": "Bearer", "expires_in": 3599, "access_token": S.ACCESS_TOKEN})
    httpserver.expect_request("/v6/order/subscription/%s/get" % S.SUB, method="POST").respond_with_data(
        template.format(t=S.ACCESS_TOKEN), status=401, content_type="text/plain")
    main = importlib.import_module("ansible_collections.rcl.ssl.plugins.modules.rcl_order_info").main
    args = S.PROFILES[profile_name].args(ctx)
    result = run_module(main, dict(args, _ansible_verbosity=4, _ansible_no_log=False))
    out = Outcome(args, result, run_module.last_stdout, ["%s %s" % (r.method, r.path) for r, _reply in httpserver.log])
    check_universal(out, secrets=[S.ACCESS_TOKEN])
    assert out.failed, str(out)
