"""The README's benchmark table is the committed summary of the last full ``make bench``
(``bench-results/summary.json``), figure for figure, with its date and machine; and the writer
(``bench/summary.py``) makes what that check reads.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench import summary as bench_summary

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = ROOT / "bench-results" / "summary.json"
BEGIN = "<!-- bench-summary: written by make bench from bench-results/summary.json -->"
END = "<!-- /bench-summary -->"


def readme_block(readme: str) -> str:
    """The table between the markers, inside the Benchmarks section."""
    section = re.search(r"^## Benchmarks\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section is not None, "README.md has no '## Benchmarks' section"
    body = section.group(1)
    assert BEGIN in body and END in body, (
        "README.md's Benchmarks section has no table of bench-results/summary.json: run make bench"
        " (it writes the table) and commit README.md with the summary")
    return body[body.index(BEGIN) + len(BEGIN):body.index(END)]


def table_rows(block: str) -> dict[str, str]:
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and cells[0] != "Figure" and not set(cells[1]) <= set("-:"):
            rows[cells[0]] = cells[1]
    return rows


def number(shown: str) -> float:
    return float(shown.removesuffix(" s").replace(",", ""))


def check_readme(readme: str, summary: dict[str, Any]) -> None:
    block = readme_block(readme)
    machine = summary["machine"]
    for fact in (summary["date"], machine["cpu"], f"{machine['cores']} cores", f"Python {machine['python']}",
                 f"PostgreSQL {machine['postgresql']}"):
        assert fact in block, f"README's table does not say {fact!r} (the summary's date and machine)"
    shown = table_rows(block)
    assert {label: number(value) for label, value in shown.items()} == {
        f["label"]: f["value"] for f in summary["figures"]}, "README's table and bench-results/summary.json differ"


def test_the_readme_table_is_the_committed_summary() -> None:
    if not SUMMARY.is_file():
        pytest.skip("no bench-results/summary.json yet: run `make bench` on a quiet machine, then commit"
                    " bench-results/summary.json, bench-results/summary.md and README.md")
    summary = json.loads(SUMMARY.read_text(encoding="utf-8"))
    assert summary["full_run"], "bench-results/summary.json is from a smoke run: run the full make bench"
    check_readme((ROOT / "README.md").read_text(encoding="utf-8"), summary)


# --------------------------------------------------------------------------- the writer


def _row(median: float, rounds: list[float]) -> dict[str, Any]:
    return {"deposits_per_s_median": median, "deposits_per_s_rounds": rounds, "rps_median": median}


def sections(seconds: float = 10.0, rounds: int = 2) -> dict[str, dict[str, Any]]:
    """The sections' figures as the bench writes them (the fields the summary reads)."""
    knobs = {"seconds": seconds, "warmup_seconds": 2.0, "rounds": rounds}
    return {
        "gateway": {**knobs, "concurrency": 32, "targets": {
            "direct": {"rps_median": 1012.34, "rps_rounds": [1000.1, 1024.6]},
            "gateway": {"rps_median": 987.6, "rps_rounds": [980.0, 995.2]}}},
        "import": {"rows": 10_000, "runs": {"first upload": {"seconds": 1.304}, "same file again": {"seconds": 0.41}}},
        "ledger": {**knobs, "concurrency_single": 32, "concurrency_batched": 4, "batch_size": 500, "phones": 128,
                   "spread_funds": 4,
                   "single": {"direct": _row(4145.2, [4100, 4190.4]), "gateway": _row(2881.5, [2800, 2963]),
                              "pgbench": _row(1074.0, [1070, 1078])},
                   "single_many_phones": {"gateway, 128 phones": _row(4038.0, [4000, 4076])},
                   "single_spread": {"gateway, 4 funds": _row(1880.0, [1800, 1960])},
                   "batched": {"direct": _row(24350.0, [25000, 23700]), "gateway": _row(26250.0, [28450, 24050]),
                               "pgbench": _row(34500.0, [35000, 34000])},
                   "batched_spread": {"gateway, 4 funds": _row(29300.0, [30000, 28600])}},
        "aggregates": {**knobs, "concurrency": 32, "funds": 6_000, "province_funds": 78, "runs": 5, "views": {
            name: {"seconds_median": seconds, "seconds_rounds": [seconds] * 5} for name, seconds in (
                ("national", 0.4213), ("province", 0.08), ("funds_table", 0.35), ("funds_csv", 0.3),
                ("funds_xlsx", 0.9), ("fund_dashboard", 0.05))},
                       "arrears_recount": {"funds": 6_000, "seconds": 98.04, "funds_per_s": 61.2}},
        "projection": {**knobs, "concurrency": 32, "members": 6_000, "years": 20, "runs_per_projection": 1_000, "runs": 5,
                       "views": {"projection": {"seconds_median": 0.734, "seconds_rounds": [0.734] * 5},
                                 "projection_what_if": {"seconds_median": 0.81, "seconds_rounds": [0.81] * 5}}},
        "replicas": {**knobs, "funds": 8, "concurrency": 128,
                     "targets": {"1 ledger replica": _row(1500.4, [1490, 1510.8]),
                                 "2 ledger replicas": _row(1620.0, [1600, 1640])}},
        "peak": {"seconds": seconds, "rounds": rounds, "phones": 200, "pause_ms": 100,
                 "deposits_per_s_median": 1580.6, "deposits_per_s_rounds": [1570.2, 1591.0],
                 "p50_ms": 12.34, "p90_ms": 25.0, "p99_ms": 44.96, "p99_ms_rounds": [44.957, 47.31]},
    }


