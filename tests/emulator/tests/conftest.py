"""Start one sandbox per test session (temporary state folder, non-default ports)
and always stop it, whatever happens to the tests."""

from __future__ import annotations

import os
import sys
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emuclient import Sandbox, running_sandbox  # noqa: E402

# Non-default ports, so a developer's sandbox on the defaults can keep running.
TEST_PORTS = {
    "--api-port": "19443", "--admin-port": "19444", "--http01-port": "15002",
    "--pebble-port": "24000", "--pebble-mgmt-port": "25000",
    "--dns-addr": "127.0.0.3", "--dns-port": "53",
}
# RCL_EMU_TEST_PORT_SHIFT=N moves every port by N and the DNS address to 127.0.0.(3+N%200), so two sessions can run
# side by side (e.g. while developing one service's emulator next to another).
_SHIFT = int(os.environ.get("RCL_EMU_TEST_PORT_SHIFT") or 0)
if _SHIFT:
    TEST_PORTS = {flag: (str(int(value) + _SHIFT) if flag not in ("--dns-addr", "--dns-port") else value)
                  for flag, value in TEST_PORTS.items()}
    TEST_PORTS["--dns-addr"] = "127.0.0.%d" % (3 + _SHIFT % 200)
TEST_SETTINGS = ["validation_timeout=4", "schedule_delay=0.3", "key_type=ec256"]
DEFAULT_SETTINGS = {"validation_timeout": 4, "schedule_delay": 0.3, "key_type": "ec256", "download_ttl": 3600,
                    "token_ttl": 3599, "finalize_timeout": 30}


def start_args(ports: dict[str, str]) -> list[str]:
    args = [x for item in ports.items() for x in item]
    for setting in TEST_SETTINGS:
        args += ["--setting", setting]
    return args


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(str(tmp_path_factory.mktemp("sandbox-state")), *start_args(TEST_PORTS)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """No fault or setting leaks from one test into the next."""
    yield
    if "sandbox" in request.fixturenames:
        sb: Any = request.getfixturevalue("sandbox")
        sb.clear_faults()
        sb.settings(**DEFAULT_SETTINGS)
