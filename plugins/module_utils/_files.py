# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

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

Concurrent runs: a real run (not check mode) takes an exclusive ``flock`` on every target
directory itself (the directory's own inode: no lock file is created), in sorted path
order so two runs never deadlock, waits at most ``lock_timeout`` seconds in all (then
``RclFileError`` "... another run is writing <dir>", nothing changed), and holds them
from planning (done again under the locks) to the end of the commit, so two runs
writing the same set never mix it: the set ends up entirely from one of them. Only
where a directory cannot be locked (NFS refuses an exclusive ``flock`` on a read-only
descriptor) the lock is taken on a file ``<dir>/.rcl-ssl.lock`` instead (mode 0600,
left in place, never followed if a link). Other tools can take the same lock.
A writer that does not take the lock (an older ``rcl.ssl``, another tool) is not held
off. The kernel drops a lock when its holder dies, so a killed run never blocks the next.

A killed run (SIGKILL, power loss) can leave, in a target's directory, hidden files named
``.<name>.rcl-<8 chars>`` (a temp file: new content never put in place) and
``.<name>.rcl-orig-<8 chars>`` (an internal backup), ``<8 chars>`` from ``[a-z0-9_]``,
``<name>`` the target's file name; all have at most the target's mode (0600 for keys).
Killed before the commit, every target is as it was; killed during the commit, the set
may be mixed (some files new, some old) until the next run. The next real run, holding
the lock, removes for each of its targets: every regular file named like such a temp file,
and every internal backup that is a copy of the target's current content (the target was
never replaced). An internal backup that differs from its target is the only copy of the
content a killed commit replaced: it is kept, and left for the administrator. Nothing
else is ever removed (other names, other targets' names, directories).

Notes:
- Parent directories are never created: the caller creates them (a missing one is an
  ``RclFileError``). A symlink among the parent directories is followed.
- A target that is a symlink is not followed by default (``follow=False``, like
  ``ansible.builtin.copy``): the link itself is replaced (by ``os.replace``) by a regular
  file with the new content, whatever it points to (a file, a directory, nothing); its
  target is never read, written or created. Its old state is the link: the plan says it
  exists (``before_attrs`` None, the content always changes), the new file gets a new
  file's attributes, and its backup (``backup``, or the internal one) is a link with
  the same text. With ``follow=True`` the file the link resolves to is replaced and the
  link stays; a dangling link is refused.
- Without ``mode``/``owner``/``group`` an existing file keeps its own (owner/group
  best effort when not running as root); a new file gets ``0666 & ~umask`` and the
  process's user and group (the directory's group in a set-group-ID directory).
- SELinux contexts, ACLs and extended attributes are not preserved or set (out of
  scope): a replaced file gets the default context of its directory.
- Error messages name paths and reasons, never content.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import re
import secrets
import stat
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclFileError, RclInputError

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_MAX_SIZE",
    "FilePlan",
    "FileResult",
    "FileSpec",
    "LOCK_FILE_NAME",
    "apply_files",
    "backup_name",
    "read_file",
    "resolve_group",
    "resolve_mode",
    "resolve_owner",
]

DEFAULT_MAX_SIZE = 1024 * 1024
_CHUNK = 64 * 1024
_OCTAL_MODE_RE = re.compile(r"^(?:0o|0)?([0-7]{1,4})$")
_SYMBOLIC_CLAUSE_RE = re.compile(r"^([ugoa]+)((?:[-+=][rwxXst]*)+)$")
_SYMBOLIC_OP_RE = re.compile(r"([-+=])([rwxXst]*)")
_PERM_BITS = 0o7777
DEFAULT_LOCK_TIMEOUT = 30.0
LOCK_FILE_NAME = ".rcl-ssl.lock"  # only where a directory itself cannot be locked
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_NAME_RANDOM = 8
_TEMP_TAG = ".rcl-"
_BACKUP_TAG = ".rcl-orig-"


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
    # The mode of the requested backup (``backup``) when it must differ from the file's
    # old mode: ``0o600`` for keys. The internal backup keeps the old mode.
    backup_mode: int | None = None
    # Only fix mode/owner/group: never write content, even if the file no longer holds
    # ``content`` when the lock is taken (another run replaced it meanwhile).
    attributes_only: bool = False


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
    link: str | None = None  # the text of the symlink being replaced (follow=False)


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


_MAX_ID = 2 ** 32 - 2  # (uid_t) -1 means "unchanged" to chown


