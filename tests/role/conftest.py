"""Role tests: one emulator sandbox per session on its own ports, always stopped (see roleharness.py)."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from roleharness import ROLE_PORTS, ROOT  # noqa: E402  (also puts tests/emulator/tests on sys.path)
from emuclient import Sandbox, collection_link, running_sandbox  # noqa: E402  (running_sandbox: start + always stop)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sandbox on ROLE_PORTS in a temporary state folder, stopped whatever happens (also on SIGTERM)."""
    state = str(tmp_path_factory.mktemp("role-sandbox"))
    with running_sandbox(state, *ROLE_PORTS) as sb:
        yield sb


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory holding ansible_collections/rcl/ssl -> this checkout."""
    return collection_link(str(tmp_path_factory.mktemp("collections")), ROOT)
