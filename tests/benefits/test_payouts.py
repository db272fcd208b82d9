"""Benefit payouts leave the ledger only for an approved claim, and a lost answer is never lost money
(issue 18.1 and 18.5), through the real benefits worker and the real ledger.

- The payout route admits the benefits service alone: people of every role, platform admins
  included, get 403 and nothing moves; a payout posted by hand under a claim's id can no longer
  block the worker.
- A payout is recognised again by (fund, claim id) and compared on claim, amount and category: a
  retry after midnight (the worker's date moves on) or after a change of the fund's settings (the
  account paid from, the reserve floor) gets the first answer, one movement only, and the claim
  shows as paid; the same claim with another amount or category is still 409.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from unittest.mock import ANY
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from services.benefits import payouts
from services.benefits.models import Claim
from services.benefits.payouts import pay_due
from services.ledger.models import JournalEntry, Movement
from shared.auth import Role
from shared.ledger_client import LedgerClient
from shared.timeutil import BANGKOK
from tests.support.factories import make_fund, person
from tests.support.helpers import migration

TODAY = dt.datetime.now(BANGKOK).date()
B = 100
EDUCATION = 500 * B  # the template's fixed amount


class LosingLedger(httpx.AsyncBaseTransport):
    """The network between benefits and the real ledger: the first ``lose`` answers never come back."""

    def __init__(self, inner: httpx.AsyncBaseTransport, lose: int) -> None:
        self.inner, self.lose, self.calls = inner, lose, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        response = await self.inner.handle_async_request(request)
        if self.calls <= self.lose:
            await response.aread()
            raise httpx.ReadTimeout("the answer never came")
        return response


class Payouts:
    def __init__(self, benefits: Any, ledger: Any, tokens: Any, fund: Any, member_ids: list[str]) -> None:
        self.benefits, self.ledger, self.tokens, self.fund, self.member_ids = benefits, ledger, tokens, fund, member_ids
        self.base = f"/v1/benefits/funds/{fund.id}"
        self.books = f"/v1/ledger/funds/{fund.id}"

    @property
    def committee(self) -> dict[str, str]:
        return self.fund.as_(Role.committee)

    async def approved_claim(self, member: int = 0) -> str:
        """An education claim (500 baht) the committee submits and a second member approves."""
        claim = await self.benefits.post(f"{self.base}/claims", headers=self.committee, json={
            "member_id": self.member_ids[member], "benefit_code": "education", "event_date": TODAY.isoformat()})
        assert claim.status_code == 201, claim.text
        second = self.tokens.headers(Role.committee, fund_id=self.fund.id, sub="second-committee-member")
        approved = await self.benefits.post(f"{self.base}/claims/{claim.json()['id']}/approve", headers=second)
        assert approved.json()["status"] == "approved", approved.text
        return claim.json()["id"]

    async def claim(self, claim_id: str) -> dict[str, Any]:
        return (await self.benefits.get(f"{self.base}/claims/{claim_id}", headers=self.committee)).json()

    def worker_ledger(self, lose: int = 0) -> tuple[LedgerClient, LosingLedger]:
        """The benefits worker's own client (its service token), through a network that loses answers."""
        good = self.benefits._transport.app.state.ledger
        network = LosingLedger(good.http._transport, lose)
        return LedgerClient(httpx.AsyncClient(transport=network, headers=dict(good.http.headers)), "http://ledger"), network

    async def pay(self, ledger: LedgerClient | None = None) -> int:
        db = self.benefits._transport.app.state.db
        tried = await pay_due(db, ledger or self.benefits._transport.app.state.ledger)
        async with db.sessionmaker() as session:
            async with session.begin():  # the backoff has passed
                await session.execute(text("UPDATE claims SET next_attempt_at = NULL WHERE payout_status = 'pending'"))
        return tried

    async def moved(self) -> tuple[int, int]:
        """The fund's movements and journal entries, as the ledger's database holds them."""
        async with self.ledger._transport.app.state.db.sessionmaker() as session:
            fund = uuid.UUID(self.fund.id)
            movements = await session.scalar(select(func.count()).select_from(Movement).where(Movement.fund_id == fund))
            entries = await session.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.fund_id == fund))
        return movements, entries

    async def payout_of(self, claim_id: str) -> Movement | None:
        async with self.ledger._transport.app.state.db.sessionmaker() as session:
            return await session.get(Movement, (uuid.UUID(self.fund.id), uuid.UUID(claim_id)))

    async def balances(self) -> dict[str, int]:
        accounts = (await self.ledger.get(f"{self.books}/accounts", headers=self.committee)).json()
        return {a["code"]: a["balance_satang"] for a in accounts}