def _resolve_id(value: str | int | None, kind: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RclInputError("Invalid %s %r." % (kind, value), **{kind: value})
    if isinstance(value, int):
        if not 0 <= value <= _MAX_ID:
            raise RclInputError("Invalid %s %r: ids go from 0 to %d." % (kind, value, _MAX_ID), **{kind: value})
        return value
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        return _resolve_id(int(text), kind)
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


def read_file(path: str, max_size: int = DEFAULT_MAX_SIZE, follow: bool = True) -> bytes | None:
    """The bytes of the regular file at ``path``; None when there is none (with ``follow=False``,
    a symbolic link counts as none: it will be replaced, its target is never read).
    A FIFO or device is never opened for a blocking read. Unreadable or too large: RclFileError."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            return None
        raise RclFileError("Cannot read %s: %s" % (path, exc.strerror or exc), path=path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RclFileError("%s is not a regular file" % path, path=path)
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            data = handle.read(max_size + 1)
    except OSError as exc:
        raise RclFileError("Cannot read %s: %s" % (path, exc.strerror or exc), path=path) from None
    finally:
        if fd >= 0:
            os.close(fd)
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


def _resolve(spec: FileSpec, follow: bool = False) -> _Target:
    if not spec.path:
        raise RclInputError("A file path is empty.")
    if not isinstance(spec.content, bytes):
        raise RclInputError("The content for %s must be bytes." % spec.path, path=spec.path)
    path = os.path.abspath(spec.path)
    if follow and os.path.lexists(path) and not os.path.exists(path):
        raise RclFileError("%s is a dangling symlink (follow is set)." % spec.path, path=spec.path)
    if follow:
        real_path = os.path.realpath(path)
    else:  # only the parent directories are resolved; the last component is what gets replaced
        real_path = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    directory = os.path.dirname(real_path)
    if not os.path.isdir(directory):
        raise RclFileError(
            "The directory %s for %s does not exist (or is not a directory); create it first."
            % (directory, spec.path),
            path=spec.path,
        )
    link: str | None = None
    try:
        before: os.stat_result | None = os.lstat(real_path)
        if before is not None and stat.S_ISLNK(before.st_mode):
            if follow:  # realpath() stops at a dangling link (or a loop)
                raise RclFileError("%s is a dangling symlink (follow is set)." % spec.path, path=spec.path)
            link = os.readlink(real_path)
            before = None
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

    content_changed = not spec.attributes_only and (
        before is None or not _same_content(real_path, spec.content, before.st_size))
    attributes_changed = before is not None and (
        mode != stat.S_IMODE(before.st_mode) or uid != before.st_uid or gid != before.st_gid
    )
    plan = FilePlan(
        path=spec.path,
        exists=before is not None or link is not None,
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
        link=link,
    )


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


_T = t.TypeVar("_T")


def _hidden_prefix(target: _Target, backup: bool) -> str:
    return ".%s%s" % (os.path.basename(target.real_path), _BACKUP_TAG if backup else _TEMP_TAG)


def _create_unique(directory: str, prefix: str, create: t.Callable[[str], _T]) -> tuple[str, _T]:
    """``create(path)`` (which must fail with FileExistsError if it exists) for a new
    ``<prefix><8 random chars>``; the names the stale-file cleanup recognises."""
    for _attempt in range(100):
        name = prefix + "".join(secrets.choice(_NAME_CHARS) for _char in range(_NAME_RANDOM))
        path = os.path.join(directory, name)
        try:
            return path, create(path)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "No free temporary file name in %s" % directory)


def _open_new(path: str) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    return os.open(path, flags, 0o600)


def _secure_write(directory: str, prefix: str, data_source: t.Callable[[int], None], target: _Target,
                  uid: int, gid: int, mode: int, strict: bool, created: list[str]) -> str:
    """Create a new file in ``directory``, set attributes while empty, fill, fsync. Returns the path."""
    tmp, fd = _create_unique(directory, prefix, _open_new)
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

    prefix = _hidden_prefix(target, backup=False)
    return _secure_write(target.directory, prefix, fill, target, target.uid, target.gid, target.mode, True, created)


def _make_backup(target: _Target, created: list[str]) -> str:
    prefix = _hidden_prefix(target, backup=True)
    before = target.before
    if target.link is not None:  # a symlink being replaced: its backup is the same link
        link = target.link
        tmp, _none = _create_unique(target.directory, prefix, lambda path: os.symlink(link, path))
        created.append(tmp)
        return _publish_backup(target, tmp, created)
    if before is None:  # pragma: no cover - only called for existing files
        raise RclFileError("Nothing to back up for %s." % target.spec.path, path=target.spec.path)

    def fill(fd: int) -> None:
        with open(target.real_path, "rb") as source:
            while True:
                chunk = source.read(_CHUNK)
                if not chunk:
                    break
                _write_all(fd, chunk)

    mode = stat.S_IMODE(before.st_mode)
    if target.spec.backup_mode is not None:
        mode &= target.spec.backup_mode  # a key's copy is never more readable than wanted, even briefly
    tmp = _secure_write(target.directory, prefix, fill, target, before.st_uid, before.st_gid, mode, False, created)
    os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
    return _publish_backup(target, tmp, created)


def _publish_backup(target: _Target, tmp: str, created: list[str]) -> str:
    """The internal backup ``tmp`` under Ansible's backup name when ``backup`` is asked for."""
    if not target.spec.backup:
        return tmp
    dest = backup_name(target.real_path)
    if target.spec.backup_mode is not None and target.link is None:
        os.chmod(tmp, target.spec.backup_mode)
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
                if target.plan.content_changed and target.plan.exists:
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
                if target.plan.content_changed and index in self.backups:
                    if before is not None and target.link is None and target.spec.backup_mode is not None:
                        os.chmod(self.backups[index], stat.S_IMODE(before.st_mode))  # its own mode back
                    os.replace(self.backups[index], target.real_path)  # a link comes back as a link
                    del self.backups[index]
                elif target.plan.content_changed or before is None:
                    os.unlink(target.real_path)
                else:
                    _set_attrs(target.real_path, before.st_uid, before.st_gid, stat.S_IMODE(before.st_mode))
            except OSError:
                if index in self.backups:
                    kept.append((target.spec.path, "its old content is kept in %s" % self.backups.pop(index)))
                elif before is None or target.plan.content_changed:
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


# --- locking and leftovers of killed runs ----------------------------------------------


def _flock_until(fd: int, deadline: float) -> bool:
    """An exclusive flock on ``fd``, polling until ``deadline``; False when it is still held."""
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.1)


