# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ansible-core matrix: each supported ansible-core in a virtualenv of its own, with its own Python.

Run through ``scripts/matrix`` (see ``--help``). Without options it runs the whole matrix the
collection claims: ``ansible-test sanity`` and the unit tests on every ansible-core from 2.16 to
2.21, and the integration and role suites (against the emulator sandbox) on the oldest and the
newest. CI runs a slice (``.ci/run``).

The virtualenvs live in ``${XDG_CACHE_HOME:-~/.cache}/rcl-ssl/matrix`` and are reused while the
requirements they were made from stay the same. The Pythons come from pyenv.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ansible-core -> (the controller Python it runs on here, the Ansible release that bundles it).
# Each core gets a Python it supports on the controller: 2.16 the oldest (3.10), 2.20+ need 3.12+.
CORES = {
    "2.16": ("3.10", "9"),
    "2.17": ("3.11", "10"),
    "2.18": ("3.12", "11"),
    "2.19": ("3.12", "12"),
    "2.20": ("3.12", "13"),
    "2.21": ("3.13", "14"),
}
SUITES = ("sanity", "units", "integration", "role")
# The suites that need the sandbox and the DNS provider collections (the "ansible" package).
SANDBOX_SUITES = ("integration", "role")
# The oldest Python of managed hosts that rcl_cert_deploy supports (tests/config.yml): the modules and
# module_utils are compiled and imported with it on the oldest core, which still supports it as a target.
TARGET_PYTHONS = {"2.16": ("3.7",)}


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rcl-ssl", "matrix")


def pyenv_python(version: str) -> str:
    """The newest pyenv CPython of ``version`` (X.Y)."""
    root = os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    found = sorted(glob.glob(os.path.join(root, "versions", version + ".*", "bin", "python" + version)),
                   key=lambda p: [int(x) for x in p.split(os.sep)[-3].split(".") if x.isdigit()])
    if not found:
        raise SystemExit("matrix: no Python %s under %s/versions (pyenv install %s)" % (version, root, version))
    return found[-1]


def requirement_files(full: bool) -> list[str]:
    return [os.path.join(ROOT, "tests", "requirements.txt" if full else os.path.join("unit", "requirements.txt"))]


def requirement_closure(paths: list[str]) -> list[str]:
    """The requirement files and every file they include with ``-r``, each once."""
    found: list[str] = []
    todo = list(paths)
    while todo:
        path = os.path.realpath(todo.pop(0))
        if path in found:
            continue
        found.append(path)
        with open(path) as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                if len(words) == 2 and words[0] in ("-r", "--requirement"):
                    todo.append(os.path.join(os.path.dirname(path), words[1]))
    return found


def interpreter_id(python: str) -> str:
    """Where a Python really is and its exact version: a new build makes a new virtualenv."""
    out = subprocess.run([python, "-c", "import sys; print(sys.version)"], check=True, capture_output=True, text=True)
    return os.path.realpath(python) + " " + out.stdout.strip()


