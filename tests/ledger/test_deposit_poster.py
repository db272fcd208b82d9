"""The deposit poster's queues without a database: the process-wide limit on posting calls."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from services.ledger.deposits.poster import Deposit, DepositPoster
from services.ledger.settings import LedgerSettings


class _Row:
    def __init__(self, id: uuid.UUID) -> None:  # noqa: A002 - the function's column
        self.id = id


class _Recording(DepositPoster):
    """Answers each call after a pause, recording how many were under way at once and whose."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(None, **kwargs)  # type: ignore[arg-type]
        self.now = 0
        self.most = 0
        self.order: list[tuple[uuid.UUID, int]] = []

    async def _call(self, fund_id: uuid.UUID, group: list[Any], raced: int = 0, reconnected: bool = False) -> list[Any]:
        self.now += 1
        self.most = max(self.most, self.now)
        deposits = [d for pending in group for d in pending.deposits]
        self.order.append((fund_id, len(deposits)))
        self.calls += 1
        await asyncio.sleep(0.01)
        self.now -= 1
        return [_Row(d.id) for d in deposits]


def _deposit() -> Deposit:
    now = dt.datetime.now(dt.UTC)
    return Deposit(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 100, now, now.date(), b"h", "collector")


async def test_calls_under_way_stay_within_the_process_limit_and_the_funds_take_turns(monkeypatch) -> None:
    from services.ledger.deposits import poster as module

    # A call here only sleeps a moment, but on a loaded machine it may outlast the slow-call
    # threshold and free its place (the next test's subject), which is not what this one counts.
    monkeypatch.setattr(module, "SLOW_CALL_SECONDS", 60.0)
    poster = _Recording(in_flight=2, calls=2)
    funds = [uuid.uuid4() for _ in range(4)]
    today, fresh = dt.date.today(), dt.datetime.now(dt.UTC)
    sent = [(fund, _deposit()) for _ in range(10) for fund in funds]
    answers = await asyncio.gather(*(poster.post(fund, [d], today=today, fresh_after=fresh) for fund, d in sent))
    assert [row.id for [row] in answers] == [d.id for _, d in sent]  # every request its own row
    assert poster.most == 2
    # The first calls take one fund each, in the order they asked; the rest wait and group.
    assert [fund for fund, _ in poster.order[:4]] == funds
    assert sum(n for _, n in poster.order) == 40 and len(poster.order) < 40
    assert not poster._queues and not poster._running and not poster._waiting and poster._busy == 0


async def test_without_a_process_limit_each_fund_has_its_own_calls() -> None:
    poster = _Recording(in_flight=2, calls=None)
    funds = [uuid.uuid4() for _ in range(4)]
    today, fresh = dt.date.today(), dt.datetime.now(dt.UTC)
    await asyncio.gather(*(poster.post(fund, [_deposit()], today=today, fresh_after=fresh)
                           for _ in range(5) for fund in funds))
    assert poster.most == 4  # each fund's call at once (the requests of the moment in one call each)
    assert len(poster.order) == 4


def test_each_replica_takes_its_share_of_the_posting_calls(monkeypatch) -> None:
    monkeypatch.delenv("SAJJA_LEDGER_URL", raising=False)
    assert LedgerSettings(deposit_calls_total=4).deposit_calls == 4
    assert LedgerSettings(deposit_calls_total=0).deposit_calls is None
    monkeypatch.setenv("SAJJA_LEDGER_URL", "http://127.0.0.1:8002,http://127.0.0.1:8007")
    assert LedgerSettings(deposit_calls_total=4).deposit_calls == 2
    assert LedgerSettings(deposit_calls_total=2).deposit_calls == 1
    monkeypatch.setenv("SAJJA_LEDGER_URL", "http://127.0.0.1:8002,http://127.0.0.1:8007,http://127.0.0.1:8012")
    assert LedgerSettings(deposit_calls_total=2).deposit_calls == 1


async def test_a_slow_call_stops_holding_the_process_back_from_other_funds(monkeypatch) -> None:
    """A call waiting long on its fund's lock uses no core: after ``SLOW_CALL_SECONDS`` other
    funds' calls start beside it, the process's bound notwithstanding."""
    from services.ledger.deposits import poster as module

    monkeypatch.setattr(module, "SLOW_CALL_SECONDS", 0.05)
    stuck, other = uuid.uuid4(), uuid.uuid4()
    held = asyncio.Event()

    class Stuck(_Recording):
        async def _call(self, fund_id: uuid.UUID, group: list[Any], raced: int = 0, reconnected: bool = False) -> list[Any]:
            if fund_id == stuck:
                await held.wait()
            return await super()._call(fund_id, group, raced, reconnected)

    poster = Stuck(in_flight=2, calls=1)
    today, fresh = dt.date.today(), dt.datetime.now(dt.UTC)
    first = asyncio.create_task(poster.post(stuck, [_deposit()], today=today, fresh_after=fresh))
    await asyncio.sleep(0.01)
    async with asyncio.timeout(1):
        await poster.post(other, [_deposit()], today=today, fresh_after=fresh)
    assert not first.done()
    held.set()
    await first
    assert poster._busy == 0 and not poster._running
