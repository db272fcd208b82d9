"""Group posting: deposits that arrive together for one fund are posted in one call.

Every deposit of a fund takes the fund's posting lock (receipts without gaps), so a fund's
postings happen one after the other. Thirty phones posting one deposit each would make thirty
transactions queue on that lock, each holding it for a round trip and a WAL flush. One call of
``ledger_post_deposits`` with thirty deposits costs little more than a call with one. So the
ledger process keeps one queue per fund: whatever arrived while the fund's previous call was in
flight goes into the next call, in arrival order, up to ``max_items`` deposits, and each request
gets back its own rows. This is group commit done by the application. Nothing waits on a timer:
a lone deposit is posted at once. ``in_flight`` calls per fund may be under way at once (2 by
default): the next call is already at PostgreSQL, queued on the fund's lock, while the ledger's
event loop gets round to handling the answer of the one before (measured: one call at a time left
a third of the machine idle through the gateway). Two such calls are ordered by the lock; the
second sees the first's deposits as committed (each statement of the function reads afresh).

Each call is one autocommitted statement (:meth:`shared.db.Database.autocommit`): the lock is
taken and released inside PostgreSQL, never held while Python runs. Requests whose deposit ids
overlap are never put in the same call (the second one then finds the first as a duplicate).
When a call fails, its requests are posted again one by one, so one request's failure is only
its own. A request whose caller went away is still posted (its phone will send it again and be
answered with the same receipt).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, text

from shared.db import Database

POST = text(
    "SELECT * FROM ledger_post_deposits(:fund, :today, :fresh_after, :ids, :members, :collectors, :amounts,"
    " :collected, :dates, :hashes, :by)"
)


@dataclass(frozen=True)
class Deposit:
    """One deposit as the posting function takes it."""

    id: uuid.UUID
    member_id: uuid.UUID
    collector_id: uuid.UUID
    amount_satang: int
    collected_at: dt.datetime
    business_date: dt.date
    request_hash: bytes
    posted_by: str


@dataclass
class _Pending:
    today: dt.date
    fresh_after: dt.datetime
    deposits: list[Deposit]
    future: asyncio.Future[list[Row[Any]]]


class DepositPoster:
    """Posts deposits through one queue per fund; see the module's docstring."""

    def __init__(self, database: Database, max_items: int = 500, in_flight: int = 2) -> None:
        self.database = database
        self.max_items = max_items
        self.in_flight = in_flight
        self._queues: dict[uuid.UUID, deque[_Pending]] = {}
        self._running: dict[uuid.UUID, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Calls made and deposits sent, for the benchmark's report of how well requests group.
        self.calls = 0
        self.deposits = 0

    async def post(
        self, fund_id: uuid.UUID, deposits: list[Deposit], *, today: dt.date, fresh_after: dt.datetime
    ) -> list[Row[Any]]:
        """The function's rows for ``deposits``, in their order: ``id, outcome, receipt_no,
        entry_id, posted_at, late_window_days``."""
        pending = _Pending(today, fresh_after, deposits, asyncio.get_running_loop().create_future())
        self._queues.setdefault(fund_id, deque()).append(pending)
        self._pump(fund_id)
        return await pending.future

    def _pump(self, fund_id: uuid.UUID) -> None:
        """Start calls for the fund's waiting requests while fewer than ``in_flight`` are under way."""
        queue = self._queues.get(fund_id)
        running = self._running.get(fund_id, 0)
        while queue and running < self.in_flight:
            group = self._next_group(queue)
            running += 1
            task = asyncio.create_task(self._post_group(fund_id, group), name=f"post-deposits-{fund_id}")
            self._tasks.add(task)
            task.add_done_callback(lambda done, fund_id=fund_id: self._finished(fund_id, done))
        if running:
            self._running[fund_id] = running
        else:
            self._running.pop(fund_id, None)
            self._queues.pop(fund_id, None)

    def _finished(self, fund_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._running[fund_id] -= 1
        self._pump(fund_id)

    async def _post_group(self, fund_id: uuid.UUID, group: list[_Pending]) -> None:
        """Post a group and answer each request; when the call fails, post each request alone,
        so a failure is only the failing request's."""
        try:
            rows = await self._call(fund_id, group)
        except Exception as exc:  # noqa: BLE001 - any failure of the call is the group's, handled below
            if len(group) == 1:
                self._fail(group, exc)
            else:
                for pending in group:
                    await self._post_group(fund_id, [pending])
            return
        except BaseException:  # cancelled (the ledger is stopping): nobody is left waiting
            self._fail(group, RuntimeError("the ledger is stopping"))
            raise
        start = 0
        for pending in group:
            end = start + len(pending.deposits)
            if not pending.future.done():
                pending.future.set_result(rows[start:end])
            start = end

    @staticmethod
    def _fail(group: list[_Pending], exc: BaseException) -> None:
        for pending in group:
            if not pending.future.done():
                pending.future.set_exception(exc)

    def _next_group(self, queue: deque[_Pending]) -> list[_Pending]:
        """Requests from the head of the queue, in order, while they fit and repeat no deposit id."""
        group = [queue.popleft()]
        ids = {d.id for d in group[0].deposits}
        size = len(group[0].deposits)
        while queue:
            nxt = queue[0]
            if size + len(nxt.deposits) > self.max_items or any(d.id in ids for d in nxt.deposits):
                break
            queue.popleft()
            group.append(nxt)
            ids.update(d.id for d in nxt.deposits)
            size += len(nxt.deposits)
        return group

    async def _call(self, fund_id: uuid.UUID, group: list[_Pending]) -> list[Row[Any]]:
        deposits = [d for pending in group for d in pending.deposits]
        self.calls += 1
        self.deposits += len(deposits)
        async with self.database.autocommit() as conn:
            result = await conn.execute(POST, {
                "fund": fund_id,
                # the group's latest view of today and of freshness: all are posted now
                "today": max(p.today for p in group),
                "fresh_after": max(p.fresh_after for p in group),
                "ids": [d.id for d in deposits],
                "members": [d.member_id for d in deposits],
                "collectors": [d.collector_id for d in deposits],
                "amounts": [d.amount_satang for d in deposits],
                "collected": [d.collected_at for d in deposits],
                "dates": [d.business_date for d in deposits],
                "hashes": [d.request_hash for d in deposits],
                "by": [d.posted_by for d in deposits],
            })
            return list(result.all())
