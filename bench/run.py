"""`make bench`: benchmarks of the whole system, started once as real processes.

Sections (each a function taking a :class:`Bench`, run in order in the same system):

- ``gateway``: the gateway's overhead. ``GET /v1/members/funds/{id}`` with a real admin token,
  a request that verifies the token (cached after the first) and reads PostgreSQL, measured
  straight at the members service and through the gateway, alternating, in the same run.
- ``import``: a 10,000-row TIS-620 roll imported through the gateway, then the same file again.
- ``ledger``: deposits per second with a collector's token, one per request (concurrency knob)
  and 500 per batch request (4 phones syncing at once), straight at the ledger and through the
  gateway, with the ceiling pgbench reaches on the same ``ledger_post_deposits`` call (same client
  count, same seconds) alternating in the same rounds; single deposits through the gateway again
  with many phones in flight (``--phones``); ratios, the targets (1,000/s single through the
  gateway and >= 0.25 of pgbench; 20,000/s batched), how many deposits each posting call carried,
  what PostgreSQL's backends were waiting on, and a check that the fund's books balance and hold
  every deposit created.
- ``aggregates`` (``bench/aggregates.py``): 6,000 funds (one made through the gateway, copied in
  SQL in each service's database), then the national and a province's roll-up, the funds table,
  its CSV and XLSX, and one fund's dashboard, timed through the gateway one request at a time,
  medians of 5 (``SAJJA_BENCH_FUNDS`` makes fewer funds, for a quicker try).
- ``projection`` (``bench/projection.py``): one fund of 6,000 members with three years of savings,
  co-funding, claims and deaths made through the gateway, then its sustainability projection (20
  years, 1,000 runs) timed through the gateway, median of 5, and once more with what-ifs; target
  under 2 s.
- ``replicas``: single deposits through the gateway spread over 8 funds (``--phones`` in flight),
  with one ledger process and with two (``SAJJA_LEDGER_REPLICAS=2``): two more systems started
  side by side for it, alternating rounds, the same load, the funds as many on each replica; the
  target is that two reach at least the throughput of one. Beside it: deposits per posting call,
  commits per deposit, and CPU milliseconds per deposit of each process group (each ledger replica
  too), with the ratio of one replica's CPU per deposit to two's.
- ``peak``: the evening peak, driven by wrk from outside (bench/wrk.py): ``PEAK_PHONES`` phones,
  each posting a single deposit with a fresh id, waiting for its answer and pausing a little
  (``PEAK_PAUSE_MS``), collectors of one fund each with its own token; deposits/s, p50, p90, p99,
  and deposits per posting call.

The two sections that judge a target, ``replicas`` and ``peak``, take at least ``TARGET_ROUNDS``
rounds, so that their median is a round that happened, which one or two disturbed rounds do not
move. Every section file names its run (``RUN_ID``).

Each section prints a table and writes its figures to ``bench-results/<section>.json``. When every
section has run with the default rounds or longer, the headline figures with the date and the
machine go to ``bench-results/summary.json`` and ``summary.md`` (kept in the repository) and the
README's table (``bench/summary.py``); a shorter or partial run writes ``smoke-summary.*`` only.

The load generator is this process: ``concurrency`` workers, each with one keep-alive connection
(a minimal HTTP/1.1 client of its own: it shares the cores with the servers), looping until a
deadline. Only 200 responses count; everything else is an error and is printed. Only
127.0.0.1 is ever targeted. The machine may have few cores shared with the servers, so the table
also shows how many cores each process group used while a measurement ran (CPU seconds per
second of wall time), which says who was the bottleneck.

Knobs (flags override environment):

    SAJJA_BENCH_CONCURRENCY  --concurrency  32
    SAJJA_BENCH_SECONDS      --seconds      10   measured seconds per run
    SAJJA_BENCH_WARMUP       --warmup       2    unmeasured seconds before each run
    SAJJA_BENCH_ROUNDS       --rounds       2    runs per target, alternating
    SAJJA_BENCH_PHONES       --phones       128  ledger: phones in flight for the extra gateway run
                             --only NAME         run only these sections (repeatable)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import gzip
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

from bench import summary
from bench.aggregates import section_aggregates
from bench.projection import section_projection
from shared.http import CLIENT_IDLE_SECONDS
from shared.http1 import Http1Client, UpstreamError, header_pairs
from tests.support.factories import E2E_FUND
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem, running_system

RESULTS_DIR = Path(__file__).resolve().parents[1] / "bench-results"
REQUEST_TIMEOUT = 10.0
#: Extra time a run may take beyond warm-up + measurement before it is abandoned.
RUN_GRACE = REQUEST_TIMEOUT + 20.0

#: The same fund as the end-to-end test, so a change to the fund's schema is made in one place.
BENCH_FUND = E2E_FUND


class BenchError(RuntimeError):
    """The system misbehaved in a way that makes a figure meaningless."""


# --------------------------------------------------------------------------- configuration


def _env_number(name: str, default: float, kind: Callable[[str], Any]) -> Any:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = kind(raw)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {raw}")
        return value

    parse.__name__ = kind.__name__
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=_positive(int),
                        default=_env_number("SAJJA_BENCH_CONCURRENCY", 32, int),
                        help="concurrent requests in flight (env SAJJA_BENCH_CONCURRENCY, default 32)")
    parser.add_argument("--seconds", type=_positive(float),
                        default=_env_number("SAJJA_BENCH_SECONDS", 10.0, float),
                        help="measured seconds per run (env SAJJA_BENCH_SECONDS, default 10)")
    parser.add_argument("--warmup", type=float,
                        default=_env_number("SAJJA_BENCH_WARMUP", 2.0, float),
                        help="unmeasured seconds before each run (env SAJJA_BENCH_WARMUP, default 2)")
    parser.add_argument("--rounds", type=_positive(int),
                        default=_env_number("SAJJA_BENCH_ROUNDS", 2, int),
                        help="runs per target, alternating (env SAJJA_BENCH_ROUNDS, default 2)")
    parser.add_argument("--phones", type=_positive(int),
                        default=_env_number("SAJJA_BENCH_PHONES", 128, int),
                        help="ledger section: phones in flight for the extra single-deposit run through the"
                             " gateway (env SAJJA_BENCH_PHONES, default 128)")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), metavar="SECTION",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    parser.add_argument("--verbose", action="store_true", help="show the system's own output")
    args = parser.parse_args(argv)
    for name in ("concurrency", "seconds", "rounds", "phones"):
        if getattr(args, name) <= 0:
            parser.error(f"{name} must be > 0")
    if args.warmup < 0:
        parser.error("warmup must be >= 0")
    return args


# --------------------------------------------------------------------------- CPU accounting


class CpuProbe:
    """CPU seconds used by named groups of processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, groups: dict[str, Callable[[], list[psutil.Process]]]) -> None:
        self._groups = groups
        self._before: dict[str, dict[int, float]] = {}
        self._started = 0.0
        self.cores: dict[str, float] = {}

    @staticmethod
    def _times(processes: list[psutil.Process]) -> dict[int, float]:
        out: dict[int, float] = {}
        for proc in processes:
            try:
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return out

    @staticmethod
    def _machine_busy() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def start(self) -> None:
        self._before = {name: self._times(find()) for name, find in self._groups.items()}
        self._machine_before = self._machine_busy()
        self._started = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = max(time.perf_counter() - self._started, 1e-9)
        self.cores = {}
        for name, find in self._groups.items():
            after = self._times(find())
            before = self._before.get(name, {})
            # A process that appeared mid-run counts from zero; one that vanished is lost.
            used = sum(after[pid] - before.get(pid, 0.0) for pid in after)
            self.cores[name] = round(used / wall, 2)
        # Whatever else kept the machine busy meanwhile (another job on a shared box is noise).
        machine = (self._machine_busy() - self._machine_before) / wall
        # (A group named "name#n" is one process of another group, already counted there.)
        ours = sum(used for name, used in self.cores.items() if "#" not in name)
        self.cores["other"] = round(max(0.0, machine - ours), 2)
        return self.cores


def _process(pid: int) -> list[psutil.Process]:
    try:
        return [psutil.Process(pid)]
    except psutil.NoSuchProcess:
        return []


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """The postmaster whose command line names ``pgdata``, and all its children."""
    marker = str(pgdata.resolve())
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == "postgres" and marker in " ".join(cmdline):
            try:
                return [proc, *proc.children(recursive=True)]
            except psutil.NoSuchProcess:
                return []
    return []


def system_cpu_groups(system: RunningSystem) -> dict[str, Callable[[], list[psutil.Process]]]:
    """Process groups worth watching: this generator, the gateway, each service, PostgreSQL."""
    from shared.settings import PROCESS_NAMES

    groups: dict[str, Callable[[], list[psutil.Process]]] = {"bench": lambda: _process(os.getpid())}
    for name in PROCESS_NAMES:  # a process's replicas together
        def replicas(name: str = name) -> list[psutil.Process]:
            return [p for pid in system.pids_of(name) for p in _process(pid)]

        groups[name] = replicas
    groups["postgres"] = lambda: _postgres_processes(system.home / "pgdata")
    return groups


# --------------------------------------------------------------------------- load generator


@dataclass
class Measurement:
    label: str
    url: str
    concurrency: int
    seconds: float
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    cores: dict[str, float] = field(default_factory=dict)
    #: Items (deposits) one successful request carries; 1 for plain requests.
    items_per_request: int = 1
    #: Items the system reported as applied over the whole run, warm-up and tail included.
    applied: int = 0
    #: Requests whose fate is unknown (timeouts, broken connections): they may have been applied.
    unknown: int = 0
    #: What PostgreSQL's backends were doing while this ran (see bench/pgbench.py).
    activity: dict[str, Any] = field(default_factory=dict)
    #: Ledger runs: (deposits posted, calls of the posting function they took), warm-up included.
    grouping: tuple[int, int] | None = None
    #: pgbench's own tps over its whole run (warm-up included), shown beside the windowed count.
    reported_tps: float | None = None
    #: Transactions the ledger's database committed over the whole run (warm-up included).
    commits: int | None = None

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    @property
    def items_per_second(self) -> float:
        return self.rps * self.items_per_request

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (``q`` in 0..100); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _check_local(url: str) -> None:
    host = urlsplit(url).hostname
    if host != "127.0.0.1":
        raise BenchError(f"refusing to load {url}: only 127.0.0.1 is ever targeted")


