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
from typing import Any

from sqlalchemy import text

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
