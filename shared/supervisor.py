"""``sajja run``: PostgreSQL, migrations and the five processes, from one command.

- PostgreSQL: the embedded server under ``$SAJJA_HOME/pgdata`` unless ``SAJJA_DATABASE_URL`` is set.
- Each process's database is created if missing and migrated to head before anything starts.
- Each process is a separate uvicorn (``sajja serve NAME``) on its own port; every line it prints
  is prefixed with its name.
- ``SAJJA_REPLICAS`` (or ``SAJJA_<NAME>_REPLICAS`` for one process) starts that many of each:
  a service's replicas on ports of their own (the next blocks of five above ``SAJJA_PORT``), which
  every process is told of (``SAJJA_LEDGER_URL=http://...,http://...``): the gateway spreads its
  requests over them, and so do the services and workers their calls; the gateway's replicas share its port
  (``SO_REUSEPORT``), the kernel spreading the callers' connections (docs/replicas.md).
- Each background worker runs as processes of its own (``sajja worker NAME``), never inside the
  API processes: ``SAJJA_WORKER_REPLICAS`` of each (default ``SAJJA_REPLICAS``, else 1), named
  ``NAME#1``, ``NAME#2``... Replicas share the work through leases (docs/workers.md).
- A child that dies is reported loudly and restarted with backoff; one that keeps dying
  (``MAX_RESTARTS`` within ``RESTART_WINDOW`` seconds) stops everything with a non-zero exit.
- SIGINT or SIGTERM stops every child (SIGTERM, then SIGKILL after a grace period) and then
  PostgreSQL.
- In development, secrets are generated once and kept in ``$SAJJA_HOME/secrets.json``, so a
  second run reuses the data, the signing keys and the tokens.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.embedded_pg import EmbeddedPostgres, embedded_installed
from shared.embedded_pg import MISSING as EMBEDDED_MISSING
from shared.migrate import migrate, redact
from shared.settings import PORT_OFFSETS, PROCESS_NAMES, REPLICA_PORT_STRIDE, SERVICE_NAMES, replica_count
from shared.worker import WORKER_NAMES, WORKERS

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
STOP_GRACE = 10.0
DEV_SECRET_NAMES = (
    "SAJJA_SERVICE_SECRET",
    "SAJJA_GATEWAY_KEY_SECRET",
    "SAJJA_MEMBERS_PII_KEY",
    "SAJJA_MEMBERS_PII_HASH_KEY",
    "SAJJA_BENEFITS_DOCUMENT_KEY",
)
COLOURS = {"gateway": 36, "members": 32, "ledger": 33, "benefits": 35, "grants": 34, "sajja": 37}
#: A worker's lines are the colour of the process whose database it works on.
COLOURS.update({name: COLOURS[process] for name, (process, _) in WORKERS.items()})


def worker_replicas() -> int:
    """How many processes of each worker ``sajja run`` starts."""
    return max(1, int(os.environ.get("SAJJA_WORKER_REPLICAS") or os.environ.get("SAJJA_REPLICAS") or 1))


def say(source: str, line: str) -> None:
    width = max(len(n) for n in COLOURS) + 2
    tag = f"{source:<{width}}"
    if sys.stdout.isatty():
        tag = f"\033[{COLOURS.get(source.split('#')[0].split('-')[0], 37)}m{tag}\033[0m"
    sys.stdout.write(f"{tag} | {line}\n")
    sys.stdout.flush()


def dev_secrets(home: Path) -> dict[str, str]:
    """Development secrets, generated on first run and kept beside the data."""
    path = home / "secrets.json"
    values = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in DEV_SECRET_NAMES if name not in values]
    if missing:
        # Kept values are never regenerated: they encrypt data already written.
        values.update({name: secrets.token_urlsafe(32) for name in missing})
        path.write_text(json.dumps(values, indent=2))
        path.chmod(0o600)
    return values


@dataclass
class Child:
    #: The process's name in the output: its kind, with ``-2``, ``-3``... for further replicas.
    name: str
    #: No port: a worker (``sajja worker NAME``).
    port: int | None
    #: Which of the five processes it is (``ledger`` for ``ledger-2``); empty for a worker.
    kind: str = ""
    #: Shares its port with its other replicas (the gateway's replicas).
    reuse_port: bool = False
    #: ``sajja`` arguments.
    argv: list[str] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    starts: list[float] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None
    #: Port of its Prometheus listener (``SAJJA_METRICS_PORT`` + its place in the list), or None.
    metrics_port: int | None = None


class Supervisor:
    def __init__(self, *, home: Path, host: str, base_port: int, database_url: str | None) -> None:
        self.home = home
        self.host = host
        self.base_port = base_port
        self.database_url = database_url
        self.pg: EmbeddedPostgres | None = None
        self.replicas = {name: replica_count(name, os.environ) for name in PROCESS_NAMES}
        self.children: dict[str, Child] = {}
        for name in PROCESS_NAMES:
            first = int(os.environ.get(f"SAJJA_{name.upper()}_PORT", base_port + PORT_OFFSETS[name]))
            count = self.replicas[name]
            for n in range(count):
                label = name if n == 0 else f"{name}-{n + 1}"
                if name == "gateway":  # one address for callers: the kernel spreads connections
                    self.children[label] = Child(label, first, kind=name, reuse_port=count > 1)
                else:  # a port each: the gateway spreads requests and skips a dead replica
                    self.children[label] = Child(label, first + n * REPLICA_PORT_STRIDE, kind=name)
        for child in self.children.values():
            child.argv = ["serve", child.kind, "--host", host, "--port", str(child.port),
                          *(["--reuse-port"] if child.reuse_port else [])]
        for worker in WORKER_NAMES:
            for i in range(1, worker_replicas() + 1):
                self.children[f"{worker}#{i}"] = Child(f"{worker}#{i}", None, argv=["worker", worker])
        # Metrics: each child a listener of its own, on consecutive ports from SAJJA_METRICS_PORT.
        metrics_base = int(os.environ.get("SAJJA_METRICS_PORT") or 0)
        if metrics_base:
            for i, child in enumerate(self.children.values()):
                child.metrics_port = metrics_base + i
        self.stopping = asyncio.Event()
        self.failed: str | None = None

    def child_env(self, server_url: str) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("SAJJA_ENV", "dev")
        if env["SAJJA_ENV"] == "dev":
            for key, value in dev_secrets(self.home).items():
                env.setdefault(key, value)
        env["SAJJA_DATABASE_URL"] = server_url
        gateway = f"http://{self.host}:{self.children['gateway'].port}"
        # The API processes run no workers: the supervisor starts them as processes of their own.
        env["SAJJA_IN_PROCESS_WORKERS"] = "false"
        env.setdefault("SAJJA_GATEWAY_URL", gateway)
        env.setdefault("SAJJA_JWKS_URL", f"{gateway}/.well-known/jwks.json")
        for name in SERVICE_NAMES:
            # Every replica, to every process: the gateway forwards to them, and the services and
            # workers spread their own calls over them (shared/replicas.py).
            urls = [f"http://{self.host}:{c.port}" for c in self.children.values() if c.kind == name]
            env.setdefault(f"SAJJA_{name.upper()}_URL", ",".join(urls))
        env.setdefault("SAJJA_BENEFITS_DOCUMENTS_DIR", str(self.home / "documents"))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def start_database(self) -> str:
        if self.database_url:
            say("sajja", f"PostgreSQL: {redact(self.database_url)}")
            return self.database_url
        self.pg = EmbeddedPostgres(self.home / "pgdata")
        url = await asyncio.to_thread(self.pg.start)
        say("sajja", f"embedded PostgreSQL running (data in {self.home / 'pgdata'})")
        return url

    async def spawn(self, child: Child, env: dict[str, str]) -> None:
        child.starts.append(time.monotonic())
        if child.metrics_port is not None:
            env = {**env, "SAJJA_METRICS_PORT": str(child.metrics_port)}
        child.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.cli", *child.argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )
        child.pump = asyncio.create_task(self._pump(child, child.process))
        if child.port is None:
            say("sajja", f"started worker {child.name} (pid {child.process.pid})")
        else:
            say("sajja", f"started {child.name} on http://{self.host}:{child.port} (pid {child.process.pid})")
        if child.metrics_port is not None:
            say("sajja", f"metrics of {child.name} on http://{self.host}:{child.metrics_port}/metrics")

    async def _pump(self, child: Child, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            say(child.name, raw.decode(errors="replace").rstrip())

    async def watch(self, child: Child, env: dict[str, str]) -> None:
        """Restart a child that dies, unless it keeps dying."""
        while not self.stopping.is_set():
            assert child.process is not None
            code = await child.process.wait()
            if child.pump:
                await child.pump
            if self.stopping.is_set():
                return
            say("sajja", f"!!! {child.name} exited with code {code}")
            now = time.monotonic()
            recent = [t for t in child.starts if now - t < RESTART_WINDOW]
            if len(recent) >= MAX_RESTARTS:
                self.failed = f"{child.name} died {len(recent)} times within {RESTART_WINDOW:.0f}s"
                say("sajja", f"!!! giving up: {self.failed}")
                self.stopping.set()
                return
            delay = min(2 ** (len(recent) - 1), 10)
            say("sajja", f"!!! restarting {child.name} in {delay}s")
            await asyncio.sleep(delay)
            if not self.stopping.is_set():
                await self.spawn(child, env)

    async def stop_children(self) -> None:
        running = [(c, c.process) for c in self.children.values() if c.process and c.process.returncode is None]
        for _child, process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child, process in running:
            try:
                await asyncio.wait_for(process.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                say("sajja", f"{child.name} did not stop in {STOP_GRACE:.0f}s; killing it")
                process.kill()
                await process.wait()
            say("sajja", f"stopped {child.name}")

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            server_url = await self.start_database()
            for name in PROCESS_NAMES:
                await migrate(name, server_url)
            say("sajja", "databases migrated: " + ", ".join(f"sajja_{n}" for n in PROCESS_NAMES))
            env = self.child_env(server_url)
            for child in self.children.values():
                await self.spawn(child, env)
            watchers = [asyncio.create_task(self.watch(c, env)) for c in self.children.values()]
            gateway = self.children["gateway"]
            say("sajja", f"Sajja is starting: API on http://{self.host}:{gateway.port} (docs at /docs). Ctrl-C stops.")
            if os.environ.get("SAJJA_ENV", "dev") == "dev" and self.host not in ("127.0.0.1", "localhost", "::1"):
                say("sajja", f"!!! SAJJA_ENV=dev on {self.host}: the development login and secrets are reachable "
                             "from other machines; set SAJJA_ENV=production with real secrets for that")
            await self.stopping.wait()
            say("sajja", "stopping...")
            await self.stop_children()
            for task in watchers:
                task.cancel()
        finally:
            if self.pg is not None:
                await asyncio.to_thread(self.pg.stop)
                say("sajja", "PostgreSQL stopped")
        return 1 if self.failed else 0


def run_all() -> int:
    home = Path(os.environ.get("SAJJA_HOME", ".sajja")).resolve()
    try:
        supervisor = Supervisor(
            home=home,
            host=os.environ.get("SAJJA_HOST", "127.0.0.1"),
            base_port=int(os.environ.get("SAJJA_PORT", "8000")),
            database_url=os.environ.get("SAJJA_DATABASE_URL") or None,
        )
    except ValueError as exc:  # a replica count out of bounds
        say("sajja", f"!!! {exc}")
        return 2
    if supervisor.database_url is None and not embedded_installed():
        say("sajja", f"!!! {EMBEDDED_MISSING}")
        return 2
    return asyncio.run(supervisor.run())
