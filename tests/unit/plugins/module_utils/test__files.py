# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import errno
import grp
import os
import pwd
import re
import stat

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils import _files
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclFileError, RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._files import (
    FileSpec,
    apply_files,
    plan_file,
    read_file,
    resolve_mode,
)

SECRET = b"-----BEGIN PRIVATE KEY-----\nTOP-SECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n"
# The project's machines (developers' and CI) run as root, as scripts/setup assumes: the
# ownership tests need it to chown to another user, so they run, and fail elsewhere.


def _nobody():
    return pwd.getpwnam("nobody"), grp.getgrnam("nogroup")  # Debian has both


def write(path, data=b"old\n", mode=0o644):
    with open(str(path), "wb") as handle:
        handle.write(data)
    os.chmod(str(path), mode)
    return os.stat(str(path))


def listing(directory):
    return sorted(os.listdir(str(directory)))


def snapshot(directory):
    """name -> (content, inode, mode, uid, gid, mtime) for every entry."""
    result = {}
    for name in os.listdir(str(directory)):
        full = os.path.join(str(directory), name)
        st = os.lstat(full)
        with open(full, "rb") as handle:
            result[name] = (handle.read(), st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns)
    return result


def test_unchanged_content_is_not_written(tmp_path):
    target = tmp_path / "cert.pem"
    before = write(target, b"same\n", 0o644)
    [result] = apply_files([FileSpec(str(target), b"same\n", mode="0644")])
    after = os.stat(str(target))
    assert not result.changed and not result.content_changed and not result.attributes_changed
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert result.before_attrs == result.after_attrs
    assert listing(tmp_path) == ["cert.pem"]


def test_changed_content_is_replaced_atomically(tmp_path):
    target = tmp_path / "cert.pem"
    before = write(target, b"old\n", 0o640)
    [result] = apply_files([FileSpec(str(target), b"new\n")])
    after = os.stat(str(target))
    assert result.changed and result.content_changed and not result.attributes_changed
    assert target.read_bytes() == b"new\n"
    assert after.st_ino != before.st_ino  # a new inode was renamed over the old one
    assert stat.S_IMODE(after.st_mode) == 0o640  # mode kept when not given
    assert result.backup_file is None
    assert listing(tmp_path) == ["cert.pem"]  # no temp files, no internal backups left


def test_new_file_modes(tmp_path):
    results = apply_files([
        FileSpec(str(tmp_path / "key.pem"), SECRET, mode="0600"),
        FileSpec(str(tmp_path / "plain.txt"), b"x"),
    ])
    assert [r.changed for r in results] == [True, True]
    assert results[0].before_attrs is None and results[0].after_attrs["mode"] == "0600"
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(str(tmp_path / "plain.txt")).st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(str(tmp_path / "key.pem")).st_mode) == 0o600


def test_attributes_set_before_any_content_is_written(tmp_path, monkeypatch):
    observed = []
    real_write = os.write

    def spy(fd, data):
        st = os.fstat(fd)
        observed.append((bytes(data), stat.S_IMODE(st.st_mode), st.st_size))
        return real_write(fd, data)

    monkeypatch.setattr(_files.os, "write", spy)
    target = tmp_path / "key.pem"
    write(target, b"old key\n", 0o644)
    # 0640 differs from mkstemp's 0600: it can only be there if fchmod ran before the write
    apply_files([FileSpec(str(target), SECRET, mode="0640")])
    secret_writes = [(mode, size) for data, mode, size in observed if data == SECRET]
    assert secret_writes == [(0o640, 0)]
    # the backup copy of the old file is written with the old file's mode, also before content
    assert [(mode, size) for data, mode, size in observed if data == b"old key\n"] == [(0o644, 0)]


def test_owner_set_before_content(tmp_path, monkeypatch):
    user, group = _nobody()
    observed = []
    real_write = os.write

    def spy(fd, data):
        st = os.fstat(fd)
        observed.append((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid))
        return real_write(fd, data)

    monkeypatch.setattr(_files.os, "write", spy)
    apply_files([FileSpec(str(tmp_path / "key.pem"), SECRET, mode="0640", owner="nobody", group="nogroup")])
    assert observed[0] == (0o640, user.pw_uid, group.gr_gid)


