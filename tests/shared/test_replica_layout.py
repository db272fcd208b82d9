"""``sajja run`` with replicas (shared/supervisor.py): which processes it starts, on which ports,
and which URLs the gateway and the services are given (docs/replicas.md). Starting them for
real, with a replica killed: tests/e2e/test_e2e_replicas.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from services.benefits.settings import BenefitsSettings
from services.members.settings import MembersSettings
from shared.settings import replica_count
from shared.supervisor import Supervisor
from shared.worker import WORKER_NAMES


def layout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Supervisor:
    for key in ("SAJJA_REPLICAS", "SAJJA_WORKER_REPLICAS", *(f"SAJJA_{n}_REPLICAS" for n in ("GATEWAY", "MEMBERS", "LEDGER", "BENEFITS", "GRANTS")),
                *(f"SAJJA_{n}_PORT" for n in ("GATEWAY", "MEMBERS", "LEDGER", "BENEFITS", "GRANTS"))):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Supervisor(home=tmp_path, host="127.0.0.1", base_port=8000, database_url="postgresql://x/y")


def test_one_of_each_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    supervisor = layout(monkeypatch, tmp_path)
    assert {name: child.port for name, child in supervisor.children.items() if child.port} == {
        "gateway": 8000, "members": 8001, "ledger": 8002, "benefits": 8003, "grants": 8004}
    # One process of each worker, without a port (docs/workers.md).
    assert {name for name, child in supervisor.children.items() if child.port is None} == {f"{w}#1" for w in WORKER_NAMES}
    assert not any(child.reuse_port for child in supervisor.children.values())
    assert supervisor.child_env("postgresql://x/y")["SAJJA_LEDGER_URL"] == "http://127.0.0.1:8002"


def test_replicas_of_everything_and_of_one_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    supervisor = layout(monkeypatch, tmp_path, SAJJA_REPLICAS="2", SAJJA_LEDGER_REPLICAS="3")
    ports = {name: (child.kind, child.port, child.reuse_port) for name, child in supervisor.children.items() if child.port}
    workers = {name: child.argv for name, child in supervisor.children.items() if child.port is None}
    assert workers == {f"{w}#{i}": ["worker", w] for w in WORKER_NAMES for i in (1, 2)}  # SAJJA_REPLICAS applies to them too
    assert ports == {
        "gateway": ("gateway", 8000, True), "gateway-2": ("gateway", 8000, True),
        "members": ("members", 8001, False), "members-2": ("members", 8006, False),
        "ledger": ("ledger", 8002, False), "ledger-2": ("ledger", 8007, False), "ledger-3": ("ledger", 8012, False),
        "benefits": ("benefits", 8003, False), "benefits-2": ("benefits", 8008, False),
        "grants": ("grants", 8004, False), "grants-2": ("grants", 8009, False),
    }
    env = supervisor.child_env("postgresql://x/y")
    # Every process is told of every replica: the gateway forwards to them, the services and the
    # workers spread their own calls over them.
    assert env["SAJJA_LEDGER_URL"] == "http://127.0.0.1:8002,http://127.0.0.1:8007,http://127.0.0.1:8012"
    for key, value in env.items():
        if key.startswith("SAJJA_"):
            monkeypatch.setenv(key, value)
    urls = GatewaySettings().service_urls()
    assert urls["ledger"] == ["http://127.0.0.1:8002", "http://127.0.0.1:8007", "http://127.0.0.1:8012"]
    assert urls["members"] == ["http://127.0.0.1:8001", "http://127.0.0.1:8006"]
    benefits = BenefitsSettings()
    assert benefits.service_urls() == {"members": urls["members"], "ledger": urls["ledger"]}
    assert benefits.service_url("ledger") == "http://127.0.0.1:8002"
    members = MembersSettings()
    assert members.erasure_urls() == {"gateway": "http://127.0.0.1:8000", "ledger": "http://127.0.0.1:8002",
                                      "benefits": "http://127.0.0.1:8003"}


@pytest.mark.parametrize("value", ["0", "17", "two"])
def test_a_replica_count_out_of_bounds_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="SAJJA_LEDGER_REPLICAS"):
        replica_count("ledger", {"SAJJA_LEDGER_REPLICAS": value, "SAJJA_REPLICAS": "2"})
    assert replica_count("members", {"SAJJA_LEDGER_REPLICAS": value, "SAJJA_REPLICAS": "2"}) == 2