MACHINE = {"cpu": "Test CPU @ 2.0GHz", "cores": 2, "memory_gib": 7.8, "os": "Linux 6.1", "python": "3.11.2",
           "postgresql": "18.1"}
WHEN = dt.datetime(2026, 12, 8, 9, 30, tzinfo=dt.UTC)
README = "# Sajja\n\n## Benchmarks\n\n`make bench` measures.\n\n## Deploy\n\nThere.\n"


def test_a_full_run_is_summarised_with_medians_date_and_machine() -> None:
    summary = bench_summary.summarize(sections(), when=WHEN, on=MACHINE)
    assert summary["full_run"] and summary["date"] == "2026-12-08" and summary["machine"] == MACHINE
    figures = {f["key"]: f for f in summary["figures"]}
    assert figures["reads_direct"]["value"] == 1012 and figures["reads_direct"]["rounds"] == [1000, 1025]
    assert figures["reads_ratio"]["value"] == 0.98
    assert figures["import_first"]["value"] == 1.3
    assert figures["batched_gateway"]["value"] == 26250 and figures["batched_gateway"]["rounds"] == [28450, 24050]
    assert list(figures) == ["reads_direct", "reads_gateway", "reads_ratio", "import_first", "import_again",
                             "single_direct", "single_gateway", "single_gateway_many_phones", "single_gateway_funds",
                             "single_pgbench", "batched_direct", "batched_gateway", "batched_gateway_funds",
                             "batched_pgbench", "aggregates_national", "aggregates_province", "aggregates_funds_table",
                             "aggregates_funds_csv", "aggregates_funds_xlsx", "aggregates_fund_dashboard",
                             "aggregates_arrears_recount", "projection", "projection_what_if", "single_funds_one_ledger", "single_funds_two_ledgers", "peak_deposits",
                             "peak_p50", "peak_p90", "peak_p99"]
    assert figures["aggregates_national"] == {"key": "aggregates_national", "label": "National roll-up, 6,000 funds",
                                              "value": 0.42, "unit": "s"}
    assert figures["aggregates_province"]["label"] == "A province's roll-up (78 funds)"
    assert figures["aggregates_arrears_recount"] == {"key": "aggregates_arrears_recount", "label": "Arrears of every fund"
                                                     " counted again by the worker, 6,000 funds", "value": 98.0, "unit": "s"}
    assert figures["projection"] == {"key": "projection", "label": "Sustainability projection, one fund of 6,000 members,"
                                     " 20 years x 1,000 runs", "value": 0.73, "unit": "s"}
    assert figures["single_funds_two_ledgers"]["value"] == 1620 and figures["peak_deposits"]["rounds"] == [1570, 1591]
    assert (figures["peak_p50"]["value"], figures["peak_p99"]["value"], figures["peak_p99"]["unit"]) == (12.3, 45.0, "ms")
    assert figures["peak_p99"]["rounds"] == [45.0, 47.3] and "rounds" not in figures["peak_p50"]
    assert "- Evening peak, 200 phones pausing 100 ms: p99 latency, ms: 45.0, 47.3" in bench_summary.markdown(summary)


