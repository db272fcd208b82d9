"""Group posting: deposits that arrive together for one fund are posted in one call.

Every deposit of a fund takes the fund's posting lock (receipts without gaps), so a fund's
deposits are posted one after the other. Thirty phones posting one deposit each would make thirty
transactions queue on that lock, each holding it for a round trip and a WAL flush. One call of
``ledger_post_deposits`` with thirty deposits costs little more than a call with one. So the
ledger process keeps one queue per fund: whatever arrived while the fund's previous call was in
flight goes into the next call, in arrival order, up to ``max_items`` deposits, and each request
gets back its own rows. This is group commit done by the application. Nothing waits on a timer:
a lone deposit is posted at once. ``in_flight`` calls per fund may be under way at once (2 by
default), so the next call can judge its deposits and write their entries and postings, then
wait at PostgreSQL on the fund's lock, while the one before posts its receipts and balances. Two
such calls are ordered by the lock. Across funds, at most ``calls`` calls are under way in the
process at once (the ledger's settings give each replica its share of a total,
``SAJJA_LEDGER_DEPOSIT_CALLS_TOTAL``): the funds with requests waiting take turns, and while the
calls are busy the requests of a moment wait here and go into one call per fund; a call still
under way after ``SLOW_CALL_SECONDS`` (its fund's lock held by a long transaction, say) stops
counting, so that no fund waits long for another. PostgreSQL's
cores do not grow with the ledger's processes: more calls at once would only make each smaller,
and a call's own cost, in the ledger and in PostgreSQL, is that of many deposits in it. Calls are
started once the event loop has run what was ready (``_pump_soon``), so the requests it is
reading at that moment join them. Two calls of a fund are ordered by the lock; a deposit of the
first that the second looked for before the first committed fails the second's insert on its
key, and the second is made again (then that deposit is a duplicate). A call gives up its place when the database has answered, before its
requests are answered: the next call is sent first, and the database works on it while this
process writes the answers (a group's answers are many responses at once).

Each call is one autocommitted statement (:meth:`shared.db.Database.autocommit`): the lock is
taken and released inside PostgreSQL, never held while Python runs. Requests whose deposit ids
overlap are never put in the same call (the second one, in a later call, is then a duplicate).
When a call fails on its data (an integrity or data error), its requests are posted again one by
one, so one request's bad data fails only that request; any other failure (the database down,
the pool exhausted) fails the whole group at once, logged, rather than trying each request in
turn. A call whose connection turned out dead is made once more on a fresh one (posting is
idempotent: what the lost call committed comes back as duplicates). A request whose caller went
away is still posted (its phone will send it again and be answered with the same receipt).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Row, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from shared.db import Database

log = logging.getLogger("sajja.ledger.poster")

POST = text(
    "SELECT * FROM ledger_post_deposits(:fund, :today, :fresh_after, :ids, :members, :collectors, :amounts,"
    " :collected, :dates, :hashes, :by)"
)

#: A posting call under way longer than this no longer counts against the process's bound on
#: calls (it is waiting on its fund's lock, or on a slow database): other funds' calls start.
SLOW_CALL_SECONDS = 0.1

#: The deposits' primary key, which a call can find taken only when another call of the fund
#: committed the same deposit after this one looked (see ``_call``); tries after such a race.
DEPOSIT_KEY = "pk_deposits"
RACE_RETRIES = 3


def _violated(exc: IntegrityError) -> str | None:
    """The constraint an integrity error names (asyncpg's error, under SQLAlchemy's)."""
    return getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)


class Deposit(NamedTuple):
    """One deposit as the posting function takes it (a tuple: a sync makes 500 of them)."""

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

    def __init__(self, database: Database, max_items: int = 500, in_flight: int = 2, calls: int | None = None) -> None:
        self.database = database
        self.max_items = max_items
        self.in_flight = in_flight
        #: Posting calls under way at once in this process, all funds together (None: no limit).
        self.max_calls = calls
        self._queues: dict[uuid.UUID, deque[_Pending]] = {}
        self._running: dict[uuid.UUID, int] = {}
        #: Funds with requests waiting for a call, in the order they are served (each in turn).
        self._waiting: deque[uuid.UUID] = deque()
        self._waiting_set: set[uuid.UUID] = set()
        self._busy = 0
        self._pump_due = False
        self._tasks: set[asyncio.Task[None]] = set()
        #: Calls made and deposits sent (the tests read how well requests group from these).
        self.calls = 0
        self.deposits = 0

    async def post(
        self, fund_id: uuid.UUID, deposits: list[Deposit], *, today: dt.date, fresh_after: dt.datetime
    ) -> list[Row[Any]]:
        """The function's rows for ``deposits``, in their order: ``id, outcome, receipt_no,
        entry_id, posted_at, late_window_days``."""
        pending = _Pending(today, fresh_after, deposits, asyncio.get_running_loop().create_future())
        self._queues.setdefault(fund_id, deque()).append(pending)
        self._wait(fund_id)
        self._pump_soon()
        return await pending.future

    def _wait(self, fund_id: uuid.UUID) -> None:
        if fund_id not in self._waiting_set:
            self._waiting_set.add(fund_id)
            self._waiting.append(fund_id)

    def _pump_soon(self) -> None:
        """:meth:`_pump` once the event loop has run what is ready: the requests it is reading
        now then join the next call rather than wait for the one after."""
        if not self._pump_due:
            self._pump_due = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        """Start calls for waiting requests, the funds in turn, while the fund has fewer than
        ``in_flight`` calls under way and the process fewer than ``max_calls``."""
        self._pump_due = False
        most = self.max_calls
        while self._waiting and (most is None or self._busy < most):
            fund_id = self._waiting.popleft()
            self._waiting_set.discard(fund_id)
            queue = self._queues.get(fund_id)
            running = self._running.get(fund_id, 0)
            if not queue:
                if not running:
                    self._queues.pop(fund_id, None)
                continue
            if running >= self.in_flight:
                continue  # back in the line when one of its calls is done
            group = self._next_group(queue)
            self._running[fund_id] = running + 1
            self._busy += 1
            task = asyncio.create_task(self._run(fund_id, group), name=f"post-deposits-{fund_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if queue:
                self._wait(fund_id)

    async def _run(self, fund_id: uuid.UUID, group: list[_Pending]) -> None:
        """One of the fund's calls under way: its place is given up as soon as its database work
        is done, before its requests are answered (see :meth:`_post_group`), or when it fails."""
        done = slot = False

        def free_slot() -> None:
            """The process's place: given back when the call is done, or once it has taken
            ``SLOW_CALL_SECONDS`` (waiting on the fund's lock, it uses no core: other funds go on)."""
            nonlocal slot
            if not slot:
                slot = True
                self._busy -= 1
                self._pump_soon()

        slow = asyncio.get_running_loop().call_later(SLOW_CALL_SECONDS, free_slot)

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                slow.cancel()
                free_slot()
                running = self._running[fund_id] - 1
                if running:
                    self._running[fund_id] = running
                else:
                    del self._running[fund_id]
                if self._queues.get(fund_id):
                    self._wait(fund_id)
                elif not running:
                    self._queues.pop(fund_id, None)
                self._pump_soon()

        try:
            await self._post_group(fund_id, group, release)
        finally:
            release()

    async def _post_group(self, fund_id: uuid.UUID, group: list[_Pending],
                          release: Callable[[], None] | None = None) -> None:
        """Post a group and answer each request (see the module's docstring for failures).

        ``release`` is called once the call has come back, before the requests are answered: the
        fund's next call then starts first, and the database posts it while this process writes
        the answers of this one, rather than after."""
        try:
            rows = await self._call(fund_id, group)
        except (IntegrityError, DataError) as exc:
            if len(group) == 1:
                self._fail(group, exc)
                return
            log.warning("posting %d requests of fund %s together failed on their data (%s); posting each alone",
                        len(group), fund_id, type(exc.orig).__name__)
            try:
                for pending in group:
                    await self._post_group(fund_id, [pending])
            finally:  # cancelled part-way (the ledger is stopping): nobody is left waiting
                self._fail(group, RuntimeError("the ledger is stopping"))
            return
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is every request's answer
            log.warning("posting %d requests of fund %s failed: %s: %s", len(group), fund_id, type(exc).__name__, exc)
            self._fail(group, exc)
            return
        except BaseException:  # cancelled (the ledger is stopping): nobody is left waiting
            self._fail(group, RuntimeError("the ledger is stopping"))
            raise
        if release is not None:
            release()
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

    async def close(self) -> None:
        """At shutdown: let the calls under way finish (10 s at most), then cancel what is left."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        for task in list(self._tasks):
            task.cancel()

    async def _call(
        self, fund_id: uuid.UUID, group: list[_Pending], raced: int = 0, reconnected: bool = False
    ) -> list[Row[Any]]:
        try:
            return await self._call_once(fund_id, group)
        except IntegrityError as exc:
            # The function looks for earlier postings before it takes the fund's lock: a deposit
            # another call committed in between fails the insert on its key. Called again, the
            # function finds it: a duplicate. (Any other key, or a race again and again, is real.)
            if _violated(exc) != DEPOSIT_KEY or raced >= RACE_RETRIES:
                raise
            log.info("posting for fund %s: a deposit was posted by another call meanwhile; once more", fund_id)
            return await self._call(fund_id, group, raced + 1)
        except DBAPIError as exc:
            if not exc.connection_invalidated or reconnected:
                raise
            log.warning("posting for fund %s: connection lost (%s); once more on a fresh one", fund_id, exc.orig)
            # The lost call may still commit (waiting on the lock) after this one has looked: a
            # race like any other, so this call too may be made again.
            return await self._call(fund_id, group, raced, reconnected=True)

    async def _call_once(self, fund_id: uuid.UUID, group: list[_Pending]) -> list[Row[Any]]:
        deposits = [d for pending in group for d in pending.deposits]
        self.calls += 1
        self.deposits += len(deposits)
        async with self.database.autocommit() as conn:
            result = await conn.execute(POST, {
                "fund": fund_id,
                # All are posted now: the latest view of today. Facts count as fresh when they are
                # fresh for any request of the group (one may have refreshed them a moment ago).
                "today": max(p.today for p in group),
                "fresh_after": min(p.fresh_after for p in group),
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