#: Makes the body of each request (a new deposit id every time, say).
BodyFactory = Callable[[], bytes]
#: Makes each request whole: (url, headers added to the session's, body); for load spread over funds.
RequestFactory = Callable[[], tuple[str, dict[str, str], bytes]]
#: Judges a successful response's body: (items applied, None) or (items applied, what is wrong).
ResponseCheck = Callable[[bytes], tuple[int, str | None]]


class _Caller:
    """The load generator's side of the wire: :class:`shared.http1.Http1Client`, the lean client the
    gateway forwards with. The generator shares the machine's cores with the servers it measures,
    so its cost per request is kept small (a general-purpose client such as aiohttp would take a
    noticeable share of the CPU the figures are meant to measure). Like a phone, it asks for gzip
    (and unzips what comes compressed) and keeps its connections."""

    def __init__(self, host: str, port: int, headers: dict[str, str], connections: int) -> None:
        self.host, self.port = host, port
        self.client = Http1Client(max_connections=connections, idle_seconds=CLIENT_IDLE_SECONDS)
        self.fixed = header_pairs({"Accept-Encoding": "gzip", **headers})

    async def request(self, method: str, target: str, extra: dict[str, str] | None, body: bytes | None) -> tuple[int, bytes]:
        if extra:  # a request's own headers replace the session's of the same name (its Authorization)
            own = header_pairs(extra)
            names = {name for name, _ in own}
            headers = [h for h in self.fixed if h[0] not in names] + own
        else:
            headers = self.fixed
        answer = await self.client.send(self.host, self.port, method, target.encode("latin-1"), headers=headers,
                                        body=body or b"")
        payload = answer.body
        if answer.header(b"content-encoding") == b"gzip":
            payload = gzip.decompress(payload)
        return answer.status, payload


async def _run_load(
    url: str, headers: dict[str, str], method: str, body: bytes | None, *,
    label: str, concurrency: int, seconds: float, warmup: float, cpu: CpuProbe | None,
    body_factory: BodyFactory | None = None, ok_status: int = 200, check: ResponseCheck | None = None,
    items_per_request: int = 1, request_factory: RequestFactory | None = None,
) -> Measurement:
    result = Measurement(label=label, url=url, concurrency=concurrency, seconds=seconds,
                         items_per_request=items_per_request)
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    now = clock()
    measure_from = now + warmup
    measure_until = measure_from + seconds
    latencies = result.latencies
    errors = result.errors

    def path_of(target: str) -> str:
        split = urlsplit(target)
        return split.path + ("?" + split.query if split.query else "")

    fixed_target = path_of(url)


    caller = _Caller(parts.hostname, parts.port, headers, concurrency)

    async def worker() -> None:
        ok = 0
        try:
            while True:
                if clock() >= measure_until:
                    break
                # made before the clock starts
                data: bytes | None
                if request_factory is not None:
                    target, extra, data = request_factory()
                    target = path_of(target)
                else:
                    target, extra, data = fixed_target, None, (body if body_factory is None else body_factory())
                started = clock()
                payload = b""
                problem: str | None = None
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        status, payload = await caller.request(method, target, extra, data)
                except (TimeoutError, UpstreamError, ValueError) as exc:
                    status = None
                    outcome = type(exc).__name__
                finished = clock()
                if status == ok_status:
                    applied, problem = (items_per_request, None) if check is None else check(payload)
                    result.applied += applied  # whenever it finished: the system took it
                elif status is None:
                    result.unknown += 1
                if finished < measure_from:
                    continue  # completed during warm-up: not counted
                if status == ok_status and problem is None:
                    if finished <= measure_until:  # a success after the deadline is not counted
                        ok += 1
                        latencies.append(finished - started)
                    continue
                # A failure is counted even when it ends after the deadline: a request that hangs
                # until its timeout was sent during the measured window and must not vanish.
                late = " (ended after the deadline)" if finished > measure_until else ""
                if status == ok_status:
                    errors[(problem or "bad response") + late] += 1
                else:
                    errors[(f"HTTP {status}" if status is not None else outcome) + late] += 1
        finally:
            result.ok += ok

    async def probe() -> None:
        if cpu is None:
            return
        await asyncio.sleep(max(0.0, measure_from - clock()))
        cpu.start()
        await asyncio.sleep(max(0.0, measure_until - clock()))
        result.cores = cpu.stop()

    try:
        await asyncio.wait_for(
            asyncio.gather(probe(), *(worker() for _ in range(concurrency))),
            timeout=warmup + seconds + RUN_GRACE,
        )
    finally:
        await caller.client.close()
    return result


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # cheaper per request; the generator shares the cores with the servers
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def measure(
    url: str, headers: dict[str, str], *, label: str, concurrency: int, seconds: float, warmup: float,
    method: str = "GET", body: bytes | None = None, cpu: CpuProbe | None = None,
    body_factory: BodyFactory | None = None, ok_status: int = 200, check: ResponseCheck | None = None,
    items_per_request: int = 1, request_factory: RequestFactory | None = None,
) -> Measurement:
    """Load ``url`` with ``concurrency`` workers for ``warmup`` + ``seconds``; count only ``ok_status``
    responses (200 unless told) that ``check`` accepts. ``body_factory``, when given, makes each
    request's body instead of sending ``body`` every time; ``request_factory`` makes each request's
    url (on the same host), headers and body."""
    _check_local(url)
    loop = _new_event_loop()
    try:
        return loop.run_until_complete(_run_load(
            url, headers, method, body, label=label, concurrency=concurrency, seconds=seconds,
            warmup=warmup, cpu=cpu, body_factory=body_factory, ok_status=ok_status, check=check,
            items_per_request=items_per_request, request_factory=request_factory,
        ))
    finally:
        loop.close()


# --------------------------------------------------------------------------- the running system


@dataclass
class Bench:
    """What every section gets: the running system, the knobs, and an admin login."""

    system: RunningSystem
    args: argparse.Namespace
    #: phone -> (access token, when it was issued, monotonic)
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    def login_headers(self, phone: str, password: str) -> dict[str, str]:
        """A bearer header for a user, logging in again before the token ages."""
        # Access tokens live 600 s by default; a run never outlives half of that.
        token, issued = self._tokens.get(phone, ("", 0.0))
        if not token or time.monotonic() - issued > 120:
            with httpx.Client(base_url=self.system.url, timeout=10) as client:
                response = client.post("/v1/auth/login", json={"phone": phone, "password": password})
            if response.status_code != 200:
                raise BenchError(f"login of {phone} failed: {response.status_code} {response.text}")
            token = response.json()["access_token"]
            self._tokens[phone] = (token, time.monotonic())
        return {"Authorization": f"Bearer {token}"}

    def admin_headers(self) -> dict[str, str]:
        """A bearer header for the bootstrap admin."""
        return self.login_headers(ADMIN_PHONE, ADMIN_PASSWORD)

    def cpu_probe(self, extra: dict[str, Callable[[], list[psutil.Process]]] | None = None) -> CpuProbe:
        return CpuProbe({**system_cpu_groups(self.system), **(extra or {})})

    def measure(self, url: str, *, label: str, method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None, concurrency: int | None = None,
                body_factory: BodyFactory | None = None, ok_status: int = 200,
                check: ResponseCheck | None = None, items_per_request: int = 1,
                cpu: CpuProbe | None = None, request_factory: RequestFactory | None = None) -> Measurement:
        """``measure`` with the knobs, as the admin unless ``headers`` carries another Authorization."""
        a = self.args
        return measure(
            url, {**self.admin_headers(), **(headers or {})}, label=label, method=method, body=body,
            concurrency=concurrency or a.concurrency, seconds=a.seconds, warmup=a.warmup,
            cpu=cpu or self.cpu_probe(), body_factory=body_factory, ok_status=ok_status, check=check,
            items_per_request=items_per_request, request_factory=request_factory,
        )

    def describe(self) -> str:
        return describe(self.args)


def describe(args: argparse.Namespace) -> str:
    return (f"concurrency {args.concurrency}, {args.seconds:g} s x {args.rounds} rounds"
            f" after {args.warmup:g} s warm-up each")


# --------------------------------------------------------------------------- reporting


def summarize(runs: list[Measurement]) -> dict[str, Any]:
    """Median req/s over rounds; latency percentiles over every request of every round."""
    latencies = [x for run in runs for x in run.latencies]
    errors: Counter[str] = Counter()
    for run in runs:
        errors.update(run.errors)
    cores: dict[str, float] = {}
    for name in runs[0].cores if runs else ():
        cores[name] = round(statistics.median(run.cores.get(name, 0.0) for run in runs), 2)
    return {
        "url": runs[0].url if runs else "",
        "rps_median": round(statistics.median(run.rps for run in runs), 1),
        "rps_rounds": [round(run.rps, 1) for run in runs],
        "ok": sum(run.ok for run in runs),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "cores_median": cores,
    }


def print_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    print(title)
    print(f"  {'target':<10} {'req/s (median)':>14} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}   rounds req/s")
    for name, row in rows.items():
        rounds = ", ".join(f"{r:.0f}" for r in row["rps_rounds"])
        print(f"  {name:<10} {row['rps_median']:>14.1f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}"
              f" {row['errors']:>7}   {rounds}")
    _print_errors_and_cores(rows)