@pytest.fixture
async def fund_payouts(service_client, tokens) -> Payouts:
    members = await service_client("members")
    ledger = await service_client("ledger")
    benefits = await service_client("benefits")
    fund = await make_fund(members, tokens)
    member_ids = []
    for i in range(2):
        created = await fund.register(person(8800 + i, joined_on=(TODAY - dt.timedelta(days=4000)).isoformat()))
        assert created.status_code == 201, created.text
        member_ids.append(created.json()["id"])
    made = await benefits.post(f"/v1/benefits/funds/{fund.id}/catalog/from-templates", json={"effective_from": "2000-01-01"},
                               headers=fund.as_(Role.fund_admin))
    assert made.status_code == 201, made.text
    funded = await ledger.post(f"/v1/ledger/funds/{fund.id}/co-funding", headers=fund.as_(Role.committee), json={
        "id": str(uuid.uuid4()), "source": "codi", "amount_satang": 100_000 * B, "received_on": TODAY.isoformat()})
    assert funded.status_code == 201, funded.text
    return Payouts(benefits, ledger, tokens, fund, member_ids)


def _payout(claim_id: str, **overrides: Any) -> dict[str, Any]:
    return {"id": claim_id, "category": "education", "amount_satang": EDUCATION, "paid_on": TODAY.isoformat(),
            "paid_from": "bank", "reference": f"claim {claim_id}", **overrides}


# --- Only the benefits service pays a benefit ---------------------------------------------------------------


