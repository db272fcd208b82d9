"""The ledger under concurrent load, committed for real (no outer transaction), and its readiness
to be sharded by fund.

These tests use their own databases (``sajja_members_concurrency``, ``sajja_ledger_concurrency``)
so their committed rows never meet the rolled-back tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from services.ledger.models import Base as LedgerBase
from shared.auth import Role, TokenVerifier
from shared.db import Database
from shared.migrate import migrate
from shared.timeutil import BANGKOK
from tests.support.apps import members_directory, service_app
from tests.support.factories import make_fund, person
from tests.support.helpers import AUDIENCE, ISSUER, Tokens


async def _committed_apps(pg_url: str, tokens: Tokens, *names: str) -> tuple[dict[str, Any], dict[str, httpx.AsyncClient]]:
    """The members service and ``names``, each on its own ``_concurrency`` database, committing
    for real; the others look members up in this members service."""
    names = ("members", *names)
    urls = {name: await migrate(name, pg_url, db_name=f"sajja_{name}_concurrency") for name in names}
    engines = {name: create_async_engine(url, pool_size=12, max_overflow=0) for name, url in urls.items()}
    clients: dict[str, httpx.AsyncClient] = {}
    for name in names:
        app = service_app(name)
        app.state.db = Database(engines[name])
        app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=tokens.jwks)
        app.state.http = httpx.AsyncClient()
        if name != "members":
            app.state.directory = members_directory(clients["members"], tokens)
        clients[name] = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}", timeout=60)
    return engines, clients


@pytest.fixture(scope="module")
async def committed(pg_url: str, tokens: Tokens) -> AsyncIterator[dict[str, Any]]:
    engines, clients = await _committed_apps(pg_url, tokens, "ledger")
    yield {"clients": clients, "engines": engines}
    for client in clients.values():
        await client.aclose()
        await client._transport.app.state.db.dispose()  # its engine and the posting connections


async def _fund_with_members(committed: dict[str, Any], tokens: Tokens, count: int, first: int) -> tuple[Any, list[str], str]:
    members = committed["clients"]["members"]
    fund = await make_fund(members, tokens, name=f"กองทุนทดสอบพร้อมกัน {first}")
    member_ids = []
    for i in range(count):
        created = await fund.register(person(first + i))
        assert created.status_code == 201, created.text
        member_ids.append(created.json()["id"])
    collector = str(uuid.uuid4())
    await members.post(f"/v1/members/funds/{fund.id}/collectors", headers=fund.committee, json={"user_id": collector, "display_name": "อาสา"})
    return fund, member_ids, collector


async def test_concurrent_deposits_with_duplicates_and_retries_count_each_once(committed, tokens) -> None:
    fund, member_ids, collector = await _fund_with_members(committed, tokens, 12, 7000)
    ledger = committed["clients"]["ledger"]
    base = f"/v1/ledger/funds/{fund.id}"
    headers = fund.as_(Role.collector, sub=collector)
    now = dt.datetime.now(BANGKOK).isoformat()
    rng = random.Random(20261122)
    # Member 0 is hot: half of all deposits land on one member's account.
    deposits = [
        {"id": str(uuid.uuid4()), "member_id": member_ids[0 if i % 2 else rng.randrange(len(member_ids))],
         "amount_satang": rng.choice((100, 500, 3000)), "collected_at": now}
        for i in range(160)
    ]
    singles = [ledger.post(f"{base}/deposits", json=d, headers=headers) for d in deposits]
    retries = [ledger.post(f"{base}/deposits", json=d, headers=headers) for d in rng.sample(deposits, 60)]
    batches = [
        ledger.post(f"{base}/deposits/batch", json={"deposits": rng.sample(deposits, 40)}, headers=headers) for _ in range(6)
    ]
    calls = singles + retries + batches
    rng.shuffle(calls)
    poster = getattr(ledger._transport.app.state, "poster", None)
    calls_before = poster.calls if poster else 0
    responses = await asyncio.gather(*calls)
    posted_in = ledger._transport.app.state.poster.calls - calls_before
    assert posted_in < len(calls) / 2, f"{len(calls)} requests arriving together took {posted_in} posting calls"
    assert all(r.status_code in (200, 201) for r in responses), Counter((r.status_code, r.text[:120]) for r in responses if r.status_code not in (200, 201))

    receipts: dict[str, set[int]] = {}
    for r in responses:
        body = r.json()
        for item in body.get("results", [body]):
            assert item["status"] in ("created", "duplicate"), item
            receipts.setdefault(item["id"], set()).add(item["receipt_no"])
    assert set(receipts) == {d["id"] for d in deposits}
    assert all(len(numbers) == 1 for numbers in receipts.values()), "a retry must get the original receipt"
    numbers = sorted(n for ns in receipts.values() for n in ns)
    assert numbers == list(range(1, len(deposits) + 1)), "receipts are sequential without gaps"

    expected = Counter()
    for d in deposits:
        expected[d["member_id"]] += d["amount_satang"]
    committee = fund.as_(Role.committee)
    for member_id in member_ids:
        got = (await ledger.get(f"{base}/members/{member_id}/balance", headers=committee)).json()["contributed_satang"]
        assert got == expected[member_id]
    trial = (await ledger.get(f"{base}/trial-balance", headers=committee)).json()
    assert trial["balanced"] and sum(a["balance_satang"] for a in trial["accounts"]) == 0
    cash = [a for a in trial["accounts"] if a["kind"] == "collector_cash"]
    assert [a["balance_satang"] for a in cash] == [sum(d["amount_satang"] for d in deposits)]
    async with committed["engines"]["ledger"].connect() as conn:
        stored = await conn.scalar(text("SELECT count(*) FROM deposits WHERE fund_id = :f"), {"f": uuid.UUID(fund.id)})
        postings_sum = await conn.scalar(text("SELECT sum(amount_satang) FROM postings WHERE fund_id = :f"), {"f": uuid.UUID(fund.id)})
        balances_match = await conn.scalar(text(
            "SELECT bool_and(a.balance_satang = coalesce(p.total, 0)) FROM accounts a"
            " LEFT JOIN (SELECT account_id, sum(amount_satang) total FROM postings WHERE fund_id = :f GROUP BY account_id) p"
            " ON p.account_id = a.id WHERE a.fund_id = :f"), {"f": uuid.UUID(fund.id)})
    assert stored == len(deposits) and postings_sum == 0
    assert balances_match, "every kept balance equals the sum of its postings: no lost update"


async def test_deposits_arriving_together_are_posted_together_and_fail_alone(committed, tokens, monkeypatch) -> None:
    """The poster groups a fund's concurrent requests into one call, and when a grouped call
    fails, each request is posted again alone: only the failing one fails."""
    fund, member_ids, collector = await _fund_with_members(committed, tokens, 10, 7300)
    ledger = committed["clients"]["ledger"]
    base = f"/v1/ledger/funds/{fund.id}"
    headers = fund.as_(Role.collector, sub=collector)
    now = dt.datetime.now(BANGKOK).isoformat()

    def deposit(member_id: str) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "member_id": member_id, "amount_satang": 100, "collected_at": now}

    # Accounts opened and facts fresh, so what follows is only posting.
    warm = await ledger.post(f"{base}/deposits/batch", json={"deposits": [deposit(m) for m in member_ids]}, headers=headers)
    assert warm.json()["created"] == len(member_ids)

    from services.ledger.deposits.poster import DepositPoster

    original = DepositPoster._call
    groups: list[list[str]] = []
    gate = asyncio.Event()
    deposits = [deposit(m) for m in member_ids]
    poisoned = uuid.UUID(deposits[5]["id"])

    async def failing_for_one(self: DepositPoster, fund_id: uuid.UUID, group: list[Any]) -> list[Any]:
        groups.append([str(d.id) for pending in group for d in pending.deposits])
        if len(groups) == 1:
            await gate.wait()  # hold the first call while the others queue behind it
        if any(d.id == poisoned for pending in group for d in pending.deposits):
            raise IntegrityError("SELECT * FROM ledger_post_deposits(...)", {}, Exception("simulated bad data"))
        return await original(self, fund_id, group)

    monkeypatch.setattr(DepositPoster, "_call", failing_for_one)
    monkeypatch.setattr(ledger._transport.app.state.poster, "in_flight", 1)  # one call at a time: groups are plain to see
    tasks = [asyncio.create_task(ledger.post(f"{base}/deposits", json=d, headers=headers)) for d in deposits]
    while sum(len(g) for g in groups) < 1:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    gate.set()
    responses = await asyncio.gather(*tasks, return_exceptions=True)

    with_poison = [g for g in groups if str(poisoned) in g]
    assert len(with_poison[0]) > 1, "requests that queued together went in one call"
    assert len(with_poison) == 2 and with_poison[1] == [str(poisoned)], "after it failed, each was posted alone"
    assert len(groups) < 2 * len(deposits)
    failed = [d["id"] for d, r in zip(deposits, responses) if isinstance(r, BaseException)]
    assert failed == [str(poisoned)]
    assert all(isinstance(r, IntegrityError) for r in responses if isinstance(r, BaseException))
    receipts = sorted(r.json()["receipt_no"] for r in responses if not isinstance(r, BaseException))
    assert receipts == list(range(len(member_ids) + 1, 2 * len(member_ids))), "no gap where the failure was"


async def test_concurrent_movements_on_two_funds_do_not_deadlock(committed, tokens) -> None:
    """Handovers, co-funding, expenses (proposed and confirmed) and deposits at once, on two funds
    sharing nothing."""
    funds = [await _fund_with_members(committed, tokens, 3, 7100 + 10 * i) for i in range(2)]
    ledger = committed["clients"]["ledger"]
    now = dt.datetime.now(BANGKOK)
    calls = []

    async def expense(base: str, maker: dict[str, str], checker: dict[str, str]) -> Any:
        proposed = await ledger.post(f"{base}/expenses/administration", headers=maker, json={
            "id": str(uuid.uuid4()), "amount_satang": 1000, "paid_on": now.date().isoformat(), "memo": "ค่าใช้จ่าย"})
        if proposed.status_code != 202:
            return proposed
        return await ledger.post(f"{base}/proposals/{proposed.json()['id']}/confirm", headers=checker)

    for fund, member_ids, collector in funds:
        base = f"/v1/ledger/funds/{fund.id}"
        collector_headers = fund.as_(Role.collector, sub=collector)
        committee = fund.as_(Role.committee)
        checker = fund.as_(Role.committee, sub=str(uuid.uuid4()))
        for i in range(30):
            calls.append(ledger.post(f"{base}/deposits", headers=collector_headers, json={
                "id": str(uuid.uuid4()), "member_id": member_ids[i % 3], "amount_satang": 1000, "collected_at": now.isoformat()}))
        for _ in range(10):
            calls.append(ledger.post(f"{base}/co-funding", headers=committee, json={
                "id": str(uuid.uuid4()), "source": "local_government", "amount_satang": 10_000, "received_on": now.date().isoformat()}))
            calls.append(ledger.post(f"{base}/handovers", headers=committee, json={
                "id": str(uuid.uuid4()), "collector_id": collector, "amount_satang": 1000, "handed_over_on": now.date().isoformat()}))
            calls.append(expense(base, committee, checker))
    random.Random(7).shuffle(calls)
    responses = await asyncio.gather(*calls)
    statuses = Counter(r.status_code for r in responses)
    # A handover or expense may find too little money yet (422); nothing may fail otherwise.
    assert set(statuses) <= {200, 201, 422}, [r.text for r in responses if r.status_code not in (200, 201, 422)][:3]
    for fund, _, _ in funds:
        trial = (await ledger.get(f"/v1/ledger/funds/{fund.id}/trial-balance", headers=fund.as_(Role.committee))).json()
        assert trial["balanced"]
        assert all(a["balance_satang"] >= 0 for a in trial["accounts"] if a["type"] in ("asset", "expense"))


async def _waiting_on_a_lock(watch: Any) -> int:
    """The backend of this database that waits on a lock (the request sent just before, queued
    for the fund's lock another transaction holds), within 10 s."""
    for _ in range(200):
        waiting = await watch.scalar(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' LIMIT 1"))
        if waiting:
            return waiting
        await asyncio.sleep(0.05)
    raise AssertionError("the request never waited on the fund's lock")


async def test_a_deposit_committed_by_another_call_after_the_look_up_is_a_duplicate(committed, tokens) -> None:
    """The posting function looks for a deposit's earlier posting before it takes the fund's lock.
    Here another transaction holds the lock with the same deposit posted: the request looks, finds
    nothing yet, waits on the lock, and its insert then fails on the key; the service calls again
    and answers with the other transaction's receipt, as a replay."""
    from services.ledger.deposits.poster import POST
    from services.ledger.deposits.service import _fingerprint
    from services.ledger.schemas import DepositIn
    from shared.timeutil import bangkok_date, bangkok_today

    fund, member_ids, collector = await _fund_with_members(committed, tokens, 1, 7700)
    ledger = committed["clients"]["ledger"]
    base = f"/v1/ledger/funds/{fund.id}"
    headers = fund.as_(Role.collector, sub=collector)
    now = dt.datetime.now(BANGKOK)
    first = {"id": str(uuid.uuid4()), "member_id": member_ids[0], "amount_satang": 100, "collected_at": now.isoformat()}
    assert (await ledger.post(f"{base}/deposits", headers=headers, json=first)).status_code == 201
    body = {**first, "id": str(uuid.uuid4()), "amount_satang": 700}
    item = DepositIn.model_validate(body)
    engine = committed["engines"]["ledger"]
    async with engine.connect() as other:
        await other.begin()
        [row] = (await other.execute(POST, {
            "fund": fund.id, "today": bangkok_today(), "fresh_after": now - dt.timedelta(minutes=5), "ids": [item.id],
            "members": [item.member_id], "collectors": [uuid.UUID(collector)], "amounts": [700],
            "collected": [item.collected_at], "dates": [bangkok_date(item.collected_at)],
            "hashes": [_fingerprint(item, uuid.UUID(collector))], "by": [collector]})).all()
        assert row.outcome == "created"
        request = asyncio.create_task(ledger.post(f"{base}/deposits", headers=headers, json=body))
        async with engine.connect() as watch:
            await _waiting_on_a_lock(watch)
        await other.commit()
    answer = await request
    assert answer.status_code == 200 and answer.headers["idempotency-replayed"] == "true", answer.text
    assert answer.json()["receipt_no"] == row.receipt_no
    balance = (await ledger.get(f"{base}/members/{member_ids[0]}/balance", headers=fund.as_(Role.committee))).json()
    assert balance["contributed_satang"] == 800 and balance["deposits"] == 2


async def test_a_sync_writes_its_postings_before_it_waits_for_the_funds_lock(committed, tokens) -> None:
    """Only the receipts, the deposits and the balances wait for the fund's lock: a sync waiting
    for it has written its entry and postings already (it holds those tables for writing, and
    not the deposits), and it was judged by the late window of the moment it arrived."""
    fund, member_ids, collector = await _fund_with_members(committed, tokens, 2, 7800)
    ledger = committed["clients"]["ledger"]
    base = f"/v1/ledger/funds/{fund.id}"
    headers = fund.as_(Role.collector, sub=collector)
    # The ledger knows both members already (else the sync would ask the members service first).
    warm = [{"id": str(uuid.uuid4()), "member_id": m, "amount_satang": 100, "collected_at": dt.datetime.now(BANGKOK).isoformat()}
            for m in member_ids]
    assert (await ledger.post(f"{base}/deposits/batch", headers=headers, json={"deposits": warm})).json()["created"] == 2
    two_days_ago = (dt.datetime.now(BANGKOK) - dt.timedelta(days=2)).isoformat()
    items = [{"id": str(uuid.uuid4()), "member_id": m, "amount_satang": 2500, "collected_at": two_days_ago} for m in member_ids]
    engine = committed["engines"]["ledger"]
    async with engine.connect() as other:
        await other.begin()
        # Holds the fund's lock, and narrows the late window to today only, committed below.
        await other.execute(text("UPDATE ledger_funds SET late_window_days = 0 WHERE fund_id = :fund"), {"fund": fund.id})
        request = asyncio.create_task(ledger.post(f"{base}/deposits/batch", headers=headers, json={"deposits": items}))
        async with engine.connect() as watch:
            waiting = await _waiting_on_a_lock(watch)
            held = dict((await watch.execute(text(
                "SELECT c.relname, string_agg(l.mode, ',') FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE l.pid = :pid AND l.granted AND c.relkind = 'r' GROUP BY c.relname"), {"pid": waiting})).all())
        assert "RowExclusiveLock" in held["postings"] and "RowExclusiveLock" in held["journal_entries"], held
        assert "RowExclusiveLock" not in held.get("deposits", ""), held
        await other.commit()
    answer = await request
    assert answer.status_code == 200 and answer.json()["created"] == 2, answer.text
    assert [r["receipt_no"] for r in answer.json()["results"]] == [3, 4]
    committee = fund.as_(Role.committee)
    late = {**items[0], "id": str(uuid.uuid4())}
    refused = (await ledger.post(f"{base}/deposits/batch", headers=headers, json={"deposits": [late]})).json()
    assert refused["results"][0]["code"] == "deposit.too_late"  # the window of now applies to the next sync
    trial = (await ledger.get(f"{base}/trial-balance", headers=committee)).json()
    assert trial["balanced"]
    balance = (await ledger.get(f"{base}/members/{member_ids[0]}/balance", headers=committee)).json()
    assert balance["contributed_satang"] == 2600


async def test_a_deposit_reversed_by_several_at_once_is_reversed_once(committed, tokens) -> None:
    """Eight proposals to reverse the same deposit of a shared entry confirmed at once, with one for
    another deposit of it: one of the eight posts, the others are refused and stay proposed. And one
    proposal confirmed by four people at once posts once."""
    fund, member_ids, collector = await _fund_with_members(committed, tokens, 3, 7600)
    ledger = committed["clients"]["ledger"]
    base = f"/v1/ledger/funds/{fund.id}"
    now = dt.datetime.now(BANGKOK).isoformat()
    items = [{"id": str(uuid.uuid4()), "member_id": m, "amount_satang": 1500, "collected_at": now} for m in member_ids]
    synced = (await ledger.post(f"{base}/deposits/batch", headers=fund.as_(Role.collector, sub=collector),
                                json={"deposits": items})).json()
    assert synced["created"] == 3
    committee = fund.as_(Role.committee)
    checker = fund.as_(Role.committee, sub=str(uuid.uuid4()))
    proposals = [ledger.post(f"{base}/deposits/{items[0]['id']}/reverse", headers=committee,
                             json={"id": str(uuid.uuid4()), "reason": "พร้อมกัน"}) for _ in range(8)]
    proposals.append(ledger.post(f"{base}/deposits/{items[1]['id']}/reverse", headers=committee,
                                 json={"id": str(uuid.uuid4()), "reason": "อีกใบ"}))
    proposed = await asyncio.gather(*proposals)
    assert [r.status_code for r in proposed] == [202] * 9, [r.text for r in proposed]
    responses = await asyncio.gather(*(ledger.post(f"{base}/proposals/{r.json()['id']}/confirm", headers=checker)
                                       for r in proposed))
    assert sorted(r.status_code for r in responses[:8]) == [200] + [409] * 7, [r.text for r in responses]
    assert {r.json()["code"] for r in responses[:8] if r.status_code == 409} == {"deposit.already_reversed"}
    assert responses[8].status_code == 200
    still = (await ledger.get(f"{base}/proposals", headers=committee, params={"status": "proposed"})).json()["items"]
    assert len(still) == 7 and {p["reverses_deposit_id"] for p in still} == {items[0]["id"]}
    # One proposal confirmed by four people at once is posted once; the others get its answer again.
    one = (await ledger.post(f"{base}/deposits/{items[2]['id']}/reverse", headers=committee,
                             json={"id": str(uuid.uuid4()), "reason": "สี่คน"})).json()
    checkers = [fund.as_(Role.committee, sub=str(uuid.uuid4())) for _ in range(4)]
    confirmed = await asyncio.gather(*(ledger.post(f"{base}/proposals/{one['id']}/confirm", headers=h) for h in checkers))
    assert [r.status_code for r in confirmed] == [200] * 4
    assert sorted(r.headers.get("idempotency-replayed", "") for r in confirmed) == ["", "true", "true", "true"]
    assert len({r.json()["movement"]["entry_id"] for r in confirmed}) == 1
    balances = [(await ledger.get(f"{base}/members/{m}/balance", headers=committee)).json()["contributed_satang"]
                for m in member_ids]
    assert balances == [0, 0, 0]
    trial = (await ledger.get(f"{base}/trial-balance", headers=committee)).json()
    assert trial["balanced"]


# --- 11. Ready to shard by fund --------------------------------------------------------------------


#: Not the fund's books: the audit trail (shared.audit) is one log per process, read across funds by
#: platform admins, and holds acts with no fund; the watermarks say how far the aggregates worker has
#: read another service's feed, one row per feed for every fund (docs/aggregates.md). Neither is on a
#: posting's path.
NOT_BOOKS = {"audit_events", "watermarks"}


def test_every_ledger_table_leads_its_primary_key_with_fund_id() -> None:
    for table in LedgerBase.metadata.sorted_tables:
        if table.name in NOT_BOOKS:
            continue
        assert [c.name for c in table.primary_key.columns][0] == "fund_id", table.name


async def test_the_database_agrees_and_every_query_filters_by_fund(committed, tokens) -> None:
    async with committed["engines"]["ledger"].connect() as conn:
        rows = (await conn.execute(text(
            "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name"
            " WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public' AND kcu.ordinal_position = 1"
        ))).all()
    first_columns = {table: column for table, column in rows if table != "alembic_version" and table not in NOT_BOOKS}
    assert first_columns and set(first_columns.values()) == {"fund_id"}, first_columns

    ledger_tables = {t.name for t in LedgerBase.metadata.sorted_tables} - NOT_BOOKS
    statements: list[str] = []
    ledger = committed["clients"]["ledger"]
    # Every route of the ledger under a fund, so a new one cannot go unchecked.
    routes = {(method, schema_path) for schema_path, operations in ledger._transport.app.openapi()["paths"].items()
              if schema_path.startswith("/v1/ledger/funds/{fund_id}") for method in (m.upper() for m in operations)}
    called: set[tuple[str, str]] = set()

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    # Every engine: the deposit poster's autocommit engine is one of its own (shared.db).
    event.listen(Engine, "before_cursor_execute", capture)
    try:
        fund, member_ids, collector = await _fund_with_members(committed, tokens, 2, 7200)
        base = f"/v1/ledger/funds/{fund.id}"
        now = dt.datetime.now(BANGKOK)
        today = now.date().isoformat()
        committee = fund.as_(Role.committee)

        async def call(method: str, route: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
            called.add((method, "/v1/ledger/funds/{fund_id}" + route))
            answer = await ledger.request(method, base + path, json=body, headers=headers or committee)
            assert answer.status_code in (200, 201, 202), (method, path, answer.text)
            return answer.json()

        collector_headers = fund.as_(Role.collector, sub=collector)
        deposit = lambda member: {"id": str(uuid.uuid4()), "member_id": member, "amount_satang": 5000,  # noqa: E731
                                  "collected_at": now.isoformat()}
        first = await call("POST", "/deposits", "/deposits", deposit(member_ids[0]), collector_headers)
        await call("POST", "/deposits/batch", "/deposits/batch", {"deposits": [deposit(member_ids[1])]}, collector_headers)
        await call("POST", "/plans", "/plans", {"name": "วันละบาท", "period": "day", "amount_satang": 100, "effective_from": "2020-01-01"})
        await call("PUT", "/matching-rules", "/matching-rules", {"source": "codi", "ratio_bp": 10_000})
        await call("PATCH", "/rules", "/rules", {"late_window_days": 8}, fund.as_(Role.fund_admin))
        await call("POST", "/accounts", "/accounts", {"code": "1090", "name_th": "x", "name_en": "x", "type": "asset"},
                   fund.as_(Role.fund_admin))
        await call("POST", "/co-funding", "/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 90_000,
                                                                 "received_on": today})
        handed = await call("POST", "/handovers", "/handovers", {"id": str(uuid.uuid4()), "collector_id": collector,
                                                       "amount_satang": 5000, "handed_over_on": today})
        checker = fund.as_(Role.committee, sub=str(uuid.uuid4()))
        expense = await call("POST", "/expenses/administration", "/expenses/administration",
                             {"id": str(uuid.uuid4()), "amount_satang": 100, "paid_on": today, "memo": "x"})
        await call("POST", "/proposals/{proposal_id}/confirm", f"/proposals/{expense['id']}/confirm", None, checker)
        await call("POST", "/payouts", "/payouts", {"id": str(uuid.uuid4()), "category": "death", "amount_satang": 1000,
                                                   "paid_on": today}, tokens.service("benefits"))
        reversal = await call("POST", "/entries/{entry_id}/reverse", f"/entries/{handed['entry_id']}/reverse",
                              {"id": str(uuid.uuid4()), "reason": "ทดสอบ"})
        await call("POST", "/proposals/{proposal_id}/confirm", f"/proposals/{reversal['id']}/confirm", None, checker)
        undo = await call("POST", "/deposits/{deposit_id}/reverse", f"/deposits/{first['id']}/reverse",
                          {"id": str(uuid.uuid4()), "reason": "ทดสอบ"})
        await call("POST", "/proposals/{proposal_id}/withdraw", f"/proposals/{undo['id']}/withdraw")
        await call("GET", "/proposals/{proposal_id}", f"/proposals/{undo['id']}")
        await call("GET", "/proposals", "/proposals?status=confirmed&limit=1")
        last_year = now.year - 1
        await call("POST", "/years/{year}/close", f"/years/{last_year}/close",
                   {"id": str(uuid.uuid4()), "meeting_on": today, "minutes_ref": "1/2569"})
        await call("POST", "/years/{year}/reopen", f"/years/{last_year}/reopen",
                   {"id": str(uuid.uuid4()), "reason": "ทดสอบ"}, tokens.headers(Role.platform_admin))
        await call("GET", "/years", "/years")
        await call("GET", "/statements/{year}", f"/statements/{now.year}")
        member = member_ids[0]
        for route, path in (
            ("/deposits/feed", "/deposits/feed"), ("/deposits/{deposit_id}", f"/deposits/{first['id']}"),
            ("/trial-balance", "/trial-balance"), ("/accounts", "/accounts"), ("/rules", "/rules"), ("/plans", "/plans"),
            ("/members/{member_id}/statement", f"/members/{member}/statement"),
            ("/members/{member_id}/balance", f"/members/{member}/balance"),
            ("/members/{member_id}/standing", f"/members/{member}/standing"), ("/arrears", "/arrears"),
            ("/reports/collections", "/reports/collections"), ("/reports/matching", f"/reports/matching?year={now.year}"),
            ("/reports/sources", f"/reports/sources?from=2020-01-01&to={today}"), ("/reports/holdings", "/reports/holdings"),
            ("/reports/deposits-by-month", f"/reports/deposits-by-month?from=2020-01-01&to={today}"),
            ("/reports/member-contributions", f"/reports/member-contributions?from=2020-01-01&to={today}"),
            ("/reports/projection-inputs", "/reports/projection-inputs?years=3"),
        ):
            await call("GET", route, path)
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    assert routes - called == set(), "routes this test does not call"

    # A statement that reads or changes a ledger table names the fund as a value: fund_id compared
    # with a parameter (or a list of them), or the fund passed to a posting function first. A
    # fund_id in the select list, or in a join between two tables' fund_id, is not enough.
    table_pattern = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)", re.IGNORECASE)
    by_fund = re.compile(r"\bfund_id\s*(?:=|IN)\s*(?:\(?\s*\$\d+|ANY\s*\(\s*\$\d+)|\bledger_post_\w+\(\s*\$1\b", re.IGNORECASE)
    posting_call = re.compile(r"\bledger_post_\w+\(")
    checked, calls = 0, set()
    for statement in statements:
        touched = set(table_pattern.findall(statement)) & ledger_tables
        calls.update(re.findall(r"\b(ledger_post_\w+)\(", statement))
        if not (touched or posting_call.search(statement)) or statement.lstrip().upper().startswith(("INSERT", "SAVEPOINT", "RELEASE")):
            continue
        checked += 1
        assert by_fund.search(statement), statement
    assert checked > 40 and {"ledger_post_deposits", "ledger_post_entry"} <= calls, calls


async def test_concurrent_grant_approvals_never_exceed_the_envelope(pg_url: str, tokens: Tokens) -> None:
    """Ten applications of 55,000 baht approved at once against a 200,000 baht envelope: three fit."""
    from tests.support.factories import NAKHON, make_grantor

    engines, clients = await _committed_apps(pg_url, tokens, "grants")
    try:
        grants = clients["grants"]
        grantor = await make_grantor(grants, tokens)
        officer = tokens.headers(Role.grant_officer, sub="officer", grantor_id=grantor)
        program = (await grants.post("/v1/grants/programs", headers=officer, json={
            "grantor": "codi", "name": "concurrent", "fiscal_year_be": 2569, "envelope_satang": 20_000_000,
            "per_fund_ceiling_satang": 5_500_000})).json()
        ids = []
        for i in range(10):
            fund = await make_fund(clients["members"], tokens, name=f"กองทุนพร้อมกัน {i}", **NAKHON)
            created = await grants.post(f"/v1/grants/programs/{program['id']}/applications", headers=fund.as_(Role.fund_admin), json={
                "fund_id": fund.id, "title": "t", "budget_lines": [{"line": "L1", "description": "d", "amount_satang": 5_500_000}]})
            aid = created.json()["id"]
            await grants.post(f"/v1/grants/applications/{aid}/submit", headers=fund.as_(Role.fund_admin))
            for reviewer in ("a", "b"):
                await grants.post(f"/v1/grants/applications/{aid}/reviews", headers=tokens.headers(Role.grant_officer, sub=reviewer, grantor_id=grantor),
                                  json={"score": 50, "recommendation": "approve"})
            ids.append(aid)
        results = await asyncio.gather(*(grants.post(f"/v1/grants/applications/{aid}/decision", headers=officer,
                                                     json={"decision": "approve"}) for aid in ids))
        assert Counter(r.status_code for r in results) == Counter({200: 3, 409: 7})
        after = (await grants.get(f"/v1/grants/programs/{program['id']}", headers=officer)).json()
        assert after["allocated_satang"] == 16_500_000 <= after["envelope_satang"]
    finally:
        for client in clients.values():
            await client.aclose()
        for engine in engines.values():
            await engine.dispose()


async def test_a_failure_that_is_not_about_data_fails_the_group_at_once(committed, tokens, monkeypatch) -> None:
    """The database down or the pool exhausted: every request of the group gets the error from
    the one call, instead of each being tried in turn."""
    fund, member_ids, collector = await _fund_with_members(committed, tokens, 6, 7400)
    ledger = committed["clients"]["ledger"]
    base = f"/v1/ledger/funds/{fund.id}"
    headers = fund.as_(Role.collector, sub=collector)
    now = dt.datetime.now(BANGKOK).isoformat()
    warm = await ledger.post(f"{base}/deposits/batch", headers=headers, json={"deposits": [
        {"id": str(uuid.uuid4()), "member_id": m, "amount_satang": 100, "collected_at": now} for m in member_ids]})
    assert warm.json()["created"] == len(member_ids)

    from services.ledger.deposits.poster import DepositPoster

    calls: list[int] = []
    gate = asyncio.Event()

    async def down(self: DepositPoster, fund_id: uuid.UUID, group: list[Any]) -> list[Any]:
        calls.append(len(group))
        if len(calls) == 1:
            await gate.wait()
        raise OperationalError("SELECT * FROM ledger_post_deposits(...)", {}, Exception("simulated: server closed"))

    monkeypatch.setattr(DepositPoster, "_call", down)
    monkeypatch.setattr(ledger._transport.app.state.poster, "in_flight", 1)
    tasks = [asyncio.create_task(ledger.post(f"{base}/deposits", headers=headers, json={
        "id": str(uuid.uuid4()), "member_id": m, "amount_satang": 100, "collected_at": now})) for m in member_ids]
    while not calls:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    gate.set()
    responses = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, OperationalError) for r in responses)
    assert sum(calls) == len(member_ids) and max(calls) > 1, f"one call per group, none per request: {calls}"


