"""Leases (shared/lease.py, docs/workers.md), on the real PostgreSQL with committed rows: workers
racing, a lease running out and taken over, a stale worker's late write refused, and no lock held
while the remote end answers.

These tests need rows other connections see, so they work in databases of their own (migrated
like the processes' own, never rolled back), not inside the rolled-back transaction of the others.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.line.client import LineClient
from gateway.line.notifier import Notifier
from gateway.models import LineOutbox
from gateway.settings import GatewaySettings
from services.benefits import payouts
from services.benefits.models import Claim
from shared import lease
from shared.db import Database
from shared.ledger_client import LedgerClient
from shared.migrate import migrate
from tests.fakes.line import FakeLine

async def _database(pg_url: str, process: str) -> Database:
    url = await migrate(process, pg_url, f"sajja_{process}_leases")
    return Database.from_url(url, pool_size=10)


@pytest.fixture
async def gateway_db(pg_url: str) -> AsyncIterator[Database]:
    db = await _database(pg_url, "gateway")
    async with db.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM line_outbox"))
    yield db
    await db.dispose()


@pytest.fixture
async def benefits_db(pg_url: str) -> AsyncIterator[Database]:
    db = await _database(pg_url, "benefits")
    async with db.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM claims"))
    yield db
    await db.dispose()


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    fake = FakeLine()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def notifier(db: Database, line: FakeLine, http: httpx.AsyncClient, *, lease_seconds: float = 60.0) -> Notifier:
    settings = GatewaySettings(**line.settings())
    return Notifier(db, LineClient(settings, http), None, http, {}, lease_seconds=lease_seconds)  # type: ignore[arg-type]


async def queue(db: Database, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    async with db.sessionmaker() as session, session.begin():
        for n, message_id in enumerate(ids):
            session.add(LineOutbox(id=message_id, kind="push", line_user_id=f"U{n:032d}", status="pending",
                                   messages=[{"type": "text", "text": f"ข้อความ {n}"}], attempts=0))
    return ids


async def outbox(db: Database, message_id: uuid.UUID) -> LineOutbox:
    async with db.sessionmaker() as session:
        row = await session.get(LineOutbox, message_id)
        assert row is not None
        return row


async def locked_elsewhere(url: str, table: str, key_sql: str, key: Any) -> bool:
    """Whether another connection finds the row locked (``FOR UPDATE NOWAIT`` fails)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn, conn.begin():
            await conn.execute(text("SET LOCAL lock_timeout = '100ms'"))
            try:
                await conn.execute(text(f"SELECT 1 FROM {table} WHERE {key_sql} FOR UPDATE NOWAIT"), key)
            except Exception as exc:  # noqa: BLE001 - asyncpg's LockNotAvailableError, wrapped
                if "lock" in str(exc).lower():
                    return True
                raise
            return False
    finally:
        await engine.dispose()


async def test_a_claim_skips_rows_claimed_and_takes_over_an_expired_lease(gateway_db: Database) -> None:
    """The lease protocol itself: a claimed row is not claimed again while its lease holds; once
    it has run out another claim takes it with a new token, and the old token's write is refused."""
    [message_id] = await queue(gateway_db, 1)
    async with gateway_db.sessionmaker() as session, session.begin():
        [first] = await lease.claim(session, LineOutbox, seconds=0.5)
        first_token = first.claim_token
    async with gateway_db.sessionmaker() as session, session.begin():
        assert await lease.claim(session, LineOutbox, seconds=0.5) == [], "claimed while its lease holds"
    await asyncio.sleep(0.7)
    async with gateway_db.sessionmaker() as session, session.begin():
        [second] = await lease.claim(session, LineOutbox, seconds=30)
        second_token = second.claim_token
    assert second.id == message_id and second_token != first_token
    async with gateway_db.sessionmaker() as session, session.begin():
        assert await lease.hold(session, LineOutbox, message_id, first_token) is None, "a stale claim may not write"
        held = await lease.hold(session, LineOutbox, message_id, second_token)
        assert held is not None
        lease.release(held)
    assert (await outbox(gateway_db, message_id)).claim_token is None


async def test_two_workers_racing_push_each_message_once(gateway_db: Database, line: FakeLine, http: httpx.AsyncClient) -> None:
    ids = await queue(gateway_db, 30)
    one, two = notifier(gateway_db, line, http), notifier(gateway_db, line, http)
    sent = await asyncio.gather(one.send_due(100), two.send_due(100))
    assert sum(sent) == 30 and all(sent), "both workers took a share"
    assert sorted(p["retry_key"] for p in line.pushes) == sorted(str(i) for i in ids), "each message pushed once"
    for message_id in ids:
        row = await outbox(gateway_db, message_id)
        assert (row.status, row.attempts, row.claim_token) == ("sent", 1, None)