def test_failure_after_chmod_leaves_nothing_readable(tmp_path, monkeypatch):
    target = tmp_path / "key.pem"
    write(target, b"old\n", 0o600)
    snap = snapshot(tmp_path)

    def boom(fd, data):
        # the temp file exists here, with its final mode, still empty
        st = os.fstat(fd)
        assert stat.S_IMODE(st.st_mode) & 0o077 == 0
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_files, "_write_all", boom)
    with pytest.raises(RclFileError) as exc:
        apply_files([FileSpec(str(target), SECRET, mode="0600")])
    assert "No space left" in exc.value.msg and str(target) in exc.value.msg
    assert b"TOP-SECRET" not in str(exc.value.to_result()).encode()
    assert snapshot(tmp_path) == snap


def test_all_or_nothing_when_second_file_fails(tmp_path, monkeypatch):
    first, second = tmp_path / "cert.pem", tmp_path / "key.pem"
    write(first, b"old cert\n")
    write(second, b"old key\n", 0o600)
    snap = snapshot(tmp_path)
    real = _files._write_all

    def fail_on_key(fd, data):
        if data == SECRET:
            raise OSError(errno.EIO, "Input/output error")
        real(fd, data)

    monkeypatch.setattr(_files, "_write_all", fail_on_key)
    with pytest.raises(RclFileError) as exc:
        apply_files([FileSpec(str(first), b"new cert\n", backup=True), FileSpec(str(second), SECRET, mode="0600")])
    assert exc.value.details["path"] == str(second)
    assert "Nothing was changed" in exc.value.msg
    assert snapshot(tmp_path) == snap  # first target untouched, no temp or backup files