@pytest.mark.parametrize(
    ("chosen", "seconds", "rounds"),
    [(("gateway", "import", "ledger", "aggregates", "projection", "replicas", "peak"), 2.0, 2),
     (("gateway", "import", "ledger", "aggregates", "projection", "replicas", "peak"), 10.0, 1),
     (("gateway", "import", "ledger", "aggregates", "replicas", "peak"), 10.0, 2),
     (("gateway", "import", "ledger"), 10.0, 2), (("ledger",), 10.0, 2), (("aggregates",), 10.0, 2)],
)
def test_shorter_rounds_or_fewer_sections_are_a_smoke_run(chosen: tuple[str, ...], seconds: float, rounds: int) -> None:
    partial = {name: s for name, s in sections(seconds, rounds).items() if name in chosen}
    assert not bench_summary.summarize(partial, when=WHEN, on=MACHINE)["full_run"]


def test_the_readme_gets_the_table_once_and_the_check_reads_it_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_summary, "machine", lambda: MACHINE)
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    written = bench_summary.write(sections(), when=WHEN, results=tmp_path / "results", readme=readme)
    assert written.name == "summary.md"
    summary = json.loads((tmp_path / "results" / "summary.json").read_text(encoding="utf-8"))
    text = readme.read_text(encoding="utf-8")
    check_readme(text, summary)
    assert text.index("`make bench` measures.") < text.index(BEGIN) < text.index("## Deploy")
    assert "| Syncs of 500 (4 phones), through the gateway | 26,250 |" in text
    assert "| Roll import, 10,000 rows through the gateway | 1.30 s |" in text
    assert "| Funds table as XLSX, 6,000 funds | 0.90 s |" in text and "median of 5 runs" in text
    assert "| Evening peak, 200 phones pausing 100 ms: p99 latency, ms | 45.0 |" in text
    assert "| Single deposits over 8 funds, through the gateway, 128 in flight, 2 ledger replicas | 1,620 |" in text
    assert bench_summary.table(summary) in written.read_text(encoding="utf-8")

    later = sections()
    later["ledger"]["batched"]["gateway"] = _row(25000.0, [25500, 24500])
    bench_summary.write(later, when=WHEN + dt.timedelta(days=1), results=tmp_path / "results", readme=readme)
    again = readme.read_text(encoding="utf-8")
    assert again.count(BEGIN) == 1 and "2026-12-09" in again and "2026-12-08" not in again
    assert "| Syncs of 500 (4 phones), through the gateway | 25,000 |" in again
    with pytest.raises(AssertionError, match="does not say '2026-12-08'"):
        check_readme(again, summary)  # the table of another run
    with pytest.raises(AssertionError, match="differ"):
        check_readme(again.replace("25,000", "25,001"),
                      json.loads((tmp_path / "results" / "summary.json").read_text(encoding="utf-8")))


