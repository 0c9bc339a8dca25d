# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The built collection tarball: what Galaxy and Automation Hub get.

The licence text the file headers point to is inside, the documents' relative links land on files
inside it, no development file is, and MANIFEST.json says what galaxy.yml says.
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from _packaging import role_collections

# Paths that must not be in the tarball: development and test material (galaxy.yml build_ignore).
FORBIDDEN_PREFIXES = (
    ".ci/", ".git/", ".github/", ".ansible/", ".mypy_cache/", ".pytest_cache/", ".benchmarks/",
    "extensions/", "playbooks/", "scripts/",
)
# (.ansible-lint ships: galaxy-importer lints the collection with it, mock_modules for the AWX example.)
FORBIDDEN_FILES = {
    ".gitignore", "conftest.py", "pytest.ini", "requirements-dev.txt",
    "importer_result.json", "changelogs/.plugin-cache.yaml",
}
# The only files under tests/ a collection ships: what ansible-test reads from an installed copy.
TESTS_ALLOWED = re.compile(r"tests/(config\.yml|sanity/.+)")
# Files the guides and introspection rely on.
REQUIRED = (
    "README.md", "LICENSES/GPL-3.0-or-later.txt", "meta/runtime.yml", "meta/execution-environment.yml",
    "meta/ee-requirements.txt", "meta/ee-bindep.txt", "changelogs/changelog.yaml",
    "docs/examples/ee/execution-environment.yml", "docs/examples/ee/requirements.yml",
)

SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
MD_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.M | re.S)
MD_CODE = re.compile(r"(`+).+?\1", re.S)
MD_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
MD_REFDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
RST_LINK = re.compile(r"`[^`<]*<([^`>]+)>`__?")
RST_ROLE = re.compile(r":(download|doc):`(?:[^`<]*<([^`>]+)>|([^`]+))`")
RST_DIRECTIVE = re.compile(r"^\s*\.\. (?:image|figure|include|literalinclude)::\s+(\S+)", re.M)


def document_links(name: str, text: str) -> list[str]:
    """Relative file links of a markdown or rst document (URLs, anchors and rst reference names left out)."""
    found: list[str] = []
    if name.endswith(".md"):
        text = MD_CODE.sub("", MD_FENCE.sub("", text))
        found += MD_INLINE.findall(text) + MD_REFDEF.findall(text)
    else:
        found += [t for t in RST_LINK.findall(text) if not t.endswith("_")]
        for role, labelled, bare in RST_ROLE.findall(text):
            target = labelled or bare
            found.append(target + ".rst" if role == "doc" and not target.endswith(".rst") else target)
        found += RST_DIRECTIVE.findall(text)
    return [t for t in found if not SCHEME.match(t) and not t.startswith("#")]


def resolve(document: str, link: str) -> str:
    """The tarball path a relative link of a document points to ('' when it leaves the tarball)."""
    path = unquote(link.split("#", 1)[0].split("?", 1)[0])
    if path.startswith("/"):
        return ""
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(document), path))
    return "" if joined == ".." or joined.startswith("../") else joined


def test_license_text_is_inside(members: dict[str, tarfile.TarInfo], unpacked: Path) -> None:
    name = "LICENSES/GPL-3.0-or-later.txt"
    assert name in members, f"{name} (named by every file header) is not in the tarball"
    text = (unpacked / name).read_text(encoding="utf-8")
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text


def test_required_files_are_inside(members: dict[str, tarfile.TarInfo]) -> None:
    missing = [name for name in REQUIRED if name not in members or not members[name].isfile()]
    assert not missing


def test_relative_links_land_inside(members: dict[str, tarfile.TarInfo], unpacked: Path) -> None:
    documents = sorted(
        name for name in members
        if members[name].isfile() and (
            name == "README.md"
            or re.fullmatch(r"roles/[^/]+/README\.md", name)
            or re.fullmatch(r"docs/docsite/rst/[^/]+\.rst", name)))
    assert "README.md" in documents and any(d.startswith("docs/docsite/rst/") for d in documents)
    directories = {posixpath.dirname(n) for n in members} | {n for n in members if members[n].isdir()}
    broken = []
    checked = 0
    for document in documents:
        for link in document_links(document, (unpacked / document).read_text(encoding="utf-8")):
            checked += 1
            target = resolve(document, link)
            if not target or not (target in members or target in directories):
                broken.append(f"{document}: {link}")
    assert checked > 0, "no relative link found at all: the link scan is broken"
    assert not broken, f"{len(broken)} of {checked} relative links do not land inside the tarball:\n" + "\n".join(broken)


def test_no_development_files_inside(members: dict[str, tarfile.TarInfo]) -> None:
    unwanted = sorted(
        name for name in members
        if name.startswith(FORBIDDEN_PREFIXES)
        or name in FORBIDDEN_FILES
        or "__pycache__" in name.split("/") or name.endswith((".pyc", ".tar.gz"))
        or (name.startswith("tests/") and members[name].isfile() and not TESTS_ALLOWED.fullmatch(name)))
    assert not unwanted, "development files in the tarball (add them to build_ignore in galaxy.yml):\n" + "\n".join(unwanted)


def test_manifest_matches_galaxy_yml(unpacked: Path, galaxy: dict[str, Any]) -> None:
    info = json.loads((unpacked / "MANIFEST.json").read_text(encoding="utf-8"))["collection_info"]
    assert info["dependencies"] == (galaxy.get("dependencies") or {})
    for key in ("namespace", "name", "version", "license", "tags", "repository", "documentation", "issues"):
        assert info[key] == galaxy.get(key), key


def test_dependencies_declare_what_the_role_always_calls(galaxy: dict[str, Any]) -> None:
    # community.dns.wait_for_txt runs on every DNS-01 run; the DNS provider collections are optional.
    always, _provider = role_collections()
    assert "community.dns" in always
    undeclared = always - set(galaxy.get("dependencies") or {})
    assert not undeclared, f"the role calls these outside its DNS provider task files; declare them in galaxy.yml: {sorted(undeclared)}"
