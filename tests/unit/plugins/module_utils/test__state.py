# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_state: the sealed state file of the services (modes, atomic replace, sealing, slots, the lock)."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils import _state
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclFileError, RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._state import StateStore, check_state_dir

NAME = "www.example.com"
PASSPHRASE = "correct horse battery staple"
TOKEN = "tok-SeCrEt-4711"
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def store_in(tmp_path, passphrase: str = PASSPHRASE, service: str = "servertastic") -> StateStore:
    return StateStore(str(tmp_path / "state"), service, passphrase)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


def raw(store: StateStore) -> str:
    with open(store.path, encoding="utf-8") as fh:
        return fh.read()


# ---------------------------------------------------------------------------
# the directory and the file


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_directory_0700_and_file_0600_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        store = store_in(tmp_path)
        store.put(NAME, "pending", dict(reference="r1"))
    finally:
        os.umask(old)
    assert store.path == str(tmp_path / "state" / "servertastic.json")
    assert mode(tmp_path / "state") == 0o700
    assert mode(store.path) == 0o600
    assert mode(store.path + ".lock") == 0o600


def test_reads_create_nothing(tmp_path):
    store = store_in(tmp_path)
    assert store.load() == {"format": 1, "certificates": {}}
    assert store.slot(NAME, "pending") is None
    assert store.find("pending", "reference", "r1") is None
    assert not (tmp_path / "state").exists()
    store.drop(NAME, "pending")  # takes the lock, writes no state file
    assert not os.path.exists(store.path)


