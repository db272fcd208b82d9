"""Start the whole system (`sajja run`) as real processes, for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ADMIN_PHONE = "0899990000"
ADMIN_PASSWORD = "e2e-admin-password"


def free_port_block(count: int = 5) -> int:
    """A base port with ``count`` consecutive free ports above it."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65000:
            continue
        try:
            sockets = []
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free ports")


@dataclass
class RunningSystem:
    process: subprocess.Popen
    base_port: int
    home: Path
    lines: list[str] = field(default_factory=list)
    #: The first children's metrics port, when the system was started with some (0: none).
    metrics_base: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.base_port}"

    def service_url(self, name: str) -> str:
        from shared.settings import PORT_OFFSETS

        return f"http://127.0.0.1:{self.base_port + PORT_OFFSETS[name]}"

    def output(self) -> str:
        return "\n".join(self.lines)

    def pid_of(self, name: str) -> int:
        """The current pid of ``name`` (a process, or a replica: ``ledger-2``)."""
        pids = re.findall(rf"started {re.escape(name)} on \S+ \(pid (\d+)\)", self.output())
        return int(pids[-1])

    def worker_pids(self, name: str) -> dict[str, int]:
        """The latest pid of each replica of worker ``name`` (``payouts#1``: pid)."""
        found = re.findall(rf"started worker ({re.escape(name)}#\d+) \(pid (\d+)\)", self.output())
        return {replica: int(pid) for replica, pid in found}

    def replica_names(self, name: str) -> list[str]:
        """``name`` and its further replicas (``ledger``, ``ledger-2``...), as the supervisor started them."""
        found = re.findall(rf"started ({re.escape(name)}(?:-\d+)?) on ", self.output())
        return list(dict.fromkeys(found))

    def pids_of(self, name: str) -> list[int]:
        """The current pids of every replica of ``name``."""
        return [self.pid_of(label) for label in self.replica_names(name)]

    def replica_urls(self, name: str) -> list[str]:
        """Where each replica of service ``name`` listens (the gateway's replicas share its port)."""
        return [url for label in self.replica_names(name)
                for url in re.findall(rf"started {re.escape(label)} on (\S+) ", self.output())[-1:]]

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sajja run exited with {self.process.returncode}:\n{self.output()}")
            try:
                response = httpx.get(self.url + "/healthz", timeout=3)
                # With replicas, every one of them: a test or a bench spreads load over all.
                replicas = response.json().get("replicas", {}) if response.status_code == 200 else {}
                if response.status_code == 200 and all(s == "ok" for r in replicas.values() for s in r.values()):
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise TimeoutError(f"not healthy after {timeout}s: {last}\n{self.output()}")

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextmanager
def running_system(home: Path, *, extra_env: dict[str, str] | None = None, quiet: bool = True,
                   bootstrap: bool = True, metrics_ports: int = 0) -> Iterator[RunningSystem]:
    """``sajja run`` on free ports. ``bootstrap=False`` leaves the first admin to the development
    login, as a plain ``make run`` does. ``metrics_ports``: that many free ports above the API's
    for the children's metrics listeners (``SAJJA_METRICS_PORT``, ``RunningSystem.metrics_base``)."""
    from shared.settings import PROCESS_NAMES, REPLICA_PORT_STRIDE, replica_count

    replicas = max(replica_count(name, extra_env or {}) for name in PROCESS_NAMES)
    base = free_port_block(REPLICA_PORT_STRIDE * replicas + metrics_ports)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SAJJA_")
    }
    env.update(
        {
            "SAJJA_HOME": str(home),
            "SAJJA_PORT": str(base),
            "SAJJA_LOG_LEVEL": "WARNING",
            **({"SAJJA_METRICS_PORT": str(base + REPLICA_PORT_STRIDE * replicas)} if metrics_ports else {}),
            **(extra_env or {}),
        }
    )
    if bootstrap:
        env.update({"SAJJA_BOOTSTRAP_ADMIN_PHONE": ADMIN_PHONE, "SAJJA_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD})
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    system = RunningSystem(process=process, base_port=base, home=home,
                           metrics_base=base + REPLICA_PORT_STRIDE * replicas if metrics_ports else 0)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            system.lines.append(line.rstrip())
            if not quiet:
                print(line, end="", flush=True)

    threading.Thread(target=pump, daemon=True).start()
    try:
        system.wait_healthy()
        yield system
    finally:
        if process.poll() is None:
            try:
                system.stop()
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
