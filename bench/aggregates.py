"""The ``aggregates`` section of ``make bench``: views of many funds over the country's 6,000 funds.

One fund is made through the gateway as a fund would make it (a roll of members, a collector's
syncs of a year of monthly deposits, co-funding from three sources, a contribution plan, benefit
claims paid and one waiting, a grant with a tranche received), with real users of each role. The
other 5,999 are copies of it made in SQL, in each service's own database: every row the services
wrote for the fund (and the rows hanging off them) is inserted again once per copy with every
id made new (``md5(copy || id)``, the same in every database, so a member, an entry or a claim
keeps pointing at its own across services), the copies spread over 77 provinces with a network
each. The ledger's own triggers check every copied posting (entries balance, accounts exist) and
queue every copied entry; ``ledger_refresh_aggregates()`` then builds the day totals. The benefits
and grants services' triggers keep their aggregates from the copied claims, applications and
tranches as they would from the services' own writes. The
arrears each copy's ledger would count are the template's (the same books and roll), copied.

Then, through the gateway as a platform admin, each view is timed (median of several runs, one
request at a time, the same run): the national roll-up, one province's roll-up, the funds table
(JSON), its CSV and XLSX, and one fund's dashboard. Last, every fund's arrears count is made due
at once (as at midnight) and the ledger's aggregates worker is timed counting them all: one
national recount, which the arrears' former 15-minute age made four times an hour.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from shared.timeutil import BANGKOK

#: Funds in all (the template and its copies; SAJJA_BENCH_FUNDS for a quicker try), members per
#: fund, syncs (one a month) per fund.
FUNDS = int(os.environ.get("SAJJA_BENCH_FUNDS", "") or 6_000)
MEMBERS = 30
MONTHS = 12
#: The advisory lock under which ledger_refresh_aggregates() runs (REFRESH_LOCK of ledger revisions
#: 0014 and 0015): the section's own writes to fund_arrears take it too.
REFRESH_LOCK = 0x5A4A_A661
DEPOSIT_SATANG = 10_000
PROVINCES = 77
#: Runs of each timed view; the median is reported.
RUNS = 5
#: National IDs of the template's roll (clear of the other sections' ranges).
ID_FIRST = 900_000
PASSWORD = "bench-aggregates-pass"
#: Copies inserted per transaction.
CHUNK = 1_000

#: Tables the copies leave out: the aggregates each service builds from the copies itself (the
#: ledger's queue and day totals; benefits' and grants' kept by triggers on the copied claims,
#: applications and tranches), and records of acts.
SKIP = {"alembic_version", "audit_events", "aggregate_queue", "income_days", "deposit_days", "benefit_paid_days",
        "benefit_helped_days", "benefit_waiting", "grant_totals", "idempotency_keys", "idempotency"}
#: Columns that name something shared by every copy (a grant program, its grantor).
KEEP = {"program_id", "grantor_id", "network_id"}


def province(n: int) -> str:
    return f"จังหวัดทดสอบ {n % PROVINCES + 1:02d}"


# --------------------------------------------------------------------------- the template fund, through the gateway


class _Api:
    def __init__(self, bench: Any) -> None:
        self.bench = bench
        self.client = httpx.Client(base_url=bench.system.url, timeout=120)

    def __call__(self, method: str, path: str, who: dict[str, str] | None = None, expect: tuple[int, ...] = (200, 201),
                 **kwargs: Any) -> Any:
        from bench.run import BenchError

        answer = self.client.request(method, path, headers=who or self.bench.admin_headers(), **kwargs)
        if answer.status_code not in expect:
            raise BenchError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    def user(self, phone: str, role: str, **scope: Any) -> tuple[str, dict[str, str]]:
        made = self("POST", "/v1/auth/users", json={"phone": phone, "password": PASSWORD, "display_name": f"ทดสอบ {role}",
                                                    "role": role, **scope})
        return made["id"], self.bench.login_headers(phone, PASSWORD)


def _template(bench: Any) -> dict[str, Any]:
    """The fund every other is a copy of, made through the gateway by people of each role."""
    from bench.run import BENCH_FUND, BenchError, _new_ids, _roll_csv

    api = _Api(bench)
    today = dt.datetime.now(BANGKOK).date()
    networks = [api("POST", "/v1/members/networks", json={"name_th": f"เครือข่าย{province(n)}", "province": province(n)})["id"]
                for n in range(PROVINCES)]
    fund = api("POST", "/v1/members/funds", json={**BENCH_FUND, "name": "กองทุนสวัสดิการชุมชนตำบลต้นแบบ",
                                                  "province": province(0), "network_id": networks[0]})["id"]
    api("POST", f"/v1/members/funds/{fund}/members/import?consent_attested=true", content=_roll_csv(MEMBERS, first=ID_FIRST),
        who={**bench.admin_headers(), "Content-Type": "text/csv"})
    members = [m["id"] for m in api("GET", f"/v1/members/funds/{fund}/members", params={"limit": 500})["items"]]
    if len(members) != MEMBERS:
        raise BenchError(f"the template fund has {len(members)} members, not {MEMBERS}")
    _, admin = api.user("0897770001", "fund_admin", fund_id=fund)
    _, committee = api.user("0897770002", "committee", fund_id=fund)
    _, checker = api.user("0897770003", "committee", fund_id=fund)
    collector_id, collector = api.user("0897770004", "collector", fund_id=fund)
    api("POST", f"/v1/members/funds/{fund}/collectors", json={"user_id": collector_id, "display_name": "อาสาทดสอบ"})

    ledger = f"/v1/ledger/funds/{fund}"
    api("PATCH", f"{ledger}/rules", admin, json={"late_window_days": 400})
    for back in range(MONTHS - 1, -1, -1):  # a sync a month, collected on its day, oldest first
        # At ten in the morning, but never in the future: before 10:00 in Bangkok today's is now.
        at = min(dt.datetime.combine(today - dt.timedelta(days=30 * back), dt.time(10), BANGKOK),
                 dt.datetime.now(BANGKOK) - dt.timedelta(minutes=5)).isoformat()
        deposits = [{"id": i, "member_id": m, "amount_satang": DEPOSIT_SATANG, "collected_at": at, "collector_id": collector_id}
                    for i, m in zip(_new_ids(MEMBERS), members)]
        synced = api("POST", f"{ledger}/deposits/batch", collector, json={"deposits": deposits})
        if synced["created"] != MEMBERS:
            raise BenchError(f"a sync created {synced['created']} of {MEMBERS}")
    for source, amount, into, days in (("codi", 5_000_000, "bank", 0), ("local_government", 2_000_000, "bank", 100),
                                       ("donors", 300_000, "fund_cash", 10)):
        api("POST", f"{ledger}/co-funding", committee, json={"id": str(uuid.uuid4()), "source": source, "amount_satang": amount,
                                                             "received_on": (today - dt.timedelta(days=days)).isoformat(),
                                                             "into": into})
    api("POST", f"{ledger}/plans", admin, json={"name": "สัจจะเดือนละ 120 บาท", "period": "month", "amount_satang": 12_000,
                                                "effective_from": f"{today.year}-01-01"})

    welfare = f"/v1/benefits/funds/{fund}"
    api("POST", f"{welfare}/catalog/from-templates", admin, json={"effective_from": "2000-01-01"})
    claims = []
    for member in members[:4]:
        claim = api("POST", f"{welfare}/claims", committee, json={"member_id": member, "benefit_code": "education",
                                                                   "event_date": today.isoformat()})
        claims.append(claim["id"])
    for claim in claims[:3]:  # the fourth waits
        api("POST", f"{welfare}/claims/{claim}/approve", checker)

    grantor = api("POST", "/v1/grants/grantors", json={"kind": "codi", "name": "พอช. (ทดสอบ)"})["id"]
    _, officer = api.user("0897770005", "grant_officer", grantor_id=grantor)
    reviewers = [api.user(f"089777000{6 + i}", "grant_officer", grantor_id=grantor)[1] for i in range(2)]
    program = api("POST", "/v1/grants/programs", officer, json={
        "grantor": "codi", "name": "สนับสนุนกองทุนสวัสดิการชุมชน", "fiscal_year_be": today.year + 543,
        "envelope_satang": 1_000_000_000_000, "per_fund_ceiling_satang": 5_500_000})["id"]
    application = api("POST", f"/v1/grants/programs/{program}/applications", admin, json={
        "fund_id": fund, "title": "ขยายสวัสดิการผู้สูงอายุ", "budget_lines": [
            {"line": "L1", "description": "สวัสดิการ", "amount_satang": 3_000_000},
            {"line": "L2", "description": "อบรม", "amount_satang": 2_500_000}]})["id"]
    api("POST", f"/v1/grants/applications/{application}/submit", admin)
    for reviewer in reviewers:
        api("POST", f"/v1/grants/applications/{application}/reviews", reviewer, json={"score": 80, "recommendation": "approve"})
    decided = api("POST", f"/v1/grants/applications/{application}/decision", officer, json={
        "decision": "approve", "tranches": [{"amount_satang": 3_000_000, "due_on": today.isoformat()},
                                            {"amount_satang": 2_500_000, "due_on": (today + dt.timedelta(days=90)).isoformat()}]})
    api("POST", f"/v1/grants/applications/{application}/tranches/{decided['tranches'][0]['id']}/disbursement", officer,
        json={"disbursed_on": today.isoformat(), "reference": "KTB-0001"})

    # The benefits and grants workers pay the claims and post the tranche to the ledger.
    deadline = time.monotonic() + 60
    while True:
        paid = [api("GET", f"{welfare}/claims/{c}", committee)["status"] for c in claims[:3]]
        posted = api("GET", f"/v1/grants/applications/{application}", officer)["tranches"][0]["ledger_status"]
        if paid == ["paid"] * 3 and posted == "posted":
            break
        if time.monotonic() > deadline:
            raise BenchError(f"the workers did not pay the claims ({paid}) or post the tranche ({posted}) within 60 s")
        time.sleep(0.5)
    api("POST", "/v1/ledger/aggregates/refresh")  # counts the template's arrears
    dashboard = api("GET", f"/v1/dashboard/funds/{fund}")
    api.client.close()
    return {"fund_id": fund, "networks": networks, "dashboard": dashboard}


# --------------------------------------------------------------------------- the copies, in SQL


def _columns(pg: Any) -> dict[str, list[tuple[str, str, int | None]]]:
    from bench.pgbench import psql_rows

    out: dict[str, list[tuple[str, str, int | None]]] = {}
    for table, column, kind, length in psql_rows(pg, """
            SELECT table_name, column_name, data_type, coalesce(character_maximum_length::text, '')
              FROM information_schema.columns
             WHERE table_schema = 'public' AND is_generated = 'NEVER' AND is_identity = 'NO'
               AND coalesce(column_default, '') NOT LIKE 'nextval(%'
             ORDER BY table_name, ordinal_position"""):
        out.setdefault(table, []).append((column, kind, int(length) if length else None))
    return out


def _foreign_keys(pg: Any) -> list[tuple[str, str, list[str], list[str]]]:
    """(table, referenced table, its columns, the referenced columns) of every foreign key."""
    from bench.pgbench import psql_rows

    rows = psql_rows(pg, """
        SELECT c.conrelid::regclass::text, c.confrelid::regclass::text,
               (SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
               (SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n)
          FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace""")
    return [(t, r, cols.split(","), refs.split(",")) for t, r, cols, refs in rows]


def copy_plan(columns: dict[str, list[tuple[str, str, int | None]]], keys: list[tuple[str, str, list[str], list[str]]],
              fund_id: str, first_table: str | None) -> list[tuple[str, str, str]]:
    """(table, column list, SELECT of the copies over ``g(n)``) for each table holding the fund's
    rows, parents first: the tables with a ``fund_id`` (and ``first_table``, whose ``id`` is the
    fund's), then those whose foreign key names one of them."""
    chosen: dict[str, str] = {}  # table -> the condition on alias t picking the template's rows
    if first_table:
        chosen[first_table] = f"t.id = '{fund_id}'"
    for table, cols in columns.items():
        if table not in SKIP and any(c == "fund_id" for c, _, _ in cols):
            chosen.setdefault(table, f"t.fund_id = '{fund_id}'")
    grew = True
    while grew:
        grew = False
        for table, parent, key_cols, refs in keys:
            if table in chosen or table in SKIP or parent not in chosen or table == parent:
                continue
            parent_rows = chosen[parent].replace("t.", "p.")
            chosen[table] = (f"({', '.join('t.' + c for c in key_cols)}) IN (SELECT {', '.join('p.' + r for r in refs)}"
                             f" FROM {parent} p WHERE {parent_rows})")
            grew = True
    outside = {(t, c) for t, parent, cols, _ in keys if parent not in chosen for c in cols}
    order: list[str] = []
    pending = set(chosen)
    while pending:
        ready = sorted(t for t in pending if not any(p in pending and p != t for t2, p, _, _ in keys if t2 == t))
        if not ready:
            raise RuntimeError(f"foreign keys in a cycle among {sorted(pending)}")
        order += ready
        pending -= set(ready)

    def expression(table: str, column: str, kind: str, length: int | None) -> str:
        if kind == "uuid" and column not in KEEP and (table, column) not in outside:
            return f"md5(g.n::text || t.{column}::text)::uuid"
        if column == "national_id_hash":  # one person is a current member of one fund only
            if kind == "bytea":
                return f"decode(md5(g.n::text || encode(t.{column}, 'hex')), 'hex')"
            return f"left(md5(g.n::text || t.{column}) || md5(t.{column} || g.n::text), {length or 64})"
        if table == first_table and column == "name":
            return "t.name || ' ' || g.n"
        if table == first_table and column == "province":
            return f"'จังหวัดทดสอบ ' || lpad((g.n % {PROVINCES} + 1)::text, 2, '0')"
        if table == first_table and column == "network_id":
            return f"(:networks)[g.n % {PROVINCES} + 1]"
        return f"t.{column}"

    plan = []
    for table in order:
        cols = columns[table]
        names = ", ".join(c for c, _, _ in cols)
        select = (f"SELECT {', '.join(expression(table, c, k, n) for c, k, n in cols)} FROM {table} t"
                  f" CROSS JOIN generate_series(:first, :last) AS g(n) WHERE {chosen[table]}")
        plan.append((table, names, select))
    return plan


def _copies(bench: Any, template: dict[str, Any]) -> dict[str, Any]:
    from bench.pgbench import find_postgres, psql_rows

    pg = find_postgres(bench.system.home / "pgdata")
    networks = "ARRAY[" + ", ".join(f"'{n}'::uuid" for n in template["networks"]) + "]"
    fund = template["fund_id"]
    timings: dict[str, float] = {}
    rows: dict[str, int] = {}
    for service, first_table in (("members", "funds"), ("ledger", None), ("benefits", None), ("grants", None)):
        db = dataclasses.replace(pg, database=f"sajja_{service}")
        plan = copy_plan(_columns(db), _foreign_keys(db), fund, first_table)
        started = time.perf_counter()
        for first in range(1, FUNDS, CHUNK):
            last = min(FUNDS - 1, first + CHUNK - 1)
            statements = ["SET CONSTRAINTS ALL DEFERRED"] + [
                f"INSERT INTO {table} ({names}) " + select.replace(":first", str(first)).replace(":last", str(last))
                .replace(":networks", networks) for table, names, select in plan]
            psql_rows(db, "BEGIN; " + "; ".join(statements) + "; COMMIT", timeout=1800)
        psql_rows(db, "ANALYZE")
        timings[service] = round(time.perf_counter() - started, 1)
        for table, _, _ in plan:
            [[count]] = psql_rows(db, f"SELECT count(*) FROM {table}")
            rows[f"{service}.{table}"] = int(count)
        sizes = ", ".join(f"{t} {rows[service + '.' + t]:,}" for t, _, _ in plan if rows[service + "." + t] >= FUNDS)
        print(f"  {service}: {len(plan)} tables copied {FUNDS - 1:,} times in {timings[service]:.1f} s ({sizes})", flush=True)
    # The copies' members were just written, and the ledger would take them for changes of the
    # copies' rolls (docs/aggregates.md "Arrears") and count every copy again while the views are
    # timed: they are made to look as old as the template's counts below say they are not.
    psql_rows(dataclasses.replace(pg, database="sajja_members"),
              f"UPDATE members SET updated_at = updated_at - interval '1 day' WHERE fund_id <> '{fund}'", timeout=1800)
    ledger = dataclasses.replace(pg, database="sajja_ledger")
    started = time.perf_counter()
    [[queued]] = psql_rows(ledger, "SELECT count(*) FROM aggregate_queue")
    psql_rows(ledger, "SELECT ledger_refresh_aggregates()", timeout=1800)
    # The copies' arrears are the template's count (the same books, plan and roll).
    # Under the refresh's own lock, and again should the worker's count of arrears cross it.
    for attempt in range(5):
        try:
            psql_rows(ledger, f"BEGIN; SELECT pg_advisory_xact_lock({REFRESH_LOCK});"
                              " UPDATE fund_arrears SET stale = false, counted_at = now(), as_of = t.as_of FROM"
                              f" (SELECT as_of FROM fund_arrears WHERE fund_id = '{fund}') t; COMMIT")
            break
        except RuntimeError as error:
            if "deadlock" not in str(error) or attempt == 4:
                raise
            time.sleep(1)
    psql_rows(ledger, "ANALYZE income_days, deposit_days, fund_arrears")
    timings["ledger_refresh_aggregates"] = round(time.perf_counter() - started, 1)
    print(f"  ledger_refresh_aggregates(): {int(queued):,} queued entries into the day totals in"
          f" {timings['ledger_refresh_aggregates']:.1f} s", flush=True)
    return {"seconds": timings, "rows": rows}


# --------------------------------------------------------------------------- the views, timed


def time_views(bench: Any, views: dict[str, str], *, runs: int, timeout: float,
               check: Callable[[str, httpx.Response], None] | None = None) -> tuple[dict[str, list[float]], dict[str, httpx.Response]]:
    """Each view (name -> path) asked once unmeasured (a connection, the services' pools, plans),
    then ``runs`` times in turn through the gateway as a platform admin: the seconds of each, and
    each view's last answer. A view answering other than 200, or refused by ``check``, fails the section."""
    from bench.run import BenchError

    seconds: dict[str, list[float]] = {name: [] for name in views}
    last: dict[str, httpx.Response] = {}
    with httpx.Client(base_url=bench.system.url, timeout=timeout) as client:
        for path in views.values():
            client.get(path, headers=bench.admin_headers())
        for _ in range(runs):
            for name, path in views.items():
                headers = bench.admin_headers()
                started = time.perf_counter()
                answer = client.get(path, headers=headers)
                answer.read()
                seconds[name].append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise BenchError(f"{path}: {answer.status_code} {answer.text[:300]}")
                if check is not None:
                    check(path, answer)
                last[name] = answer
    return seconds, last


def timed(views: dict[str, str], seconds: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Each view's path, median and rounds, as the results files keep them."""
    return {name: {"path": views[name], "seconds_median": round(statistics.median(r), 3),
                   "seconds_rounds": [round(x, 3) for x in r]} for name, r in seconds.items()}


def _complete(path: str, answer: httpx.Response) -> None:
    """A JSON view that says it left figures out is no figure."""
    from bench.run import BenchError

    if answer.headers.get("content-type", "").startswith("application/json"):
        document = answer.json()
        if document.get("missing") or document.get("unavailable"):
            raise BenchError(f"{path} left figures out: {document.get('unavailable')}")


def _time(bench: Any, views: dict[str, str]) -> dict[str, dict[str, Any]]:
    seconds, last = time_views(bench, views, runs=RUNS, timeout=60, check=_complete)
    return {name: {**figures, "bytes": len(last[name].content)} for name, figures in timed(views, seconds).items()}


#: How long the worker may take to count every fund's arrears again before the section gives up.
RECOUNT_TIMEOUT = 3600.0


def recount_every_fund(bench: Any) -> dict[str, Any]:
    """Every fund's arrears count made due at once (each count of an earlier day, as at midnight)
    and the ledger's aggregates worker left to count them all, as it does: how long until none is
    due. What one national recount costs; the 15-minute age made one every 15 minutes."""
    from bench.pgbench import find_postgres, psql_rows
    from bench.run import BenchError

    ledger = dataclasses.replace(find_postgres(bench.system.home / "pgdata"), database="sajja_ledger")
    [[funds, day]] = psql_rows(ledger, "SELECT count(*), max(as_of) FROM fund_arrears")
    psql_rows(ledger, f"BEGIN; SELECT pg_advisory_xact_lock({REFRESH_LOCK}); UPDATE fund_arrears SET as_of = as_of - 1; COMMIT")
    started = time.perf_counter()
    while True:
        [[left]] = psql_rows(ledger, f"SELECT count(*) FROM fund_arrears WHERE as_of < DATE '{day}'")
        if int(left) == 0:
            break
        if time.perf_counter() - started > RECOUNT_TIMEOUT:
            raise BenchError(f"the worker left {left} of {funds} arrears counts undone after {RECOUNT_TIMEOUT:.0f} s")
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    return {"funds": int(funds), "seconds": round(seconds, 1), "funds_per_s": round(int(funds) / seconds, 1)}


def section_aggregates(bench: Any) -> dict[str, Any]:
    """6,000 funds, then each view of many funds and one fund's dashboard timed through the gateway."""
    from bench.run import RESULTS_DIR, write_results

    # Funds earlier sections of the same run made are in every view too: counted before, and after.
    with httpx.Client(base_url=bench.system.url, timeout=60) as client:
        before = client.get("/v1/dashboard/national", headers=bench.admin_headers()).json()
    started = time.perf_counter()
    template = _template(bench)
    made = time.perf_counter() - started
    print(f"  template fund {template['fund_id']} made through the gateway in {made:.1f} s: {MEMBERS} members,"
          f" {MONTHS} monthly syncs of {MEMBERS} deposits, co-funding from 3 sources, a plan, 3 benefits paid and"
          " 1 waiting, a grant of 2 tranches (1 received)", flush=True)
    copies = _copies(bench, template)
    with httpx.Client(base_url=bench.system.url, timeout=60) as client:
        national = client.get("/v1/dashboard/national", headers=bench.admin_headers()).json()
    count = national["funds"]["count"]
    earlier, earlier_books = before["funds"]["count"], before["funds"]["with_books"]
    if count != earlier + FUNDS or national["funds"]["with_books"] != earlier_books + FUNDS:
        from bench.run import BenchError
        raise BenchError(f"the national roll-up counts {count} funds ({national['funds']['with_books']} with books),"
                         f" not {earlier} made before and {FUNDS}")
    one = template["dashboard"]
    if national["accumulated_satang"] != (before["accumulated_satang"] or 0) + FUNDS * one["accumulated_satang"]:
        from bench.run import BenchError
        raise BenchError(f"the national accumulated fund {national['accumulated_satang']} is not {FUNDS} x the template's"
                         f" {one['accumulated_satang']}")
    # Benefits and grants: each copy's figures are the template's.
    for group, keys in (("benefits_paid", ("total_satang", "claims", "members_helped")), ("pending_claims", ("claims",)),
                        ("grants", ("applications", "awarded_satang", "received_satang"))):
        for key in keys:
            want = ((before.get(group) or {}).get(key) or 0) + FUNDS * one[group][key]
            if national[group][key] != want:
                from bench.run import BenchError
                raise BenchError(f"the national {group}.{key} {national[group][key]} is not {want}:"
                                 f" {FUNDS} x the template's {one[group][key]} and those before")
    in_province = sum(1 for r in national["table"] if r["province"] == province(0))
    views = {
        "national": "/v1/dashboard/national",
        "province": f"/v1/dashboard/provinces/{province(0)}",
        "funds_table": "/v1/dashboard/funds-table",
        "funds_csv": "/v1/dashboard/exports/funds.csv",
        "funds_xlsx": "/v1/dashboard/exports/funds.xlsx",
        "fund_dashboard": f"/v1/dashboard/funds/{template['fund_id']}",
    }
    timed = _time(bench, views)
    print(f"\naggregates over {FUNDS:,} funds ({MEMBERS} members and {MONTHS} monthly deposits each, {PROVINCES} provinces;"
          f" the province has {in_province} funds), through the gateway as a platform admin, one request at a time,"
          f" median of {RUNS} runs:")
    print(f"  {'view':<16} {'median s':>9} {'bytes':>11}   runs s")
    for name, row in timed.items():
        print(f"  {name:<16} {row['seconds_median']:>9.3f} {row['bytes']:>11,}   "
              + ", ".join(f"{x:.3f}" for x in row["seconds_rounds"]))
    slow = [name for name, row in timed.items() if row["seconds_median"] >= 1.0]
    print("  target: each under 1 s: " + ("MET" if not slow else f"NOT MET ({', '.join(slow)})"))
    recount = recount_every_fund(bench)
    print(f"  every fund's arrears counted again by the aggregates worker: {recount['funds']:,} funds in"
          f" {recount['seconds']:.1f} s ({recount['funds_per_s']:.1f} funds/s); a recount every 15 minutes"
          f" would keep the worker busy {recount['seconds'] / 900:.0%} of the time")
    figures = {
        "funds": FUNDS, "members_per_fund": MEMBERS, "monthly_deposits_per_member": MONTHS, "provinces": PROVINCES,
        "province_funds": in_province, "runs": RUNS, "seconds": bench.args.seconds, "warmup_seconds": bench.args.warmup,
        "rounds": bench.args.rounds, "concurrency": bench.args.concurrency, "setup": {"template_seconds": round(made, 1), **copies},
        "national_accumulated_satang": national["accumulated_satang"], "views": timed, "arrears_recount": recount,
        "targets": {name: {"reached": row["seconds_median"], "target": 1.0, "met": row["seconds_median"] < 1.0}
                    for name, row in timed.items()},
    }
    written = write_results("aggregates", figures)
    print(f"  written to {written.relative_to(RESULTS_DIR.parent)}")
    return figures