async def test_a_call_on_a_dead_connection_is_made_once_more(committed, tokens, monkeypatch) -> None:
    """The posting pool does not ping its connections: one found dead costs one more call, not a
    failed deposit; and what that lost call may have committed comes back as a duplicate."""
    fund, member_ids, collector = await _fund_with_members(committed, tokens, 1, 7500)
    ledger = committed["clients"]["ledger"]
    base = f"/v1/ledger/funds/{fund.id}"
    headers = fund.as_(Role.collector, sub=collector)
    now = dt.datetime.now(BANGKOK).isoformat()
    first = {"id": str(uuid.uuid4()), "member_id": member_ids[0], "amount_satang": 100, "collected_at": now}
    assert (await ledger.post(f"{base}/deposits", headers=headers, json=first)).status_code == 201

    from services.ledger.deposits.poster import DepositPoster

    original = DepositPoster._call_once
    attempts: list[str] = []

    async def dies_once(self: DepositPoster, fund_id: uuid.UUID, group: list[Any]) -> list[Any]:
        attempts.append("call")
        if len(attempts) == 1:
            await original(self, fund_id, group)  # committed, then the answer is lost with the connection
            raise DBAPIError("SELECT * FROM ledger_post_deposits(...)", {}, Exception("simulated: connection reset"),
                             connection_invalidated=True)
        return await original(self, fund_id, group)

    monkeypatch.setattr(DepositPoster, "_call_once", dies_once)
    second = {**first, "id": str(uuid.uuid4())}
    response = await ledger.post(f"{base}/deposits", headers=headers, json=second)
    assert len(attempts) == 2
    assert response.status_code == 200 and response.json()["receipt_no"] == 2, "posted once, answered from the record"
