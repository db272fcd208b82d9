"""`make bench`: benchmarks of the whole system, started once as real processes.

Sections (each a function taking a :class:`Bench`, run in order in the same system):

- ``gateway``: the gateway's overhead. ``GET /v1/members/funds/{id}`` with a real admin token,
  a request that verifies the token (cached after the first) and reads PostgreSQL, measured
  straight at the members service and through the gateway, alternating, in the same run.

Each section prints a table and writes its figures to ``bench-results/<section>.json``.

The load generator is this process: one aiohttp session, ``concurrency`` workers, each looping
until a deadline. Only 200 responses count; everything else is an error and is printed. Only
127.0.0.1 is ever targeted. The machine may have few cores shared with the servers, so the table
also shows how many cores each process group used while a measurement ran (CPU seconds per
second of wall time), which says who was the bottleneck.

Knobs (flags override environment):

    SAJJA_BENCH_CONCURRENCY  --concurrency  32
    SAJJA_BENCH_SECONDS      --seconds      10   measured seconds per run
    SAJJA_BENCH_WARMUP       --warmup       2    unmeasured seconds before each run
    SAJJA_BENCH_ROUNDS       --rounds       2    runs per target, alternating
                             --only NAME         run only these sections (repeatable)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
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

import aiohttp
import httpx
import psutil

from tests.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem, running_system
from tests.test_e2e import FUND as E2E_FUND

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
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), metavar="SECTION",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    parser.add_argument("--verbose", action="store_true", help="show the system's own output")
    args = parser.parse_args(argv)
    for name in ("concurrency", "seconds", "rounds"):
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
        self.cores["other"] = round(max(0.0, machine - sum(self.cores.values())), 2)
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
    for name in PROCESS_NAMES:
        groups[name] = lambda name=name: _process(system.pid_of(name))
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

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

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


async def _run_load(
    url: str, headers: dict[str, str], method: str, body: bytes | None, *,
    label: str, concurrency: int, seconds: float, warmup: float, cpu: CpuProbe | None,
) -> Measurement:
    result = Measurement(label=label, url=url, concurrency=concurrency, seconds=seconds)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    now = clock()
    measure_from = now + warmup
    measure_until = measure_from + seconds
    latencies = result.latencies
    errors = result.errors

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, skip_auto_headers=("User-Agent",)
    ) as session:

        async def worker() -> None:
            ok = 0
            while True:
                started = clock()
                if started >= measure_until:
                    break
                try:
                    async with session.request(method, url, data=body) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    status = None
                    outcome = type(exc).__name__
                finished = clock()
                if not measure_from <= finished <= measure_until:
                    continue  # completed during warm-up or after the deadline: not counted
                if status == 200:
                    ok += 1
                    latencies.append(finished - started)
                else:
                    errors[f"HTTP {status}" if status is not None else outcome] += 1
            result.ok += ok

        async def probe() -> None:
            if cpu is None:
                return
            await asyncio.sleep(max(0.0, measure_from - clock()))
            cpu.start()
            await asyncio.sleep(max(0.0, measure_until - clock()))
            result.cores = cpu.stop()

        await asyncio.wait_for(
            asyncio.gather(probe(), *(worker() for _ in range(concurrency))),
            timeout=warmup + seconds + RUN_GRACE,
        )
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
) -> Measurement:
    """Load ``url`` with ``concurrency`` workers for ``warmup`` + ``seconds``; count only 200s."""
    _check_local(url)
    loop = _new_event_loop()
    try:
        return loop.run_until_complete(_run_load(
            url, headers, method, body, label=label, concurrency=concurrency, seconds=seconds,
            warmup=warmup, cpu=cpu,
        ))
    finally:
        loop.close()


# --------------------------------------------------------------------------- the running system


@dataclass
class Bench:
    """What every section gets: the running system, the knobs, and an admin login."""

    system: RunningSystem
    args: argparse.Namespace
    _token: str = ""
    _token_at: float = 0.0

    def admin_headers(self) -> dict[str, str]:
        """A bearer header for the bootstrap admin, logging in again before the token ages."""
        # Access tokens live 600 s by default; a run never outlives half of that.
        if not self._token or time.monotonic() - self._token_at > 120:
            with httpx.Client(base_url=self.system.url, timeout=10) as client:
                response = client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD})
            if response.status_code != 200:
                raise BenchError(f"admin login failed: {response.status_code} {response.text}")
            self._token = response.json()["access_token"]
            self._token_at = time.monotonic()
        return {"Authorization": f"Bearer {self._token}"}

    def cpu_probe(self) -> CpuProbe:
        return CpuProbe(system_cpu_groups(self.system))

    def measure(self, url: str, *, label: str, method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Measurement:
        a = self.args
        return measure(
            url, {**self.admin_headers(), **(headers or {})}, label=label, method=method, body=body,
            concurrency=a.concurrency, seconds=a.seconds, warmup=a.warmup, cpu=self.cpu_probe(),
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
    for name, row in rows.items():
        if row["error_kinds"]:
            kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(row["error_kinds"].items()))
            print(f"  {name} errors: {kinds}")
    all_groups = list(next(iter(rows.values()))["cores_median"]) if rows else []
    groups = [g for g in all_groups
              if g == "other" or any(row["cores_median"].get(g, 0.0) >= 0.05 for row in rows.values())]
    if groups:
        print("  cores busy while measuring (CPU s per wall s, median of rounds; idle processes left out):")
        print("  " + f"{'target':<10}" + "".join(f" {g:>9}" for g in groups))
        for name, row in rows.items():
            print("  " + f"{name:<10}" + "".join(f" {row['cores_median'].get(g, 0.0):>9.2f}" for g in groups))


#: More than this many cores busy outside the system and the generator makes figures unreliable.
NOISE_CORES = 0.25


def warn_if_noisy(rows: dict[str, dict[str, Any]]) -> None:
    other = max((row["cores_median"].get("other", 0.0) for row in rows.values()), default=0.0)
    if other > NOISE_CORES:
        print(f"  WARNING: {other:.2f} cores were busy with other work on this machine while measuring;"
              " these figures are noisy, run again on a quiet machine")


def write_results(section: str, figures: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{section}.json"
    document = {
        "section": section,
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


def _roll_csv(rows: int) -> bytes:
    """A roll of ``rows`` valid members, as a fund would export it from Excel (TIS-620 CSV)."""
    from services.members.thai import national_id_check_digit

    lines = ["เลขประจำตัวประชาชน,คำนำหน้า,ชื่อ,นามสกุล,วันเกิด,เพศ,โทรศัพท์,หมู่ที่,บ้านเลขที่,วันที่สมัคร"]
    for i in range(rows):
        first12 = f"3{84_000_000_000 + i:011d}"
        nid = first12 + str(national_id_check_digit(first12))
        sex = "ชาย" if i % 2 else "หญิง"
        lines.append(f"{nid},{'นาย' if i % 2 else 'นาง'},สมาชิก{i},ทดสอบ,01/01/{2490 + i % 60},{sex},"
                     f"08{i % 100000000:08d},{1 + i % 17},{i % 400}/{i % 7},15/06/{2553 + i % 14}")
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


#: Later sections (ledger deposits, single and batched) are added here, run in this order.
SECTIONS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "gateway": section_gateway,
    "import": section_import,
}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = args.only or list(SECTIONS)
    print(f"sajja bench: {os.cpu_count()} CPUs, sections {', '.join(chosen)}; {describe(args)}",
          flush=True)
    failed: list[str] = []
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
                        SECTIONS[name](bench)
                    except (BenchError, asyncio.TimeoutError, httpx.HTTPError, aiohttp.ClientError) as exc:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
