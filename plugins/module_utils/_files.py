# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one atomic, idempotent file writer. Standard library only (runs on managed hosts).

``apply_files`` writes a set of files all-or-nothing, as far as POSIX allows:

1. Everything is resolved and checked first (parent directories, owners, groups,
   modes, duplicate targets); an error here touches nothing.
2. Each file whose content changes is written to a temp file in its target's
   directory. Owner, group and mode are set on the empty temp file before any byte is
   written, so a private key is never readable by anyone else, not even briefly.
   The temp file is fsynced.
3. Only when every temp file is ready, the old version of each replaced file is copied
   (the same way: attributes first, then content) to a backup: ``<path>.<pid>.<YYYY-mm-dd@HH:MM:SS~>``
   like Ansible's ``backup_local`` when ``backup`` is set, a hidden internal copy
   otherwise. A failure up to here removes every temp file and backup; every target
   stays byte-for-byte as it was.
4. Each temp file is ``os.replace``d onto its target and files with unchanged content
   but different mode/owner/group are fixed in place (chown/chmod, no rewrite); then the
   directories are fsynced. If a step fails midway, what was already done is undone from
   the backups (new files are removed, attribute fixes reverted), and the internal
   backups are deleted. On success internal backups are deleted, requested ones kept.

Notes:
- Parent directories are never created: the caller creates them (a missing one is an
  ``RclFileError``).
- A target that is a symlink is followed: the file it points to is replaced, the link
  stays.
- Without ``mode``/``owner``/``group`` an existing file keeps its own (owner/group
  best effort when not running as root); a new file gets ``0666 & ~umask`` and the
  process's user and group (the directory's group in a set-group-ID directory).
- SELinux contexts, ACLs and extended attributes are not preserved or set (out of
  scope): a replaced file gets the default context of its directory.
- Error messages name paths and reasons, never content.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import re
import stat
import tempfile
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclFileError, RclInputError

DEFAULT_MAX_SIZE = 1024 * 1024
_CHUNK = 64 * 1024
_OCTAL_MODE_RE = re.compile(r"^(?:0o|0)?([0-7]{1,4})$")
_SYMBOLIC_CLAUSE_RE = re.compile(r"^([ugoa]+)((?:[-+=][rwxXst]*)+)$")
_SYMBOLIC_OP_RE = re.compile(r"([-+=])([rwxXst]*)")
_PERM_BITS = 0o7777


@dataclass
class FileSpec:
    """One file to ensure: its content and, optionally, mode, owner and group.

    ``mode`` is an octal string (``"0644"``, ``"644"``, ``"0o644"``), an int (taken as
    is: ``0o644``), or a symbolic mode with explicit who (``"u=rw,g=r,o="``,
    ``"u+rw,go-rwx"``) applied to the existing file's mode or, for a new file, to
    ``0666 & ~umask``. ``owner``/``group`` are names or numeric ids.
    """

    path: str
    content: bytes = field(repr=False)
    mode: str | int | None = None
    owner: str | int | None = None
    group: str | int | None = None
    backup: bool = False


@dataclass
class FilePlan:
    """What ``apply_files`` would do to one file (pure read)."""

    path: str
    exists: bool
    content_changed: bool
    attributes_changed: bool
    changed: bool
    before_attrs: dict[str, t.Any] | None
    after_attrs: dict[str, t.Any]


@dataclass
class FileResult:
    """What ``apply_files`` did (or, in check mode, would do) to one file."""

    path: str
    changed: bool
    content_changed: bool
    attributes_changed: bool
    backup_file: str | None
    before_attrs: dict[str, t.Any] | None
    after_attrs: dict[str, t.Any] | None


@dataclass
class _Target:
    spec: FileSpec = field(repr=False)
    real_path: str
    directory: str
    before: os.stat_result | None
    mode: int
    uid: int
    gid: int
    uid_required: bool
    gid_required: bool
    plan: FilePlan


# --- attribute resolution ------------------------------------------------------------


