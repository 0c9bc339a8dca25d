# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""A service's orders that outlive a run, kept sealed in one file on the controller.

Servertastic names an order by its token (whoever holds it controls the order) and never holds the private
key: both must survive until the certificate is issued, which can take hours (EMAIL approval), and the key
until the next order replaces it. They are kept in ``<state_dir>/<service>.json`` (directory mode 0700, file
0600, replaced atomically under a lock): the names, references, stages and dates in clear, the token and
the key sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from a passphrase
(``state_passphrase``, else the service's API key) with PBKDF2-HMAC-SHA256 and a random salt per file. The
file alone gives nothing away; it can be copied to wherever the next run finds it (the role can keep a copy
on a managed host for AWX, whose job containers forget their disk).

A copy brought back from elsewhere is put beside the file as ``<service>.json.incoming``: the next access merges
it, name by name, keeping whichever side changed last (each name's entry carries the time of its last change,
also when its orders were dropped), and removes it. An older copy can thus never undo a newer state.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import tempfile
import traceback
import typing as t

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclFileError, RclInputError

CRYPTOGRAPHY_IMPORT_ERROR: str | None
try:
    from cryptography.fernet import Fernet, InvalidToken
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
except ImportError:  # pragma: no cover - checked by the modules
    HAS_FERNET = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_FERNET = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows controllers, which Ansible does not support
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_STATE_DIR", "INCOMING_SUFFIX", "StateStore", "check_state_dir"]

INCOMING_SUFFIX = ".incoming"
SLOTS = ("pending", "current")

FORMAT = 1
ITERATIONS = 200_000
DEFAULT_STATE_DIR = "~/.ansible/rcl.ssl"


def check_state_dir(value: t.Any) -> str:
    path = os.path.expanduser(str(value or DEFAULT_STATE_DIR))
    if not os.path.isabs(path) or "\x00" in path:
        raise RclInputError("state_dir must be an absolute path, not %r" % str(value)[:120])
    return os.path.normpath(path)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _changed_at(entry: t.Mapping[str, t.Any]) -> str:
    """When a name's entry last changed (ISO 8601 UTC strings compare in time order)."""
    stamps = [str(entry.get("updated") or "")]
    stamps += [str(slot.get("updated") or "") for slot in (entry.get(w) for w in SLOTS) if isinstance(slot, dict)]
    return max(stamps)


class _Cipher:
    """The sealing key of another copy of the file (its own salt), to open what it sealed."""

    def __init__(self, passphrase: bytes, data: t.Mapping[str, t.Any]) -> None:
        self._passphrase = passphrase
        self._kdf = data.get("kdf") or {}
        self._fernet: t.Any = None

    def open(self, sealed: str, name: str, path: str, service: str) -> dict[str, t.Any]:
        if not HAS_FERNET:
            raise RclInputError("The %s state needs the Python library cryptography" % service)
        if self._fernet is None:
            if not self._kdf.get("salt"):
                raise RclFileError("%s holds sealed orders but no key derivation salt" % path)
            derive = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=base64.b64decode(self._kdf["salt"]),
                                iterations=int(self._kdf.get("iterations") or ITERATIONS))
            self._fernet = Fernet(base64.urlsafe_b64encode(derive.derive(self._passphrase)))
        try:
            return dict(json.loads(self._fernet.decrypt(str(sealed).encode("ascii")).decode("utf-8")))
        except (InvalidToken, ValueError, TypeError):
            raise RclInputError(
                "Cannot open the sealed %s order of %s in %s: it was sealed with another state_passphrase (or api_key)"
                % (service, name, path), state_file=path) from None


