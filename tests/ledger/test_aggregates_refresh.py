"""The aggregates refresh reads the queued entries' rows by key, whatever the statistics say
(revision 0017, docs/aggregates.md).

A queue analyzed while it was long (tens of thousands of rows, most of them already taken) made the
planner hash every posting of the queued funds at each refresh: each refresh then cost what the
funds had ever posted. Here the statistics are made to say so, and a refresh of one queued deposit
must read that deposit's postings only, counted by PostgreSQL itself for this transaction
(``pg_stat_xact_user_tables``), not timed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text

from services.ledger.aggregates import service as aggregates
from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.support.factories import make_books

SYNCS = 8
SYNC_SIZE = 500


async def _postings_read(conn: Any) -> int:
    """Rows of ``postings`` this transaction has read so far (by index and by scan)."""
    row = (await conn.execute(text(
        "SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) FROM pg_stat_xact_user_tables"
        " WHERE relname = 'postings'"))).scalar_one()
    return int(row)


async def test_a_refresh_reads_the_queued_entries_postings_only(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=3)
    rules = await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 3650}, headers=books.admin)
    assert rules.status_code == 200, rules.text
    now = dt.datetime.now(BANGKOK).replace(microsecond=0)
    for _ in range(SYNCS):  # a fund with thousands of entries (one per collector and day), each of a few postings
        bodies = [books.deposit(i % 3, 100, at=now - dt.timedelta(days=i), collector_id=books.collector)
                  for i in range(SYNC_SIZE)]
        synced = await books.post("/deposits/batch", {"deposits": bodies}, books.collector_headers)
        assert synced.status_code == 200 and synced.json()["created"] == SYNC_SIZE, synced.text
    conn = books.ledger._transport.app.state.db.bind
    # Statistics taken while the queue was long: thirty thousand rows (entries of no fund's books,
    # which the refresh takes and finds nothing for), then the tables analyzed as they are.
    await conn.execute(text("INSERT INTO aggregate_queue (fund_id, entry_id)"
                            " SELECT CAST(:fund AS uuid), gen_random_uuid() FROM generate_series(1, 30000)"),
                       {"fund": books.fund.id})
    await conn.execute(text("ANALYZE aggregate_queue, postings, journal_entries, accounts"))
    await conn.execute(text("SELECT ledger_refresh_aggregates()"))
    day_before = (await conn.execute(text(
        "SELECT sum(deposits) FROM deposit_days WHERE fund_id = CAST(:fund AS uuid)"), {"fund": books.fund.id})).scalar_one()
    assert day_before == SYNCS * SYNC_SIZE

    one = await books.post("/deposits", books.deposit(1, 2_500, collector_id=books.collector), books.collector_headers)
    assert one.status_code == 201, one.text
    before = await _postings_read(conn)
    await conn.execute(text("SELECT ledger_refresh_aggregates()"))
    read = await _postings_read(conn) - before

    # The deposit's entry has a handful of lines; the fund has thousands of postings.
    total = (await conn.execute(text("SELECT count(*) FROM postings WHERE fund_id = CAST(:fund AS uuid)"),
                                {"fund": books.fund.id})).scalar_one()
    assert total > SYNCS * SYNC_SIZE
    assert read <= 10, f"the refresh of one queued deposit read {read} of the fund's {total} postings"
    day_after = (await conn.execute(text(
        "SELECT sum(deposits), sum(amount_satang) FROM deposit_days WHERE fund_id = CAST(:fund AS uuid)"),
        {"fund": books.fund.id})).one()
    assert (day_after[0], day_after[1]) == (SYNCS * SYNC_SIZE + 1, SYNCS * SYNC_SIZE * 100 + 2_500)


async def test_the_worker_counts_a_fund_whose_books_keep_changing_at_most_once_a_minute(service_client, tokens) -> None:
    """Every refresh that adds a deposit marks the fund's arrears stale; the worker, passing every
    second, counts them again only once the count is ``ARREARS_MIN_AGE`` old (a count reads the
    whole roll). ``POST /aggregates/refresh`` counts every stale fund at once."""
    books = await make_books(service_client, tokens, members_count=2)
    plan = await books.post("/plans", {"name": "เดือนละ 30 บาท", "period": "month", "amount_satang": 3_000,
                                       "effective_from": "2025-01-01"})
    assert plan.status_code == 201, plan.text
    state = books.ledger._transport.app.state
    fund = uuid.UUID(books.fund.id)

    async def due() -> bool:
        async with state.db.sessionmaker() as session:
            return fund in await aggregates.arrears_due(session)

    async def counted_at() -> dt.datetime:
        return (await state.db.bind.execute(text("SELECT counted_at FROM fund_arrears WHERE fund_id = :f"),
                                            {"f": fund})).scalar_one()

    assert await due()  # never counted
    await aggregates.keep_up(state.db, state.directory)
    first = await counted_at()
    assert not await due()

    one = await books.post("/deposits", books.deposit(0, 3_000, collector_id=books.collector), books.collector_headers)
    assert one.status_code == 201, one.text
    await aggregates.keep_up(state.db, state.directory)  # the deposit marks the count stale
    assert await counted_at() == first and not await due()

    # A minute later the stale count is due, and the next pass counts it.
    await state.db.bind.execute(text("UPDATE fund_arrears SET counted_at = counted_at - CAST(:age AS interval) WHERE fund_id = :f"),
                                {"age": aggregates.ARREARS_MIN_AGE, "f": fund})
    assert await due()
    await aggregates.keep_up(state.db, state.directory)
    assert not await due() and await counted_at() > first

    # Stale again, and counted at once when asked.
    two = await books.post("/deposits", books.deposit(1, 3_000, collector_id=books.collector), books.collector_headers)
    assert two.status_code == 201, two.text
    refreshed = await books.ledger.post("/v1/ledger/aggregates/refresh", headers=tokens.headers(Role.platform_admin))
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["arrears_counted"] == 1