def _lock_directory(directory: str, deadline: float) -> int:
    """Lock ``directory`` (its own inode, else ``LOCK_FILE_NAME`` in it); returns the fd."""
    cloexec = getattr(os, "O_CLOEXEC", 0)
    fd: int | None = None
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | cloexec)
        if _flock_until(fd, deadline):
            return fd
        os.close(fd)
        fd = None
    except OSError:  # e.g. NFS refuses LOCK_EX on a read-only descriptor: use a lock file
        if fd is not None:
            os.close(fd)
        fd = os.open(os.path.join(directory, LOCK_FILE_NAME),
                     os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | cloexec, 0o600)
        if _flock_until(fd, deadline):
            return fd
        os.close(fd)
    raise TimeoutError(directory)


class _Locks:
    """Exclusive locks on a set of directories, taken in sorted order (no deadlock)."""

    def __init__(self, path_of: dict[str, str], timeout: float) -> None:
        """``path_of``: directory -> the path of one spec in it (for error details)."""
        self.fds: list[int] = []
        self.directories = sorted(path_of)
        self.timeout = max(0.0, float(timeout))
        self.path_of = path_of

    def __enter__(self) -> "_Locks":
        seen: set[tuple[int, int]] = set()
        deadline = time.monotonic() + self.timeout  # for all of them together
        try:
            for directory in self.directories:
                try:
                    fd = _lock_directory(directory, deadline)
                except TimeoutError:
                    raise RclFileError(
                        "Gave up after %gs: another run is writing %s. Nothing was changed."
                        % (self.timeout, directory),
                        path=self.path_of[directory],
                    ) from None
                except OSError as exc:
                    raise RclFileError(
                        "Cannot lock %s: %s. Nothing was changed." % (directory, exc.strerror or exc),
                        path=self.path_of[directory],
                    ) from None
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) in seen:  # pragma: no cover - same directory by another path
                    os.close(fd)
                    continue
                seen.add((st.st_dev, st.st_ino))
                self.fds.append(fd)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        for fd in reversed(self.fds):
            try:
                os.close(fd)  # closing the last descriptor releases the flock
            except OSError:  # pragma: no cover
                pass
        self.fds = []