def _print_errors_and_cores(rows: dict[str, dict[str, Any]], width: int = 10) -> None:
    for name, row in rows.items():
        if row["error_kinds"]:
            kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(row["error_kinds"].items()))
            print(f"  {name} errors: {kinds}")
    all_groups = list(next(iter(rows.values()))["cores_median"]) if rows else []
    groups = [g for g in all_groups
              if g == "other" or any(row["cores_median"].get(g, 0.0) >= 0.05 for row in rows.values())]
    if groups:
        print("  cores busy while measuring (CPU s per wall s, median of rounds; idle processes left out):")
        print("  " + f"{'target':<{width}}" + "".join(f" {g:>9}" for g in groups))
        for name, row in rows.items():
            print("  " + f"{name:<{width}}" + "".join(f" {row['cores_median'].get(g, 0.0):>9.2f}" for g in groups))


#: More than this many cores busy outside the system and the generator makes figures unreliable.
NOISE_CORES = 0.25


def warn_if_noisy(rows: dict[str, dict[str, Any]]) -> None:
    other = max((row["cores_median"].get("other", 0.0) for row in rows.values()), default=0.0)
    if other > NOISE_CORES:
        print(f"  WARNING: {other:.2f} cores were busy with other work on this machine while measuring;"
              " these figures are noisy, run again on a quiet machine")


#: One id per invocation, in every section file it writes: ``python -m bench.summary`` rebuilds a
#: summary only from section files of one run (a later ``--only`` run replaces some of them).
RUN_ID = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{os.getpid()}"