def test_a_smoke_run_leaves_the_summary_and_the_readme_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_summary, "machine", lambda: MACHINE)
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    written = bench_summary.write(sections(seconds=1.0), when=WHEN, results=tmp_path, readme=readme)
    assert written.name == "smoke-summary.md" and "smoke run" in written.read_text(encoding="utf-8")
    assert not (tmp_path / "summary.json").exists() and readme.read_text(encoding="utf-8") == README


def test_a_readme_without_the_table_fails_the_check() -> None:
    summary = bench_summary.summarize(sections(), when=WHEN, on=MACHINE)
    with pytest.raises(AssertionError, match="no table"):
        check_readme(README, summary)


def test_the_header_says_when_the_target_sections_took_more_rounds() -> None:
    """The replicas and the evening peak take more rounds (bench/run.py TARGET_ROUNDS):
    the table's header says so when the other sections took fewer."""
    made = sections()
    for name in ("replicas", "peak"):
        made[name]["rounds"] = 3
    summary = bench_summary.summarize(made, when=WHEN, on=MACHINE)
    assert summary["full_run"] and summary["settings"]["rounds"] == 2 and summary["settings"]["target_rounds"] == 3
    header = bench_summary.describe_machine(summary)
    assert "medians of 2 rounds of 10 s" in header and "the ledger replicas and the evening peak: medians of 3 rounds" in header
    assert "evening peak" not in bench_summary.describe_machine(bench_summary.summarize(sections(), when=WHEN, on=MACHINE))


def _on_disk(results: Path, made: dict[str, dict[str, Any]]) -> None:
    results.mkdir(exist_ok=True)
    for name, figures in made.items():
        (results / f"{name}.json").write_text(json.dumps({"section": name, **figures}), encoding="utf-8")


def test_a_summary_rebuilt_from_disk_takes_one_run_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m bench.summary`` after a full run and a later ``--only peak``: the section files
    on disk are of two runs; the summary is the newest run's alone (a smoke summary of the peak),
    never the full run's figures with the later peak's, and the committed summary and README stay."""
    full = sections()
    for figures in full.values():
        figures.update(run="full-1", timestamp="2026-12-08T09:00:00+00:00")
    later = sections()["peak"] | {"run": "peak-2", "timestamp": "2026-12-08T10:00:00+00:00", "p99_ms": 99.0,
                                  "p99_ms_rounds": [99.0, 99.0]}
    results = tmp_path / "results"
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    _on_disk(results, {**full, "peak": later})
    monkeypatch.setattr(bench_summary, "RESULTS_DIR", results)
    monkeypatch.setattr(bench_summary, "ROOT", tmp_path)
    monkeypatch.setattr(bench_summary, "README", readme)
    monkeypatch.setattr(bench_summary, "machine", lambda: MACHINE)
    assert bench_summary.main() == 0
    assert "left out, from another run than the newest: aggregates, gateway, import, ledger, projection, replicas" in capsys.readouterr().out
    assert not (results / "summary.json").exists() and readme.read_text(encoding="utf-8") == README
    smoke = json.loads((results / "smoke-summary.json").read_text(encoding="utf-8"))
    assert smoke["settings"]["sections"] == ["peak"] and not smoke["full_run"]
    # The full run's files alone again: its summary, the README's table with it.
    _on_disk(results, full)
    assert bench_summary.main() == 0
    summary = json.loads((results / "summary.json").read_text(encoding="utf-8"))
    assert summary["full_run"] and {f["key"]: f["value"] for f in summary["figures"]}["peak_p99"] == 45.0
    check_readme(readme.read_text(encoding="utf-8"), summary)


def test_section_files_of_no_known_run_make_no_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Section files written before runs had ids: which run each is from cannot be told."""
    _on_disk(tmp_path, sections())
    monkeypatch.setattr(bench_summary, "RESULTS_DIR", tmp_path)
    assert bench_summary.main() == 1
    assert not (tmp_path / "summary.json").exists() and not (tmp_path / "smoke-summary.json").exists()