def test_the_file_is_replaced_atomically(tmp_path):
    store = store_in(tmp_path)
    store.put(NAME, "pending", dict(reference="r1"))
    first = os.stat(store.path).st_ino
    store.put(NAME, "pending", dict(stage="token"))
    assert os.stat(store.path).st_ino != first  # a new file renamed into place, never rewritten in place
    assert sorted(os.listdir(store.dir)) == ["servertastic.json", "servertastic.json.lock"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    store = store_in(tmp_path)
    store.put(NAME, "pending", dict(reference="r1"))
    before = raw(store)

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(RclFileError, match="Cannot write the servertastic state file .*No space left on device"):
        store.put(NAME, "pending", dict(stage="token"))
    monkeypatch.undo()
    assert raw(store) == before
    assert sorted(os.listdir(store.dir)) == ["servertastic.json", "servertastic.json.lock"]


def test_an_unwritable_directory_is_a_file_error(tmp_path):
    (tmp_path / "state").write_text("a file where the directory should be")
    with pytest.raises(RclFileError, match="Cannot create the state directory"):
        store_in(tmp_path).put(NAME, "pending", dict(reference="r1"))


# ---------------------------------------------------------------------------
# sealing


def test_the_sealed_part_is_unreadable_in_the_file(tmp_path):
    store = store_in(tmp_path)
    slot = store.put(NAME, "pending", dict(reference="r1", stage="token"), secret=dict(token=TOKEN, key=KEY))
    text = raw(store)
    assert TOKEN not in text and "PRIVATE KEY" not in text and PASSPHRASE not in text
    for piece in (TOKEN, KEY):  # nor base64 of them
        assert base64.b64encode(piece.encode()).decode()[:12] not in text
    data = json.loads(text)
    assert data["format"] == 1
    kdf = data["kdf"]
    assert kdf["name"] == "pbkdf2-sha256" and kdf["iterations"] >= 100000
    assert len(base64.b64decode(kdf["salt"])) == 16
    stored = data["certificates"][NAME]["pending"]
    assert stored["reference"] == "r1" and stored["stage"] == "token"  # the clear part stays readable
    assert stored["sealed"].startswith("gAAAAA")  # a Fernet token
    assert slot["sealed"] == stored["sealed"]
    assert store.unseal(slot, NAME) == dict(token=TOKEN, key=KEY)


def test_another_store_with_the_passphrase_opens_it(tmp_path):
    store_in(tmp_path).put(NAME, "pending", dict(reference="r1"), secret=dict(token=TOKEN))
    other = store_in(tmp_path)
    slot = other.slot(NAME, "pending")
    assert slot is not None and other.unseal(slot, NAME) == dict(token=TOKEN)


def test_each_file_has_its_own_salt(tmp_path):
    a = StateStore(str(tmp_path / "a"), "servertastic", PASSPHRASE)
    b = StateStore(str(tmp_path / "b"), "servertastic", PASSPHRASE)
    a.put(NAME, "pending", {}, secret=dict(token=TOKEN))
    b.put(NAME, "pending", {}, secret=dict(token=TOKEN))
    assert a.load()["kdf"]["salt"] != b.load()["kdf"]["salt"]


def test_the_wrong_passphrase_names_state_passphrase(tmp_path):
    store_in(tmp_path).put(NAME, "pending", dict(reference="r1"), secret=dict(token=TOKEN))
    wrong = store_in(tmp_path, passphrase="another passphrase")
    slot = wrong.slot(NAME, "pending")
    assert slot is not None
    with pytest.raises(RclInputError) as caught:
        wrong.unseal(slot, NAME)
    assert "state_passphrase" in caught.value.msg and NAME in caught.value.msg
    assert caught.value.details == dict(state_file=wrong.path)
    # Merging a secret needs the old one: refused too, and the file is left as it was.
    before = raw(wrong)
    with pytest.raises(RclInputError, match="state_passphrase"):
        wrong.put(NAME, "pending", {}, secret=dict(key=KEY))
    assert raw(wrong) == before


def test_a_damaged_seal_is_refused_like_a_wrong_passphrase(tmp_path):
    store = store_in(tmp_path)
    slot = store.put(NAME, "pending", {}, secret=dict(token=TOKEN))
    slot["sealed"] = slot["sealed"][:-4] + "AAAA"
    with pytest.raises(RclInputError, match="state_passphrase"):
        store.unseal(slot, NAME)


def test_a_slot_without_a_seal_unseals_to_nothing(tmp_path):
    store = store_in(tmp_path)
    assert store.unseal(store.put(NAME, "pending", dict(reference="r1")), NAME) == {}


def test_a_passphrase_is_needed_and_never_shown(tmp_path):
    with pytest.raises(RclInputError, match="state needs a passphrase: state_passphrase or api_key"):
        StateStore(str(tmp_path), "servertastic", "")
    store = store_in(tmp_path)
    assert PASSPHRASE not in repr(store) and repr(store) == "StateStore(%r)" % store.path


# ---------------------------------------------------------------------------
# files of another kind


@pytest.mark.parametrize("content", [
    b"not json at all",
    b"[]",
    b'{"format": 2, "certificates": {}}',
    b'{"format": "1", "certificates": {}}',
    b'{"format": 1, "certificates": []}',
    b'{"format": 1}',
    b"\xff\xfe{}",
    b"",
])
def test_a_file_of_another_format_is_a_file_error(tmp_path, content):
    store = store_in(tmp_path)
    os.makedirs(store.dir)
    with open(store.path, "wb") as fh:
        fh.write(content)
    with pytest.raises(RclFileError) as caught:
        store.slot(NAME, "pending")
    assert store.path in caught.value.msg
    with pytest.raises(RclFileError):
        store.put(NAME, "pending", dict(reference="r1"))
    with open(store.path, "rb") as fh:
        assert fh.read() == content  # never overwritten


def test_a_directory_in_place_of_the_file_is_a_file_error(tmp_path):
    store = store_in(tmp_path)
    os.makedirs(store.path)
    with pytest.raises(RclFileError, match="Cannot read the servertastic state file"):
        store.load()


# ---------------------------------------------------------------------------
# slots: put, move, drop, find


def test_put_merges_the_clear_part_and_stamps_it(tmp_path):
    store = store_in(tmp_path)
    first = store.put(NAME, "pending", dict(reference="r1", stage="new"))
    assert first["reference"] == "r1" and first["stage"] == "new"
    assert first["updated"].endswith("Z")
    second = store.put(NAME, "pending", dict(stage="token", token_requested=True))
    assert {k: second[k] for k in ("reference", "stage", "token_requested")} == dict(
        reference="r1", stage="token", token_requested=True)
    assert store.slot(NAME, "pending") == second


def test_put_without_merge_starts_the_slot_again(tmp_path):
    store = store_in(tmp_path)
    store.put(NAME, "pending", dict(reference="r1", token_requested=True), secret=dict(token=TOKEN))
    slot = store.put(NAME, "pending", dict(reference="r2"), secret=dict(key=KEY), merge=False)
    assert "token_requested" not in slot and slot["reference"] == "r2"
    assert store.unseal(slot, NAME) == dict(key=KEY)


def test_put_merges_secrets(tmp_path):
    store = store_in(tmp_path)
    store.put(NAME, "pending", dict(reference="r1"), secret=dict(key=KEY))
    slot = store.put(NAME, "pending", dict(stage="token"), secret=dict(token=TOKEN))
    assert store.unseal(slot, NAME) == dict(key=KEY, token=TOKEN)
    slot = store.put(NAME, "pending", dict(stage="placed"))  # no secret: the sealed part is kept
    assert store.unseal(slot, NAME) == dict(key=KEY, token=TOKEN)


def test_slots_of_names_and_kinds_are_apart(tmp_path):
    store = store_in(tmp_path)
    store.put(NAME, "pending", dict(reference="r1"))
    store.put(NAME, "current", dict(reference="r0"))
    store.put("*.example.com", "pending", dict(reference="w1"))
    assert store.slot(NAME, "pending")["reference"] == "r1"
    assert store.slot(NAME, "current")["reference"] == "r0"
    assert store.slot("*.example.com", "current") is None
    assert store.find("pending", "reference", "w1")[0] == "*.example.com"
    assert store.find("current", "reference", "w1") is None


def test_a_slot_is_a_copy(tmp_path):
    store = store_in(tmp_path)
    store.put(NAME, "pending", dict(reference="r1"))
    slot = store.slot(NAME, "pending")
    slot["reference"] = "changed"
    assert store.slot(NAME, "pending")["reference"] == "r1"


def test_move_makes_pending_current(tmp_path):
    store = store_in(tmp_path)
    store.put(NAME, "current", dict(reference="r0", stage="completed"), secret=dict(token="old", key="old key"))
    store.put(NAME, "pending", dict(reference="r1", stage="placed"), secret=dict(token=TOKEN, key=KEY), merge=False)
    store.move(NAME, "pending", "current", dict(stage="completed"))
    assert store.slot(NAME, "pending") is None
    current = store.slot(NAME, "current")
    assert current["reference"] == "r1" and current["stage"] == "completed"
    assert store.unseal(current, NAME) == dict(token=TOKEN, key=KEY)  # the sealed part moves along


def test_drop_empties_the_slot_and_keeps_when_it_changed(tmp_path):
    store = store_in(tmp_path)
    store.put(NAME, "pending", dict(reference="r1"))
    store.put(NAME, "current", dict(reference="r0"))
    store.drop(NAME, "pending")
    assert store.slot(NAME, "pending") is None and store.slot(NAME, "current") is not None
    store.drop(NAME, "current")
    # no slot left; the entry keeps the time of the change, so an older copy (incoming) cannot bring them back
    assert list(store.load()["certificates"][NAME]) == ["updated"]
    inode = os.stat(store.path).st_ino
    store.drop(NAME, "current")  # nothing there: nothing written
    store.drop("other.example.com", "pending")
    assert os.stat(store.path).st_ino == inode


def test_an_incoming_copy_is_merged_the_later_change_winning(tmp_path):
    import shutil

    here = store_in(tmp_path / "controller")
    here.put(NAME, "pending", dict(reference="r1"), dict(token="t1", key="k1"))
    elsewhere = str(tmp_path / "older.json")
    shutil.copy(here.path, elsewhere)  # the state host's copy, before the order finished
    here.move(NAME, "pending", "current", dict(stage="completed"))
    here.put("b.example.com", "pending", dict(reference="rb"), dict(token="tb"))
    here.drop("b.example.com", "pending")
    shutil.copy(elsewhere, here.path + ".incoming")
    again = store_in(tmp_path / "controller")
    assert again.slot(NAME, "pending") is None and again.slot(NAME, "current")["reference"] == "r1"
    assert again.slot("b.example.com", "pending") is None
    assert not os.path.exists(here.path + ".incoming")
    # a fresh controller (AWX): the copy is all there is, its sealed parts re-sealed under this file's salt
    fresh = store_in(tmp_path / "fresh")
    os.makedirs(fresh.dir, exist_ok=True)
    shutil.copy(here.path, fresh.path + ".incoming")
    fresh = store_in(tmp_path / "fresh")
    assert fresh.unseal(fresh.slot(NAME, "current"), NAME) == dict(token="t1", key="k1")
    # a newer copy wins over an older file
    newer = store_in(tmp_path / "newer")
    newer.put(NAME, "pending", dict(reference="old"), dict(token="t-old"))
    source = store_in(tmp_path / "src")
    source.put(NAME, "pending", dict(reference="new"), dict(token="t-new"))
    shutil.copy(source.path, newer.path + ".incoming")
    newer = store_in(tmp_path / "newer")
    slot = newer.slot(NAME, "pending")
    assert slot["reference"] == "new" and newer.unseal(slot, NAME) == dict(token="t-new")


def test_other_services_have_their_own_file(tmp_path):
    store_in(tmp_path).put(NAME, "pending", dict(reference="r1"))
    other = store_in(tmp_path, service="certifire")
    assert other.path.endswith("certifire.json") and other.slot(NAME, "pending") is None


# ---------------------------------------------------------------------------
# the lock


def test_concurrent_puts_lose_no_update(tmp_path):
    writers, rounds = 6, 5
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(index: int) -> None:
        try:
            store = store_in(tmp_path)  # a store of its own, as another run would have
            start.wait()
            for round_ in range(rounds):
                store.put(NAME, "pending", {"w%d_%d" % (index, round_): True})
                store.put("n%d.example.com" % index, "pending", dict(round=round_))
                store.put(NAME, "current", {}, secret={"s%d_%d" % (index, round_): round_})
        except BaseException as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    store = store_in(tmp_path)
    pending = store.slot(NAME, "pending")
    assert {key for key in pending if key.startswith("w")} == {
        "w%d_%d" % (i, r) for i in range(writers) for r in range(rounds)}
    for index in range(writers):
        assert store.slot("n%d.example.com" % index, "pending")["round"] == rounds - 1
    sealed = store.unseal(store.slot(NAME, "current"), NAME)
    assert sealed == {"s%d_%d" % (i, r): r for i in range(writers) for r in range(rounds)}
    assert sorted(os.listdir(store.dir)) == ["servertastic.json", "servertastic.json.lock"]


# ---------------------------------------------------------------------------
# state_dir


def test_state_dir_expands_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_state_dir("~/states") == str(tmp_path / "states")
    assert check_state_dir(None) == str(tmp_path / ".ansible" / "rcl.ssl")
    assert check_state_dir("") == str(tmp_path / ".ansible" / "rcl.ssl")
    assert _state.DEFAULT_STATE_DIR == "~/.ansible/rcl.ssl"
    store = StateStore(None, "servertastic", PASSPHRASE)
    assert store.path == str(tmp_path / ".ansible" / "rcl.ssl" / "servertastic.json")


def test_state_dir_is_normalized(tmp_path):
    assert check_state_dir(str(tmp_path) + "/a/../b/") == str(tmp_path / "b")


@pytest.mark.parametrize("value", ["states", "./states", "../states", "~nosuchuser-rcl/states", "/tmp/a\x00b"])
def test_state_dir_must_be_absolute(value):
    with pytest.raises(RclInputError, match="state_dir must be an absolute path"):
        check_state_dir(value)
    with pytest.raises(RclInputError, match="state_dir must be an absolute path"):
        StateStore(value, "servertastic", PASSPHRASE)