def write_results(section: str, figures: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{section}.json"
    document = {
        "section": section,
        "run": RUN_ID,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        **figures,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _require_successes(section: str, rows: dict[str, dict[str, Any]]) -> None:
    empty = [name for name, row in rows.items() if row["ok"] == 0]
    if empty:
        raise BenchError(f"{section}: no successful responses from {', '.join(empty)}; figures are meaningless")


# --------------------------------------------------------------------------- sections


def section_gateway(bench: Bench) -> dict[str, Any]:
    """Authenticated req/s straight at members vs through the gateway, alternating rounds."""
    system = bench.system
    with httpx.Client(base_url=system.url, timeout=10) as client:
        created = client.post("/v1/members/funds", json=BENCH_FUND, headers=bench.admin_headers())
    if created.status_code != 201:
        raise BenchError(f"creating the bench fund failed: {created.status_code} {created.text}")
    fund_id = created.json()["id"]
    path = f"/v1/members/funds/{fund_id}"
    targets = {"direct": system.service_url("members") + path, "gateway": system.url + path}
    for name, url in targets.items():  # one plain request each, so a broken target fails fast and clearly
        check = httpx.get(url, headers=bench.admin_headers(), timeout=10)
        if check.status_code != 200:
            raise BenchError(f"{name} {url}: {check.status_code} {check.text}")

    runs: dict[str, list[Measurement]] = {name: [] for name in targets}
    for round_no in range(1, bench.args.rounds + 1):
        for name, url in targets.items():
            run = bench.measure(url, label=name)
            runs[name].append(run)
            print(f"  round {round_no} {name:<8} {run.rps:8.1f} req/s  ok {run.ok}  errors {run.error_count}",
                  flush=True)

    rows = {name: summarize(measured) for name, measured in runs.items()}
    direct, gateway = rows["direct"]["rps_median"], rows["gateway"]["rps_median"]
    ratio = round(gateway / direct, 3) if direct else None
    print()
    print_table(f"gateway overhead (GET /v1/members/funds/{{id}}, authenticated, {bench.describe()})", rows)
    print(f"  ratio gateway/direct: {ratio:.2f}" if ratio is not None else "  ratio gateway/direct: n/a")
    warn_if_noisy(rows)
    if rows["direct"]["ok"] and rows["gateway"]["ok"]:
        added = rows["gateway"]["p50_ms"] - rows["direct"]["p50_ms"]
        print(f"  latency added by the gateway at the median: {added:+.2f} ms")
    figures = {
        "endpoint": "GET /v1/members/funds/{id}",
        "authenticated": True,
        "concurrency": bench.args.concurrency,
        "seconds": bench.args.seconds,
        "warmup_seconds": bench.args.warmup,
        "rounds": bench.args.rounds,
        "targets": rows,
        "ratio_gateway_over_direct": ratio,
    }
    _require_successes("gateway", rows)  # before writing: a broken run leaves no figures behind
    path_written = write_results("gateway", figures)
    print(f"  written to {path_written.relative_to(RESULTS_DIR.parent)}")
    return figures


def _roll_csv(rows: int, first: int = 0) -> bytes:
    """A roll of ``rows`` valid members, as a fund would export it from Excel (TIS-620 CSV).

    National IDs are numbered from ``first``: a person may be a current member of one fund only, so
    two sections importing rolls into their own funds use ranges that do not overlap."""
    from services.members.thai import national_id_check_digit

    lines = ["เลขประจำตัวประชาชน,คำนำหน้า,ชื่อ,นามสกุล,วันเกิด,เพศ,โทรศัพท์,หมู่ที่,บ้านเลขที่,วันที่สมัคร"]
    for i in range(rows):
        first12 = f"3{84_000_000_000 + first + i:011d}"
        nid = first12 + str(national_id_check_digit(first12))
        sex = "ชาย" if i % 2 else "หญิง"
        lines.append(f"{nid},{'นาย' if i % 2 else 'นาง'},สมาชิก{i},ทดสอบ,01/01/{2490 + i % 60},{sex},"
                     f"08{(first + i) % 100000000:08d},{1 + i % 17},{i % 400}/{i % 7},15/06/{2553 + i % 14}")
    return ("\r\n".join(lines) + "\r\n").encode("cp874")


def section_import(bench: Bench) -> dict[str, Any]:
    """Time to import a 10,000-row member roll through the gateway: first upload, then the same again."""
    rows = 10_000
    system = bench.system
    body = _roll_csv(rows)
    with httpx.Client(base_url=system.url, timeout=120) as client:
        created = client.post("/v1/members/funds", json={**BENCH_FUND, "name": "กองทุนทดสอบนำเข้า"},
                              headers=bench.admin_headers())
        if created.status_code != 201:
            raise BenchError(f"creating the import fund failed: {created.status_code} {created.text}")
        url = f"/v1/members/funds/{created.json()['id']}/members/import?consent_attested=true"
        timings: dict[str, Any] = {}
        for label in ("first upload", "same file again"):
            started = time.perf_counter()
            response = client.post(url, content=body, headers={**bench.admin_headers(), "Content-Type": "text/csv"})
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise BenchError(f"import {label}: {response.status_code} {response.text[:500]}")
            result = response.json()
            timings[label] = {"seconds": round(elapsed, 2), "created": result["created"],
                              "duplicates": result["duplicates"], "rejected": result["rejected"]}
            print(f"  {label:<16} {elapsed:6.2f} s  created {result['created']:>6}  duplicates {result['duplicates']:>6}"
                  f"  rejected {result['rejected']}", flush=True)
    if timings["first upload"]["created"] != rows or timings["same file again"]["duplicates"] != rows:
        raise BenchError(f"import did not create {rows} then find {rows} duplicates: {timings}")
    figures = {"rows": rows, "file_bytes": len(body), "encoding": "cp874", "path": "gateway", "runs": timings}
    path_written = write_results("import", figures)
    print(f"  {rows:,} rows ({len(body) / 1e6:.1f} MB, TIS-620 CSV) written to {path_written.relative_to(RESULTS_DIR.parent)}")
    return figures


# --------------------------------------------------------------------------- ledger deposits

#: Members in the ledger section's fund, and where their national IDs start (clear of ``import``'s).
LEDGER_MEMBERS = 2_000
LEDGER_ID_FIRST = 500_000
#: A phone's sync: the most deposits one batch request may carry.
BATCH_SIZE = 500
#: Phones syncing at the same time in the batched runs (and pgbench clients for its batched ceiling).
BATCH_WORKERS = 4
DEPOSIT_SATANG = 100
COLLECTOR_PHONE = "0898880001"
COLLECTOR_PASSWORD = "bench-collector-pass"
#: The ledger trusts what members said about a member or collector for 300 s
#: (``member_facts_ttl_seconds``); every member's facts are refreshed when older than this.
REWARM_AFTER = 120.0

#: The ledger's tables the deposits touch (analyzed once after warm-up).
LEDGER_TABLES = ("journal_entries", "postings", "deposits", "accounts", "ledger_funds", "ledger_members",
                 "ledger_collectors")

#: Funds (and their members) for the single-deposit run spread over several funds.
SPREAD_FUNDS = 4
SPREAD_MEMBERS = 500

TARGET_SINGLE_GATEWAY = 1_000.0
TARGET_SINGLE_OF_PGBENCH = 0.25
TARGET_BATCHED = 20_000.0


@dataclass
class _Books:
    """The ledger section's fund as the bench sees it, and every deposit it has had accepted."""

    fund_id: str
    member_ids: list[str]
    collector_id: str
    phone: str = COLLECTOR_PHONE  # the collector's login
    created: int = 0  # deposits the system answered "created" for, over HTTP
    unknown: int = 0  # deposits whose request timed out or broke: maybe created, maybe not
    pgbench: int = 0  # deposits committed by pgbench, straight into the same books
    #: Further collectors of the fund, who post deposits too (the peak section's).
    more_collectors: list[str] = field(default_factory=list)
    warmed_at: float = 0.0


def _bangkok_now() -> str:
    from shared.timeutil import BANGKOK

    return dt.datetime.now(BANGKOK).isoformat(timespec="milliseconds")


def _new_ids(count: int, mark: str = "") -> list[str]:
    """``count`` random version-4 ids as a phone makes them, their first characters replaced by
    ``mark`` (hex, to tell whose a deposit is in an answer). Made from one ``os.urandom`` call
    rather than ``uuid.uuid4()`` per deposit, which costs the load generator, sharing the cores
    with the system it measures, several times as much."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 4122 variant
    digits, cut = raw.hex(), len(mark)
    return [mark + f"{digits[i:i + 8]}-{digits[i + 8:i + 12]}-{digits[i + 12:i + 16]}-{digits[i + 16:i + 20]}-"
                   f"{digits[i + 20:i + 32]}"[cut:] for i in range(0, 32 * count, 32)]


def _deposit_json(deposit_id: str, member_id: str, collector_id: str, collected_at: str) -> str:
    """One deposit as a phone sends it: its own id, 100 satang, collected at ``collected_at``."""
    return (f'{{"id":"{deposit_id}","member_id":"{member_id}","amount_satang":{DEPOSIT_SATANG},'
            f'"collected_at":"{collected_at}","collector_id":"{collector_id}"}}')


def _deposits_json(member_ids: list[str], collector_id: str, mark: str = "") -> str:
    """A phone's sync of one deposit for each of ``member_ids``, all collected now (+07:00): the
    clock is read once a batch, which the ledger's work does not depend on."""
    now = _bangkok_now()
    return ('{"deposits":[' + ",".join(_deposit_json(i, m, collector_id, now)
                                      for i, m in zip(_new_ids(len(member_ids), mark), member_ids)) + "]}")


def _single_deposits(books: _Books) -> BodyFactory:
    members, collector, choose = books.member_ids, books.collector_id, random.Random(1).choice

    def make() -> bytes:
        return _deposit_json(_new_ids(1)[0], choose(members), collector, _bangkok_now()).encode()

    return make


def _batched_deposits(books: _Books, size: int = BATCH_SIZE, mark: str = "") -> BodyFactory:
    members, collector, sample = books.member_ids, books.collector_id, random.Random(2).sample

    def make() -> bytes:
        return _deposits_json(sample(members, size), collector, mark).encode()

    return make


def _batch_check(size: int, books_of: Callable[[dict[str, Any]], _Books] | None = None) -> ResponseCheck:
    """How many of a batch were created (all ``size`` or it is an error); with ``books_of``, also
    credited to the books it names in the answer."""
    import orjson

    def check(payload: bytes) -> tuple[int, str | None]:
        try:
            answer = orjson.loads(payload)
            created = int(answer["created"])
            books = books_of(answer) if books_of else None
        except (ValueError, KeyError, TypeError, IndexError):
            return 0, "unreadable batch answer"
        if books is not None:
            books.created += created
        return created, None if created == size else f"created {created} of {size}"

    return check


def _pgbench_processes() -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(os.getpid()).children() if p.name() == "pgbench"]
    except psutil.NoSuchProcess:
        return []


def _ledger_setup(bench: Bench, number: int = 0, members: int = LEDGER_MEMBERS) -> _Books:
    """A fund, its roll, a collector who logs in; all through the gateway as a fund would do it.
    ``number`` > 0 makes another fund with people and a collector of its own."""
    system = bench.system
    id_first = LEDGER_ID_FIRST + (LEDGER_MEMBERS + (number - 1) * members if number else 0)
    phone = COLLECTOR_PHONE if not number else f"08988801{number:02d}"
    with httpx.Client(base_url=system.url, timeout=120) as client:
        created = client.post("/v1/members/funds", json={**BENCH_FUND, "name": f"กองทุนทดสอบเงินฝาก {number}"},
                              headers=bench.admin_headers())
        if created.status_code != 201:
            raise BenchError(f"creating the deposits fund failed: {created.status_code} {created.text}")
        fund_id = created.json()["id"]
        started = time.perf_counter()
        imported = client.post(
            f"/v1/members/funds/{fund_id}/members/import?consent_attested=true",
            content=_roll_csv(members, first=id_first),
            headers={**bench.admin_headers(), "Content-Type": "text/csv"},
        )
        if imported.status_code != 200 or imported.json()["created"] != members:
            raise BenchError(f"importing {members} members failed: {imported.status_code} {imported.text[:500]}")
        member_ids: list[str] = []
        cursor: str | None = None
        while True:
            page = client.get(f"/v1/members/funds/{fund_id}/members", headers=bench.admin_headers(),
                              params={"limit": 500, "status": "active", **({"cursor": cursor} if cursor else {})})
            if page.status_code != 200:
                raise BenchError(f"listing members failed: {page.status_code} {page.text[:500]}")
            member_ids += [item["id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if not cursor:
                break
        if len(member_ids) != members:
            raise BenchError(f"listed {len(member_ids)} active members, imported {members}")
        user = client.post("/v1/auth/users", headers=bench.admin_headers(), json={
            "phone": phone, "password": COLLECTOR_PASSWORD, "display_name": "อาสาทดสอบ",
            "role": "collector", "fund_id": fund_id})
        if user.status_code != 201:
            raise BenchError(f"creating the collector user failed: {user.status_code} {user.text}")
        collector_id = user.json()["id"]
        collector = client.post(f"/v1/members/funds/{fund_id}/collectors", headers=bench.admin_headers(),
                                json={"user_id": collector_id, "display_name": "อาสาทดสอบ"})
        if collector.status_code != 201:
            raise BenchError(f"registering the collector failed: {collector.status_code} {collector.text}")
    print(f"  fund {fund_id}: {members:,} members imported and listed, collector {collector_id}"
          f" ({time.perf_counter() - started:.1f} s)", flush=True)
    return _Books(fund_id=fund_id, member_ids=member_ids, collector_id=collector_id, phone=phone)


def _ledger_warm(bench: Bench, books: _Books) -> None:
    """One deposit per target, then one for every member (a batch per 500), straight at the ledger.

    The first deposit of a member or collector asks the members service and opens the account;
    a measured run should not pay that, so every member has had a deposit before any run starts.
    Later calls only refresh what the ledger's member-facts TTL would otherwise let go stale."""
    headers = {**bench.login_headers(books.phone, COLLECTOR_PASSWORD), "Content-Type": "application/json"}
    path = f"/v1/ledger/funds/{books.fund_id}/deposits"
    started = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        if not books.warmed_at:
            for name, base in (("direct", bench.system.service_url("ledger")), ("gateway", bench.system.url)):
                one = client.post(base + path, headers=headers,
                                  content=_deposit_json(_new_ids(1)[0], books.member_ids[0], books.collector_id,
                                                        _bangkok_now()))
                if one.status_code != 201:
                    raise BenchError(f"warm-up deposit {name} {base + path}: {one.status_code} {one.text[:500]}")
                books.created += 1
        for start in range(0, len(books.member_ids), BATCH_SIZE):
            chunk = books.member_ids[start:start + BATCH_SIZE]
            body = _deposits_json(chunk, books.collector_id)
            response = client.post(bench.system.service_url("ledger") + path + "/batch", headers=headers, content=body)
            if response.status_code != 200:
                raise BenchError(f"warm-up batch: {response.status_code} {response.text[:500]}")
            created = response.json()["created"]
            books.created += created
            if created != len(chunk):
                raise BenchError(f"warm-up batch created {created} of {len(chunk)}: {response.text[:500]}")
    first = not books.warmed_at
    books.warmed_at = time.monotonic()
    if first:
        print(f"  warmed: one deposit direct and one through the gateway, then one deposit for each of the"
              f" {len(books.member_ids):,} members in batches of {BATCH_SIZE} ({time.perf_counter() - started:.1f} s);"
              " measured runs pay no first-use account opening nor members-service look-ups", flush=True)


def _from_pgbench(run: Any, label: str, url: str, per_txn: int) -> Measurement:
    measured = Measurement(label=label, url=url, concurrency=run.clients, seconds=run.seconds, ok=run.ok,
                           latencies=run.latencies, cores=run.cores, items_per_request=per_txn,
                           applied=run.committed * per_txn)
    measured.errors.update(run.errors)
    measured.reported_tps = run.reported_tps
    return measured


def _deposit_rows(runs: dict[str, list[Measurement]]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for name, measured in runs.items():
        row = summarize(measured)
        per = measured[0].items_per_request
        row["deposits_per_request"] = per
        row["deposits_per_s_median"] = round(statistics.median(m.items_per_second for m in measured), 1)
        row["deposits_per_s_rounds"] = [round(m.items_per_second, 1) for m in measured]
        activity = [m.activity for m in measured if m.activity.get("backends_per_sample")]
        if activity:
            row["postgres_activity_rounds"] = activity
        grouping = [m.grouping for m in measured if m.grouping and m.grouping[1]]
        if grouping:
            row["deposits_per_posting_call"] = round(sum(d for d, _ in grouping) / sum(c for _, c in grouping), 1)
        commits = [(m.commits, m.grouping[0]) for m in measured if m.commits is not None and m.grouping and m.grouping[0]]
        if commits:
            row["commits_per_deposit"] = round(sum(c for c, _ in commits) / sum(d for _, d in commits), 3)
        # CPU milliseconds per deposit, of the generator and the system together ("other" left out:
        # another job on the machine), and of each group: what a deposit costs, whatever the machine.
        per_deposit = [{group: used / m.items_per_second * 1000 for group, used in m.cores.items() if group != "other"}
                       for m in measured if m.cores and m.items_per_second]
        if per_deposit:
            groups = per_deposit[0].keys()
            row["cpu_ms_per_deposit"] = {g: round(statistics.median(p.get(g, 0.0) for p in per_deposit), 3) for g in groups}
            row["cpu_ms_per_deposit"]["total"] = round(statistics.median(
                sum(v for g, v in p.items() if "#" not in g) for p in per_deposit), 3)
        rows[name] = row
    return rows


def _print_deposit_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    print(title)
    print(f"  {'target':<16} {'deposits/s':>10} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}   rounds deposits/s")
    for name, row in rows.items():
        rounds = ", ".join(f"{r:.0f}" for r in row["deposits_per_s_rounds"])
        print(f"  {name:<16} {row['deposits_per_s_median']:>10.1f} {row['rps_median']:>8.1f} {row['p50_ms']:>8.2f}"
              f" {row['p95_ms']:>8.2f} {row['errors']:>7}   {rounds}")
    _print_errors_and_cores(rows, width=16)
    grouped = {name: row["deposits_per_posting_call"] for name, row in rows.items() if "deposits_per_posting_call" in row}
    if grouped:
        print("  deposits per call of ledger_post_deposits (the ledger posts a fund's concurrent requests together): "
              + ", ".join(f"{name} {value}" for name, value in grouped.items()))
    _print_activity(rows)


def _print_activity(rows: dict[str, dict[str, Any]]) -> None:
    """What sajja_ledger's backends did while measuring, averaged over samples and rounds."""
    merged: dict[str, dict[str, float]] = {}
    holders: dict[str, dict[str, float]] = {}
    queued: dict[str, float] = {}
    for name, row in rows.items():
        rounds = row.get("postgres_activity_rounds") or []
        if not rounds:
            continue
        keys = {k for r in rounds for k in r["backends_per_sample"]}
        merged[name] = {k: round(statistics.mean(r["backends_per_sample"].get(k, 0.0) for r in rounds), 2) for k in keys}
        hold_keys = {k for r in rounds for k in r["lock_holder_pct"]}
        holders[name] = {k: round(statistics.mean(r["lock_holder_pct"].get(k, 0.0) for r in rounds), 1) for k in hold_keys}
        queued[name] = round(statistics.mean(r["lock_queue_seen_pct"] for r in rounds), 1)
    if not merged:
        return
    known = ["lock wait (transactionid)", "lock wait (tuple)", "running", "WAL flush", "idle in transaction"]
    rest = sorted({k for m in merged.values() for k in m} - set(known))
    columns = [c for c in known if any(c in m for m in merged.values())]
    columns += [c for c in rest if any(m.get(c, 0.0) >= 0.05 for m in merged.values())]
    short = {"lock wait (transactionid)": "lock:xact", "lock wait (tuple)": "lock:tuple", "idle in transaction": "idle-in-tx",
             "WAL flush": "WAL-flush"}
    print("  sajja_ledger backends in each state, average per 50 ms sample of pg_stat_activity"
          " (lock:* = queued for the fund's row lock, idle-in-tx = waiting for the app to send the next command):")
    print("  " + f"{'target':<16}" + "".join(f" {short.get(c, c.replace('LWLock:', 'LW:'))[:14]:>14}" for c in columns))
    for name, values in merged.items():
        print("  " + f"{name:<16}" + "".join(f" {values.get(c, 0.0):>14.2f}" for c in columns))
    print("  while backends queued on a lock, the backend at the head of the queue was (% of such samples):")
    for name, held in holders.items():
        described = ", ".join(f"{k} {v:.0f}%" for k, v in sorted(held.items(), key=lambda kv: -kv[1])) or "-"
        print(f"  {name:<16} queue seen in {queued[name]:.0f}% of samples; holder: {described}")
    held = {name: 1000 / row["rps_median"] for name, row in rows.items() if row["rps_median"]}
    if held:
        print("  the fund's lock is taken by one transaction at a time, so each held it for about 1 / (transactions per s): "
              + ", ".join(f"{name} {ms:.1f} ms" for name, ms in held.items()))


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _fmt_ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def _receipts(pg: Any, funds: list[_Books]) -> dict[str, int]:
    """Each fund's receipt counter now: where :func:`_posting_calls` counts from."""
    from bench import pgbench as pgb

    fund_list = ", ".join(f"'{b.fund_id}'" for b in funds)
    return {fund: int(seq) for fund, seq in pgb.psql_rows(
        pg, f"SELECT fund_id, receipt_seq FROM ledger_funds WHERE fund_id IN ({fund_list})")}


def _posting_calls(pg: Any, after: dict[str, int]) -> tuple[int, int]:
    """Deposits posted since ``after`` (:func:`_receipts`) and the calls of ``ledger_post_deposits``
    they took, over those funds: one call gives its deposits times ``t0 + n µs`` and receipts
    ``r0 + n``, so ``posted_at - receipt_no µs`` is the same for a call's deposits and differs
    between calls."""
    from bench import pgbench as pgb

    where = " OR ".join(f"(fund_id = '{fund}' AND receipt_no > {seq})" for fund, seq in after.items())
    [[count, calls]] = pgb.psql_rows(pg, "SELECT count(*), count(DISTINCT (fund_id, posted_at - receipt_no *"
                                         f" interval '1 microsecond')) FROM deposits WHERE {where}")
    return int(count), int(calls)


def _ledger_verify(bench: Bench, books: _Books) -> dict[str, Any]:
    """The books balance and hold exactly the deposits the system said it created."""
    with httpx.Client(base_url=bench.system.url, timeout=60) as client:
        response = client.get(f"/v1/ledger/funds/{books.fund_id}/trial-balance", headers=bench.admin_headers())
    if response.status_code != 200:
        raise BenchError(f"trial balance: {response.status_code} {response.text[:500]}")
    trial = response.json()
    collectors = {books.collector_id, *books.more_collectors}
    cash = [a for a in trial["accounts"] if a["kind"] == "collector_cash" and a["owner_id"] in collectors]
    members = [a for a in trial["accounts"] if a["kind"] == "member_contribution"]
    in_cash = sum(a["balance_satang"] for a in cash) // DEPOSIT_SATANG
    in_members = -sum(a["balance_satang"] for a in members) // DEPOSIT_SATANG
    expected = books.created + books.pgbench
    figures = {
        "balanced": trial["balanced"], "debit_total_satang": trial["debit_total_satang"],
        "credit_total_satang": trial["credit_total_satang"], "deposits_in_collector_cash": in_cash,
        "deposits_in_member_accounts": in_members, "created_over_http": books.created,
        "created_by_pgbench": books.pgbench, "unknown_outcome": books.unknown,
    }
    agrees = in_cash == in_members and expected <= in_cash <= expected + books.unknown
    print(f"  books: trial balance {'balanced' if trial['balanced'] else 'NOT BALANCED'}"
          f" (debits = credits = {trial['debit_total_satang'] / 100:,.2f} baht); {in_cash:,} deposits recorded,"
          f" {books.created:,} created over HTTP + {books.pgbench:,} by pgbench = {expected:,}"
          + (f" (+ up to {books.unknown:,} whose requests failed in flight)" if books.unknown else "")
          + (" - they agree" if agrees else " - THEY DO NOT AGREE"), flush=True)
    if not trial["balanced"] or not agrees:
        raise BenchError(f"the bench fund's books are wrong: {figures}")
    return figures


def section_ledger(bench: Bench) -> dict[str, Any]:
    """Deposits per second, single and batched, straight at the ledger, through the gateway, and
    the ceiling pgbench reaches on the same SQL, alternating rounds in the same run."""
    from bench import pgbench as pgb

    system, args = bench.system, bench.args
    books = _ledger_setup(bench)
    _ledger_warm(bench, books)
    pg = pgb.find_postgres(system.home / "pgdata")
    settings = dict(pgb.psql_rows(pg, "SELECT name, setting FROM pg_settings WHERE name IN"
                                      " ('fsync', 'synchronous_commit', 'max_connections', 'shared_buffers', 'wal_sync_method')"))
    in_use = int(pgb.psql_rows(pg, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")[0][0])
    room = int(settings.get("max_connections", "100")) - in_use - 10  # the services' pools may still grow
    print(f"  PostgreSQL {pg.socket_dir}: fsync={settings.get('fsync')} synchronous_commit={settings.get('synchronous_commit')}"
          f" wal_sync_method={settings.get('wal_sync_method')} max_connections={settings.get('max_connections')}"
          f" ({in_use} in use); pgbench {pg.bin_dir / 'pgbench'}", flush=True)
    # Statistics as autovacuum would leave them after its first visit (naptime 60 s). Without this,
    # the ledger's pooled connections keep the plans they made while the tables were new and never
    # analyzed: a plan made on an empty table may walk all of the fund's rows for every posting,
    # so that each deposit costs more the more the fund has. The figures would measure such an
    # accident.
    started = time.perf_counter()
    pgb.psql_rows(pg, "ANALYZE " + ", ".join(LEDGER_TABLES))
    print(f"  ANALYZE of the ledger's tables after warm-up ({time.perf_counter() - started:.1f} s), as autovacuum"
          " does within its first minute, so no plan made on the new, empty tables is measured", flush=True)
    ids = pgb.fund_ids(pg, books.fund_id, books.collector_id)
    sampler = pgb.ActivitySampler(pg)
    cpu_groups = {"pgbench": _pgbench_processes}
    collector = {"Content-Type": "application/json"}
    deposits = f"/v1/ledger/funds/{books.fund_id}/deposits"
    urls = {"direct": system.service_url("ledger") + deposits, "gateway": system.url + deposits}

    def http_run(name: str, url: str, *, batched: bool, concurrency: int | None = None) -> Measurement:
        if time.monotonic() - books.warmed_at > REWARM_AFTER:
            _ledger_warm(bench, books)
        before = _receipts(pg, [books])
        headers = {**collector, **bench.login_headers(COLLECTOR_PHONE, COLLECTOR_PASSWORD)}
        sampler.start()
        try:
            if batched:
                run = bench.measure(url + "/batch", label=name, method="POST", headers=headers,
                                    concurrency=min(BATCH_WORKERS, args.concurrency), items_per_request=BATCH_SIZE,
                                    body_factory=_batched_deposits(books), check=_batch_check(BATCH_SIZE),
                                    cpu=bench.cpu_probe(cpu_groups))
            else:
                run = bench.measure(url, label=name, method="POST", headers=headers, ok_status=201,
                                    concurrency=concurrency or args.concurrency,
                                    body_factory=_single_deposits(books), cpu=bench.cpu_probe(cpu_groups))
        finally:
            run_activity = sampler.stop()
        run.activity = run_activity
        run.grouping = _posting_calls(pg, before)
        books.created += run.applied
        books.unknown += run.unknown * run.items_per_request
        return run

    def pgbench_run(script: str, *, clients: int, per_txn: int) -> Measurement:
        clients = max(1, min(clients, room))
        sampler.start()
        try:
            raw = pgb.run_pgbench(pg, script, clients=clients, seconds=args.seconds, warmup=args.warmup,
                                  cpu=bench.cpu_probe(cpu_groups), grace=RUN_GRACE)
        finally:
            run_activity = sampler.stop()
        run = _from_pgbench(raw, "pgbench", raw.command, per_txn)
        run.activity = run_activity
        books.pgbench += run.applied
        return run

    spread_books: list[_Books] = []

    def spread_run(funds: list[_Books], *, batched: bool = False) -> Measurement:
        for books_n in funds:
            if time.monotonic() - books_n.warmed_at > REWARM_AFTER:
                _ledger_warm(bench, books_n)
        by_collector = {b.collector_id: b for b in funds}
        # A batch's answer names only deposit ids: each fund's ids start with its own two hex digits.
        by_mark = {f"{n:02x}": b for n, b in enumerate(funds)}
        targets = [(urls["gateway"].replace(books.fund_id, b.fund_id) + ("/batch" if batched else ""),
                    {**collector, **bench.login_headers(b.phone, COLLECTOR_PASSWORD)},
                    _batched_deposits(b, mark=mark) if batched else _single_deposits(b)) for mark, b in by_mark.items()]
        choose = random.Random(3).choice

        def make() -> tuple[str, dict[str, str], bytes]:
            url, headers, body = choose(targets)
            return url, headers, body()

        def credit(payload: bytes) -> tuple[int, str | None]:
            by_collector[json.loads(payload)["collector_id"]].created += 1
            return 1, None

        sampler.start()
        try:
            if batched:
                run = bench.measure(targets[0][0], label="gateway", method="POST", request_factory=make,
                                    concurrency=min(BATCH_WORKERS, args.concurrency), items_per_request=BATCH_SIZE,
                                    check=_batch_check(BATCH_SIZE, lambda answer: by_mark[answer["results"][0]["id"][:2]]),
                                    cpu=bench.cpu_probe(cpu_groups))
            else:
                run = bench.measure(urls["gateway"], label="gateway", method="POST", ok_status=201, request_factory=make,
                                    check=credit, cpu=bench.cpu_probe(cpu_groups))
        finally:
            run.activity = sampler.stop()
        for b in funds:
            b.unknown += run.unknown * run.items_per_request
        return run

    plans = {
        "single": {
            "direct": lambda: http_run("direct", urls["direct"], batched=False),
            "gateway": lambda: http_run("gateway", urls["gateway"], batched=False),
            "pgbench": lambda: pgbench_run(pgb.single_script(ids), clients=args.concurrency, per_txn=1),
        },
        "batched": {
            "direct": lambda: http_run("direct", urls["direct"], batched=True),
            "gateway": lambda: http_run("gateway", urls["gateway"], batched=True),
            "pgbench": lambda: pgbench_run(pgb.batch_script(ids, BATCH_SIZE),
                                           clients=min(BATCH_WORKERS, args.concurrency), per_txn=BATCH_SIZE),
        },
    }
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, plan in plans.items():
        runs: dict[str, list[Measurement]] = {name: [] for name in plan}
        for round_no in range(1, args.rounds + 1):
            for name, run_once in plan.items():
                run = run_once()
                runs[name].append(run)
                own = run.reported_tps
                print(f"  {kind} round {round_no} {name:<8} {run.items_per_second:9.1f} deposits/s"
                      f"  ({run.rps:.1f} req/s{f', pgbench says {own:.1f} tps' if own else ''})"
                      f"  ok {run.ok}  errors {run.error_count}", flush=True)
        tables[kind] = _deposit_rows(runs)
        if kind == "single" and args.phones != args.concurrency:
            # Each request crosses three event loops (this generator, the gateway, the ledger);
            # with few requests in flight their queueing, not the CPU, sets the pace (the CPU table
            # shows cores left idle). An evening rush is hundreds of phones: measure that too.
            peak = [http_run("gateway", urls["gateway"], batched=False, concurrency=args.phones)
                    for _ in range(args.rounds)]
            for round_no, run in enumerate(peak, 1):
                print(f"  single round {round_no} gateway with {args.phones} phones {run.items_per_second:9.1f} deposits/s"
                      f"  ok {run.ok}  errors {run.error_count}", flush=True)
            tables["single_many_phones"] = _deposit_rows({f"gateway, {args.phones} phones": peak})
        # One fund's deposits are posted one call at a time (gapless receipts, its lock); an evening
        # rush is phones of many funds at once. The same requests (single deposits, then syncs),
        # each to one of several funds at random.
        spread_books = spread_books or [_ledger_setup(bench, n, SPREAD_MEMBERS) for n in range(1, SPREAD_FUNDS + 1)]
        spread = []
        for round_no in range(1, args.rounds + 1):
            run = spread_run(spread_books, batched=kind == "batched")
            spread.append(run)
            print(f"  {kind} round {round_no} gateway over {SPREAD_FUNDS} funds {run.items_per_second:9.1f} deposits/s"
                  f"  ok {run.ok}  errors {run.error_count}", flush=True)
        tables[f"{kind}_spread"] = _deposit_rows({f"gateway, {SPREAD_FUNDS} funds": spread})

    single, batched = tables["single"], tables["batched"]
    many = tables.get("single_many_phones", {})
    spread_rows = tables.get("single_spread", {})
    batched_spread_rows = tables.get("batched_spread", {})
    dps = {kind: {name: row["deposits_per_s_median"] for name, row in rows.items()} for kind, rows in tables.items()}
    ratios = {
        kind: {
            "gateway_over_direct": _ratio(dps[kind]["gateway"], dps[kind]["direct"]),
            "gateway_over_pgbench": _ratio(dps[kind]["gateway"], dps[kind]["pgbench"]),
            "direct_over_pgbench": _ratio(dps[kind]["direct"], dps[kind]["pgbench"]),
        }
        for kind in ("single", "batched")
    }
    single_clients = min(args.concurrency, max(1, room))
    batch_clients = min(BATCH_WORKERS, args.concurrency)
    print()
    _print_deposit_table(
        f"ledger single deposits (POST .../deposits, collector token, 1 deposit of {DEPOSIT_SATANG} satang per request;"
        f" {bench.describe()}; pgbench -c {single_clients})", single)
    r = ratios["single"]
    print(f"  ratios: gateway/direct {_fmt_ratio(r['gateway_over_direct'])}, gateway/pgbench"
          f" {_fmt_ratio(r['gateway_over_pgbench'])}, direct/pgbench {_fmt_ratio(r['direct_over_pgbench'])}")
    if many:
        print()
        _print_deposit_table(f"ledger single deposits through the gateway with {args.phones} phones in flight (same"
                             " requests; the generator, gateway and ledger each one event loop)", many)
    if spread_rows:
        print()
        _print_deposit_table(f"ledger single deposits through the gateway spread over {SPREAD_FUNDS} funds"
                             f" ({SPREAD_MEMBERS} members and a collector each; {bench.describe()})", spread_rows)
    print()
    _print_deposit_table(
        f"ledger batched deposits (POST .../deposits/batch, {BATCH_SIZE} per request, {batch_clients} phones syncing"
        f" at once; pgbench -c {batch_clients}, arrays of {BATCH_SIZE})", batched)
    r = ratios["batched"]
    print(f"  ratios: gateway/direct {_fmt_ratio(r['gateway_over_direct'])}, gateway/pgbench"
          f" {_fmt_ratio(r['gateway_over_pgbench'])}, direct/pgbench {_fmt_ratio(r['direct_over_pgbench'])}")
    if batched_spread_rows:
        print()
        _print_deposit_table(f"ledger batched deposits through the gateway spread over {SPREAD_FUNDS} funds"
                             f" ({BATCH_SIZE} per request, {batch_clients} phones syncing at once, each to a fund"
                             " at random)", batched_spread_rows)
    warn_if_noisy({**{f"single {k}": v for k, v in single.items()}, **{f"batched {k}": v for k, v in batched.items()}})

    targets = {
        f"single via gateway >= {TARGET_SINGLE_GATEWAY:,.0f}/s": (dps["single"]["gateway"], TARGET_SINGLE_GATEWAY),
        **({f"  same, {args.phones} phones in flight": (next(iter(dps["single_many_phones"].values())), TARGET_SINGLE_GATEWAY)}
           if many else {}),
        **({f"  same, spread over {SPREAD_FUNDS} funds": (next(iter(dps["single_spread"].values())), TARGET_SINGLE_GATEWAY)}
           if spread_rows else {}),
        f"single via gateway >= {TARGET_SINGLE_OF_PGBENCH:.2f} of pgbench": (
            ratios["single"]["gateway_over_pgbench"] or 0.0, TARGET_SINGLE_OF_PGBENCH),
        f"batched via gateway >= {TARGET_BATCHED:,.0f}/s": (dps["batched"]["gateway"], TARGET_BATCHED),
        **({f"  batched, spread over {SPREAD_FUNDS} funds": (next(iter(dps["batched_spread"].values())), TARGET_BATCHED)}
           if batched_spread_rows else {}),
    }
    print("\n  targets:")
    verdicts: dict[str, dict[str, Any]] = {}
    for label, (reached, wanted) in targets.items():
        met = reached >= wanted
        verdicts[label] = {"reached": reached, "target": wanted, "met": met}
        shown = f"{reached:,.1f}/s" if wanted > 1 else f"{reached:.2f}"
        print(f"    {label:<40} reached {shown:>12}   {'MET' if met else 'NOT MET'}")
    print("  all deposits of one fund take that fund's row lock (gapless receipt numbers): one fund's"
          " deposits are posted one call at a time, by design; pgbench pays the same lock, one deposit per"
          " transaction for 'single', while the ledger groups the requests that arrive together into one call,"
          " which is how it can pass the single-deposit ceiling")
    print()
    books_figures = _ledger_verify(bench, books)
    spread_figures = [_ledger_verify(bench, b) for b in spread_books]

    for kind, rows in tables.items():
        _require_successes(f"ledger {kind}", rows)
    figures = {
        "fund_id": books.fund_id,
        "members": LEDGER_MEMBERS,
        "deposit_satang": DEPOSIT_SATANG,
        "concurrency_single": args.concurrency,
        "concurrency_batched": batch_clients,
        "pgbench_clients_single": single_clients,
        "batch_size": BATCH_SIZE,
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "rounds": args.rounds,
        "postgres_settings": settings,
        "single": single,
        "single_many_phones": many,
        "single_spread": spread_rows,
        "batched_spread": batched_spread_rows,
        "spread_funds": SPREAD_FUNDS,
        "phones": args.phones,
        "batched": batched,
        "ratios": ratios,
        "targets": verdicts,
        "books": books_figures,
        "spread_books": spread_figures,
        "pgbench_single_script": pgb.single_script(ids)[:300] + "...",
        "pgbench_batched_script": pgb.batch_script(ids, BATCH_SIZE)[:300] + "...",
    }
    path_written = write_results("ledger", figures)
    print(f"  written to {path_written.relative_to(RESULTS_DIR.parent)}")
    return figures


# --------------------------------------------------------------------------- ledger replicas

#: Rounds, at least, of the sections that judge a target (replicas, peak): the median of two
#: rounds is their mean, and on a machine whose speed varies one disturbed round then decides it
#: alone; of five, the median is a round that happened, and two disturbed rounds (slow or fast)
#: do not move it.
TARGET_ROUNDS = 5


def target_rounds(args: argparse.Namespace) -> int:
    return max(args.rounds, TARGET_ROUNDS)


#: The replicas section: single deposits spread over this many funds, of this many members each.
REPLICA_FUNDS = 8
REPLICA_MEMBERS = 200


def _spread_singles(bench: Bench, funds: list[_Books], *, label: str, concurrency: int) -> Measurement:
    """Single deposits through the gateway, each to one of ``funds`` at random, by its collector."""
    for books in funds:
        if time.monotonic() - books.warmed_at > REWARM_AFTER:
            _ledger_warm(bench, books)
    targets = [(f"{bench.system.url}/v1/ledger/funds/{b.fund_id}/deposits",
                {"Content-Type": "application/json", **bench.login_headers(b.phone, COLLECTOR_PASSWORD)},
                _single_deposits(b)) for b in funds]
    by_collector = {b.collector_id: b for b in funds}
    choose = random.Random(3).choice

    def make() -> tuple[str, dict[str, str], bytes]:
        url, headers, body = choose(targets)
        return url, headers, body()

    def credit(payload: bytes) -> tuple[int, str | None]:
        by_collector[json.loads(payload)["collector_id"]].created += 1
        return 1, None

    from bench import pgbench as pgb

    pg = pgb.find_postgres(bench.system.home / "pgdata")

    def commits() -> int:
        return int(pgb.psql_rows(pg, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0][0])

    # Each ledger replica's CPU on its own, beside the groups every section shows.
    ledger_pids = bench.system.pids_of("ledger")
    extra: dict[str, Callable[[], list[psutil.Process]]] = {
        f"ledger#{n}": functools.partial(_process, pid) for n, pid in enumerate(ledger_pids, 1)} if len(ledger_pids) > 1 else {}
    before, committed = _receipts(pg, funds), commits()
    run = bench.measure(targets[0][0], label=label, method="POST", ok_status=201, request_factory=make, check=credit,
                        concurrency=concurrency, cpu=bench.cpu_probe(extra))
    run.grouping = _posting_calls(pg, before)
    run.commits = commits() - committed
    for books in funds:
        books.unknown += run.unknown
    return run


def _replica_funds(bench: Bench, replicas: int) -> list[_Books]:
    """``REPLICA_FUNDS`` funds, as many homed on each ledger replica (the gateway's rendezvous
    hashing of the fund's id): with thousands of funds each replica has its share, and eight funds
    hashed at random would often put six on one replica and two on the other, measuring a throw
    of the dice rather than the design. A fund that would tip the balance is made and left idle."""
    from shared.replicas import Upstream

    upstream = Upstream(bench.system.replica_urls("ledger") or ["http://127.0.0.1:1"])
    share = math.ceil(REPLICA_FUNDS / replicas)
    homes: Counter[str] = Counter()
    funds: list[_Books] = []
    number = 0
    while len(funds) < REPLICA_FUNDS:
        number += 1
        books = _ledger_setup(bench, number, REPLICA_MEMBERS)
        home = upstream.order(books.fund_id.lower())[0].url
        if replicas == 1 or homes[home] < share:
            homes[home] += 1
            funds.append(books)
    if replicas > 1:
        print(f"  {len(funds)} funds homed {', '.join(str(n) for n in homes.values())} on the {replicas} ledger replicas"
              f" ({number - len(funds)} more made and left idle)", flush=True)
    return funds


def _print_costs(rows: dict[str, dict[str, Any]]) -> None:
    """CPU per deposit and commits per deposit: what the throughput is made of on a machine whose
    cores are all busy, where deposits/s is the cores divided by the CPU a deposit takes."""
    costs = {name: row["cpu_ms_per_deposit"] for name, row in rows.items() if "cpu_ms_per_deposit" in row}
    if costs:
        groups = list(dict.fromkeys(g for c in costs.values() for g in c
                                    if any(x.get(g, 0.0) >= 0.005 for x in costs.values())))
        print("  CPU ms per deposit (median of rounds):")
        print("  " + f"{'target':<18}" + "".join(f" {g:>9}" for g in groups))
        for name, cost in costs.items():
            print("  " + f"{name:<18}" + "".join(f" {cost.get(g, 0.0):>9.3f}" for g in groups))
    commits = {name: row["commits_per_deposit"] for name, row in rows.items() if "commits_per_deposit" in row}
    if commits:
        print("  commits of the ledger's database per deposit: " + ", ".join(f"{n} {v}" for n, v in commits.items()))


def section_replicas(bench: Bench) -> dict[str, Any]:
    """Single deposits spread over several funds through the gateway, with one ledger process and
    with two (``SAJJA_LEDGER_REPLICAS=2``): two more systems, started side by side with the same
    funds, alternating rounds, the same load."""
    args = bench.args
    setups = {"1 ledger replica": 1, "2 ledger replicas": 2}
    runs: dict[str, list[Measurement]] = {label: [] for label in setups}
    books_figures: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="sajja-bench-replicas-") as tmp, contextlib.ExitStack() as stack:
        systems: dict[str, tuple[Bench, list[_Books]]] = {}
        for label, count in setups.items():
            started = time.monotonic()
            system = stack.enter_context(running_system(Path(tmp) / f"ledger-{count}", quiet=not args.verbose,
                                                        extra_env={"SAJJA_LEDGER_REPLICAS": str(count)}))
            print(f"  {label}: system up in {time.monotonic() - started:.1f} s at {system.url}, ledger at"
                  f" {', '.join(system.replica_urls('ledger'))}", flush=True)
            sub = Bench(system=system, args=args)
            funds = _replica_funds(sub, count)
            for books in funds:
                _ledger_warm(sub, books)
            _analyze_ledger(sub)
            systems[label] = (sub, funds)
        for round_no in range(1, target_rounds(args) + 1):
            for label, (sub, funds) in systems.items():
                run = _spread_singles(sub, funds, label=label, concurrency=args.phones)
                runs[label].append(run)
                print(f"  round {round_no} {label:<18} {run.items_per_second:9.1f} deposits/s  ok {run.ok}"
                      f"  errors {run.error_count}", flush=True)
        print()
        for label, (sub, funds) in systems.items():
            books_figures[label] = [_ledger_verify(sub, books) for books in funds]
    rows = _deposit_rows(runs)
    print()
    _print_deposit_table(f"single deposits through the gateway over {REPLICA_FUNDS} funds ({REPLICA_MEMBERS} members and"
                         f" a collector each), {args.phones} in flight, one ledger process vs two ({args.seconds:g} s x {target_rounds(args)} rounds after"
                         f" {args.warmup:g} s warm-up each)",
                         rows)
    one, two = (rows[label]["deposits_per_s_median"] for label in setups)
    ratio = _ratio(two, one)
    met = ratio is not None and ratio >= 1.0
    print(f"  two replicas / one: {_fmt_ratio(ratio)}   target: at least the throughput of one  {'MET' if met else 'NOT MET'}")
    _print_costs(rows)
    costs = [rows[label].get("cpu_ms_per_deposit", {}).get("total") for label in setups]
    cpu_ratio = round(costs[0] / costs[1], 2) if all(costs) else None
    if cpu_ratio is not None:
        # With every core busy, deposits/s is the cores the system gets over the CPU a deposit
        # takes; on a shared machine more processes also take a larger share of the cores from
        # other work, so the throughput ratio flatters the second replica there and this does not.
        print(f"  CPU per deposit, one replica / two: {cpu_ratio:.2f} (1.00: a second replica costs nothing more per"
              " deposit; on cores already full, the throughput ratio it allows)")
    warn_if_noisy(rows)
    _require_successes("replicas", rows)
    figures = {
        "funds": REPLICA_FUNDS, "members_per_fund": REPLICA_MEMBERS, "concurrency": args.phones,
        "seconds": args.seconds, "warmup_seconds": args.warmup, "rounds": target_rounds(args),
        "targets": rows, "ratio_two_over_one": ratio, "target_met": met, "books": books_figures,
        "cpu_per_deposit_one_over_two": cpu_ratio,
    }
    path_written = write_results("replicas", figures)
    print(f"  written to {path_written.relative_to(RESULTS_DIR.parent)}")
    return figures


# --------------------------------------------------------------------------- the evening peak, by wrk

#: Phones in flight, each pausing about this long between deposits (wrk's ``delay()``).
PEAK_PHONES = 200
PEAK_PAUSE_MS = 100
#: Collectors of the peak's fund, each with a token of its own.
PEAK_COLLECTORS = 20
PEAK_FUND_NUMBER = 90
PEAK_TARGET_P99_MS = 50.0


def _more_collectors(bench: Bench, books: _Books, count: int) -> list[tuple[str, str]]:
    """``count`` collectors of ``books``' fund in all (its own first): (token, collector id) each."""
    collectors = [(bench.login_headers(books.phone, COLLECTOR_PASSWORD)["Authorization"].removeprefix("Bearer "),
                   books.collector_id)]
    with httpx.Client(base_url=bench.system.url, timeout=30) as client:
        for n in range(1, count):
            phone = f"08977{n:05d}"
            user = client.post("/v1/auth/users", headers=bench.admin_headers(), json={
                "phone": phone, "password": COLLECTOR_PASSWORD, "display_name": f"อาสา {n}", "role": "collector",
                "fund_id": books.fund_id})
            if user.status_code != 201:
                raise BenchError(f"creating collector {n}: {user.status_code} {user.text}")
            registered = client.post(f"/v1/members/funds/{books.fund_id}/collectors", headers=bench.admin_headers(),
                                     json={"user_id": user.json()["id"], "display_name": f"อาสา {n}"})
            if registered.status_code != 201:
                raise BenchError(f"registering collector {n}: {registered.status_code} {registered.text}")
            token = bench.login_headers(phone, COLLECTOR_PASSWORD)["Authorization"].removeprefix("Bearer ")
            collectors.append((token, user.json()["id"]))
    return collectors


def _analyze_ledger(bench: Bench) -> None:
    """The ledger's tables analyzed after warm-up, as in the ledger section (its comment says why),
    then a checkpoint, as PostgreSQL makes within its first minutes: from then on it recycles the
    WAL files it no longer needs as the next ones. Without it, a system just started writes each
    new WAL file full of zeros and syncs it while every commit waits (a stall the latency of a
    section on a fresh system would show, and a server running for a while does not have)."""
    from bench import pgbench as pgb

    target = pgb.find_postgres(bench.system.home / "pgdata")
    pgb.psql_rows(target, "ANALYZE " + ", ".join(LEDGER_TABLES))
    pgb.psql_rows(target, "CHECKPOINT")


def section_peak(bench: Bench) -> dict[str, Any]:
    """The evening peak: ``PEAK_PHONES`` phones through the gateway, each posting a single deposit,
    waiting for its answer and pausing ``PEAK_PAUSE_MS``, driven by wrk (bench/wrk.py); deposits/s,
    p50, p90, p99."""
    from bench import pgbench as pgb
    from bench import wrk

    if wrk.wrk_binary() is None:
        raise BenchError("wrk is not installed: run `make bench` (it installs it on Debian as root) or"
                         " `sh tools/system_packages.sh bench`")
    args = bench.args
    books = _ledger_setup(bench, PEAK_FUND_NUMBER, LEDGER_MEMBERS)
    _ledger_warm(bench, books)
    collectors = _more_collectors(bench, books, PEAK_COLLECTORS)
    books.more_collectors = [cid for _, cid in collectors[1:]]
    _analyze_ledger(bench)
    phones = wrk.Phones(path=f"/v1/ledger/funds/{books.fund_id}/deposits", collectors=collectors,
                        members=books.member_ids)
    lua = wrk.script(phones, pause_ms=PEAK_PAUSE_MS, amount_satang=DEPOSIT_SATANG)
    threads = max(1, min(2, os.cpu_count() or 1))
    runs: list[Any] = []

    def one(seconds: float, cpu: CpuProbe | None) -> Any:
        if time.monotonic() - books.warmed_at > REWARM_AFTER:
            _ledger_warm(bench, books)
        with tempfile.TemporaryDirectory(prefix="sajja-wrk-") as tmp:
            run = wrk.run(bench.system.url, lua, connections=PEAK_PHONES, seconds=seconds, threads=threads,
                          workdir=Path(tmp), cpu=cpu)
        books.created += run.ok
        # Requests failed in flight, and those still in flight when wrk stopped counting (it does
        # not wait for them): posted or not, unknown here.
        books.unknown += run.failed - run.errors["status"] + PEAK_PHONES
        return run

    pg = pgb.find_postgres(bench.system.home / "pgdata")
    grouping: list[tuple[int, int]] = []
    for round_no in range(1, target_rounds(args) + 1):
        one(max(2.0, args.warmup), None)  # collectors' first deposits, connections opened: not measured
        before = _receipts(pg, [books])
        run = one(args.seconds, bench.cpu_probe())
        runs.append(run)
        # (wrk's window and the receipts differ by the requests in flight at its edges: a ratio.)
        grouping.append(_posting_calls(pg, before))
        print(f"  round {round_no}: {run.rps:8.1f} deposits/s  p50 {run.p50_ms:6.2f} ms  p90 {run.p90_ms:6.2f} ms"
              f"  p99 {run.p99_ms:6.2f} ms  max {run.max_ms:7.2f} ms  deposits per posting call"
              f" {grouping[-1][0] / max(1, grouping[-1][1]):.1f}  errors {run.errors}", flush=True)
    per_call = round(sum(d for d, _ in grouping) / max(1, sum(c for _, c in grouping)), 1)
    median = {key: round(statistics.median(getattr(r, key) for r in runs), 2)
              for key in ("rps", "p50_ms", "p90_ms", "p99_ms")}
    met = median["p99_ms"] < PEAK_TARGET_P99_MS
    print()
    print(f"evening peak: {PEAK_PHONES} phones through the gateway, each pausing {PEAK_PAUSE_MS} ms (75-125) between"
          f" single deposits with fresh ids, {PEAK_COLLECTORS} collectors of one fund (wrk -t{threads}"
          f" -c{PEAK_PHONES}, {args.seconds:g} s x {target_rounds(args)} rounds)")
    print(f"  deposits/s {median['rps']:.1f}, p50 {median['p50_ms']:.2f} ms, p90 {median['p90_ms']:.2f} ms,"
          f" p99 {median['p99_ms']:.2f} ms (medians of rounds)")
    cores = {name: round(statistics.median(r.cores.get(name, 0.0) for r in runs), 2) for name in runs[0].cores}
    print(f"  deposits per posting call {per_call} (all rounds)")
    print("  cores busy (CPU s per wall s, median of rounds): "
          + ", ".join(f"{k} {v:.2f}" for k, v in cores.items() if v >= 0.05))
    print(f"  target p99 < {PEAK_TARGET_P99_MS:g} ms: {'MET' if met else 'NOT MET'}")
    if cores.get("other", 0.0) > NOISE_CORES:
        print(f"  WARNING: {cores['other']:.2f} cores were busy with other work on this machine while measuring;"
              " these figures are noisy, run again on a quiet machine")
    books_figures = _ledger_verify(bench, books)
    if not all(r.ok for r in runs):
        raise BenchError("peak: a round with no successful deposit; figures are meaningless")
    figures = {
        "phones": PEAK_PHONES, "pause_ms": PEAK_PAUSE_MS, "collectors": PEAK_COLLECTORS, "wrk_threads": threads,
        "seconds": args.seconds, "warmup_seconds": max(2.0, args.warmup), "rounds": target_rounds(args),
        "deposits_per_s_median": median["rps"], "deposits_per_s_rounds": [round(r.rps, 1) for r in runs],
        "p50_ms": median["p50_ms"], "p90_ms": median["p90_ms"], "p99_ms": median["p99_ms"],
        "p99_ms_rounds": [r.p99_ms for r in runs], "deposits_per_posting_call": per_call, "cores_median": cores, "target_p99_ms": PEAK_TARGET_P99_MS,
        "target_met": met, "rounds_detail": [r.figures() for r in runs], "books": books_figures,
    }
    path_written = write_results("peak", figures)
    print(f"  written to {path_written.relative_to(RESULTS_DIR.parent)}")
    return figures


#: Sections, run in this order.
SECTIONS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "gateway": section_gateway,
    "import": section_import,
    "ledger": section_ledger,
    "aggregates": section_aggregates,
    "projection": section_projection,
    "replicas": section_replicas,
    "peak": section_peak,
}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = args.only or list(SECTIONS)
    print(f"sajja bench: {os.cpu_count()} CPUs, sections {', '.join(chosen)}; {describe(args)}",
          flush=True)
    failed: list[str] = []
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="sajja-bench-") as tmp:
        home = Path(tmp) / "home"
        started = time.monotonic()
        try:
            with running_system(home, quiet=not args.verbose) as system:
                print(f"system up in {time.monotonic() - started:.1f} s at {system.url}", flush=True)
                bench = Bench(system=system, args=args)
                for name in chosen:
                    print(f"\n== {name}", flush=True)
                    try:
                        results[name] = SECTIONS[name](bench)
                    except (TimeoutError, BenchError, httpx.HTTPError, UpstreamError, OSError, RuntimeError) as exc:
                        failed.append(name)
                        print(f"!! section {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                if failed:
                    tail = "\n".join(system.lines[-40:])
                    print(f"-- last lines of sajja run:\n{tail}", file=sys.stderr)
        except (RuntimeError, TimeoutError) as exc:
            print(f"!! the system did not start: {exc}", file=sys.stderr)
            return 2
    if failed:
        print(f"\nbench FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    written = summary.write(results)
    if written.name == "summary.md":
        print(f"\nsummary written to {written.relative_to(RESULTS_DIR.parent)} and .json, and its table to README.md:"
              " commit the three when the machine was quiet")
    else:
        print(f"\nshorter rounds or fewer sections than the defaults: a smoke run, summary written to"
              f" {written.relative_to(RESULTS_DIR.parent)} only (bench-results/summary.* and the README are left alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