def ensure_venv(core: str, full: bool) -> str:
    """A virtualenv for ``core``: ansible-core alone, or the whole Ansible release when ``full``."""
    python_version, ansible_major = CORES[core]
    spec = ("ansible==%s.*" % ansible_major) if full else ("ansible-core==%s.*" % core)
    reqs = requirement_files(full)
    python = pyenv_python(python_version)
    digest = hashlib.sha256(spec.encode())
    digest.update(interpreter_id(python).encode())
    for path in requirement_closure(reqs):
        with open(path, "rb") as f:
            digest.update(f.read())
    venv = os.path.join(cache_dir(), "%s-%s" % ("ansible" if full else "core", core))
    stamp = os.path.join(venv, ".rcl-ssl-" + digest.hexdigest()[:16])
    if os.path.exists(stamp):
        return venv
    print("== %s: virtualenv %s with Python %s and %s" % (core, venv, python_version, spec), flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", venv], check=True)
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    args = [spec, "pytest>=7"]
    for path in reqs:
        args += ["-r", path]
    subprocess.run(pip + args, check=True)
    open(stamp, "w").close()
    return venv


def venv_env(venv: str, python_version: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = venv
    env["RCL_PYTHON_VERSION"] = python_version
    env.pop("PYTHONPATH", None)
    # The integration and role suites run ansible-playbook; make sure it finds this venv's collections
    # (the "ansible" package's) and not a user's.
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    env.pop("ANSIBLE_COLLECTIONS_PATHS", None)
    return env


def target_pythons(core: str) -> list[str]:
    """The target Pythons of ``core`` that pyenv has (the others are reported, not run)."""
    found = []
    for version in TARGET_PYTHONS.get(core, ()):
        try:
            pyenv_python(version)
        except SystemExit as exc:
            print("== ansible-core %s: NOT RUN: compile and import with Python %s: %s" % (core, version, exc), flush=True)
            continue
        found.append(version)
    return found


def step_commands(core: str, suite: str, venv: str) -> list[list[str]]:
    python_version = CORES[core][0]
    python = os.path.join(venv, "bin", "python")
    if suite == "sanity":
        commands = [["bash", os.path.join(ROOT, "scripts", "sanity")]]
        for target in target_pythons(core):
            commands.append(["bash", os.path.join(ROOT, "scripts", "sanity"), "--test", "compile", "--test", "import",
                             "--python", target])
        return commands
    if suite == "units":
        return [["bash", os.path.join(ROOT, "scripts", "units"), "--python", python_version]]
    return [[python, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(ROOT, "tests", suite)]]


def run_step(core: str, suite: str, venv: str) -> tuple[bool, float]:
    python_version = CORES[core][0]
    env = venv_env(venv, python_version)
    for target in target_pythons(core) if suite == "sanity" else ():
        env["PATH"] += os.pathsep + os.path.dirname(pyenv_python(target))
    started = time.monotonic()
    ok = True
    for command in step_commands(core, suite, venv):
        print("\n== ansible-core %s (Python %s): %s: %s" % (core, python_version, suite, " ".join(command)), flush=True)
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
            ok = False
    return ok, time.monotonic() - started


def python_of(venv: str) -> str:
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", "import platform; print(platform.python_version())"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def core_version(venv: str) -> str:
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", "import ansible.release as r; print(r.__version__)"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def parse_list(value: str, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    bad = [item for item in items if item not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError("unknown %s %s; choose from %s" % (what, ", ".join(bad) or "(none)", ", ".join(allowed)))
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/matrix",
        description="Run the test suites on each ansible-core the collection supports, each in a virtualenv with "
                    "its own Python (pyenv). Default: sanity and units on 2.16 to 2.21, integration and role on the "
                    "oldest and the newest.")
    parser.add_argument("--cores", type=lambda v: parse_list(v, list(CORES), "ansible-core"),
                        help="comma-separated ansible-core versions (default: all of %s)" % ", ".join(CORES))
    parser.add_argument("--suites", type=lambda v: parse_list(v, SUITES, "suite"),
                        help="comma-separated suites among %s (default: sanity and units on every core, "
                             "integration and role on the oldest and the newest)" % ", ".join(SUITES))
    parser.add_argument("--report", help="also write the summary table (Markdown) to this file")
    args = parser.parse_args(argv)

    cores = args.cores or list(CORES)
    plan: list[tuple[str, str]] = []
    for core in cores:
        if args.suites:
            suites = args.suites
        else:
            edge = core in (min(cores, key=float_key), max(cores, key=float_key))
            suites = [s for s in SUITES if s not in SANDBOX_SUITES or edge]
        plan.extend((core, suite) for suite in suites)

    started = time.monotonic()
    results: list[tuple[str, str, str, bool | None, float]] = []
    for core in cores:
        steps = [suite for c, suite in plan if c == core]
        if not steps:
            continue
        try:
            venv = ensure_venv(core, full=any(s in SANDBOX_SUITES for s in steps))
            version = core_version(venv)
        except (OSError, subprocess.CalledProcessError, SystemExit) as exc:
            print("== ansible-core %s: no virtualenv: %s" % (core, exc), flush=True)
            results.extend((core + " (no virtualenv)", CORES[core][0], suite, False, 0.0) for suite in steps)
            continue
        for suite in steps:
            ok, seconds = run_step(core, suite, venv)
            results.append((version, python_of(venv), suite, ok, seconds))
            if suite == "sanity":
                missing = [v for v in TARGET_PYTHONS.get(core, ()) if v not in target_pythons(core)]
                results.extend((version, v, "sanity compile + import (target Python)", None, 0.0) for v in missing)

    lines = ["| ansible-core | Python | suite | result | seconds |", "| --- | --- | --- | --- | ---: |"]
    verdicts = {True: "passed", False: "**FAILED**", None: "not run: no such Python in pyenv"}
    lines += ["| %s | %s | %s | %s | %.0f |" % (v, py, suite, verdicts[ok], secs) for v, py, suite, ok, secs in results]
    failed = sum(1 for r in results if r[3] is False)
    not_run = sum(1 for r in results if r[3] is None)
    elapsed = time.monotonic() - started
    summary = "matrix: %d steps, %d passed, %d failed, %d not run, %.0f s" % (
        len(results), len(results) - failed - not_run, failed, not_run, elapsed)
    print("\n" + "\n".join(lines) + "\n\n" + summary)
    if args.report:
        with open(args.report, "w") as f:
            f.write("\n".join(lines) + "\n\n" + summary + "\n")
    return 1 if failed else 0


def float_key(core: str) -> tuple[int, ...]:
    return tuple(int(x) for x in core.split("."))


if __name__ == "__main__":
    sys.exit(main())