async def test_no_lock_is_held_while_line_answers(gateway_db: Database, line: FakeLine, http: httpx.AsyncClient) -> None:
    [message_id] = await queue(gateway_db, 1)
    seen: list[tuple[bool, Any]] = []

    async def check(key: str) -> None:
        locked = await locked_elsewhere(gateway_db.bind.url.render_as_string(hide_password=False),
                                        "line_outbox", "id = :id", {"id": uuid.UUID(key)})
        seen.append((locked, (await outbox(gateway_db, message_id)).claim_token))

    line.before_push = check
    assert await notifier(gateway_db, line, http).send_one()
    [(locked, token_during_call)] = seen
    assert not locked, "the outbox row was locked while LINE answered"
    assert token_during_call is not None, "the row was claimed (committed) before the call"
    assert (await outbox(gateway_db, message_id)).status == "sent"


async def test_a_push_after_which_the_worker_died_is_not_pushed_again(
        gateway_db: Database, line: FakeLine, http: httpx.AsyncClient) -> None:
    """A replica pushes and dies before it records so (its lease is left behind); the replica that
    takes the message over when the lease runs out sends it with the same retry key, LINE answers
    409, and the message is sent, once."""
    [message_id] = await queue(gateway_db, 1)
    # The dying replica's claim and call, and no record: cancelled as a SIGKILL would leave it.
    async with gateway_db.sessionmaker() as session, session.begin():
        [claimed] = await lease.claim(session, LineOutbox, seconds=0.5)
    response = await LineClient(GatewaySettings(**line.settings()), http).push(
        claimed.line_user_id, claimed.messages, str(claimed.id))
    assert response.status_code == 200
    async with gateway_db.sessionmaker() as session, session.begin():
        assert await lease.claim(session, LineOutbox) == [], "not taken over while the lease holds"
    await asyncio.sleep(0.7)
    assert await notifier(gateway_db, line, http).send_one()
    row = await outbox(gateway_db, message_id)
    assert row.status == "sent" and row.claim_token is None
    assert len(line.pushes) == 1, "LINE delivered the message once"


async def test_a_stale_workers_late_answer_is_not_recorded(gateway_db: Database, line: FakeLine, http: httpx.AsyncClient) -> None:
    """Worker A's call outlives its lease; B takes the message over and sends it; A's late answer
    (LINE failed A's request with a 500) would have written its error and a next attempt over the
    sent message: it is refused."""
    [message_id] = await queue(gateway_db, 1)
    a_in_call, a_may_answer = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def first_call_waits(key: str) -> None:
        calls.append(key)
        if len(calls) == 1:
            a_in_call.set()
            await a_may_answer.wait()
            raise RuntimeError("LINE fails A's request")  # aiohttp answers 500

    line.before_push = first_call_waits
    a = notifier(gateway_db, line, http, lease_seconds=0.5)
    b = notifier(gateway_db, line, http, lease_seconds=30)
    a_task = asyncio.create_task(a.send_one())
    await a_in_call.wait()
    await asyncio.sleep(0.7)  # A's lease runs out while LINE keeps it waiting
    assert await b.send_one(), "B takes the message over"
    assert (await outbox(gateway_db, message_id)).status == "sent"
    a_may_answer.set()
    assert await a_task
    row = await outbox(gateway_db, message_id)
    assert (row.status, row.last_error, row.attempts, row.claim_token) == ("sent", None, 2, None)
    assert len(line.pushes) == 1, "B's push only"


async def test_the_payout_worker_holds_no_lock_while_the_ledger_answers(benefits_db: Database) -> None:
    """The claim is claimed (committed) before the ledger is called and unlocked during the call;
    a lost answer is written afterwards under the lease, and the claim is left to be paid again."""
    fund_id, claim_id = uuid.uuid4(), uuid.uuid4()
    async with benefits_db.sessionmaker() as session, session.begin():
        session.add(Claim(fund_id=fund_id, id=claim_id, member_id=uuid.uuid4(), benefit_code="education",
                          category="education", rule_version=1, event_date=payouts.bangkok_today(),
                          amount_satang=50_000, status="approved", submitted_by="t", submitted_role="committee",
                          payout_status="pending"))
    url = benefits_db.bind.url.render_as_string(hide_password=False)
    seen: list[tuple[bool, Any]] = []

    async def network(request: httpx.Request) -> httpx.Response:
        locked = await locked_elsewhere(url, "claims", "fund_id = :f AND id = :i", {"f": fund_id, "i": claim_id})
        async with benefits_db.sessionmaker() as session:
            seen.append((locked, (await session.get(Claim, (fund_id, claim_id))).claim_token))
        raise httpx.ReadTimeout("the answer never came", request=request)

    ledger = LedgerClient(httpx.AsyncClient(transport=httpx.MockTransport(network)), "http://ledger")
    assert await payouts.pay_one(benefits_db, ledger)
    [(locked, token)] = seen
    assert not locked and token is not None
    async with benefits_db.sessionmaker() as session:
        claim = await session.get(Claim, (fund_id, claim_id))
        assert (claim.status, claim.payout_status, claim.payout_attempts, claim.claim_token) == ("approved", "pending", 1, None)
        assert claim.payout_error == "ledger unreachable: ReadTimeout" and claim.next_attempt_at is not None
        assert await session.scalar(select(Claim.claimed_until).where(Claim.id == claim_id)) is None
