"""A fund's arrears are counted again when its roll changed, as the members service says
(``/v1/members/internal/roll-changes``), not every 15 minutes for every fund (docs/aggregates.md
"Arrears").

The ledger and the members service are the real apps, each on its own rolled-back connection to
one PostgreSQL. Time passing is made by moving every recorded time of both databases back together
(:func:`later`): the members' stamps and departures, the counts and the watermark keep their order,
and the counts grow old the way they would.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from services.ledger.aggregates import service as aggregates
from shared import metrics
from shared.auth import Role
from shared.errors import SajjaError
from tests.support.factories import Books, add_collector, make_fund, person

PLAN = {"name": "เดือนละ 30 บาท", "period": "month", "amount_satang": 3_000, "effective_from": "2025-01-01"}


class World:
    """Two funds with a plan and two members each (none has paid: all in arrears), both counted."""

    def __init__(self, a: Books, b: Books) -> None:
        self.a, self.b = a, b
        self.ledger_app = a.ledger._transport.app
        self.members_db = a.members._transport.app.state.db.bind
        self.ledger_db = self.ledger_app.state.db.bind
        self.people = 700

    async def keep_up(self) -> None:
        await aggregates.keep_up(self.ledger_app.state.db, self.ledger_app.state.directory)

    async def later(self, minutes: int = 30) -> None:
        """``minutes`` pass: every time either database recorded moves back by them."""
        age = {"age": dt.timedelta(minutes=minutes)}
        await self.members_db.execute(text("UPDATE members SET updated_at = updated_at - CAST(:age AS interval)"), age)
        await self.members_db.execute(text("UPDATE roll_departures SET departed_at = departed_at - CAST(:age AS interval)"), age)
        await self.ledger_db.execute(text("UPDATE fund_arrears SET counted_at = counted_at - CAST(:age AS interval)"), age)
        await self.ledger_db.execute(text("UPDATE watermarks SET as_of = as_of - CAST(:age AS interval)"), age)

    async def counts(self) -> dict[str, tuple[dt.datetime, int, bool]]:
        """Each fund's count: when it began, members in arrears, stale."""
        rows = (await self.ledger_db.execute(text(
            "SELECT fund_id, counted_at, members, stale FROM fund_arrears WHERE fund_id IN (:a, :b)"),
            {"a": uuid.UUID(self.a.id), "b": uuid.UUID(self.b.id)})).all()
        names = {uuid.UUID(self.a.id): "a", uuid.UUID(self.b.id): "b"}
        return {names[f]: (at, n, stale) for f, at, n, stale in rows}

    async def watermark(self) -> dt.datetime | None:
        return (await self.ledger_db.execute(text("SELECT as_of FROM watermarks WHERE feed = :f"),
                                             {"f": aggregates.ROLL_CHANGES})).scalar_one_or_none()

    async def join(self, books: Books) -> str:
        self.people += 1
        made = await books.fund.register(person(self.people, joined_on="2012-01-10"))
        assert made.status_code == 201, made.text
        return str(made.json()["id"])


async def _books(service_client: Any, tokens: Any, first: int, **fund: Any) -> Books:
    members = await service_client("members")
    ledger = await service_client("ledger")
    books = Books(ledger, members, tokens, await make_fund(members, tokens, **fund))
    for i in range(2):
        made = await books.fund.register(person(first + i, joined_on="2012-01-10"))
        assert made.status_code == 201, made.text
        books.member_ids.append(made.json()["id"])
    assert (await add_collector(books.fund, books.collector)).status_code == 201
    plan = await books.post("/plans", PLAN)
    assert plan.status_code == 201, plan.text
    return books