def _umask() -> int:
    try:
        with open("/proc/self/status", "r") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _symbolic_mode(value: str, base: int) -> int:
    who_bits = {
        "u": {"r": stat.S_IRUSR, "w": stat.S_IWUSR, "x": stat.S_IXUSR, "s": stat.S_ISUID, "t": 0},
        "g": {"r": stat.S_IRGRP, "w": stat.S_IWGRP, "x": stat.S_IXGRP, "s": stat.S_ISGID, "t": 0},
        "o": {"r": stat.S_IROTH, "w": stat.S_IWOTH, "x": stat.S_IXOTH, "s": 0, "t": stat.S_ISVTX},
    }
    clear_masks = {
        "u": stat.S_IRWXU | stat.S_ISUID,
        "g": stat.S_IRWXG | stat.S_ISGID,
        "o": stat.S_IRWXO | stat.S_ISVTX,
    }
    mode = base & _PERM_BITS
    for clause in value.split(","):
        match = _SYMBOLIC_CLAUSE_RE.match(clause.strip())
        if not match:
            raise RclInputError(
                "Invalid mode %r: use octal (\"0640\") or symbolic clauses with an explicit who "
                "(\"u=rw,g=r,o=\")." % value,
                mode=value,
            )
        users = "ugo" if "a" in match.group(1) else match.group(1)
        for operator, perms in _SYMBOLIC_OP_RE.findall(match.group(2)):
            for user in users:
                bits = 0
                for perm in perms:
                    if perm == "X":
                        if mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
                            bits |= who_bits[user]["x"]
                    else:
                        bits |= who_bits[user][perm]
                if operator == "=":
                    mode = (mode & ~clear_masks[user]) | bits
                elif operator == "+":
                    mode |= bits
                else:
                    mode &= ~bits
    return mode


def resolve_mode(mode: str | int | None, current: int | None) -> int | None:
    """The permission bits ``mode`` asks for (None: not specified).

    ``current`` is the existing file's mode (or the default for a new file), the base
    for a symbolic mode.
    """
    if mode is None or mode == "":
        return None
    if isinstance(mode, bool):
        raise RclInputError("Invalid mode %r." % mode, mode=mode)
    if isinstance(mode, int):
        if not 0 <= mode <= _PERM_BITS:
            raise RclInputError("Invalid mode %r: out of range (give octal strings like \"0640\")." % mode, mode=mode)
        return mode
    text = str(mode).strip()
    match = _OCTAL_MODE_RE.match(text)
    if match:
        return int(match.group(1), 8)
    return _symbolic_mode(text, current if current is not None else 0o666 & ~_umask())