async def test_people_of_every_role_get_403_and_nothing_moves(fund_payouts: Payouts) -> None:
    """Found before: a committee, fund-admin or platform-admin token could post a payout directly:
    money out with no claim, no second approver, and a floor the caller chose."""
    p = fund_payouts
    claim_id = await p.approved_claim()
    before, balances = await p.moved(), await p.balances()
    people = {
        "committee": p.fund.as_(Role.committee), "fund_admin": p.fund.as_(Role.fund_admin),
        "platform_admin": p.tokens.headers(Role.platform_admin),
        "collector": p.fund.as_(Role.collector), "member": p.fund.as_(Role.member, member_id=p.member_ids[0]),
        "network_officer": p.tokens.headers(Role.network_officer, network_id=uuid.uuid4()),
        "grant_officer": p.tokens.headers(Role.grant_officer), "integration": p.tokens.headers(Role.integration),
    }
    for role, headers in people.items():
        for body in (_payout(claim_id), _payout(str(uuid.uuid4()), reserve_floor_satang=0)):
            refused = await p.ledger.post(f"{p.books}/payouts", json=body, headers=headers)
            assert refused.status_code == 403, (role, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
    assert await p.moved() == before and await p.balances() == balances
    assert await p.payout_of(claim_id) is None


async def test_a_payout_by_hand_under_a_claims_id_cannot_block_the_worker(fund_payouts: Payouts) -> None:
    """Found before: a manual payout under an approved claim's id answered the worker 409 for ever."""
    p = fund_payouts
    claim_id = await p.approved_claim()
    by_hand = await p.ledger.post(f"{p.books}/payouts", json=_payout(claim_id, amount_satang=1), headers=p.committee)
    assert by_hand.status_code == 403
    assert await p.pay() == 1
    claim = await p.claim(claim_id)
    assert (claim["status"], claim["payout_status"]) == ("paid", "paid"), claim
    assert (await p.payout_of(claim_id)).amount_satang == EDUCATION
    assert (await p.balances())["5100-education"] == EDUCATION


async def test_the_committees_release_of_a_held_claim_still_pays_it(fund_payouts: Payouts) -> None:
    """The floor is the fund's benefits setting, applied by the worker; the committee's release pays
    a held claim despite it (the worker then sends no floor)."""
    p = fund_payouts
    await p.benefits.patch(f"{p.base}/settings", headers=p.fund.as_(Role.fund_admin), json={"reserve_floor_satang": 100_000 * B})
    claim_id = await p.approved_claim()
    await p.pay()
    held = await p.claim(claim_id)
    assert (held["status"], held["payout_status"]) == ("approved", "held")
    assert await p.payout_of(claim_id) is None
    released = await p.benefits.post(f"{p.base}/claims/{claim_id}/release", headers=p.committee)
    assert released.json()["payout_status"] == "pending", released.text
    await p.pay()
    assert (await p.claim(claim_id))["status"] == "paid"
    assert (await p.balances())["1020"] == 100_000 * B - EDUCATION


# --- A retry gets the first answer --------------------------------------------------------------------------


async def _lose_the_first_answer(p: Payouts) -> tuple[str, Movement]:
    """An approved claim whose payout reached the ledger while its answer was lost on the way back."""
    claim_id = await p.approved_claim()
    losing, network = p.worker_ledger(lose=1)
    await p.pay(losing)
    assert network.calls == 1
    claim = await p.claim(claim_id)
    assert (claim["status"], claim["payout_status"]) == ("approved", "pending"), "the worker never heard"
    first = await p.payout_of(claim_id)
    assert first is not None and first.amount_satang == EDUCATION, "but the money left"
    return claim_id, first


async def _paid_once(p: Payouts, claim_id: str, first: Movement, moved: tuple[int, int]) -> None:
    claim = await p.claim(claim_id)
    assert (claim["status"], claim["payout_status"], claim["payout_error"]) == ("paid", "paid", None), claim
    async with p.benefits._transport.app.state.db.sessionmaker() as session:
        paid_entry = await session.scalar(select(Claim.paid_entry_id).where(
            Claim.fund_id == uuid.UUID(p.fund.id), Claim.id == uuid.UUID(claim_id)))
    assert str(paid_entry) == str(first.entry_id), "the first payout's entry, as first answered"
    assert await p.moved() == moved, "no second movement, no second entry"
    again = await p.payout_of(claim_id)
    assert (again.entry_id, again.business_date) == (first.entry_id, first.business_date)
    balances = await p.balances()
    assert balances["5100-education"] == EDUCATION and balances["1020"] == 100_000 * B - EDUCATION
    assert await p.pay() == 0


async def test_a_lost_answer_retried_after_midnight_gets_the_first_answer(fund_payouts: Payouts, monkeypatch) -> None:
    """Found before: the worker sends today's date, the ledger compared the whole request, so a retry
    the next day was 409 for ever and the claim stayed approved though the money had left."""
    p = fund_payouts
    claim_id, first = await _lose_the_first_answer(p)
    moved = await p.moved()
    monkeypatch.setattr(payouts, "bangkok_today", lambda: TODAY + dt.timedelta(days=1))
    assert await p.pay() == 1
    await _paid_once(p, claim_id, first, moved)
    assert first.business_date == TODAY


async def test_a_lost_answer_retried_after_a_change_of_settings_gets_the_first_answer(fund_payouts: Payouts) -> None:
    """The fund now pays from cash (which holds nothing) and keeps a floor the first payout would not
    have passed: the retry still gets the first answer, paid from bank."""
    p = fund_payouts
    claim_id, first = await _lose_the_first_answer(p)
    moved = await p.moved()
    changed = await p.benefits.patch(f"{p.base}/settings", headers=p.fund.as_(Role.fund_admin),
                                     json={"paid_from": "fund_cash", "reserve_floor_satang": 100_000 * B})
    assert changed.status_code == 200, changed.text
    assert await p.pay() == 1
    await _paid_once(p, claim_id, first, moved)
    assert (await p.balances())["1010"] == 0


async def test_a_payout_is_the_same_by_claim_amount_and_category_only(fund_payouts: Payouts) -> None:
    p = fund_payouts
    claim_id = await p.approved_claim()
    benefits = p.tokens.service("benefits")
    first = await p.ledger.post(f"{p.books}/payouts", json=_payout(claim_id, reserve_floor_satang=0), headers=benefits)
    assert first.status_code == 201, first.text
    moved = await p.moved()
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    for differs in ({"paid_on": tomorrow}, {"paid_from": "fund_cash"}, {"reference": "another"}, {"reserve_floor_satang": 10**12},
                    {"reserve_floor_satang": None}, {"paid_on": tomorrow, "paid_from": "fund_cash", "reference": None}):
        again = await p.ledger.post(f"{p.books}/payouts", json=_payout(claim_id, **differs), headers=benefits)
        assert again.status_code == 200 and again.headers["idempotency-replayed"] == "true", (differs, again.text)
        assert again.json() == first.json(), differs
    for differs, code in (({"amount_satang": EDUCATION + 1}, "idempotency.key_reused"),
                          ({"category": "death"}, "idempotency.key_reused")):
        refused = await p.ledger.post(f"{p.books}/payouts", json=_payout(claim_id, **differs), headers=benefits)
        assert refused.status_code == 409 and refused.json()["code"] == code, (differs, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    # An id another kind of movement holds is not a payout's.
    co_funding = str(uuid.uuid4())
    assert (await p.ledger.post(f"{p.books}/co-funding", headers=p.committee, json={
        "id": co_funding, "source": "codi", "amount_satang": EDUCATION, "received_on": TODAY.isoformat()})).status_code == 201
    taken = await p.ledger.post(f"{p.books}/payouts", json=_payout(co_funding), headers=benefits)
    assert taken.status_code == 409 and taken.json()["code"] == "movement.id_taken"
    assert (await p.moved())[0] == moved[0] + 1, "only the co-funding moved"


async def test_a_claim_paid_with_another_amount_stays_unpaid_and_says_why(fund_payouts: Payouts) -> None:
    """The same claim id with a different amount is a conflict the worker does not paper over: the
    claim stays approved with the ledger's 409 as its payout error, and nothing more is paid."""
    p = fund_payouts
    claim_id = await p.approved_claim()
    first = await p.ledger.post(f"{p.books}/payouts", json=_payout(claim_id, amount_satang=EDUCATION - 1),
                                headers=p.tokens.service("benefits"))
    assert first.status_code == 201
    moved = await p.moved()
    await p.pay()
    claim = await p.claim(claim_id)
    assert (claim["status"], claim["payout_status"]) == ("approved", "pending")
    assert claim["payout_error"] == "ledger answered 409 idempotency.key_reused"
    assert await p.moved() == moved


# --- Aggregates kept with every change of a claim (issue 22, point 1; docs/aggregates.md) ----------------------

#: The kept tables, as sets of rows (a row that came back to nothing is no figure).
KEPT = {
    "paid": "SELECT fund_id, paid_on, category, claims, amount_satang FROM benefit_paid_days"
            " WHERE claims <> 0 OR amount_satang <> 0",
    "helped": "SELECT fund_id, paid_on, nullif(previous_on, '-infinity'), members FROM benefit_helped_days WHERE members <> 0",
    "waiting": "SELECT fund_id, status, claims, oldest FROM benefit_waiting WHERE claims <> 0",
}


async def kept(session: Any) -> dict[str, set[tuple[Any, ...]]]:
    return {name: {tuple(r) for r in (await session.execute(text(sql))).all()} for name, sql in KEPT.items()}


async def recount(session: Any) -> dict[str, set[tuple[Any, ...]]]:
    """The same figures counted from scratch from the claims, in Python."""
    paid: dict[tuple[Any, ...], list[int]] = {}
    days: dict[tuple[Any, ...], set[dt.date]] = {}
    waiting: dict[tuple[Any, ...], list[Any]] = {}
    for c in (await session.scalars(select(Claim))).all():
        if c.status == "paid" and c.paid_at is not None:
            day = c.paid_at.astimezone(BANGKOK).date()
            line = paid.setdefault((c.fund_id, day, c.category), [0, 0])
            line[0], line[1] = line[0] + 1, line[1] + c.amount_satang
            days.setdefault((c.fund_id, c.member_id), set()).add(day)
        if c.status in ("submitted", "under_review", "approved"):
            key = f"payout_{c.payout_status}" if c.status == "approved" else c.status
            since = c.decided_at if c.status == "approved" and c.decided_at else c.created_at
            line = waiting.setdefault((c.fund_id, key), [0, since])
            line[0], line[1] = line[0] + 1, min(line[1], since)
    helped: Counter[tuple[Any, ...]] = Counter()
    for (fund, _), paid_days in days.items():
        previous = None
        for day in sorted(paid_days):
            helped[(fund, day, previous)] += 1
            previous = day
    return {"paid": {(*k, n, a) for k, (n, a) in paid.items()}, "helped": {(*k, n) for k, n in helped.items()},
            "waiting": {(*k, n, s) for k, (n, s) in waiting.items()}}


async def test_the_kept_aggregates_are_a_recount_of_the_claims_after_every_change(fund_payouts: Payouts) -> None:
    """Claims submitted, reviewed, approved, rejected, cancelled, paid, held and released, paid on
    other days (written in SQL, as the bench's copies are): after each change the kept tables are
    what counting the claims from scratch gives, the migration's backfill gives the same, a write
    rolled back leaves them as they were, and the roll-up of the fund says what its own reports say
    for periods that cut through its days paid."""
    from services.benefits.reports import service as reports

    p = fund_payouts
    db = p.benefits._transport.app.state.db
    fund = uuid.UUID(p.fund.id)

    async def check() -> dict[str, set[tuple[Any, ...]]]:
        async with db.sessionmaker() as session:
            now = await kept(session)
            assert now == await recount(session)
            return now

    async def sql(statement: str, **params: Any) -> None:
        async with db.sessionmaker() as session, session.begin():
            await session.execute(text(statement), params)

    async def submitted(member: int) -> str:
        made = await p.benefits.post(f"{p.base}/claims", headers=p.committee, json={
            "member_id": p.member_ids[member], "benefit_code": "education", "event_date": TODAY.isoformat()})
        assert made.status_code == 201, made.text
        await check()
        return made.json()["id"]

    async def act(claim: str, action: str, **body: Any) -> None:
        answer = await p.benefits.post(f"{p.base}/claims/{claim}/{action}", json=body or None, headers=p.committee)
        assert answer.status_code == 200, answer.text
        await check()

    first = await p.approved_claim(0)
    assert (await check())["waiting"] and not (await check())["paid"]
    rejected = await submitted(1)
    await act(rejected, "review")
    await act(rejected, "reject", reason="ไม่ครบเงื่อนไข")
    await act(await submitted(1), "cancel", reason="ยื่นซ้ำ")
    assert await p.pay() == 1
    await check()
    # A second claim of the same member paid the same day (a copy written in SQL, as the bench's
    # are): one member helped, two claims paid.
    again = str(uuid.uuid4())
    columns = [c.name for c in Claim.__table__.columns]
    await sql(f"INSERT INTO claims ({', '.join(columns)}) SELECT {', '.join(':again' if c == 'id' else c for c in columns)}"
              " FROM claims WHERE id = :id", id=first, again=again)
    assert {r[3] for r in (await check())["helped"]} == {1} and {r[3] for r in (await check())["paid"]} == {2}
    # Held (as the worker holds it), released by the committee.
    held = await p.approved_claim(1)
    await sql("UPDATE claims SET payout_status = 'held' WHERE id = :id", id=held)
    await check()
    await act(held, "release")

    # A write rolled back (a payout recorded, then the transaction fails) leaves them untouched.
    before = await check()
    with pytest.raises(RuntimeError):
        async with db.sessionmaker() as session, session.begin():
            claim = await session.get(Claim, (fund, uuid.UUID(held)))
            claim.status, claim.payout_status, claim.paid_at = "paid", "paid", dt.datetime.now(BANGKOK)
            await session.flush()
            assert await kept(session) != before, "moved in the write's own transaction"
            raise RuntimeError("the answer could not be written")
    assert await check() == before
    assert await p.pay() == 1
    # Days paid moved in SQL: member 0 paid 40 and 10 days ago (two days), member 1 today.
    await sql("UPDATE claims SET paid_at = paid_at - interval '40 days' WHERE id = :id", id=first)
    await check()
    await sql("UPDATE claims SET paid_at = paid_at - interval '10 days' WHERE id = :id", id=again)
    figures = await check()
    assert len(figures["helped"]) == 3 and len(figures["paid"]) == 3

    # The migration's backfill counts the same from the claims as they stand.
    backfill = migration("benefits", "kept_aggregates").BACKFILL
    async with db.sessionmaker() as session, session.begin():
        for table in ("benefit_paid_days", "benefit_helped_days", "benefit_waiting"):
            await session.execute(text(f"DELETE FROM {table}"))
        for statement in backfill.split(";\n"):
            if statement.strip():
                await session.execute(text(statement))
        assert await kept(session) == figures

    # The roll-up of the fund is what its own reports say, for periods cutting through its days paid.
    async with db.sessionmaker() as session:
        for back_from, back_to in ((60, 0), (40, 0), (39, 0), (20, 5), (10, 10), (45, 11), (5, 0), (100, 50)):
            start, end = TODAY - dt.timedelta(days=back_from), TODAY - dt.timedelta(days=back_to)
            rolled = await reports.aggregates(session, [fund], start, end)
            own = await reports.paid(session, fund, start.year, start=start, end=end)
            assert rolled["paid"] == {"total_satang": own.total_satang, "claims": own.claims, "members_helped": own.members_helped,
                                      "by_category": [line.model_dump() for line in own.by_category]}, (start, end)
        pending = await reports.pending(session, fund)
        assert [(w["status"], w["claims"], w["oldest_days"]) for w in rolled["pending"]] == [
            (line.status, line.claims, line.oldest_days) for line in pending.lines]
        assert await reports.aggregates(session, [uuid.uuid4()], TODAY, TODAY) == {
            "as_of": ANY, "paid": {"total_satang": 0, "claims": 0, "members_helped": 0, "by_category": []}, "pending": []}



async def test_two_transactions_paying_one_members_claims_count_the_member_once(engines) -> None:
    """Two claims of one member paid the same day by two transactions at once, on two connections
    (committed, not in a test's savepoints): the second waits on the fund's advisory lock until the
    first commits, then reads its claim, so the member is helped once, not once per transaction
    (docs/aggregates.md: under READ COMMITTED, without the lock each would see only its own claim
    and add the member's first day)."""
    engine = engines["benefits"]
    fund, member = uuid.uuid4(), uuid.uuid4()
    claims = [uuid.uuid4(), uuid.uuid4()]
    new = text("INSERT INTO claims (fund_id, id, member_id, benefit_code, category, rule_version, event_date,"
               " amount_satang, status, submitted_by, submitted_role, payout_status, approvals_needed, payout_attempts,"
               " reserve_override) VALUES (:fund, :id, :member, :category, :category, 1, current_date, 50000,"
               " 'approved', 'committee-1', 'committee', :payout, 1, 0, false)")
    pay = text("UPDATE claims SET status = 'paid', payout_status = 'paid', paid_at = now() WHERE fund_id = :fund AND id = :id")
    mine = {"fund": fund}
    try:
        async with engine.begin() as conn:
            # Another category and another payout state each, so the two share no aggregate row
            # (a day's category, a waiting state): only the fund's advisory lock is between them.
            for claim, category, payout in zip(claims, ("education", "birth"), ("pending", "held"), strict=True):
                await conn.execute(new, {**mine, "id": claim, "member": member, "category": category, "payout": payout})
        async with engine.connect() as one, engine.connect() as other, engine.connect() as watcher:
            pid = (await other.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await other.commit()
            await one.execute(pay, {**mine, "id": claims[0]})
            paying = asyncio.create_task(other.execute(pay, {**mine, "id": claims[1]}))
            waiting = None
            for _ in range(200):
                waiting = (await watcher.execute(text("SELECT wait_event FROM pg_stat_activity WHERE pid = :pid"),
                                                 {"pid": pid})).scalar_one_or_none()
                await watcher.commit()
                if waiting == "advisory":
                    break
                await asyncio.sleep(0.05)
            blocked = not paying.done()
            await one.commit()
            await paying
            await other.commit()
        assert waiting == "advisory" and blocked, "the second transaction waited on the fund's lock"
        async with engine.connect() as conn:
            helped = (await conn.execute(text(
                "SELECT paid_on, previous_on, members FROM benefit_helped_days WHERE fund_id = :fund AND members <> 0"), mine)).all()
            paid = (await conn.execute(text(
                "SELECT claims, amount_satang FROM benefit_paid_days WHERE fund_id = :fund AND claims <> 0"), mine)).all()
        assert [r.members for r in helped] == [1], "one member helped, counted once"
        assert sorted(tuple(r) for r in paid) == [(1, 50000), (1, 50000)], "two claims paid"
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM claims WHERE fund_id = :fund"), mine)
            for table in ("benefit_paid_days", "benefit_helped_days", "benefit_waiting"):
                await conn.execute(text(f"DELETE FROM {table} WHERE fund_id = :fund"), mine)
