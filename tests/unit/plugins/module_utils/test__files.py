# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import multiprocessing
import os
import pwd
import random
import re
import resource
import signal
import stat
import subprocess
import time

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils import _files
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclFileError, RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._files import (
    FileSpec,
    apply_files,
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
    [result] = apply_files([FileSpec(str(link), b"new\n")], follow=True)
    assert result.path == str(link) and result.changed
    assert os.path.islink(str(link)) and real.read_bytes() == b"new\n"


def plan_file(spec: FileSpec, follow: bool = False):
    """What apply_files would do to one file: its check mode."""
    return apply_files([spec], check_mode=True, follow=follow)[0]


def test_check_mode_is_a_pure_read(tmp_path):
    target = tmp_path / "cert.pem"
    assert plan_file(FileSpec(str(target), b"x")).before_attrs is None
    write(target, b"abc", 0o644)
    snap = snapshot(tmp_path)
    plan = plan_file(FileSpec(str(target), b"abd", mode=0o644))
    assert (plan.before_attrs is not None, plan.content_changed, plan.attributes_changed, plan.changed) == (
        True, True, False, True)
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


# --- symlinks at the destination (follow) ---------------------------------------------


def hidden_leftovers(directory):
    """Entries named like the writer's temp files and internal backups (``.<name>.rcl-*``)."""
    return sorted(name for name in os.listdir(str(directory)) if re.match(r"^\..+\.rcl-", name))


def test_symlink_is_replaced_not_followed_by_default(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = elsewhere / "real.pem"
    before = write(real, b"old\n", 0o644)
    link = tmp_path / "link.pem"
    link.symlink_to(real)
    [result] = apply_files([FileSpec(str(link), SECRET, mode="0600")])
    assert result.changed and result.content_changed and result.path == str(link)
    st = os.lstat(str(link))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert link.read_bytes() == SECRET
    after = os.stat(str(real))  # the link's target is left alone
    assert real.read_bytes() == b"old\n"
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)
    assert listing(tmp_path) == ["elsewhere", "link.pem"] and listing(elsewhere) == ["real.pem"]
    # converged: the regular file is now compared as usual
    assert not apply_files([FileSpec(str(link), SECRET, mode="0600")])[0].changed


def test_dangling_symlink_is_replaced_and_nothing_created_at_its_target(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "key.pem"
    link.symlink_to(elsewhere / "planted.pem")
    [result] = apply_files([FileSpec(str(link), SECRET, mode="0600")])
    assert result.changed and result.content_changed
    assert stat.S_ISREG(os.lstat(str(link)).st_mode) and link.read_bytes() == SECRET
    assert listing(elsewhere) == []
    assert listing(tmp_path) == ["elsewhere", "key.pem"]


def test_follow_refuses_a_dangling_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "key.pem"
    link.symlink_to(elsewhere / "planted.pem")
    for check_mode in (True, False):
        with pytest.raises(RclFileError) as exc:
            apply_files([FileSpec(str(tmp_path / "a.pem"), b"a"), FileSpec(str(link), SECRET)],
                        check_mode=check_mode, follow=True)
        assert "%s is a dangling symlink" % link in exc.value.msg
        assert exc.value.details["path"] == str(link)
    with pytest.raises(RclFileError):
        plan_file(FileSpec(str(link), SECRET), follow=True)
    assert listing(elsewhere) == [] and listing(tmp_path) == ["elsewhere", "key.pem"]
    assert os.readlink(str(link)) == str(elsewhere / "planted.pem")


def test_symlinked_parent_directory_still_works(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    (tmp_path / "linked").symlink_to(real_dir)
    write(real_dir / "cert.pem", b"old\n")
    for follow in (False, True):
        content = b"new %s\n" % str(follow).encode()
        [result] = apply_files([FileSpec(str(tmp_path / "linked" / "cert.pem"), content)], follow=follow)
        assert result.changed and (real_dir / "cert.pem").read_bytes() == content
        assert os.path.islink(str(tmp_path / "linked")) and listing(real_dir) == ["cert.pem"]


def test_symlink_to_a_directory(tmp_path):
    (tmp_path / "dir").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "dir")
    with pytest.raises(RclFileError) as exc:
        apply_files([FileSpec(str(link), b"x")], follow=True)
    assert "not a regular file" in exc.value.msg and os.path.islink(str(link))
    [result] = apply_files([FileSpec(str(link), b"x")])  # not followed: the link is replaced
    assert result.changed and stat.S_ISREG(os.lstat(str(link)).st_mode) and listing(tmp_path / "dir") == []


@pytest.mark.parametrize("follow", [False, True])
def test_check_mode_plans_like_a_real_run_on_symlinks(tmp_path, follow):
    real = tmp_path / "real.pem"
    write(real, b"old\n", 0o640)
    link = tmp_path / "link.pem"
    link.symlink_to("real.pem")  # relative, like most admins' links
    specs = [FileSpec(str(link), b"new\n", backup=True)]
    plan = plan_file(specs[0], follow=follow)
    predicted = apply_files(specs, check_mode=True, follow=follow)
    assert os.readlink(str(link)) == "real.pem" and real.read_bytes() == b"old\n"
    done = apply_files(specs, follow=follow)
    fields = ("changed", "content_changed", "attributes_changed", "before_attrs")
    assert [getattr(r, f) for r in predicted for f in fields] == [getattr(r, f) for r in done for f in fields]
    assert (plan.changed, plan.content_changed) == (True, True)
    assert predicted[0].after_attrs == done[0].after_attrs
    assert predicted[0].backup_file and done[0].backup_file
    assert predicted[0].backup_file.rsplit(".", 1)[0] == done[0].backup_file.rsplit(".", 1)[0]
    if follow:
        assert os.readlink(str(link)) == "real.pem" and real.read_bytes() == b"new\n"
        assert open(done[0].backup_file, "rb").read() == b"old\n"
    else:
        assert stat.S_ISREG(os.lstat(str(link)).st_mode) and link.read_bytes() == b"new\n"
        assert real.read_bytes() == b"old\n"
        # the backup of a link is the link itself (its target was never touched)
        assert os.readlink(done[0].backup_file) == "real.pem"
    assert hidden_leftovers(tmp_path) == []
    again = apply_files(specs, check_mode=True, follow=follow)
    assert not again[0].changed and not apply_files(specs, follow=follow)[0].changed


@contextlib.contextmanager
def immutable(path):
    """chattr +i: even root can neither replace nor create entries (a fault through the file system)."""
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_replaced_symlink_is_restored_on_rollback(tmp_path):
    real = tmp_path / "real.pem"
    write(real, b"target\n")
    link = tmp_path / "a.pem"
    link.symlink_to("real.pem")
    locked = tmp_path / "z.pem"
    write(locked, b"old z\n")
    with immutable(locked):
        with pytest.raises(RclFileError) as exc:
            apply_files([FileSpec(str(link), b"new a\n"), FileSpec(str(locked), b"new z\n")])
    assert exc.value.details["path"] == str(locked) and "restored" in exc.value.msg
    assert os.path.islink(str(link)) and os.readlink(str(link)) == "real.pem"
    assert real.read_bytes() == b"target\n" and locked.read_bytes() == b"old z\n"
    assert listing(tmp_path) == ["a.pem", "real.pem", "z.pem"]


# --- faults injected through the file system -------------------------------------------


def test_immutable_file_rolls_back_the_set(tmp_path):
    first, second = tmp_path / "cert.pem", tmp_path / "key.pem"
    write(first, b"old cert\n")
    write(second, b"old key\n", 0o600)
    snap = snapshot(tmp_path)
    with immutable(second):  # the rename onto it fails at commit, after the first file was replaced
        with pytest.raises(RclFileError) as exc:
            apply_files([FileSpec(str(first), b"new cert\n"), FileSpec(str(second), SECRET)])
    assert "restored" in exc.value.msg
    now = snapshot(tmp_path)
    assert sorted(now) == sorted(snap)
    for name, (content, _ino, mode, uid, gid, mtime) in snap.items():
        assert now[name][0] == content and now[name][2:] == (mode, uid, gid, mtime)


def test_immutable_directory_changes_nothing(tmp_path):
    certs, private = tmp_path / "certs", tmp_path / "private"
    certs.mkdir()
    private.mkdir()
    write(certs / "cert.pem", b"old cert\n")
    snap = snapshot(certs)
    with immutable(private):  # no temp file can be created there
        with pytest.raises(RclFileError) as exc:
            apply_files([FileSpec(str(certs / "cert.pem"), b"new\n"), FileSpec(str(private / "key.pem"), SECRET)])
    assert "Nothing was changed" in exc.value.msg
    assert snapshot(certs) == snap and listing(private) == []


def _run_in_child(function, *args):
    """Run ``function(*args)`` in a forked child; returns its exit code (negative: killed by that signal)."""
    process = multiprocessing.get_context("fork").Process(target=_child_main, args=(function,) + args)
    process.start()
    process.join(60)
    assert process.exitcode is not None, "child hung"
    return process.exitcode


def _child_main(function, *args):
    code = 0
    try:
        code = function(*args) or 0
    except BaseException:  # pragma: no cover - reported through the exit code
        import traceback
        traceback.print_exc()
        code = 99
    finally:
        os._exit(code)


def _disk_full_run(paths, limit):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG, like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        apply_files([FileSpec(paths[0], b"new cert\n"), FileSpec(paths[1], SECRET * 100, mode="0600")])
    except RclFileError as exc:
        return 0 if "Nothing was changed" in exc.msg and "too large" in exc.msg.lower() else 2
    return 1


def test_disk_full_mid_write_changes_nothing(tmp_path):
    first, second = tmp_path / "cert.pem", tmp_path / "key.pem"
    write(first, b"old cert\n")
    write(second, b"old key\n", 0o600)
    snap = snapshot(tmp_path)
    assert _run_in_child(_disk_full_run, [str(first), str(second)], 4096) == 0
    assert snapshot(tmp_path) == snap


# --- concurrent writers (lock) ----------------------------------------------------------


def _material(tag):
    return (b"%s certificate\n" % tag) * 2000, (b"%s private key\n" % tag) * 2000


def _writer(tag, cert, key, rounds, barrier, report):
    cert_bytes, key_bytes = _material(tag)
    specs = [FileSpec(cert, cert_bytes), FileSpec(key, key_bytes, mode="0600")]
    if tag == b"B":
        specs.reverse()  # the other order: the locks must still be taken without deadlock
    real_replace = os.replace
    jitter = random.Random(tag)

    def slow_replace(src, dst):
        # Only timing changes (this child's scheduler is made unlucky): the race between
        # two commits, a few microseconds wide, becomes likely in every round.
        time.sleep(jitter.uniform(0, 0.004))
        real_replace(src, dst)

    _files.os.replace = slow_replace  # only in this child
    for _round in range(rounds):
        barrier.wait()
        try:
            apply_files(specs)
        except Exception as exc:
            with open(report, "a") as handle:
                handle.write("%s: %s\n" % (tag.decode(), exc))
        barrier.wait()


def test_concurrent_writers_never_mix_a_set(tmp_path):
    certs, private = tmp_path / "certs", tmp_path / "private"
    certs.mkdir()
    private.mkdir()
    cert, key, report = str(certs / "cert.pem"), str(private / "key.pem"), str(tmp_path / "errors")
    rounds = 60
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3, timeout=60)
    writers = [ctx.Process(target=_child_main, args=(_writer, tag, cert, key, rounds, barrier, report))
               for tag in (b"A", b"B")]
    for process in writers:
        process.start()
    winners = set()
    mixed = []
    try:
        for number in range(rounds):
            barrier.wait()  # both writers start together
            barrier.wait()  # both are done
            pair = (open(cert, "rb").read(), open(key, "rb").read())
            if pair == _material(b"A"):
                winners.add("A")
            elif pair == _material(b"B"):
                winners.add("B")
            else:
                mixed.append(number)
            assert hidden_leftovers(certs) == [] and hidden_leftovers(private) == []
            write(cert, b"neither\n")  # so that both writers have work to do in the next round
            write(key, b"neither\n", 0o600)
    finally:
        for process in writers:
            process.join(60)
    assert [process.exitcode for process in writers] == [0, 0]
    assert not os.path.exists(report), open(report).read()
    assert mixed == [], "rounds where the files came from different writers: %s" % mixed
    assert listing(certs) == ["cert.pem"] and listing(private) == ["key.pem"]


def test_held_lock_times_out(tmp_path):
    target = tmp_path / "cert.pem"
    write(target, b"old\n")
    snap = snapshot(tmp_path)
    # another run holds the lock: an exclusive flock on the target's directory (documented)
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.monotonic()
        with pytest.raises(RclFileError) as exc:
            apply_files([FileSpec(str(target), b"new\n")], lock_timeout=0.2)
        waited = time.monotonic() - started
        assert 0.2 <= waited < 2
        assert "another run is writing %s" % tmp_path in exc.value.msg
        assert exc.value.details["path"] == str(target)
        assert snapshot(tmp_path) == snap
        # check mode takes no lock: it reads only
        assert apply_files([FileSpec(str(target), b"new\n")], check_mode=True, lock_timeout=0.2)[0].changed
    finally:
        os.close(fd)
    assert apply_files([FileSpec(str(target), b"new\n")], lock_timeout=0.2)[0].changed
    # released after the run: taking it again does not block
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


# --- what a killed run leaves ---------------------------------------------------------


def _killed_between_prepare_and_commit(specs):
    _files._Transaction.commit = lambda self: os.kill(os.getpid(), signal.SIGKILL)  # only in this child
    apply_files(specs)


def _killed_during_commit(specs):
    real_replace = os.replace
    calls = []

    def replace_then_die(src, dst):
        if calls:  # the first target was replaced: die before the second
            os.kill(os.getpid(), signal.SIGKILL)
        calls.append(dst)
        real_replace(src, dst)

    _files.os.replace = replace_then_die  # only in this child
    apply_files(specs)


def test_next_run_removes_what_a_killed_run_left(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    write(cert, b"old cert\n")
    write(key, b"old key\n", 0o600)
    specs = [FileSpec(str(cert), b"new cert\n"), FileSpec(str(key), SECRET, mode="0600")]
    assert _run_in_child(_killed_between_prepare_and_commit, specs) == -signal.SIGKILL
    left = hidden_leftovers(tmp_path)
    # two temp files and two internal backups, 0600 at most, the targets untouched
    assert len(left) == 4 and cert.read_bytes() == b"old cert\n" and key.read_bytes() == b"old key\n"
    for name in left:
        assert re.fullmatch(r"\.(cert|key)\.pem\.rcl-(orig-)?[a-z0-9_]{8}", name), name
    results = apply_files(specs)
    assert [r.changed for r in results] == [True, True]
    assert cert.read_bytes() == b"new cert\n" and key.read_bytes() == SECRET
    assert listing(tmp_path) == ["cert.pem", "key.pem"]


def test_killed_commit_keeps_the_only_copy_of_old_content(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    write(cert, b"old cert\n")
    write(key, b"old key\n", 0o600)
    specs = [FileSpec(str(cert), b"new cert\n"), FileSpec(str(key), SECRET, mode="0600")]
    assert _run_in_child(_killed_during_commit, specs) == -signal.SIGKILL
    assert cert.read_bytes() == b"new cert\n" and key.read_bytes() == b"old key\n"  # a mixed set
    [cert_backup] = [n for n in hidden_leftovers(tmp_path) if n.startswith(".cert.pem.rcl-orig-")]
    apply_files(specs)
    assert cert.read_bytes() == b"new cert\n" and key.read_bytes() == SECRET
    # the temp file and the key's backup (the key was never replaced) are gone; the cert's
    # backup is the only copy of the old certificate: kept
    assert hidden_leftovers(tmp_path) == [cert_backup]
    assert (tmp_path / cert_backup).read_bytes() == b"old cert\n"


def test_stale_file_cleanup_removes_only_the_writers_own_names(tmp_path):
    cert = tmp_path / "cert.pem"
    write(cert, b"current\n")
    stale = [".cert.pem.rcl-abcdefgh", ".cert.pem.rcl-0_9zzzzz", ".cert.pem.rcl-orig-qwertyui"]
    write(tmp_path / stale[0], b"half written")
    write(tmp_path / stale[1], b"")
    write(tmp_path / stale[2], b"current\n", 0o600)  # a copy of the current content: redundant
    keep = {
        ".cert.pem.rcl-orig-onlycopy": b"older cert\n",  # the only copy of older content
        ".cert.pem.rcl-abc": b"x",                         # not the writer's pattern
        ".cert.pem.rcl-abcdefghi": b"x",
        ".cert.pem.rcl-ABCDEFGH": b"x",
        ".other.pem.rcl-abcdefgh": b"x",                   # not a target of this run
        "cert.pem.rcl-abcdefgh": b"x",
        ".cert.pem.rcl-orig-abc-defg": b"x",
        "notes.txt": b"x",
    }
    for name, data in keep.items():
        write(tmp_path / name, data)
    (tmp_path / ".cert.pem.rcl-dirdirdi").mkdir()           # not a file
    (tmp_path / ".cert.pem.rcl-linklink").symlink_to("notes.txt")
    [result] = apply_files([FileSpec(str(cert), b"current\n")])  # no change needed: cleans anyway
    assert not result.changed
    assert sorted(os.listdir(str(tmp_path))) == sorted(
        list(keep) + ["cert.pem", ".cert.pem.rcl-dirdirdi", ".cert.pem.rcl-linklink"])
    for name, data in keep.items():
        assert (tmp_path / name).read_bytes() == data
    # check mode reads only: leftovers stay
    write(tmp_path / stale[0], b"half written")
    apply_files([FileSpec(str(cert), b"changed\n")], check_mode=True)
    assert (tmp_path / stale[0]).exists()


def test_lock_file_where_a_directory_cannot_be_locked(tmp_path, monkeypatch):
    # NFS refuses an exclusive flock on a directory (opened read-only): no fault of the
    # local file system does that, so flock is wrapped to answer like NFS.
    real_flock = fcntl.flock

    def nfs_flock(fd, operation):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real_flock(fd, operation)

    monkeypatch.setattr(_files.fcntl, "flock", nfs_flock)
    target = tmp_path / "cert.pem"
    apply_files([FileSpec(str(target), b"one\n")])
    lock = tmp_path / ".rcl-ssl.lock"
    assert listing(tmp_path) == [".rcl-ssl.lock", "cert.pem"]
    assert stat.S_ISREG(os.lstat(str(lock)).st_mode) and stat.S_IMODE(os.stat(str(lock)).st_mode) == 0o600
    with open(str(lock), "rb") as handle:
        real_flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run holds it
        with pytest.raises(RclFileError) as exc:
            apply_files([FileSpec(str(target), b"two\n")], lock_timeout=0.2)
        assert "another run is writing %s" % tmp_path in exc.value.msg
    assert target.read_bytes() == b"one\n"
    assert apply_files([FileSpec(str(target), b"two\n")])[0].changed and target.read_bytes() == b"two\n"


def test_stale_backup_of_a_replaced_link(tmp_path):
    link = tmp_path / "cert.pem"
    link.symlink_to("real.pem")
    (tmp_path / ".cert.pem.rcl-orig-samesame").symlink_to("real.pem")  # the same link: redundant
    (tmp_path / ".cert.pem.rcl-orig-otherlnk").symlink_to("older.pem")  # the only copy of an older link
    [result] = apply_files([FileSpec(str(link), b"new\n")])
    assert result.changed and link.read_bytes() == b"new\n"
    assert hidden_leftovers(tmp_path) == [".cert.pem.rcl-orig-otherlnk"]
    assert listing(tmp_path) == [".cert.pem.rcl-orig-otherlnk", "cert.pem"]  # real.pem never created
