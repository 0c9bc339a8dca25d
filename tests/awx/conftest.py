"""The role run the way AWX runs it (see awxharness.py): one emulator sandbox per session on its own ports
(AWX_PORTS), always stopped; the example credential types from docs/examples/awx."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from awxharness import AWX_PORTS, EXAMPLES, ROOT, load_yaml  # noqa: E402  (also puts emuclient on sys.path)
from emuclient import Sandbox, collection_link, running_sandbox  # noqa: E402  (running_sandbox: start + always stop)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sandbox on AWX_PORTS in a temporary state folder, stopped whatever happens (also on SIGTERM)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("tests/awx needs root and unshare (the sandbox's BIND on 127.0.0.11:53, a private resolv.conf)")
    state = str(tmp_path_factory.mktemp("awx-sandbox"))
    with running_sandbox(state, *AWX_PORTS) as sb:
        yield sb


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory holding ansible_collections/rcl/ssl -> this checkout (the execution environment's collections)."""
    return collection_link(str(tmp_path_factory.mktemp("collections")), ROOT)


@pytest.fixture(scope="session")
def credential_types() -> dict[str, Any]:
    """The credential types as shipped: the RCL SSL API one and the nsupdate TSIG key one."""
    return {"rcl": load_yaml(os.path.join(EXAMPLES, "credential_type.yml")),
            "tsig": load_yaml(os.path.join(EXAMPLES, "credential_type_nsupdate.yml"))}