@pytest.fixture
async def world(service_client, tokens) -> World:
    a = await _books(service_client, tokens, 600)
    b = await _books(service_client, tokens, 650, name="กองทุนสวัสดิการชุมชนตำบลทดสอบ", subdistrict="ทดสอบ")
    made = World(a, b)
    await made.keep_up()  # both counted (none was)
    # The roll was written less than ROLL_CHANGE_SETTLE before those counts began, so they may have
    # missed it: each is counted once more, then never again while nothing changes.
    await made.later()
    await made.keep_up()
    counts = await made.counts()
    assert counts["a"][1:] == (2, False) and counts["b"][1:] == (2, False)
    return made


async def test_a_fund_untouched_is_not_counted_again_within_the_backstop(world: World) -> None:
    """Counts 30 minutes, then an hour, then 90 minutes old, with nothing changed: no pass counts
    them again (the 15-minute age counted every fund of the country four times an hour)."""
    before = await world.counts()
    for _ in range(3):
        await world.later()
        await world.keep_up()
    after = await world.counts()
    assert after["a"][0] == before["a"][0] - dt.timedelta(minutes=90), "fund a was counted again with nothing changed"
    assert after["b"][0] == before["b"][0] - dt.timedelta(minutes=90), "fund b was counted again with nothing changed"
    # Past the backstop, a count is made again however quiet the fund.
    await world.later(int(aggregates.ARREARS_MAX_AGE.total_seconds() // 60))
    await world.keep_up()
    counts = await world.counts()
    assert counts["a"][0] > after["a"][0] and counts["b"][0] > after["b"][0]


async def test_a_member_joining_leaving_or_anonymised_counts_that_fund_again_and_no_other(world: World) -> None:
    # A member joins fund a: a's count is marked and made again (three in arrears), b's is left.
    before = await world.counts()
    joined = await world.join(world.a)
    await world.later()
    await world.keep_up()
    after = await world.counts()
    assert after["a"][1:] == (3, False) and after["a"][0] > before["a"][0] - dt.timedelta(minutes=30)
    assert after["b"] == (before["b"][0] - dt.timedelta(minutes=30), 2, False), "fund b was counted again"

    # A change not yet ROLL_CHANGE_SETTLE old is left for a later pass, not lost.
    left = await world.a.members.post(f"/v1/members/funds/{world.a.id}/members/{joined}/status", headers=world.a.committee,
                                      json={"status": "resigned", "effective_on": dt.date.today().isoformat()})
    assert left.status_code in (200, 201), left.text
    await world.later(0)
    await world.keep_up()
    assert (await world.counts())["a"] == after["a"], "a change still settling was acted on"
    # It leaves: fund a counted again (two in arrears), b left.
    await world.later()
    await world.keep_up()
    counts = await world.counts()
    assert counts["a"][1:] == (2, False) and counts["a"][0] > after["a"][0] - dt.timedelta(minutes=30)
    assert counts["b"][0] == before["b"][0] - dt.timedelta(minutes=60), "fund b was counted again"

    # A resigned member of fund b is anonymised: b counted again, a left.
    quitting = world.b.member_ids[0]
    resigned = await world.b.members.post(f"/v1/members/funds/{world.b.id}/members/{quitting}/status", headers=world.b.committee,
                                          json={"status": "resigned", "effective_on": dt.date.today().isoformat()})
    assert resigned.status_code in (200, 201), resigned.text
    await world.later()
    await world.keep_up()
    mid = await world.counts()
    assert mid["b"][1:] == (1, False) and mid["a"][0] == counts["a"][0] - dt.timedelta(minutes=30)
    anonymised = await world.b.members.post(f"/v1/members/funds/{world.b.id}/members/{quitting}/anonymise",
                                            headers=world.b.fund.as_(Role.fund_admin), json={"reason": "สมาชิกขอลบข้อมูล"})
    assert anonymised.status_code == 200, anonymised.text
    await world.later()
    await world.keep_up()
    end = await world.counts()
    assert end["b"][0] > mid["b"][0] - dt.timedelta(minutes=30), "anonymising a member of fund b did not count it again"
    assert end["a"][0] == counts["a"][0] - dt.timedelta(minutes=60), "fund a was counted again"


async def test_a_member_changed_in_sql_is_noticed_too(world: World) -> None:
    """A status written by hand (no ORM, no ``updated_at`` in the statement) is stamped by the trigger."""
    before = await world.counts()
    await world.members_db.execute(text("UPDATE members SET status = 'suspended' WHERE id = :m"),
                                   {"m": uuid.UUID(world.b.member_ids[1])})
    await world.later()
    await world.keep_up()
    after = await world.counts()
    assert after["b"][0] > before["b"][0] - dt.timedelta(minutes=30)
    assert after["a"][0] == before["a"][0] - dt.timedelta(minutes=30)


async def test_the_watermark_stays_while_the_members_service_cannot_say(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    directory = world.ledger_app.state.directory

    async def down(since: dt.datetime) -> Any:
        raise SajjaError("upstream.unavailable", status_code=503, params={"service": "members"})

    before = await world.counts()
    await world.join(world.a)
    await world.later()
    # Fund b is due for another reason (a count of an earlier day).
    await world.ledger_db.execute(text("UPDATE fund_arrears SET as_of = as_of - 1 WHERE fund_id = :b"), {"b": uuid.UUID(world.b.id)})
    mark = await world.watermark()
    failed = metrics.ROLL_CHANGES_FAILED._value.get()
    with monkeypatch.context() as patch, caplog.at_level(logging.ERROR, "sajja.ledger.aggregates"):
        patch.setattr(directory, "roll_changes", down)
        await world.keep_up()
    assert await world.watermark() == mark, "the watermark moved without an answer"
    assert metrics.ROLL_CHANGES_FAILED._value.get() == failed + 1
    assert any("did not say which funds' rolls changed" in r.getMessage() and r.exc_info for r in caplog.records)
    during = await world.counts()
    assert during["b"][0] > before["b"][0] - dt.timedelta(minutes=30), "a count due for another reason was not made"
    assert during["a"] == (before["a"][0] - dt.timedelta(minutes=30), 2, False)

    # The members service answers again: the change made while it could not say is found.
    await world.keep_up()
    after = await world.counts()
    assert after["a"][1:] == (3, False) and after["a"][0] > during["a"][0]
    assert await world.watermark() > mark


async def test_two_passes_at_once_do_no_harm(world: World) -> None:
    """Two replicas ask one after the other and write in the other order: both mark the fund
    (once is as good), the watermark keeps the later answer, and the fund is counted once more."""
    import asyncio

    directory = world.ledger_app.state.directory
    ask = directory.roll_changes
    answered, go_on = asyncio.Event(), asyncio.Event()
    slow_as_of: list[dt.datetime] = []

    class Slow:
        """The first replica's view of the members service: answers, then waits before it writes."""

        async def roll_changes(self, since: dt.datetime) -> Any:
            answer = await ask(since)
            slow_as_of.append(answer[0])
            answered.set()
            await go_on.wait()
            return answer

    before = await world.counts()
    await world.join(world.a)
    await world.later()

    async def second() -> int | None:
        await answered.wait()
        marked = await aggregates.take_roll_changes(world.ledger_app.state.db, directory)
        go_on.set()
        return marked

    first_marked, second_marked = await asyncio.gather(
        aggregates.take_roll_changes(world.ledger_app.state.db, Slow()),  # type: ignore[arg-type]
        second())
    assert (first_marked, second_marked) == (0, 1), "the second replica marks fund a; the first finds it marked"
    latest = await world.watermark()
    assert latest is not None and latest > slow_as_of[0], "the first replica's older answer moved the watermark back"
    counts = await world.counts()
    assert counts["a"][2] is True and counts["b"][2] is False
    await world.keep_up()
    await world.keep_up()
    after = await world.counts()
    assert after["a"][1:] == (3, False) and after["b"][0] == before["b"][0] - dt.timedelta(minutes=30)
    assert await world.watermark() >= latest