def _resolve_id(value: str | int | None, kind: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RclInputError("Invalid %s %r." % (kind, value), **{kind: value})
    if isinstance(value, int):
        if value < 0:
            raise RclInputError("Invalid %s %r." % (kind, value), **{kind: value})
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        if kind == "owner":
            return pwd.getpwnam(text).pw_uid
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise RclInputError(
            "Unknown %s %r on this host." % ("user" if kind == "owner" else "group", text), **{kind: text}
        ) from None


def resolve_owner(owner: str | int | None) -> int | None:
    """A user name or numeric id -> uid (None: not specified). Unknown name: RclInputError."""
    return _resolve_id(owner, "owner")


def resolve_group(group: str | int | None) -> int | None:
    """A group name or numeric id -> gid (None: not specified). Unknown name: RclInputError."""
    return _resolve_id(group, "group")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _attrs(mode: int, uid: int, gid: int) -> dict[str, t.Any]:
    return {
        "mode": "%04o" % (mode & _PERM_BITS),
        "owner": _user_name(uid),
        "group": _group_name(gid),
        "uid": uid,
        "gid": gid,
    }


def _stat_attrs(st: os.stat_result) -> dict[str, t.Any]:
    return _attrs(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


# --- reading -------------------------------------------------------------------------


def read_file(path: str, max_size: int = DEFAULT_MAX_SIZE) -> bytes | None:
    """The file's bytes; None when it does not exist. Unreadable or too large: RclFileError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_size + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RclFileError("Cannot read %s: %s" % (path, exc.strerror or exc), path=path) from None
    if len(data) > max_size:
        raise RclFileError("Cannot read %s: larger than %d bytes." % (path, max_size), path=path)
    return data


def _same_content(path: str, content: bytes, size: int) -> bool:
    if size != len(content):
        return False
    view = memoryview(content)
    offset = 0
    try:
        with open(path, "rb") as handle:
            while True:
                chunk = handle.read(_CHUNK)
                if not chunk:
                    return offset == len(view)
                if view[offset:offset + len(chunk)] != chunk:
                    return False
                offset += len(chunk)
    except OSError as exc:
        raise RclFileError("Cannot read %s: %s" % (path, exc.strerror or exc), path=path) from None


# --- planning ------------------------------------------------------------------------


def _resolve(spec: FileSpec) -> _Target:
    if not spec.path:
        raise RclInputError("A file path is empty.")
    if not isinstance(spec.content, bytes):
        raise RclInputError("The content for %s must be bytes." % spec.path, path=spec.path)
    real_path = os.path.realpath(os.path.abspath(spec.path))
    directory = os.path.dirname(real_path)
    if not os.path.isdir(directory):
        raise RclFileError(
            "The directory %s for %s does not exist (or is not a directory); create it first."
            % (directory, spec.path),
            path=spec.path,
        )
    try:
        before: os.stat_result | None = os.stat(real_path)
    except FileNotFoundError:
        before = None
    except OSError as exc:
        raise RclFileError("Cannot inspect %s: %s" % (spec.path, exc.strerror or exc), path=spec.path) from None
    if before is not None and not stat.S_ISREG(before.st_mode):
        raise RclFileError("%s exists and is not a regular file." % spec.path, path=spec.path)

    uid_wanted = resolve_owner(spec.owner)
    gid_wanted = resolve_group(spec.group)
    if before is not None:
        base_mode = stat.S_IMODE(before.st_mode)
        default_uid, default_gid = before.st_uid, before.st_gid
    else:
        base_mode = 0o666 & ~_umask()
        default_uid = os.geteuid()
        dir_stat = os.stat(directory)
        default_gid = dir_stat.st_gid if dir_stat.st_mode & stat.S_ISGID else os.getegid()
    mode_wanted = resolve_mode(spec.mode, base_mode)
    mode = base_mode if mode_wanted is None else mode_wanted
    uid = default_uid if uid_wanted is None else uid_wanted
    gid = default_gid if gid_wanted is None else gid_wanted

    content_changed = before is None or not _same_content(real_path, spec.content, before.st_size)
    attributes_changed = before is not None and (
        mode != stat.S_IMODE(before.st_mode) or uid != before.st_uid or gid != before.st_gid
    )
    plan = FilePlan(
        path=spec.path,
        exists=before is not None,
        content_changed=content_changed,
        attributes_changed=attributes_changed,
        changed=content_changed or attributes_changed,
        before_attrs=_stat_attrs(before) if before is not None else None,
        after_attrs=_attrs(mode, uid, gid),
    )
    return _Target(
        spec=spec,
        real_path=real_path,
        directory=directory,
        before=before,
        mode=mode,
        uid=uid,
        gid=gid,
        uid_required=uid_wanted is not None,
        gid_required=gid_wanted is not None,
        plan=plan,
    )


def plan_file(spec: FileSpec) -> FilePlan:
    """What ``apply_files`` would do to ``spec`` (reads only; content is never returned)."""
    return _resolve(spec).plan


def backup_name(path: str, when: float | None = None) -> str:
    """Ansible's ``backup_local`` naming: ``<path>.<pid>.<YYYY-mm-dd@HH:MM:SS~>`` (local time)."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S~", time.localtime(time.time() if when is None else when))
    return "%s.%s.%s" % (path, os.getpid(), stamp)


# --- writing -------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _set_fd_attrs(fd: int, path: str, uid: int, gid: int, mode: int, uid_required: bool, gid_required: bool) -> None:
    """chown then chmod an open (still empty) file; chown first as it may clear set-id bits."""
    st = os.fstat(fd)
    new_uid = uid if uid != st.st_uid else -1
    new_gid = gid if gid != st.st_gid else -1
    if new_uid != -1 or new_gid != -1:
        try:
            os.fchown(fd, new_uid, new_gid)
        except OSError as exc:
            if exc.errno != errno.EPERM or uid_required or gid_required:
                raise RclFileError(
                    "Cannot set owner/group of %s to %s:%s: %s"
                    % (path, _user_name(uid), _group_name(gid), exc.strerror or exc),
                    path=path,
                ) from None
            # Preserving an existing file's owner is best effort for non-root users.
    os.fchmod(fd, mode)


def _secure_write(directory: str, prefix: str, data_source: t.Callable[[int], None], target: _Target,
                  uid: int, gid: int, mode: int, strict: bool, created: list[str]) -> str:
    """mkstemp in ``directory``, set attributes while empty, fill, fsync. Returns the path."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix)
    created.append(tmp)
    try:
        _set_fd_attrs(fd, target.spec.path, uid, gid, mode, strict and target.uid_required,
                      strict and target.gid_required)
        data_source(fd)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _write_temp(target: _Target, created: list[str]) -> str:
    content = target.spec.content

    def fill(fd: int) -> None:
        _write_all(fd, content)

    prefix = ".%s.rcl-" % os.path.basename(target.real_path)
    return _secure_write(target.directory, prefix, fill, target, target.uid, target.gid, target.mode, True, created)


def _make_backup(target: _Target, created: list[str]) -> str:
    before = target.before
    if before is None:  # pragma: no cover - only called for existing files
        raise RclFileError("Nothing to back up for %s." % target.spec.path, path=target.spec.path)

    def fill(fd: int) -> None:
        with open(target.real_path, "rb") as source:
            while True:
                chunk = source.read(_CHUNK)
                if not chunk:
                    break
                _write_all(fd, chunk)

    prefix = ".%s.rcl-orig-" % os.path.basename(target.real_path)
    tmp = _secure_write(target.directory, prefix, fill, target, before.st_uid, before.st_gid,
                        stat.S_IMODE(before.st_mode), False, created)
    os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
    if not target.spec.backup:
        return tmp
    dest = backup_name(target.real_path)
    os.replace(tmp, dest)
    created.remove(tmp)
    created.append(dest)
    return dest


def _set_attrs(path: str, uid: int, gid: int, mode: int) -> None:
    st = os.stat(path)
    if uid != st.st_uid or gid != st.st_gid:
        os.chown(path, uid if uid != st.st_uid else -1, gid if gid != st.st_gid else -1)
    os.chmod(path, mode)


def _remove_quietly(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # Some file systems refuse fsync on directories; the renames are done.
    finally:
        os.close(fd)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RclFileError):
        return exc.msg
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or exc.__class__.__name__


class _Transaction:
    def __init__(self, targets: list[_Target]) -> None:
        self.targets = targets
        self.created: list[str] = []
        self.temps: dict[int, str] = {}
        self.backups: dict[int, str] = {}

    def prepare(self) -> None:
        index = -1
        try:
            for index, target in enumerate(self.targets):
                if target.plan.content_changed:
                    self.temps[index] = _write_temp(target, self.created)
            for index, target in enumerate(self.targets):
                if target.plan.content_changed and target.before is not None:
                    self.backups[index] = _make_backup(target, self.created)
        except BaseException as exc:
            for path in list(self.created):
                _remove_quietly(path)
            self.created = []
            if not isinstance(exc, (OSError, RclFileError)):
                raise
            path = self.targets[index].spec.path if index >= 0 else "?"
            raise RclFileError(
                "Could not prepare %s: %s. Nothing was changed." % (path, _reason(exc)), path=path
            ) from None

    def commit(self) -> None:
        done: list[int] = []
        index = -1
        try:
            for index, target in enumerate(self.targets):
                if target.plan.content_changed:
                    os.replace(self.temps[index], target.real_path)
                    self.created.remove(self.temps.pop(index))
                    done.append(index)
                elif target.plan.attributes_changed:
                    done.append(index)
                    _set_attrs(target.real_path, target.uid, target.gid, target.mode)
        except BaseException as exc:
            kept = self._rollback(done)
            if not isinstance(exc, (OSError, RclFileError)):
                raise
            path = self.targets[index].spec.path if index >= 0 else "?"
            msg = "Could not update %s: %s." % (path, _reason(exc))
            if kept:
                msg += " Rolling back failed: %s." % "; ".join("%s: %s" % item for item in kept)
            else:
                msg += " All files were restored as they were."
            raise RclFileError(msg, path=path) from None
        for directory in sorted({self.targets[i].directory for i in done}):
            _fsync_dir(directory)
        for index, backup in self.backups.items():
            if not self.targets[index].spec.backup:
                _remove_quietly(backup)

    def _rollback(self, done: list[int]) -> list[tuple[str, str]]:
        """Undo ``done`` (last first); returns (path, explanation) for what could not be undone."""
        kept: list[tuple[str, str]] = []
        for index in reversed(done):
            target = self.targets[index]
            before = target.before
            try:
                if before is None:
                    os.unlink(target.real_path)
                elif target.plan.content_changed:
                    os.replace(self.backups[index], target.real_path)
                    del self.backups[index]
                else:
                    _set_attrs(target.real_path, before.st_uid, before.st_gid, stat.S_IMODE(before.st_mode))
            except OSError:
                if index in self.backups:
                    kept.append((target.spec.path, "its old content is kept in %s" % self.backups.pop(index)))
                elif before is None:
                    kept.append((target.spec.path, "it did not exist before and could not be removed"))
                else:
                    old = _stat_attrs(before)
                    kept.append((target.spec.path, "could not restore mode %s, owner %s, group %s"
                                 % (old["mode"], old["owner"], old["group"])))
        for path in list(self.temps.values()) + list(self.backups.values()):
            _remove_quietly(path)
        self.temps = {}
        self.backups = {}
        self.created = []
        return kept


def apply_files(specs: list[FileSpec], check_mode: bool = False) -> list[FileResult]:
    """Ensure every file in ``specs``, all-or-nothing (see the module docstring).

    Every spec is resolved before anything is written: a missing directory or an
    unknown user/group fails the whole set. In check mode nothing is touched and the
    results say what would change (``backup_file`` is the name a backup would get).
    """
    targets = [_resolve(spec) for spec in specs]
    seen: dict[str, str] = {}
    for target in targets:
        if target.real_path in seen:
            raise RclInputError(
                "%s and %s are the same file." % (seen[target.real_path], target.spec.path), path=target.spec.path
            )
        seen[target.real_path] = target.spec.path

    if check_mode:
        return [
            FileResult(
                path=target.spec.path,
                changed=target.plan.changed,
                content_changed=target.plan.content_changed,
                attributes_changed=target.plan.attributes_changed,
                backup_file=backup_name(target.real_path)
                if target.spec.backup and target.plan.exists and target.plan.content_changed else None,
                before_attrs=target.plan.before_attrs,
                after_attrs=target.plan.after_attrs,
            )
            for target in targets
        ]

    transaction = _Transaction(targets)
    transaction.prepare()
    transaction.commit()
    results = []
    for index, target in enumerate(targets):
        backup = transaction.backups.get(index) if target.spec.backup else None
        try:
            after: dict[str, t.Any] | None = _stat_attrs(os.stat(target.real_path))
        except OSError:
            after = None
        results.append(
            FileResult(
                path=target.spec.path,
                changed=target.plan.changed,
                content_changed=target.plan.content_changed,
                attributes_changed=target.plan.attributes_changed,
                backup_file=backup,
                before_attrs=target.plan.before_attrs,
                after_attrs=after,
            )
        )
    return results
