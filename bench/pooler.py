"""``python -m bench.pooler`` (the second half of ``make bench``): what PgBouncer in transaction
mode costs (issue 25, point 2).

The same workload, single deposits posted through the gateway by one collector's phone, on the
same embedded PostgreSQL, once with every process connected to the server directly and once with
every process connected through Debian's PgBouncer (``SAJJA_DB_POOLER=pgbouncer``: no prepared
statement cache, the posting call in a transaction of its own; shared/db.py). The two systems run
one after the other, each for the bench's rounds; PgBouncer's CPU is counted as its own group.
Figures go to ``bench-results/pooler.json`` only (the README's table is the main bench's).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.run import (
    COLLECTOR_PASSWORD, Bench, BenchError, _ledger_setup, _single_deposits, describe, parse_args, print_table,
    summarize, write_results,
)
from shared.embedded_pg import EmbeddedPostgres
from shared.settings import PROCESS_NAMES
from tests.support import pgbouncer
from tests.support.system import running_system

MEMBERS = 500


def _pgbouncer_processes() -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(os.getpid()).children() if p.name() == "pgbouncer"]
    except psutil.NoSuchProcess:
        return []


def _measure(home: Path, env: dict[str, str], args: Any, label: str, number: int) -> dict[str, Any]:
    with running_system(home, extra_env=env, quiet=not args.verbose) as system:
        bench = Bench(system=system, args=args)
        books = _ledger_setup(bench, number=number, members=MEMBERS)
        headers = {"Content-Type": "application/json", **bench.login_headers(books.phone, COLLECTOR_PASSWORD)}
        url = f"{system.url}/v1/ledger/funds/{books.fund_id}/deposits"
        runs = []
        for round_no in range(1, args.rounds + 1):
            run = bench.measure(url, label=label, method="POST", headers=headers, ok_status=201,
                                body_factory=_single_deposits(books),
                                cpu=bench.cpu_probe({"pgbouncer": _pgbouncer_processes}))
            runs.append(run)
            print(f"  round {round_no} {label:<10} {run.rps:8.1f} deposits/s  ok {run.ok}  errors {run.error_count}", flush=True)
        return summarize(runs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not pgbouncer.available():
        print("bench.pooler: pgbouncer is not installed (tools/system_packages.sh pooler); skipped", file=sys.stderr)
        return 0
    print(f"sajja bench pooler: {os.cpu_count()} CPUs; {describe(args)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sajja-bench-pooler-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", delete_on_stop=True)
        direct = pg.start()
        try:
            with pgbouncer.pgbouncer_in_front(pg) as (pooled, _admin):
                # One home: the second system reads the first's data with the same development secrets.
                home = Path(tmp) / "home"
                rows = {"direct": _measure(home, {"SAJJA_DATABASE_URL": direct}, args, "direct", 1)}
                env = {"SAJJA_DATABASE_URL": direct, "SAJJA_DB_POOLER": "pgbouncer",
                       **{f"SAJJA_{name.upper()}_DATABASE_URL": pooled for name in PROCESS_NAMES}}
                rows["pgbouncer"] = _measure(home, env, args, "pgbouncer", 2)
        except (BenchError, RuntimeError, TimeoutError) as exc:
            print(f"!! bench pooler failed: {exc}", file=sys.stderr)
            return 1
        finally:
            pg.stop()
    print()
    print_table(f"single deposits through the gateway, direct vs through PgBouncer ({describe(args)})", rows)
    direct_rps, pooled_rps = rows["direct"]["rps_median"], rows["pgbouncer"]["rps_median"]
    ratio = round(pooled_rps / direct_rps, 3) if direct_rps else None
    print(f"  ratio pgbouncer/direct: {ratio}")
    if not rows["direct"]["ok"] or not rows["pgbouncer"]["ok"]:
        print("!! no successful deposits: figures are meaningless", file=sys.stderr)
        return 1
    path = write_results("pooler", {"endpoint": "POST /v1/ledger/funds/{id}/deposits", "members": MEMBERS,
                                    "concurrency": args.concurrency, "seconds": args.seconds, "rounds": args.rounds,
                                    "targets": rows, "ratio_pgbouncer_over_direct": ratio,
                                    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    print(f"  written to {path.relative_to(path.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
