# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host side of the role: one check, one deploy per host, each certificate a unit."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils import _hostdeploy
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._hostdeploy import converge, manifest_path, parse_entries, parse_material

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
KINDS = ("certificate", "chain", "fullchain", "privatekey", "pfx")
FILES = {"certificate": "cert.pem", "chain": "chain.pem", "fullchain": "fullchain.pem", "privatekey": "privkey.pem",
         "pfx": "cert.pfx"}


def pem(label: str, body: str) -> str:
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, base64.b64encode(body.encode()).decode(), label)


def material(version: int, name: str = "www.example.test", days: int = 80,
             sans: list[str] | None = None) -> dict[str, t.Any]:
    leaf, inter = pem("CERTIFICATE", "leaf %d" % version), pem("CERTIFICATE", "inter %d" % version)
    return {
        "certificate": leaf,
        "chain": inter,
        "fullchain": leaf + inter,
        "privatekey": pem("PRIVATE KEY", "key %d" % version),
        "pfx": base64.b64encode(b"\x30\x82pfx %d" % version).decode(),
        "facts": {"serial": "0%d" % version, "sans": sans or [name],
                  "not_before": (NOW - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "not_after": (NOW + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def entry(base: str, kinds: t.Sequence[str] = KINDS, name: str = "www.example.test", **extra: t.Any) -> dict[str, t.Any]:
    directory = os.path.join(base, name)
    item = {
        "name": name,
        "names": [name],
        "files": [{"kind": kind, "path": os.path.join(directory, FILES[kind]),
                   "mode": "0600" if kind in ("privatekey", "pfx") else "0644"} for kind in kinds],
        "directories": [{"path": base, "mode": "0755"}, {"path": directory, "mode": "0755"}],
        "backup": False,
    }
    item.update(extra)
    return item


def split(given: dict[str, t.Any] | None) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """(material, keys) as the module takes them."""
    given = given or {}
    secret = ("privatekey", "pfx")
    return ({name: {k: v for k, v in item.items() if k not in secret} for name, item in given.items()},
            {name: {k: v for k, v in item.items() if k in secret} for name, item in given.items()})


def run(entries: list[dict[str, t.Any]], given: dict[str, t.Any] | None = None, **kwargs: t.Any) -> list[_hostdeploy.Outcome]:
    parsed = parse_entries(entries)
    kwargs.setdefault("now", NOW)
    public, secret = split(given)
    return converge(parsed, parse_material(public, parsed, secret), **kwargs)


def leftovers(directory: str) -> list[str]:
    return sorted(name for name in os.listdir(directory) if ".rcl-" in name)


def test_first_run_needs_content_then_deploy_then_converged(tmp_path: t.Any) -> None:
    base = str(tmp_path / "ssl")
    spec = entry(base)
    first = run([spec])[0]
    assert first.needs_content and first.reasons == ["not deployed"] and not first.changed
    assert not os.path.exists(base)  # nothing created for a certificate without material

    done = run([spec], {"www.example.test": material(1)})[0]
    assert done.changed and done.content_changed and not done.needs_content
    directory = os.path.join(base, "www.example.test")
    for kind in KINDS:
        path = os.path.join(directory, FILES[kind])
        assert stat.S_IMODE(os.stat(path).st_mode) == (0o600 if kind in ("privatekey", "pfx") else 0o644)
    record = json.loads(open(manifest_path(parse_entries([spec])[0])).read())
    assert record["name"] == "www.example.test" and len(record["files"]) == 5
    assert stat.S_IMODE(os.stat(manifest_path(parse_entries([spec])[0])).st_mode) == 0o600
    assert "key 1" not in json.dumps(record) and "PRIVATE" not in json.dumps(record)
    assert done.deployed["days_remaining"] == 80

    again = run([spec])[0]
    assert not again.needs_content and not again.changed and again.reasons == []
    assert again.deployed["serial"] == "01"


@pytest.mark.parametrize("left_out", KINDS[:4] + ("chain+pfx", "certificate+chain+pfx"))
def test_every_layout_converges(tmp_path: t.Any, left_out: str) -> None:
    kinds = [kind for kind in KINDS if kind not in left_out.split("+")]
    spec = entry(str(tmp_path / "ssl"), kinds)
    if "privatekey" not in kinds and "pfx" not in kinds:  # pragma: no cover - not in the list above
        return
    run([spec], {"www.example.test": material(1)})
    outcome = run([spec])[0]
    assert not outcome.needs_content and not outcome.changed, outcome.reasons


def test_a_layout_without_certificate_and_fullchain_is_refused(tmp_path: t.Any) -> None:
    with pytest.raises(RclInputError, match="certificate or fullchain"):
        parse_entries([entry(str(tmp_path), ["chain", "privatekey"])])


def test_mode_and_owner_drift_is_fixed_without_new_content(tmp_path: t.Any) -> None:
    spec = entry(str(tmp_path / "ssl"))
    run([spec], {"www.example.test": material(1)})
    key = os.path.join(str(tmp_path / "ssl"), "www.example.test", "privkey.pem")
    os.chmod(key, 0o644)
    checked = run([spec], check_mode=True)[0]
    assert checked.changed and not checked.needs_content
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o644  # check mode touches nothing
    fixed = run([spec], diff=True)[0]
    assert fixed.changed and not fixed.needs_content and not fixed.content_changed
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert fixed.diff is not None and "mode 0644" in fixed.diff["before"] and "mode 0600" in fixed.diff["after"]
    assert "key 1" not in json.dumps(fixed.diff)
    assert not run([spec])[0].changed


@pytest.mark.parametrize("case, reason", [
    ("edit", "changed since it was deployed"),
    ("remove", "is missing"),
    ("record", "no deployment record"),
    ("expiring", "expires in 10 days (threshold 30)"),
    ("names", "does not cover api.example.test"),
    ("force", "forced"),
])
def test_what_needs_content(tmp_path: t.Any, case: str, reason: str) -> None:
    spec = entry(str(tmp_path / "ssl"))
    run([spec], {"www.example.test": material(1, days=10 if case == "expiring" else 80)})
    key = os.path.join(str(tmp_path / "ssl"), "www.example.test", "privkey.pem")
    kwargs: dict[str, t.Any] = {}
    if case == "edit":
        with open(key, "a") as handle:
            handle.write("\n")
    elif case == "remove":
        os.unlink(key)
    elif case == "record":
        os.unlink(manifest_path(parse_entries([spec])[0]))
    elif case == "names":
        spec["names"] = ["www.example.test", "api.example.test"]
    elif case == "force":
        kwargs["force"] = True
    outcome = run([spec], **kwargs)[0]
    assert outcome.needs_content and not outcome.changed
    assert any(reason in text for text in outcome.reasons), outcome.reasons


def test_material_already_deployed_changes_nothing(tmp_path: t.Any) -> None:
    spec = entry(str(tmp_path / "ssl"))
    run([spec], {"www.example.test": material(1)})
    outcome = run([spec], {"www.example.test": material(1)})[0]
    assert not outcome.changed and not outcome.content_changed


def _files_of(base: str) -> dict[str, bytes]:
    found = {}
    for root, _dirs, names in os.walk(base):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                found[os.path.join(root, name)] = handle.read()
    return found


@pytest.mark.parametrize("failing", range(6))
def test_a_failure_at_any_file_leaves_the_old_set(tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch, failing: int) -> None:
    """os.replace fails at the n-th file of the set (5 files + the record): everything is as before."""
    base = str(tmp_path / "ssl")
    spec = entry(base)
    run([spec], {"www.example.test": material(1)})
    before = _files_of(base)
    real_replace = os.replace
    calls = []

    def replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == failing + 1:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    [outcome] = run([spec], {"www.example.test": material(2)})
    assert outcome.error is not None
    assert re.match(r"www.example.test: Could not update .*No space left.*All files were restored", outcome.error)
    monkeypatch.setattr(os, "replace", real_replace)
    assert _files_of(base) == before
    assert leftovers(os.path.join(base, "www.example.test")) == []
    assert not run([spec])[0].needs_content


@pytest.mark.parametrize("killed_at", range(7))
def test_a_killed_run_is_repaired_by_the_next_run(tmp_path: t.Any, killed_at: int) -> None:
    """A child process dies (os._exit, like SIGKILL: no rollback) at the n-th rename; the next runs repair."""
    base = str(tmp_path / "ssl")
    spec = entry(base)
    run([spec], {"www.example.test": material(1)})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        real_replace = os.replace
        calls = []

        def replace(src: str, dst: str) -> None:
            calls.append(dst)
            if len(calls) == killed_at + 1:
                os._exit(9)
            real_replace(src, dst)

        os.replace = replace  # type: ignore[assignment]
        try:
            run([spec], {"www.example.test": material(2)})
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    directory = os.path.join(base, "www.example.test")
    check = run([spec])[0]
    if killed_at < 6:  # killed before the last rename: the set is not the recorded one, or the old one intact
        assert check.needs_content or not check.changed
    repaired = run([spec], {"www.example.test": material(2)})[0]
    assert not repaired.needs_content
    assert leftovers(directory) == []
    assert not run([spec])[0].needs_content
    assert run([spec])[0].deployed["serial"] == "02"


def test_backups_are_bounded_and_keys_backups_private(tmp_path: t.Any) -> None:
    base = str(tmp_path / "ssl")
    spec = entry(base, backup=True)
    for version in range(1, 5):
        run([spec], {"www.example.test": material(version)}, backup_keep=1)
    directory = os.path.join(base, "www.example.test")
    backups = sorted(name for name in os.listdir(directory) if name.endswith("~"))
    assert len(backups) == 5  # one per file
    for name in backups:
        mode = stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode)
        secret = name.startswith(("privkey.pem", "cert.pfx"))
        assert mode == (0o600 if secret else 0o644), name
    key_backup = [name for name in backups if name.startswith("privkey.pem")][0]
    assert "key 3" in base64.b64decode(open(os.path.join(directory, key_backup)).read().split("\n")[1]).decode()


def test_backup_keep_zero_keeps_none(tmp_path: t.Any) -> None:
    base = str(tmp_path / "ssl")
    spec = entry(base, backup=True)
    run([spec], {"www.example.test": material(1)}, backup_keep=0)
    outcome = run([spec], {"www.example.test": material(2)}, backup_keep=0)[0]
    assert len(outcome.backups_removed) == 5
    assert [item["backup_file"] for item in outcome.files] == [None] * 5  # made, then removed
    assert not [name for name in os.listdir(os.path.join(base, "www.example.test")) if name.endswith("~")]


def test_check_mode_predicts_the_pruning_of_old_backups(tmp_path: t.Any) -> None:
    base = str(tmp_path / "ssl")
    spec = entry(base, backup=True)
    run([spec], {"www.example.test": material(1)})
    for item in spec["files"]:  # two older backups of each file, as an earlier version of the role left them
        for stamp in ("2026-01-01@10:00:00", "2026-02-01@10:00:00"):
            with open("%s.42.%s~" % (item["path"], stamp), "w") as handle:
                handle.write("old")
    checked = run([spec], backup_keep=1, check_mode=True)[0]
    assert checked.changed and len(checked.backups_removed) == 5
    assert len([n for n in os.listdir(os.path.join(base, "www.example.test")) if n.endswith("~")]) == 10
    done = run([spec], backup_keep=1)[0]
    assert done.changed and sorted(done.backups_removed) == sorted(checked.backups_removed)


def test_check_mode_writes_nothing(tmp_path: t.Any) -> None:
    base = str(tmp_path / "ssl")
    spec = entry(base)
    outcome = run([spec], {"www.example.test": material(1)}, check_mode=True)[0]
    assert outcome.changed and outcome.content_changed
    assert not os.path.exists(base)


def test_a_failing_certificate_leaves_itself_alone_and_the_others_done(tmp_path: t.Any) -> None:
    base = str(tmp_path / "ssl")
    good = entry(base, name="a.example.test")
    bad = entry(base, name="b.example.test", owner="no-such-user-rcl")
    last = entry(base, name="c.example.test")
    outcomes = run([good, bad, last], {name: material(1, name) for name in ("a.example.test", "b.example.test",
                                                                            "c.example.test")})
    assert [o.error for o in outcomes][0::2] == [None, None]
    assert outcomes[1].error is not None and outcomes[1].error.startswith("b.example.test: ")
    assert "no-such-user-rcl" in outcomes[1].error and not outcomes[1].content_changed
    assert os.path.exists(os.path.join(base, "a.example.test", "cert.pem"))
    assert not os.path.exists(os.path.join(base, "b.example.test", "cert.pem"))
    assert os.path.exists(os.path.join(base, "c.example.test", "cert.pem"))


def test_material_that_does_not_cover_the_names_is_refused(tmp_path: t.Any) -> None:
    spec = entry(str(tmp_path / "ssl"))
    spec["names"] = ["www.example.test", "*.www.example.test"]
    [outcome] = run([spec], {"www.example.test": material(1)})
    assert outcome.error == "www.example.test: the material does not cover *.www.example.test: nothing was written"
    assert not os.path.exists(os.path.join(str(tmp_path / "ssl"), "www.example.test", "cert.pem"))


def test_a_check_never_writes_content_another_run_deployed(tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check read the old set; another run deploys before the check takes the lock: the new set stays."""
    base = str(tmp_path / "ssl")
    spec = entry(base)
    run([spec], {"www.example.test": material(1)})
    os.chmod(os.path.join(base, "www.example.test", "privkey.pem"), 0o644)  # drift: the check will fix it
    real_apply = _hostdeploy.apply_files

    def deploy_first(*args: t.Any, **kwargs: t.Any) -> t.Any:
        monkeypatch.setattr(_hostdeploy, "apply_files", real_apply)
        run([spec], {"www.example.test": material(2)})  # the other run
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(_hostdeploy, "apply_files", deploy_first)
    run([spec])
    again = run([spec])[0]
    assert not again.needs_content and again.deployed["serial"] == "02"


def test_kept_key_backups_made_by_another_tool_become_private(tmp_path: t.Any) -> None:
    path = str(tmp_path / "privkey.pem")
    old = tmp_path / "privkey.pem.1.2026-01-01@10:00:00~"
    old.write_text("old key")
    os.chmod(str(old), 0o644)
    assert _hostdeploy.prune_backups(path, 1, secret=True) == []
    assert stat.S_IMODE(os.stat(str(old)).st_mode) == 0o600


@pytest.mark.parametrize("bad, message", [
    ({"name": ""}, "name must be"),
    ({"files": [{"kind": "key", "path": "/x"}]}, "kind must be one of"),
    ({"files": [{"kind": "certificate", "path": "relative.pem"}]}, "absolute path"),
    ({"files": [{"kind": "certificate", "path": "/a.pem"}, {"kind": "certificate", "path": "/b.pem"}]},
     "more than one certificate"),
    ({"files": [{"kind": "certificate", "path": "/a.pem", "mode": "u=banana"}]}, "mode"),
])
def test_bad_entries(bad: dict[str, t.Any], message: str) -> None:
    item = {"name": "www.example.test", "files": [{"kind": "certificate", "path": "/a.pem"}]}
    item.update(bad)
    with pytest.raises(RclInputError, match=message):
        parse_entries([item])


def test_two_certificates_cannot_share_a_file(tmp_path: t.Any) -> None:
    one = entry(str(tmp_path), name="a.example.test")
    two = entry(str(tmp_path), name="b.example.test")
    two["files"] = one["files"]
    with pytest.raises(RclInputError, match="would both write"):
        parse_entries([one, two])


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("facts"), "no facts"),
    (lambda m: m["facts"].update(not_after="soon"), "not a time"),
    (lambda m: m.pop("privatekey"), "has no privatekey"),
    (lambda m: m.update(pfx="%%%"), "not base64"),
    (lambda m: m.update(chain="garbage"), "not PEM"),
])
def test_bad_material(tmp_path: t.Any, change: t.Callable[[dict[str, t.Any]], t.Any], message: str) -> None:
    entries = parse_entries([entry(str(tmp_path))])
    given = material(1)
    change(given)
    with pytest.raises(RclInputError, match=message):
        public, secret = split({"www.example.test": given})
        parse_material(public, entries, secret)
    with pytest.raises(RclInputError, match="not in certificates"):
        parse_material({"other.example.test": material(1)}, entries)
    with pytest.raises(RclInputError, match="keys are given for www.example.test, but no material"):
        parse_material({}, entries, {"www.example.test": {"privatekey": "x"}})


def test_prune_ignores_other_files(tmp_path: t.Any) -> None:
    path = str(tmp_path / "cert.pem")
    for stamp in ("2026-01-01@10:00:00", "2026-02-01@10:00:00", "2026-03-01@10:00:00"):
        (tmp_path / ("cert.pem.123.%s~" % stamp)).write_text("x")
    (tmp_path / "cert.pem.bak").write_text("x")
    (tmp_path / "other.pem.1.2026-01-01@10:00:00~").write_text("x")
    removed = _hostdeploy.prune_backups(path, 1)
    assert sorted(os.path.basename(p) for p in removed) == [
        "cert.pem.123.2026-01-01@10:00:00~", "cert.pem.123.2026-02-01@10:00:00~"]
    assert sorted(os.listdir(str(tmp_path))) == ["cert.pem.123.2026-03-01@10:00:00~", "cert.pem.bak",
                                                 "other.pem.1.2026-01-01@10:00:00~"]
