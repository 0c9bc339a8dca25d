# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""One host's certificates, checked and deployed in one module run. Standard library only
(runs on managed hosts).

Each certificate's files (certificate, chain, full chain, key, PFX; any of them may be
left out) are written as one set by ``_files.apply_files``, together with a **deployment
record**: a small JSON file beside the certificate (or full chain) file,
``.<file name>.rcl.json``, holding the SHA-256 of every file of the set and the facts of
the leaf (names, serial, validity) the controller read when it checked the material.

The check needs no X.509 parser and never moves a key: a set whose files all still hash
to what the record says is the set the controller checked (key and leaf belong together,
the chain is the leaf's), so the record's facts are the deployed certificate's facts.
Anything else (a file missing, changed or added, no record) means the set needs new
material. Owner, group and mode are compared with what is wanted and fixed in place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclError, RclFileError, RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._files import (
    DEFAULT_LOCK_TIMEOUT,
    FileResult,
    FileSpec,
    apply_files,
    read_file,
    resolve_mode,
)

__all__ = [
    "FACT_KEYS",
    "KINDS",
    "MANIFEST_SUFFIX",
    "Entry",
    "Outcome",
    "converge",
    "manifest_path",
    "parse_entries",
    "parse_material",
    "prune_backups",
]

KINDS = ("certificate", "chain", "fullchain", "privatekey", "pfx")
SECRET_KINDS = frozenset(("privatekey", "pfx"))
MANIFEST_SUFFIX = ".rcl.json"
MANIFEST_FORMAT = 1
MANIFEST_MAX = 64 * 1024
FACT_KEYS = ("serial", "sans", "not_before", "not_after", "fingerprint_sha256", "issuer", "subject")
_ISO = "%Y-%m-%dT%H:%M:%SZ"
_BACKUP_RE = r"\A%s\.(\d+)\.(\d{4}-\d{2}-\d{2}@\d{2}:\d{2}:\d{2})~\Z"


@dataclass
class FileEntry:
    kind: str
    path: str
    mode: t.Any


@dataclass
class Entry:
    """One certificate as the host should have it."""

    name: str
    names: list[str]
    files: list[FileEntry]
    owner: str | int | None = None
    group: str | int | None = None
    backup: bool = False
    directories: list[tuple[str, t.Any]] = field(default_factory=list)

    def file(self, kind: str) -> FileEntry | None:
        for item in self.files:
            if item.kind == kind:
                return item
        return None


@dataclass
class Outcome:
    """What happened to one certificate (never any content)."""

    name: str
    needs_content: bool = False
    reasons: list[str] = field(default_factory=list)
    changed: bool = False
    content_changed: bool = False
    deployed: dict[str, t.Any] = field(default_factory=dict)
    files: list[dict[str, t.Any]] = field(default_factory=list)
    backups_removed: list[str] = field(default_factory=list)
    diff: dict[str, t.Any] | None = None
    error: str | None = None  # this certificate failed: its files are as they were

    def to_result(self) -> dict[str, t.Any]:
        return dict(name=self.name, needs_content=self.needs_content, reasons=self.reasons, changed=self.changed,
                    content_changed=self.content_changed, deployed=self.deployed, files=self.files,
                    backups_removed=self.backups_removed, error=self.error)


# --- input ---------------------------------------------------------------------------


def _text(value: t.Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise RclInputError("%s must be a non-empty string" % what)
    return value.strip()


def _path(value: t.Any, what: str) -> str:
    path = _text(value, what)
    if not os.path.isabs(path):
        raise RclInputError("%s must be an absolute path, not %r" % (what, path[:200]))
    return os.path.normpath(path)


def parse_entries(raw: t.Any) -> list[Entry]:
    """Check the ``certificates`` option; every error before any file is touched."""
    if not isinstance(raw, list):
        raise RclInputError("certificates must be a list")
    entries: list[Entry] = []
    seen_paths: dict[str, str] = {}
    seen_names: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise RclInputError("certificates[%d] must be a dict" % index)
        name = _text(item.get("name"), "certificates[%d].name" % index)
        if name in seen_names:
            raise RclInputError("certificate %s is listed twice" % name)
        seen_names.add(name)
        names_raw = item.get("names") or [name]
        if not isinstance(names_raw, list):
            raise RclInputError("%s: names must be a list" % name)
        names = [_text(n, "%s: names" % name).lower() for n in names_raw]
        files: list[FileEntry] = []
        for number, spec in enumerate(item.get("files") or []):
            if not isinstance(spec, dict):
                raise RclInputError("%s: files[%d] must be a dict" % (name, number))
            kind = spec.get("kind")
            if kind not in KINDS:
                raise RclInputError("%s: files[%d].kind must be one of %s" % (name, number, ", ".join(KINDS)))
            if any(existing.kind == kind for existing in files):
                raise RclInputError("%s: more than one %s file" % (name, kind))
            path = _path(spec.get("path"), "%s: the %s path" % (name, kind))
            if path in seen_paths:
                raise RclInputError("%s and %s would both write %s" % (seen_paths[path], name, path))
            seen_paths[path] = name
            mode = spec.get("mode")
            if mode is not None:
                try:
                    resolve_mode(mode, 0o600)
                except RclInputError as exc:
                    raise RclInputError("%s: %s" % (name, exc.msg)) from None
            files.append(FileEntry(kind, path, mode))
        if not any(f.kind in ("certificate", "fullchain") for f in files):
            raise RclInputError("%s: a certificate or fullchain file is needed (the deployment record sits beside it)"
                                % name)
        directories = []
        for number, spec in enumerate(item.get("directories") or []):
            if not isinstance(spec, dict):
                raise RclInputError("%s: directories[%d] must be a dict" % (name, number))
            directories.append((_path(spec.get("path"), "%s: a directory" % name), spec.get("mode") or None))
        entry = Entry(name=name, names=names, files=files, owner=item.get("owner") or None,
                      group=item.get("group") or None, backup=bool(item.get("backup")), directories=directories)
        record = manifest_path(entry)
        if record in seen_paths:
            raise RclInputError("%s: %s is the deployment record of a certificate" % (seen_paths[record], record))
        seen_paths[record] = name
        entries.append(entry)
    return entries


SECRET_MATERIAL = ("privatekey", "pfx")


def parse_material(raw: t.Any, entries: list[Entry], secrets: t.Any = None) -> dict[str, dict[str, t.Any]]:
    """Check the ``material`` option (per name the PEM certificates and the leaf's facts) and the ``keys``
    option (per name the key and the PFX, base64), which must name the same certificates."""
    raw = raw or {}
    secrets = secrets or {}
    if not isinstance(raw, dict) or not isinstance(secrets, dict):
        raise RclInputError("material and keys must be dicts of certificate name to material")
    known = {entry.name: entry for entry in entries}
    result: dict[str, dict[str, t.Any]] = {}
    for name in secrets:
        if name not in raw:
            raise RclInputError("keys are given for %s, but no material" % str(name)[:100])
    for name, public in raw.items():
        if name not in known:
            raise RclInputError("material is given for %s, which is not in certificates" % str(name)[:100])
        private = secrets.get(name) or {}
        if not isinstance(public, dict) or not isinstance(private, dict):
            raise RclInputError("the material of %s must be a dict" % name)
        item = dict(public)
        for kind in SECRET_MATERIAL:
            item.pop(kind, None)
            if kind in private:
                item[kind] = private[kind]
        facts = item.get("facts")
        if not isinstance(facts, dict) or not isinstance(facts.get("not_after"), str) \
                or not isinstance(facts.get("sans"), list):
            raise RclInputError("the material of %s has no facts (sans, not_after)" % name)
        _parse_time(facts["not_after"], "the material of %s" % name)
        content: dict[str, bytes] = {}
        for spec in known[name].files:
            value = item.get(spec.kind)
            if not isinstance(value, str) or not value:
                raise RclInputError("the material of %s has no %s" % (name, spec.kind))
            if spec.kind == "pfx":
                try:
                    content["pfx"] = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    raise RclInputError("the PFX of %s is not base64" % name) from None
            else:
                if "-----BEGIN " not in value:
                    raise RclInputError("the %s of %s is not PEM" % (spec.kind, name))
                content[spec.kind] = value.encode("utf-8")
        result[name] = dict(content=content, facts={key: facts.get(key) for key in FACT_KEYS})
    return result


def _parse_time(value: str, what: str) -> datetime:
    try:
        return datetime.strptime(value, _ISO).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise RclInputError("%s: %r is not a time like 2027-01-31T12:00:00Z" % (what, str(value)[:40])) from None


# --- the deployment record -----------------------------------------------------------


def manifest_path(entry: Entry) -> str:
    anchor = entry.file("certificate") or entry.file("fullchain")
    if anchor is None:  # parse_entries refuses such an entry
        raise RclInputError("%s: a certificate or fullchain file is needed" % entry.name)
    return os.path.join(os.path.dirname(anchor.path), "." + os.path.basename(anchor.path) + MANIFEST_SUFFIX)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(path: str) -> tuple[dict[str, t.Any] | None, str | None]:
    try:
        data = read_file(path, max_size=MANIFEST_MAX, follow=False)
    except RclFileError as exc:
        return None, "the deployment record %s cannot be read (%s)" % (path, exc.msg)
    if data is None:
        return None, None
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "the deployment record %s is not valid JSON" % path
    if not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT or not isinstance(record.get("files"), dict):
        return None, "the deployment record %s has an unknown format" % path
    return record, None


def _manifest_bytes(entry: Entry, contents: dict[str, bytes], facts: dict[str, t.Any]) -> bytes:
    record = dict(
        format=MANIFEST_FORMAT,
        name=entry.name,
        files={spec.path: dict(kind=spec.kind, sha256=_sha256(contents[spec.path])) for spec in entry.files},
        facts={key: facts.get(key) for key in FACT_KEYS},
    )
    return (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8")


# --- the check -----------------------------------------------------------------------


def _facts_view(facts: dict[str, t.Any], now: datetime) -> dict[str, t.Any]:
    view = {key: facts.get(key) for key in ("serial", "sans", "not_before", "not_after")}
    try:
        end = _parse_time(str(facts.get("not_after")), "not_after")
        view["days_remaining"] = (end - now) // timedelta(days=1)
    except RclInputError:
        pass
    return view


def _inspect(entry: Entry, remaining_days: int, force: bool, now: datetime,
             outcome: Outcome) -> dict[str, bytes] | None:
    """Fill ``outcome.reasons``; returns the current contents when the set is intact."""
    record_path = manifest_path(entry)
    record, problem = _read_manifest(record_path)
    contents: dict[str, bytes] = {}
    present = 0
    reasons = outcome.reasons
    for spec in entry.files:
        try:
            data = read_file(spec.path, follow=False)
        except RclFileError as exc:
            reasons.append(exc.msg)
            continue
        if data is None:
            reasons.append("%s is missing" % spec.path)
            continue
        present += 1
        contents[spec.path] = data
        if record is not None:
            known = record["files"].get(spec.path)
            if not isinstance(known, dict) or known.get("kind") != spec.kind:
                reasons.append("%s was not part of the last deployment" % spec.path)
            elif known.get("sha256") != _sha256(data):
                reasons.append("%s changed since it was deployed" % spec.path)
    if record is None:
        if problem:
            reasons.append(problem)
        elif present:
            reasons.append("no deployment record (%s): the files were not deployed by rcl.ssl" % record_path)
        else:
            reasons[:] = ["not deployed"]
    else:
        if record.get("name") != entry.name:
            reasons.append("the deployment record %s is for %s" % (record_path, str(record.get("name"))[:100]))
        raw_facts = record.get("facts")
        facts: dict[str, t.Any] = raw_facts if isinstance(raw_facts, dict) else {}
        outcome.deployed = _facts_view(facts, now)
        sans = [str(n).lower() for n in facts.get("sans") or [] if isinstance(n, str)]
        missing = [n for n in entry.names if n not in sans]
        if missing:
            reasons.append("the certificate does not cover %s" % ", ".join(missing))
        try:
            end = _parse_time(str(facts.get("not_after")), "the deployment record")
        except RclInputError as exc:
            reasons.append(exc.msg)
        else:
            days = (end - now) // timedelta(days=1)
            if end <= now:
                reasons.append("expired on %s" % facts.get("not_after"))
            elif days < remaining_days:
                reasons.append("expires in %d days (threshold %d)" % (days, remaining_days))
    if force:
        reasons.append("forced")
    if reasons:
        return None
    return contents


# --- writing -------------------------------------------------------------------------


def _ensure_directories(entry: Entry, check_mode: bool, create: bool) -> bool:
    changed = False
    for path, mode in entry.directories:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not create:
                continue
            changed = True
            if not check_mode:
                wanted = resolve_mode(mode, 0o755) if mode else None
                try:
                    # missing parents too, like ansible.builtin.file state=directory (umask applies to them)
                    os.makedirs(path, 0o700 if wanted is not None else 0o755)
                    if wanted is not None:
                        os.chmod(path, wanted)
                except OSError as exc:
                    raise RclFileError("Cannot create the directory %s: %s" % (path, exc.strerror or exc),
                                       path=path) from None
            continue
        except OSError as exc:
            raise RclFileError("Cannot inspect %s: %s" % (path, exc.strerror or exc), path=path) from None
        if not stat.S_ISDIR(st.st_mode):
            if stat.S_ISLNK(st.st_mode) and os.path.isdir(path):
                continue  # a link to a directory is used as it is
            raise RclFileError("%s is not a directory" % path, path=path)
        if mode:
            wanted = resolve_mode(mode, stat.S_IMODE(st.st_mode))
            if wanted is not None and wanted != stat.S_IMODE(st.st_mode):
                changed = True
                if not check_mode:
                    os.chmod(path, wanted)
    return changed


def _specs(entry: Entry, contents: dict[str, bytes], record: bytes, backup: bool,
           attributes_only: bool = False) -> list[FileSpec]:
    specs = [
        FileSpec(path=spec.path, content=contents[spec.path], mode=spec.mode, owner=entry.owner, group=entry.group,
                 backup=backup, backup_mode=0o600 if spec.kind in SECRET_KINDS else None,
                 attributes_only=attributes_only)
        for spec in entry.files
    ]
    specs.append(FileSpec(path=manifest_path(entry), content=record, mode="0600", attributes_only=attributes_only))
    return specs


def prune_backups(path: str, keep: int, secret: bool = False, check_mode: bool = False) -> list[str]:
    """Remove all but the ``keep`` newest backups ``<path>.<pid>.<YYYY-mm-dd@HH:MM:SS>~`` of ``path``; with
    ``secret``, the kept ones readable by others than their owner (made by another tool) get mode 0600.
    In check mode, only list what would be removed."""
    directory, base = os.path.split(path)
    pattern = re.compile(_BACKUP_RE % re.escape(base))
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.match(name)
        if not match:
            continue
        full = os.path.join(directory, name)
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            found.append((match.group(2), st.st_mtime_ns, name, full))
    found.sort(reverse=True)
    if check_mode:
        return [full for _stamp, _mtime, _name, full in found[max(keep, 0):]]
    if secret:
        for _stamp, _mtime, _name, full in found[:max(keep, 0)]:
            try:
                st = os.lstat(full)
                if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                    os.chmod(full, stat.S_IMODE(st.st_mode) & 0o700)
            except OSError:
                pass
    removed = []
    for _stamp, _mtime, _name, full in found[max(keep, 0):]:
        try:
            os.unlink(full)
            removed.append(full)
        except OSError:
            pass
    return removed


def _file_results(results: list[FileResult], entry: Entry) -> list[dict[str, t.Any]]:
    record = manifest_path(entry)
    return [dict(path=item.path, changed=item.changed, backup_file=item.backup_file)
            for item in results if item.path != record]


def _diff(entry: Entry, before: dict[str, t.Any], after: dict[str, t.Any],
          results: list[FileResult]) -> dict[str, t.Any]:
    def view(facts: dict[str, t.Any], attrs: dict[str, t.Any]) -> str:
        lines = ["%s: %s" % (key, facts[key]) for key in ("serial", "sans", "not_before", "not_after") if key in facts]
        lines += ["%s: %s" % (path, value) for path, value in sorted(attrs.items())]
        return "\n".join(lines) + "\n"

    record = manifest_path(entry)
    attrs_before = {r.path: _attrs_text(r.before_attrs) for r in results if r.path != record and r.changed}
    attrs_after = {r.path: _attrs_text(r.after_attrs) for r in results if r.path != record and r.changed}
    return dict(before_header="%s (deployed)" % entry.name, after_header="%s (wanted)" % entry.name,
                before=view(before, attrs_before), after=view(after, attrs_after))


def _attrs_text(attrs: dict[str, t.Any] | None) -> str:
    if not attrs:
        return "absent"
    return "mode %s, owner %s, group %s" % (attrs.get("mode"), attrs.get("owner"), attrs.get("group"))


def converge(
    entries: list[Entry],
    material: dict[str, dict[str, t.Any]],
    remaining_days: int = 30,
    force: bool = False,
    backup_keep: int = 1,
    check_mode: bool = False,
    diff: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: datetime | None = None,
) -> list[Outcome]:
    """Check every certificate; fix attribute drift of intact sets; deploy the material given.

    A certificate with material is written as one set (files + record) whatever the
    check says, unless the files already hold exactly that material with the wanted
    attributes. A certificate without material that needs new content is only
    reported (``needs_content``). A certificate that fails gets ``error`` and stays as it
    was (each set is all-or-nothing); the others are still done.
    """
    now = now or datetime.now(timezone.utc)
    outcomes = []
    for entry in entries:
        outcome = Outcome(entry.name)
        outcomes.append(outcome)
        try:
            _converge_one(entry, outcome, material, remaining_days, force, backup_keep, check_mode, diff,
                          lock_timeout, now)
        except RclError as exc:
            outcome.error = "%s: %s" % (entry.name, exc.msg)
    return outcomes


def _converge_one(entry: Entry, outcome: Outcome, material: dict[str, dict[str, t.Any]], remaining_days: int,
                  force: bool, backup_keep: int, check_mode: bool, diff: bool, lock_timeout: float,
                  now: datetime) -> None:
    current = _inspect(entry, remaining_days, force and entry.name not in material, now, outcome)
    before_facts = dict(outcome.deployed)
    given = material.get(entry.name)
    if given is not None:
        contents = {spec.path: given["content"][spec.kind] for spec in entry.files}
        listed = {str(n).lower() for n in given["facts"].get("sans") or []}
        missing = [n for n in entry.names if n not in listed]
        if missing:
            raise RclInputError("the material does not cover %s: nothing was written" % ", ".join(missing))
        after_facts = _facts_view(given["facts"], now)
        outcome.reasons = []
        dirs_changed = _ensure_directories(entry, check_mode, create=True)
        if check_mode and any(not os.path.isdir(path) for path, _mode in entry.directories):
            results = [FileResult(path=spec.path, changed=True, content_changed=True, attributes_changed=False,
                                  backup_file=None, before_attrs=None, after_attrs=None) for spec in entry.files]
        else:
            record = _manifest_bytes(entry, contents, given["facts"])
            results = apply_files(_specs(entry, contents, record, entry.backup), check_mode=check_mode,
                                  lock_timeout=lock_timeout, discard_orphans=True)
        outcome.deployed = after_facts
    elif current is None:
        outcome.needs_content = True
        return
    else:
        dirs_changed = _ensure_directories(entry, check_mode, create=False)
        # Attributes only: the contents were read without the lock, and another run may have deployed since;
        # what it wrote is never overwritten by this check.
        results = apply_files(_specs(entry, current, b"", False, attributes_only=True), check_mode=check_mode,
                              lock_timeout=lock_timeout)
        after_facts = before_facts
    record_path = manifest_path(entry)
    outcome.files = _file_results(results, entry)
    outcome.content_changed = any(r.content_changed for r in results if r.path != record_path)
    if entry.backup:
        for spec in entry.files:
            outcome.backups_removed += prune_backups(spec.path, backup_keep, spec.kind in SECRET_KINDS, check_mode)
        for item in outcome.files:
            if item["backup_file"] in outcome.backups_removed:
                item["backup_file"] = None  # backup_keep 0: made and removed
    outcome.changed = dirs_changed or bool(outcome.backups_removed) or any(r.changed for r in results)
    if outcome.changed and diff:
        outcome.diff = _diff(entry, before_facts, after_facts, results)
