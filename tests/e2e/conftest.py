"""One running system (``sajja run``) shared by the end-to-end tests that need nothing of their own
from it: no settings another test would not want, no restart or kill, no replicas, no pooler, no
fuzzing as an admin.

- ``shared_line``: a fake LINE (``tests/fakes/line.py``) that the shared system's gateway calls.
- ``shared_system``: the system, started for the first test that asks for it and stopped after the
  package's last test.

Each test on it makes its own fund, users, members and LINE users (phones, national IDs and LINE
ids of its own), so what one leaves behind does not reach what another checks. Tests that start
the system with settings of their own, replicas, a pooler, no bootstrap admin, or a data directory
they look into keep starting their own (``tests/support/system.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.line import FakeLine, ThreadedFakeLine
from tests.support.system import RunningSystem, running_system

#: What the sharing tests need of the system beyond LINE: the services refresh the gateway's keys
#: every second (tests/e2e/test_e2e_signing_keys.py counts on it) and the LINE worker passes every
#: 0.3 s (tests/e2e/test_e2e_collector_day.py waits for its pushes); the others do not notice either.
SHARED_ENV = {"SAJJA_JWKS_REFRESH_SECONDS": "1", "SAJJA_GATEWAY_LINE_WORKER_INTERVAL_SECONDS": "0.3"}


@pytest.fixture(scope="package")
def shared_line() -> Iterator[FakeLine]:
    with ThreadedFakeLine() as line:
        yield line


@pytest.fixture(scope="package")
def shared_system(tmp_path_factory: pytest.TempPathFactory, shared_line: FakeLine) -> Iterator[RunningSystem]:
    home = tmp_path_factory.mktemp("shared-system") / "home"
    with running_system(home, extra_env={**shared_line.env(), **SHARED_ENV}) as system:
        yield system