def test_backup_failure_changes_nothing(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    write(first)
    write(second)
    snap = snapshot(tmp_path)
    real = _files._make_backup
    calls = []

    def fail_second(target, created):
        calls.append(target.spec.path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(target, created)

    monkeypatch.setattr(_files, "_make_backup", fail_second)
    with pytest.raises(RclFileError):
        apply_files([FileSpec(str(first), b"1", backup=True), FileSpec(str(second), b"2")])
    assert snapshot(tmp_path) == snap


def test_rename_failure_midway_rolls_back(tmp_path, monkeypatch):
    a, b, c, d = (tmp_path / n for n in ("a.pem", "b.pem", "c.pem", "d.pem"))
    write(a, b"old a\n", 0o644)
    write(c, b"old c\n", 0o640)
    write(d, b"same d\n", 0o644)
    snap = snapshot(tmp_path)
    real_replace = os.replace

    def flaky(src, dst, *args, **kwargs):
        if str(dst) == str(c) and ".rcl-" in os.path.basename(str(src)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(_files.os, "replace", flaky)
    with pytest.raises(RclFileError) as exc:
        apply_files([
            FileSpec(str(a), b"new a\n", backup=True),   # replaced, then restored
            FileSpec(str(d), b"same d\n", mode="0600"),  # attribute fix, then reverted
            FileSpec(str(b), b"new b\n"),                 # created, then removed
            FileSpec(str(c), b"new c\n"),                 # rename fails
        ])
    assert exc.value.details["path"] == str(c)
    assert "restored" in exc.value.msg
    now = snapshot(tmp_path)
    assert sorted(now) == sorted(snap)  # b removed, no temp files, no backups left
    for name, (content, _ino, mode, uid, gid, mtime) in snap.items():
        assert now[name][0] == content
        assert now[name][2:] == (mode, uid, gid, mtime)


def test_rollback_failure_is_reported(tmp_path, monkeypatch):
    a, c = tmp_path / "a", tmp_path / "c"
    write(a, b"old a\n")
    write(c, b"old c\n")
    real_replace = os.replace

    def flaky(src, dst, *args, **kwargs):
        if str(dst) == str(c) or ".rcl-orig-" in os.path.basename(str(src)):
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(_files.os, "replace", flaky)
    with pytest.raises(RclFileError) as exc:
        apply_files([FileSpec(str(a), b"new a\n"), FileSpec(str(c), b"new c\n")])
    match = re.search(r"old content is kept in (\S+?)\.?$", exc.value.msg)
    assert match, exc.value.msg
    with open(match.group(1), "rb") as handle:
        assert handle.read() == b"old a\n"


def test_backup_naming_like_ansible(tmp_path):
    target = tmp_path / "cert.pem"
    write(target, b"old\n", 0o640)
    [result] = apply_files([FileSpec(str(target), b"new\n", backup=True)])
    assert result.backup_file is not None
    assert re.fullmatch(
        re.escape(str(target)) + r"\.%d\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~" % os.getpid(), result.backup_file
    )
    with open(result.backup_file, "rb") as handle:
        assert handle.read() == b"old\n"
    assert stat.S_IMODE(os.stat(result.backup_file).st_mode) == 0o640
    assert len(listing(tmp_path)) == 2
    # a new file has nothing to back up
    [new] = apply_files([FileSpec(str(tmp_path / "new.pem"), b"x", backup=True)])
    assert new.backup_file is None


def test_check_mode_touches_nothing(tmp_path):
    changed, same, attrs = tmp_path / "changed", tmp_path / "same", tmp_path / "attrs"
    write(changed, b"old\n")
    write(same, b"same\n", 0o644)
    write(attrs, b"attrs\n", 0o644)
    specs = [
        FileSpec(str(changed), b"new\n", backup=True),
        FileSpec(str(same), b"same\n", mode="0644"),
        FileSpec(str(attrs), b"attrs\n", mode="0600"),
        FileSpec(str(tmp_path / "missing"), b"new\n", mode="0600"),
    ]
    snap = snapshot(tmp_path)
    predicted = apply_files(specs, check_mode=True)
    assert snapshot(tmp_path) == snap
    assert [(r.changed, r.content_changed, r.attributes_changed) for r in predicted] == [
        (True, True, False), (False, False, False), (True, False, True), (True, True, False)]
    assert predicted[0].backup_file and predicted[0].backup_file.startswith(str(changed) + ".")
    assert predicted[2].after_attrs["mode"] == "0600"
    real = apply_files(specs)
    assert [(r.changed, r.content_changed, r.attributes_changed) for r in real] == [
        (r.changed, r.content_changed, r.attributes_changed) for r in predicted]
    assert [r.after_attrs for r in real] == [r.after_attrs for r in predicted]
    # converged: a second run changes nothing
    assert not any(r.changed for r in apply_files(specs))


def test_attribute_only_change_in_place(tmp_path):
    target = tmp_path / "key.pem"
    before = write(target, SECRET, 0o644)
    [result] = apply_files([FileSpec(str(target), SECRET, mode="u=rw,g=,o=")])
    after = os.stat(str(target))
    assert result.changed and result.attributes_changed and not result.content_changed
    assert after.st_ino == before.st_ino and after.st_mtime_ns == before.st_mtime_ns
    assert stat.S_IMODE(after.st_mode) == 0o600
    assert result.before_attrs["mode"] == "0644" and result.after_attrs["mode"] == "0600"


@pytest.mark.parametrize("owner, group", [("nobody", "nogroup"), ("65534", "65534"), (65534, 65534)])
def test_owner_and_group(tmp_path, owner, group):
    user, grp_entry = _nobody()
    target = tmp_path / "key.pem"
    write(target, SECRET, 0o600)
    ino = os.stat(str(target)).st_ino
    [result] = apply_files([FileSpec(str(target), SECRET, owner=owner, group=group)])
    st = os.stat(str(target))
    assert result.attributes_changed and not result.content_changed
    assert (st.st_uid, st.st_gid, st.st_ino) == (user.pw_uid, grp_entry.gr_gid, ino)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert result.after_attrs["owner"] == "nobody" and result.after_attrs["group"] == "nogroup"
    # new content for a file owned by nobody keeps the owner (no owner given)
    [again] = apply_files([FileSpec(str(target), b"rotated\n")])
    st = os.stat(str(target))
    assert again.content_changed and (st.st_uid, st.st_gid) == (user.pw_uid, grp_entry.gr_gid)


def test_unknown_owner_fails_before_writing(tmp_path):
    first = tmp_path / "first"
    with pytest.raises(RclInputError) as exc:
        apply_files([FileSpec(str(first), b"x"), FileSpec(str(tmp_path / "second"), b"y", owner="no-such-user-rcl")])
    assert "no-such-user-rcl" in exc.value.msg
    with pytest.raises(RclInputError):
        apply_files([FileSpec(str(first), b"x", group="no-such-group-rcl")])
    assert listing(tmp_path) == []


def test_missing_directory(tmp_path):
    target = tmp_path / "nope" / "cert.pem"
    with pytest.raises(RclFileError) as exc:
        apply_files([FileSpec(str(tmp_path / "ok"), b"x"), FileSpec(str(target), b"x")])
    assert "does not exist" in exc.value.msg and "create it first" in exc.value.msg
    assert exc.value.details["path"] == str(target)
    assert listing(tmp_path) == []
    with pytest.raises(RclFileError):
        plan_file(FileSpec(str(target), b"x"))


def test_not_a_regular_file_and_duplicates(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(RclFileError):
        apply_files([FileSpec(str(tmp_path / "dir"), b"x")])
    with pytest.raises(RclInputError):
        apply_files([FileSpec(str(tmp_path / "a"), b"x"), FileSpec(str(tmp_path / "." / "a"), b"y")])
    assert listing(tmp_path) == ["dir"]


def test_symlink_is_followed(tmp_path):
    real = tmp_path / "real.pem"
    write(real, b"old\n")
    link = tmp_path / "link.pem"
    link.symlink_to(real)
    [result] = apply_files([FileSpec(str(link), b"new\n")])
    assert result.path == str(link) and result.changed
    assert os.path.islink(str(link)) and real.read_bytes() == b"new\n"


def test_plan_file_is_a_pure_read(tmp_path):
    target = tmp_path / "cert.pem"
    assert plan_file(FileSpec(str(target), b"x")).exists is False
    write(target, b"abc", 0o644)
    snap = snapshot(tmp_path)
    plan = plan_file(FileSpec(str(target), b"abd", mode=0o644))
    assert (plan.exists, plan.content_changed, plan.attributes_changed, plan.changed) == (True, True, False, True)
    plan = plan_file(FileSpec(str(target), b"abc", mode="0600"))
    assert (plan.content_changed, plan.attributes_changed, plan.changed) == (False, True, True)
    assert "abc" not in repr(plan) and "abc" not in repr(FileSpec(str(target), b"abc"))
    assert snapshot(tmp_path) == snap


@pytest.mark.parametrize(
    "mode, current, expected",
    [
        ("0644", None, 0o644), ("644", None, 0o644), ("0o600", None, 0o600), (0o640, None, 0o640),
        ("04755", None, 0o4755), (None, 0o600, None), ("", 0o600, None),
        ("u=rw,g=r,o=", 0o777, 0o640), ("u+x", 0o644, 0o744), ("go-rwx", 0o664, 0o600),
        ("a=r", 0o600, 0o444), ("u=rwx,go=rX", 0o640, 0o755), ("a+X", 0o644, 0o644), ("u=rw+x-w", 0o000, 0o500),
        ("g+s,o+t", 0o750, 0o3750),
    ],
)
def test_resolve_mode(mode, current, expected):
    assert resolve_mode(mode, current) == expected


@pytest.mark.parametrize("mode", ["+x", "u=q", "0999", "rw-r--r--", 0o17777, -1, True, "u=rw;g=r"])
def test_resolve_mode_rejects(mode):
    with pytest.raises(RclInputError):
        resolve_mode(mode, 0o644)


def test_read_file(tmp_path):
    assert read_file(str(tmp_path / "missing")) is None
    write(tmp_path / "f", b"12345")
    assert read_file(str(tmp_path / "f")) == b"12345"
    assert read_file(str(tmp_path / "f"), max_size=5) == b"12345"
    with pytest.raises(RclFileError) as exc:
        read_file(str(tmp_path / "f"), max_size=4)
    assert "larger than 4" in exc.value.msg
    with pytest.raises(RclFileError):
        read_file(str(tmp_path))