def _stale_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"\A\.%s(%s|%s)[%s]{%d}\Z" % (
        re.escape(name), re.escape(_BACKUP_TAG), re.escape(_TEMP_TAG), re.escape(_NAME_CHARS), _NAME_RANDOM))


def _same_files(first: str, second: str) -> bool:
    """Both regular files with the same bytes (never follows a link)."""
    nofollow = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd_a = os.open(first, nofollow)
    except OSError:
        return False
    try:
        fd_b = os.open(second, nofollow)
    except OSError:
        os.close(fd_a)
        return False
    with os.fdopen(fd_a, "rb") as a, os.fdopen(fd_b, "rb") as b:
        st_a, st_b = os.fstat(a.fileno()), os.fstat(b.fileno())
        if not (stat.S_ISREG(st_a.st_mode) and stat.S_ISREG(st_b.st_mode)) or st_a.st_size != st_b.st_size:
            return False
        while True:
            chunk = a.read(_CHUNK)
            if chunk != b.read(_CHUNK):
                return False
            if not chunk:
                return True


def _remove_stale(targets: list[_Target], orphans: bool = False) -> None:
    """Remove what a killed run of this writer left for these targets (see the module
    docstring). Called with the locks held; best effort. ``orphans``: also internal
    backups whose content differs from their target (called once a whole set was
    written again, which makes them obsolete)."""
    names: dict[str, list[str]] = {}
    for target in targets:
        names.setdefault(target.directory, []).append(os.path.basename(target.real_path))
    for directory, wanted in names.items():
        patterns = [(name, _stale_pattern(name)) for name in wanted]
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            for name, pattern in patterns:
                match = pattern.match(entry)
                if not match:
                    continue
                path = os.path.join(directory, entry)
                target_path = os.path.join(directory, name)
                try:
                    st = os.lstat(path)
                    if match.group(1) == _TEMP_TAG:
                        stale = stat.S_ISREG(st.st_mode)
                    elif stat.S_ISLNK(st.st_mode):  # the backup of a replaced link
                        stale = os.path.islink(target_path) and os.readlink(target_path) == os.readlink(path)
                    else:  # redundant only if the target still holds the same bytes
                        stale = stat.S_ISREG(st.st_mode) and (orphans or _same_files(path, target_path))
                except OSError:
                    stale = False
                if stale:
                    _remove_quietly(path)
                break


def _resolve_all(specs: list[FileSpec], follow: bool) -> list[_Target]:
    targets = [_resolve(spec, follow) for spec in specs]
    seen: dict[str, str] = {}
    for target in targets:
        if target.real_path in seen:
            raise RclInputError(
                "%s and %s are the same file." % (seen[target.real_path], target.spec.path), path=target.spec.path
            )
        seen[target.real_path] = target.spec.path
    return targets


def apply_files(specs: list[FileSpec], check_mode: bool = False, follow: bool = False,
                lock_timeout: float = DEFAULT_LOCK_TIMEOUT, discard_orphans: bool = False) -> list[FileResult]:
    """Ensure every file in ``specs``, all-or-nothing (see the module docstring).

    Every spec is resolved before anything is written: a missing directory or an
    unknown user/group fails the whole set. In check mode nothing is touched and the
    results say what would change (``backup_file`` is the name a backup would get).
    ``follow``: replace the file a symlink at a destination points to instead of the
    link. A real run locks the target directories (waiting up to ``lock_timeout``
    seconds for another run), plans again under the locks, removes what a killed run
    left for these targets, then writes. ``discard_orphans``: once the set is written,
    also remove the internal backups a killed commit left that differ from their targets
    (for a caller that knows the set it just wrote supersedes them).
    """
    targets = _resolve_all(specs, follow)

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

    path_of: dict[str, str] = {}
    for target in targets:
        path_of.setdefault(target.directory, target.spec.path)
    with _Locks(path_of, lock_timeout):
        # Plan again: another run may have written these files while this one waited.
        targets = _resolve_all(specs, follow)
        for target in targets:
            if target.directory not in path_of:
                raise RclFileError(
                    "%s moved to %s while waiting for the lock (a symlink changed). Nothing was changed."
                    % (target.spec.path, target.directory),
                    path=target.spec.path,
                )
        _remove_stale(targets)
        transaction = _Transaction(targets)
        transaction.prepare()
        transaction.commit()
        if discard_orphans:
            _remove_stale(targets, orphans=True)
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
