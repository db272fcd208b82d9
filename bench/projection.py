"""The ``projection`` section of ``make bench``: one fund's sustainability projection (issue 28).

One fund of 6,000 members is made through the gateway as a fund would make it: its roll imported
(ages 20 to 79, both sexes, joined over 14 years), a collector's syncs of each member's yearly
savings for the last three years, co-funding from three sources each of those years, a plan,
the nine template benefits, claims of three years (education and elderly, submitted by one
committee member and approved by another), and deaths recorded on the roll. Then, through the
gateway as a platform admin, the projection (20 years, 1,000 runs: the defaults) is timed, one
request at a time, median of ``RUNS``; and once more with what-ifs. The target: under 2 s.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any


from bench.aggregates import time_views, timed
from shared.timeutil import BANGKOK

MEMBERS = 6_000
#: Years of savings and co-funding before this one, and of claims.
YEARS = 3
CLAIMS_PER_BENEFIT = 150
DEATHS = 60
RUNS = 5
TARGET_SECONDS = 2.0
#: National IDs of the roll (clear of the other sections' ranges) and the users' phones.
ID_FIRST = 1_500_000
PHONE = "08966600{:02d}"
PASSWORD = "bench-projection-pass"
BATCH = 500


def _fund(bench: Any) -> dict[str, Any]:
    """The fund, made through the gateway by people of each role."""
    from bench.aggregates import _Api
    from bench.run import BENCH_FUND, BenchError, _new_ids, _roll_csv

    api = _Api(bench)
    today = dt.datetime.now(BANGKOK).date()
    fund = api("POST", "/v1/members/funds", json={**BENCH_FUND, "name": "กองทุนสวัสดิการชุมชนตำบลคาดการณ์"})["id"]
    api("POST", f"/v1/members/funds/{fund}/members/import?consent_attested=true", content=_roll_csv(MEMBERS, first=ID_FIRST),
        who={**bench.admin_headers(), "Content-Type": "text/csv"})
    members: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api("GET", f"/v1/members/funds/{fund}/members", params={"limit": 500, **({"cursor": cursor} if cursor else {})})
        members += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    if len(members) != MEMBERS:
        raise BenchError(f"the fund has {len(members)} members, not {MEMBERS}")
    _, admin = api.user(PHONE.format(1), "fund_admin", fund_id=fund)
    _, committee = api.user(PHONE.format(2), "committee", fund_id=fund)
    _, checker = api.user(PHONE.format(3), "committee", fund_id=fund)
    collector_id, collector = api.user(PHONE.format(4), "collector", fund_id=fund)
    api("POST", f"/v1/members/funds/{fund}/collectors", json={"user_id": collector_id, "display_name": "อาสาคาดการณ์"})

    ledger = f"/v1/ledger/funds/{fund}"
    api("PATCH", f"{ledger}/rules", admin, json={"late_window_days": 366 * (YEARS + 1)})
    ids = [m["id"] for m in members]
    for back in range(YEARS, 0, -1):
        year = today.year - back
        at = dt.datetime(year, 11, 15, 10, tzinfo=BANGKOK).isoformat()
        for start in range(0, MEMBERS, BATCH):
            chunk = ids[start:start + BATCH]
            deposits = [{"id": i, "member_id": m, "amount_satang": 36_500, "collected_at": at, "collector_id": collector_id}
                        for i, m in zip(_new_ids(len(chunk)), chunk)]
            synced = api("POST", f"{ledger}/deposits/batch", collector, json={"deposits": deposits})
            if synced["created"] != len(chunk):
                raise BenchError(f"a sync created {synced['created']} of {len(chunk)}")
        for source, amount in (("codi", 60_000_000), ("local_government", 30_000_000), ("donors", 10_000_000)):
            api("POST", f"{ledger}/co-funding", committee, json={"id": str(uuid.uuid4()), "source": source, "amount_satang": amount,
                                                                 "received_on": f"{year}-06-30", "into": "bank"})
    api("POST", f"{ledger}/plans", admin, json={"name": "สัจจะวันละบาท", "period": "day", "amount_satang": 100,
                                                "effective_from": f"{today.year - YEARS}-01-01"})

    welfare = f"/v1/benefits/funds/{fund}"
    api("POST", f"{welfare}/catalog/from-templates", admin, json={"effective_from": "2000-01-01"})
    # Claims over the last three years: education for members who joined by 2020, elderly for
    # members aged 60 and over; each submitted by one committee member and approved by another.
    # (Row i of the roll, member number i + 1: born 1 January 1947 + i % 60, joined 15 June 2010 + i % 14.)
    def born(m: dict[str, Any]) -> dt.date:
        return dt.date(1947 + (m["member_no"] - 1) % 60, 1, 1)

    joined_early = [m for m in members if 2010 + (m["member_no"] - 1) % 14 <= 2020]
    old = [m for m in joined_early if born(m) <= dt.date(today.year - YEARS - 61, 1, 1)]
    made = 0
    for code, pool in (("education", joined_early[CLAIMS_PER_BENEFIT:]), ("elderly", old)):
        for n, member in enumerate(pool[:CLAIMS_PER_BENEFIT]):
            event = today - dt.timedelta(days=30 + (n * 997) % (365 * YEARS - 60))
            claim = api("POST", f"{welfare}/claims", committee, json={"member_id": member["id"], "benefit_code": code,
                                                                       "event_date": event.isoformat()})
            api("POST", f"{welfare}/claims/{claim['id']}/approve", checker)
            made += 1
    # Deaths on the roll over the same years (the fund's own death rates when no table is shipped).
    for n, member in enumerate(sorted(old, key=born)[:DEATHS]):
        on = today - dt.timedelta(days=20 + (n * 389) % (365 * YEARS - 40))
        api("POST", f"/v1/members/funds/{fund}/members/{member['id']}/status", committee,
            json={"status": "deceased", "effective_on": on.isoformat()})
    return {"fund_id": fund, "claims": made, "deaths": min(DEATHS, len(old))}


def _time(bench: Any, views: dict[str, str]) -> dict[str, dict[str, Any]]:
    seconds, last = time_views(bench, views, runs=RUNS, timeout=120)
    return {name: {**figures, "answer": last[name].json()} for name, figures in timed(views, seconds).items()}


def section_projection(bench: Any) -> dict[str, Any]:
    """One fund of 6,000 members, then its 20-year projection of 1,000 runs timed through the gateway."""
    from bench.run import BenchError, RESULTS_DIR, write_results

    started = time.perf_counter()
    fund = _fund(bench)
    made = time.perf_counter() - started
    print(f"  fund {fund['fund_id']} made through the gateway in {made:.1f} s: {MEMBERS:,} members, {YEARS} years of"
          f" savings and co-funding, {fund['claims']} claims, {fund['deaths']} deaths", flush=True)
    base = f"/v1/benefits/funds/{fund['fund_id']}/projection"
    views = {"projection": base,
             "projection_what_if": f"{base}?contribution_per_day_satang=200&new_members_per_year=300&stop_co_funding=codi"}
    timed = _time(bench, views)
    body = timed["projection"].pop("answer")
    timed["projection_what_if"].pop("answer")
    if body["starting"]["members"] != MEMBERS - fund["deaths"] or body["runs"] != 1000 or body["years"] != 20:
        raise BenchError(f"the projection starts from {body['starting']['members']} members, {body['runs']} runs,"
                         f" {body['years']} years")
    print(f"\nprojection of one fund of {MEMBERS:,} members, {body['years']} years x {body['runs']:,} runs, through the gateway"
          f" as a platform admin, one request at a time, median of {RUNS}:")
    print(f"  {'view':<20} {'median s':>9}   runs s")
    for name, row in timed.items():
        print(f"  {name:<20} {row['seconds_median']:>9.3f}   " + ", ".join(f"{x:.3f}" for x in row["seconds_rounds"]))
    slow = [name for name, row in timed.items() if row["seconds_median"] >= TARGET_SECONDS]
    print(f"  target: each under {TARGET_SECONDS:g} s: " + ("MET" if not slow else f"NOT MET ({', '.join(slow)})"))
    figures = {
        "members": MEMBERS, "years": body["years"], "runs_per_projection": body["runs"], "runs": RUNS,
        "claims": fund["claims"], "deaths": fund["deaths"], "setup_seconds": round(made, 1),
        "mortality_basis": body["mortality"]["basis"], "views": timed,
        "seconds": bench.args.seconds, "warmup_seconds": bench.args.warmup, "rounds": bench.args.rounds,
        "concurrency": bench.args.concurrency,
        "targets": {name: {"reached": row["seconds_median"], "target": TARGET_SECONDS, "met": row["seconds_median"] < TARGET_SECONDS}
                    for name, row in timed.items()},
    }
    written = write_results("projection", figures)
    print(f"  written to {written.relative_to(RESULTS_DIR.parent)}")
    return figures