class StateStore:
    """``<state_dir>/<service>.json``: per certificate name, the slots ``pending`` (an order not finished yet) and
    ``current`` (the order whose certificate is in use). Each slot holds clear fields and a sealed part."""

    def __init__(self, state_dir: t.Any, service: str, passphrase: str | None) -> None:
        if not passphrase:
            raise RclInputError("The %s state needs a passphrase: state_passphrase or api_key" % service)
        self.dir = check_state_dir(state_dir)
        self.path = os.path.join(self.dir, "%s.json" % service)
        self.service = service
        self._passphrase = passphrase.encode("utf-8")
        self._fernet: t.Any = None
        self._salt: bytes | None = None
        self._absorbed = False

    def __repr__(self) -> str:
        return "StateStore(%r)" % self.path

    # -- file ----------------------------------------------------------------------

    def _read(self, path: str | None = None) -> dict[str, t.Any]:
        path = path or self.path
        if not self._absorbed and path == self.path:
            self._absorb()
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read().decode("utf-8"))
        except FileNotFoundError:
            return {"format": FORMAT, "certificates": {}}
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise RclFileError("Cannot read the %s state file %s: %s" % (self.service, path, exc)) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("certificates"), dict):
            raise RclFileError("%s is not a %s state file of this collection (format %d)"
                               % (path, self.service, FORMAT))
        return data

    def _absorb(self) -> None:
        """Merge ``<file>.incoming`` (a copy brought back from a state host) name by name, the later change winning."""
        self._absorbed = True
        incoming_path = self.path + INCOMING_SUFFIX
        if not os.path.exists(incoming_path):
            return
        with self._locked():
            if not os.path.exists(incoming_path):
                return
            data = self._read()
            incoming = self._read(incoming_path)
            theirs = _Cipher(self._passphrase, incoming)
            changed = False
            for name, entry in incoming["certificates"].items():
                if not isinstance(entry, dict):
                    continue
                ours = data["certificates"].get(name)
                if isinstance(ours, dict) and _changed_at(ours) >= _changed_at(entry):
                    continue
                merged = dict(entry)
                for which in SLOTS:
                    slot = merged.get(which)
                    if isinstance(slot, dict) and slot.get("sealed"):
                        secret = theirs.open(slot["sealed"], name, incoming_path, self.service)
                        merged[which] = dict(slot, sealed=self._seal(data, secret))
                data["certificates"][name] = merged
                changed = True
            if changed:
                self._write(data)
            os.unlink(incoming_path)

    def load(self) -> dict[str, t.Any]:
        return self._read()

    @contextlib.contextmanager
    def _locked(self) -> t.Iterator[None]:
        if not self._absorbed:
            self._absorb()  # before the lock: it takes the lock itself
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise RclFileError("Cannot create the state directory %s: %s" % (self.dir, exc)) from None
        lock_path = self.path + ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, data: dict[str, t.Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(self.path), dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise RclFileError("Cannot write the %s state file %s: %s" % (self.service, self.path, exc)) from None

    # -- sealing ---------------------------------------------------------------------

    def _seal(self, data: dict[str, t.Any], secret: t.Mapping[str, t.Any]) -> str:
        return str(self._cipher(data).encrypt(json.dumps(dict(secret)).encode("utf-8")).decode("ascii"))

    def _cipher(self, data: dict[str, t.Any]) -> t.Any:
        if not HAS_FERNET:
            raise RclInputError("The %s state needs the Python library cryptography" % self.service)
        kdf = data.setdefault("kdf", {})
        if not kdf.get("salt"):
            kdf.update(name="pbkdf2-sha256", iterations=ITERATIONS, salt=base64.b64encode(os.urandom(16)).decode())
        salt = base64.b64decode(kdf["salt"])
        if self._fernet is None or self._salt != salt:
            derive = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=int(kdf["iterations"]))
            self._fernet = Fernet(base64.urlsafe_b64encode(derive.derive(self._passphrase)))
            self._salt = salt
        return self._fernet

    def unseal(self, slot: t.Mapping[str, t.Any], name: str) -> dict[str, t.Any]:
        sealed = slot.get("sealed")
        if not sealed:
            return {}
        cipher = self._cipher(self._read())
        try:
            return dict(json.loads(cipher.decrypt(str(sealed).encode("ascii")).decode("utf-8")))
        except (InvalidToken, ValueError, TypeError):
            raise RclInputError(
                "Cannot open the sealed %s order of %s in %s: it was sealed with another state_passphrase (or api_key)"
                % (self.service, name, self.path), state_file=self.path) from None

    # -- slots -------------------------------------------------------------------------

    def slot(self, name: str, which: str) -> dict[str, t.Any] | None:
        entry = self._read()["certificates"].get(name) or {}
        value = entry.get(which)
        return dict(value) if isinstance(value, dict) else None

    def find(self, which: str, field: str, value: t.Any) -> tuple[str, dict[str, t.Any]] | None:
        for name, entry in self._read()["certificates"].items():
            slot = entry.get(which) if isinstance(entry, dict) else None
            if isinstance(slot, dict) and slot.get(field) == value:
                return name, dict(slot)
        return None

    def put(self, name: str, which: str, clear: t.Mapping[str, t.Any], secret: t.Mapping[str, t.Any] | None = None,
            merge: bool = True) -> dict[str, t.Any]:
        """Set a slot (merged into what is there); ``secret`` replaces its sealed part."""
        with self._locked():
            data = self._read()
            entry = data["certificates"].setdefault(name, {})
            slot = dict(entry.get(which) or {}) if merge else {}
            slot.update(clear)
            slot["updated"] = _now()
            if secret is not None:
                old = {}
                if merge and slot.get("sealed"):
                    old = self.unseal(slot, name)
                old.update(secret)
                slot["sealed"] = self._seal(data, old)
            entry[which] = slot
            entry["updated"] = slot["updated"]
            self._write(data)
            return dict(slot)

    def move(self, name: str, source: str, target: str, clear: t.Mapping[str, t.Any]) -> None:
        """``source`` becomes ``target`` (the order finished: pending -> current), ``source`` emptied."""
        with self._locked():
            data = self._read()
            entry = data["certificates"].setdefault(name, {})
            slot = dict(entry.get(source) or {})
            slot.update(clear)
            slot["updated"] = _now()
            entry[target] = slot
            entry.pop(source, None)
            entry["updated"] = slot["updated"]
            self._write(data)

    def drop(self, name: str, which: str) -> None:
        """Empty a slot; the name's entry keeps the time of the change, so an older copy cannot bring it back."""
        with self._locked():
            data = self._read()
            entry = data["certificates"].get(name)
            if isinstance(entry, dict) and which in entry:
                entry.pop(which)
                entry["updated"] = _now()
                self._write(data)
