# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The example execution environment (docs/examples/ee/) and ansible-builder's view of the collection.

``ansible-builder create`` writes the build context without a container engine; the tests read what
it wrote. ``ansible-builder introspect`` on the installed tarball shows which Python packages an EE
gets from rcl.ssl itself.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from _packaging import ROOT, require_tool, role_collections, run

EE_DIR = ROOT / "docs" / "examples" / "ee"
DEFINITION = EE_DIR / "execution-environment.yml"
REQUIREMENTS = EE_DIR / "requirements.yml"
GUIDE = ROOT / "docs" / "docsite" / "rst" / "guide_ee.rst"


def load_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def ansible_builder() -> str:
    """The ansible-builder command, version 3 or later (the schema of the example)."""
    path = require_tool("ansible-builder")
    version = run([path, "--version"]).stdout.strip()
    if int(version.split(".")[0]) < 3:
        pytest.fail(f"ansible-builder {version} is too old: the example uses schema version 3 (ansible-builder>=3.0)",
                    pytrace=False)
    return path


def build_file(context: Path) -> Path:
    """Containerfile (podman) or Dockerfile (docker), whichever ansible-builder wrote."""
    found = [context / n for n in ("Containerfile", "Dockerfile") if (context / n).is_file()]
    assert len(found) == 1, f"expected one of Containerfile / Dockerfile in {context}, found {found}"
    return found[0]


def stages(text: str) -> dict[str, str]:
    """The build file's stages by name: FROM line and body."""
    parts = re.split(r"^(?=FROM )", text, flags=re.M)
    named = {}
    for part in parts[1:]:
        m = re.match(r"FROM (\S+) AS (\S+)", part)
        assert m, f"unnamed stage: {part.splitlines()[0]}"
        named[m.group(2)] = part
    return named


def build_args(text: str) -> dict[str, str]:
    """The global ARG defaults (before the first FROM)."""
    head = text.split("\nFROM ", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r'^ARG (\w+)="(.*)"$', head, flags=re.M)}


def yaml_blocks(rst: Path) -> list[Any]:
    """The parsed ``.. code-block:: yaml`` blocks of an rst page."""
    blocks = []
    lines = rst.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip() != ".. code-block:: yaml":
            continue
        body = []
        for following in lines[i + 1:]:
            if following.strip() and not following.startswith(" "):
                break
            body.append(following)
        blocks.append(yaml.safe_load(textwrap.dedent("\n".join(body))))
    return blocks


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context of the example definition."""
    dest = tmp_path_factory.mktemp("ee") / "context"
    run([ansible_builder(), "create", "-f", str(DEFINITION), "-c", str(dest)])
    return dest


def test_context_has_the_four_stages(context: Path) -> None:
    text = build_file(context).read_text(encoding="utf-8")
    named = stages(text)
    assert list(named) == ["base", "galaxy", "builder", "final"]
    assert named["base"].startswith("FROM $EE_BASE_IMAGE AS base")
    for stage in ("galaxy", "builder", "final"):
        assert named[stage].startswith(f"FROM base AS {stage}")
    # galaxy installs the collections of requirements.yml; builder introspects them; final takes both
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in named["galaxy"]
    assert "/output/scripts/introspect.py introspect" in named["builder"]
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in named["final"]
    assert "COPY --from=builder /output/ /output/" in named["final"]
    assert "/output/scripts/check_ansible" in named["final"]
    assert "LABEL ansible-execution-environment=true" in named["final"]


def test_context_uses_the_defined_base_image_and_python(context: Path) -> None:
    definition = load_yaml(DEFINITION)
    args = build_args(build_file(context).read_text(encoding="utf-8"))
    assert args["EE_BASE_IMAGE"] == definition["images"]["base_image"]["name"]
    deps = definition["dependencies"]
    assert args["PYCMD"] == deps["python_interpreter"]["python_path"]
    assert args["PYPKG"] == deps["python_interpreter"]["package_system"]
    refs = args["ANSIBLE_INSTALL_REFS"].split()
    assert refs == [deps["ansible_core"]["package_pip"], deps["ansible_runner"]["package_pip"]]
    assert refs[0].startswith("ansible-core>=2.16")


def test_context_requirements_list_rcl_ssl_and_community_dns(context: Path) -> None:
    built = load_yaml(context / "_build" / "requirements.yml")
    assert built == load_yaml(REQUIREMENTS)
    names = [c["name"] for c in built["collections"]]
    assert names[:2] == ["rcl.ssl", "community.dns"]
    # the floor of community.dns is the one galaxy.yml declares
    galaxy = load_yaml(ROOT / "galaxy.yml")
    assert built["collections"][1]["version"] == galaxy["dependencies"]["community.dns"]


def test_python_requirements_come_from_introspection_only(context: Path) -> None:
    # no python: or system: entries in the definition, so no user files in the context
    assert sorted(p.name for p in (context / "_build").iterdir()) == ["requirements.yml", "scripts"]
    assert {p.name for p in (context / "_build" / "scripts").iterdir()} >= {
        "assemble", "check_ansible", "check_galaxy", "entrypoint", "install-from-bindep", "introspect.py", "pip_install"}


def offered_collections() -> list[dict[str, str]]:
    """The example's collections with the commented-out choices ("# - name: amazon.aws") included."""
    text = re.sub(r"^(\s*)# (- name:.*|  version:.*)$", r"\1\2", REQUIREMENTS.read_text(encoding="utf-8"), flags=re.M)
    collections: list[dict[str, str]] = yaml.safe_load(text)["collections"]
    return collections


def test_example_requirements_cover_every_collection_the_role_calls() -> None:
    listed = {c["name"] for c in load_yaml(REQUIREMENTS)["collections"]}
    offered = {c["name"] for c in offered_collections()}
    always, provider = role_collections()
    assert always, "no collection call found in the role's tasks: the scan is broken"
    assert always <= listed, f"called on every run but not in {REQUIREMENTS.name}: {sorted(always - listed)}"
    missing = provider - offered
    assert not missing, f"DNS provider collections neither listed nor offered in {REQUIREMENTS.name}: {sorted(missing)}"


def test_example_requirements_use_the_projects_version_floors() -> None:
    """Each collection's version is the one the root requirements.yml (and galaxy.yml) state."""
    floors = {c["name"]: c.get("version") for c in load_yaml(ROOT / "requirements.yml")["collections"]}
    floors.update(load_yaml(ROOT / "galaxy.yml").get("dependencies") or {})
    for entry in offered_collections():
        if entry["name"] in floors:
            assert entry.get("version") == floors[entry["name"]], entry["name"]


def test_guide_shows_the_shipped_files() -> None:
    blocks = yaml_blocks(GUIDE)
    assert load_yaml(DEFINITION) in blocks, f"{GUIDE.name} does not show {DEFINITION.name} as shipped"
    assert load_yaml(REQUIREMENTS) in blocks, f"{GUIDE.name} does not show {REQUIREMENTS.name} as shipped"


def test_guide_tarball_variant_builds_a_context(tarball: Path, tmp_path: Path) -> None:
    """The guide's local-tarball definition (with its --offline fragment) gives a context holding the tarball."""
    blocks = yaml_blocks(GUIDE)
    (variant,) = [b for b in blocks if "additional_build_files" in b]
    (offline,) = [b for b in blocks if set(b) == {"build_arg_defaults"}]
    variant.update(offline)
    (src,) = [f["src"] for f in variant["additional_build_files"]]
    (entry,) = [c for c in variant["dependencies"]["galaxy"]["collections"] if c.get("type") == "file"]
    assert entry["name"] == f"files/{src}" and variant["additional_build_files"][0]["dest"] == "files"
    assert re.fullmatch(r"rcl-ssl-[0-9.]+\.tar\.gz", src)
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(variant), encoding="utf-8")
    shutil.copy(tarball, tmp_path / src)
    run([ansible_builder(), "create", "-c", "context"], cwd=tmp_path)
    context = tmp_path / "context"
    assert (context / "_build" / "files" / src).read_bytes() == tarball.read_bytes()
    assert entry in load_yaml(context / "_build" / "requirements.yml")["collections"]
    args = build_args(build_file(context).read_text(encoding="utf-8"))
    assert args["ANSIBLE_GALAXY_CLI_COLLECTION_OPTS"] == "--offline"


def test_introspection_pulls_in_the_collections_python_requirements(collections_path: Path) -> None:
    proc = run([ansible_builder(), "introspect", str(collections_path)])
    data = yaml.safe_load(proc.stdout)
    ours = [line for line in data["python"] if line.endswith("  # from collection rcl.ssl")]
    declared = [line.strip() for line in (ROOT / "meta" / "ee-requirements.txt").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert ours == [f"{req}  # from collection rcl.ssl" for req in declared]
    names = {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0] for line in ours}
    assert names == {"requests", "cryptography", "publicsuffixlist", "dnspython"}
    assert data["system"] == []
