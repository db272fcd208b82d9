"""National ID keys are versioned and rotated without downtime (issue 21, point 5;
docs/national-id-keys.md).

Apps with different key rings share one committed database of their own
(``sajja_members_pii_keys``, emptied before each test), as replicas of the members service before
and after a settings change would: each test's re-encryption works across real transactions, with
``SKIP LOCKED`` between real connections.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.members.app import create_app
from services.members.models import Member, audit_events
from services.members.pii import PiiVault, parse_key_ring
from services.members.pii_keys import service as pii_keys
from services.members.settings import MembersSettings
from shared.auth import Role, TokenVerifier
from shared.db import Database
from shared.migrate import migrate
from tests.support.factories import Fund, make_fund, person
from tests.support.helpers import AUDIENCE, ISSUER, TEST_SECRET, Tokens

KEY_1 = "first-national-id-key-0123456789"
KEY_2 = "second-national-id-key-987654321"
KEY_3 = "third-national-id-key-abcdefghijk"
HASH_KEY = "test-pii-hash-key-0123456789abcdef"


def settings(**overrides: Any) -> MembersSettings:
    values: dict[str, Any] = {"env": "test", "service_secret": TEST_SECRET, "pii_hash_key": HASH_KEY,
                              "pii_reencrypt_interval_seconds": 0}
    return MembersSettings(**{**values, **overrides})


#: Before the rotation: the single key of every deployment so far.
BEFORE = {"pii_key": KEY_1}
#: After it: key 2 added and current; key 1 still readable.
AFTER = {"pii_key": KEY_1, "pii_keys": f"2:{KEY_2}"}


@pytest.fixture(scope="module")
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    url = await migrate("members", pg_url, db_name="sajja_members_pii_keys")
    made = create_async_engine(url, pool_size=8, max_overflow=4)
    yield made
    await made.dispose()


@pytest.fixture
async def replicas(engine: AsyncEngine, tokens: Tokens) -> AsyncIterator[Any]:
    """``await replica(**settings)``: an httpx client on a members app with those settings, on the
    shared committed database (emptied first)."""
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE networks, funds, pii_reencryptions CASCADE"))
    made: list[httpx.AsyncClient] = []

    async def replica(**overrides: Any) -> httpx.AsyncClient:
        app = create_app(settings(**overrides))
        app.state.db = Database(engine)
        app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=tokens.jwks)
        app.state.http = httpx.AsyncClient()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://members", timeout=60)
        made.append(client)
        return client

    yield replica
    for client in made:
        await client._transport.app.state.http.aclose()
        await client.aclose()


def app_of(client: httpx.AsyncClient) -> Any:
    return client._transport.app


async def register(fund: Fund, client: httpx.AsyncClient, n: int) -> dict[str, Any]:
    body = person(n)
    answer = await client.post(f"/v1/members/funds/{fund.id}/members", json=body, headers=fund.committee)
    assert answer.status_code == 201, answer.text
    return {"id": answer.json()["id"], "national_id": body["national_id"]}


async def reveal(fund: Fund, client: httpx.AsyncClient, member_id: str, **headers: str) -> httpx.Response:
    return await client.get(f"/v1/members/funds/{fund.id}/members/{member_id}/national-id",
                             params={"purpose": "ตรวจสอบสิทธิ์"}, headers={**fund.committee, **headers})


async def keys_of_rows(engine: AsyncEngine) -> dict[int, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Member.national_id_key_id, func.count())
                                  .where(Member.national_id_enc.is_not(None)).group_by(Member.national_id_key_id))
        return dict(rows.all())


async def audited(engine: AsyncEngine, after_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(audit_events.c.action, audit_events.c.details)
                                  .where(audit_events.c.id > after_id, audit_events.c.action.like("pii.%"))
                                  .order_by(audit_events.c.id))
        return [(action, details) for action, details in rows.all()]


async def last_audit_id(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.scalar(select(func.coalesce(func.max(audit_events.c.id), 0)))) or 0


# --- Settings: the ring ------------------------------------------------------------------------


def test_the_single_key_setting_is_key_1_and_the_ring_adds_keys() -> None:
    single = settings(pii_key=KEY_1)
    assert single.pii_key_ring() == {1: KEY_1} and single.pii_current_key_id == 1
    ring = settings(pii_key=KEY_1, pii_keys=f"2:{KEY_2}")
    assert ring.pii_key_ring() == {1: KEY_1, 2: KEY_2} and ring.pii_current_key_id == 2
    held_back = settings(pii_key=KEY_1, pii_keys=f"2:{KEY_2}", pii_key_current=1)
    assert held_back.pii_current_key_id == 1
    without_key_1 = settings(pii_keys=f"2:{KEY_2}, 3:{KEY_3}")
    assert without_key_1.pii_key_ring() == {2: KEY_2, 3: KEY_3} and without_key_1.pii_current_key_id == 3
    assert settings(pii_keys=f"1:{KEY_1},2:{KEY_2}", pii_key=KEY_1).pii_key_ring() == {1: KEY_1, 2: KEY_2}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pii_keys": f"2:{KEY_2},,3:{KEY_3}"}, "entry 2 is empty"),
        ({"pii_keys": f"two:{KEY_2}"}, "entry 1 does not start with a key id"),
        ({"pii_keys": KEY_2}, "entry 1 does not start with a key id"),
        ({"pii_keys": f"0:{KEY_2}"}, "entry 1 does not start with a key id"),
        ({"pii_keys": f"40000:{KEY_2}"}, "entry 1 does not start with a key id"),
        ({"pii_keys": "2:"}, "key 2 is empty"),
        ({"pii_keys": f"2:{KEY_2},2:{KEY_3}"}, "key 2 is given twice"),
        ({"pii_key": KEY_1, "pii_keys": f"1:{KEY_2}"}, "differ"),
        ({"pii_key": KEY_1, "pii_keys": f"2:{KEY_2}", "pii_key_current": 3}, r"SAJJA_MEMBERS_PII_KEY_CURRENT=3: the key ring has keys \[1, 2\] only"),
        ({"pii_key": KEY_1, "pii_keys": "2:dev-a-key-for-my-laptop"}, "development secrets outside SAJJA_ENV=dev: pii_key"),
        ({"pii_key": KEY_1, "pii_keys": "2:short"}, "development secrets outside SAJJA_ENV=dev: pii_key"),
        ({}, "development secrets outside SAJJA_ENV=dev: pii_key"),
    ],
)
def test_a_malformed_ring_or_a_ring_without_its_current_key_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        settings(**overrides)
    for key in (KEY_1, KEY_2, KEY_3):
        assert key not in str(refused.value), "a key is never in the message"


def test_development_without_any_key_keeps_the_old_default_as_key_1() -> None:
    dev = MembersSettings(env="dev")
    assert dev.pii_key_ring() == {1: "dev-members-pii-key-change-me"}
    with pytest.raises(ValueError):
        parse_key_ring("1")


# --- Reads, writes, re-encryption ----------------------------------------------------------------


async def test_old_rows_stay_readable_under_a_new_current_key_and_new_writes_use_it(replicas, engine, tokens) -> None:
    before = await replicas(**BEFORE)
    fund = await make_fund(before, tokens)
    old = [await register(fund, before, n) for n in range(1, 4)]
    assert await keys_of_rows(engine) == {1: 3}

    after = await replicas(**AFTER)
    for member in old:
        answer = await reveal(fund, after, member["id"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["national_id"] == member["national_id"]
    new = await register(fund, after, 4)
    assert await keys_of_rows(engine) == {1: 3, 2: 1}
    assert (await reveal(fund, after, new["id"])).json()["national_id"] == new["national_id"]
    # The look-up hash keeps its key: the new member is found by number, the old ones too.
    for member in (*old, new):
        found = await after.get(f"/v1/members/funds/{fund.id}/members", params={"q": member["national_id"]},
                                headers=fund.committee)
        assert [m["id"] for m in found.json()["items"]] == [member["id"]], found.text


async def test_a_row_under_a_key_the_ring_lacks_is_a_clear_error(replicas, engine, tokens) -> None:
    after = await replicas(**AFTER)
    fund = await make_fund(after, tokens)
    member = await register(fund, after, 11)
    # A replica still on the old settings (one rolling restart too early) meets a key-2 row.
    before = await replicas(**BEFORE)
    thai = await reveal(fund, before, member["id"])
    assert thai.status_code == 503 and thai.headers["content-type"].startswith("application/problem+json")
    assert thai.json()["code"] == "pii.key_missing" and "2" in thai.json()["detail"]
    english = await reveal(fund, before, member["id"], **{"Accept-Language": "en"})
    assert english.json()["title"] == "National ID key missing"
    assert "key 2" in english.json()["detail"] and member["national_id"] not in english.text
    # Key 2 under id 2, but another key: the same kind of answer.
    wrong = await replicas(pii_key=KEY_1, pii_keys=f"2:{KEY_3}")
    mismatch = await reveal(fund, wrong, member["id"], **{"Accept-Language": "en"})
    assert mismatch.status_code == 503 and mismatch.json()["code"] == "pii.key_mismatch"
    # No access is logged for a number nobody read.
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM pii_access_log WHERE member_id = :m"), {"m": member["id"]}) == 0


async def test_start_up_refuses_rows_under_a_key_the_ring_lacks(replicas, engine, tokens, caplog) -> None:
    after = await replicas(**AFTER)
    fund = await make_fund(after, tokens)
    await register(fund, before := await replicas(**BEFORE), 21)
    await register(fund, after, 22)
    await register(fund, after, 23)

    async def start(client: httpx.AsyncClient) -> None:
        app = app_of(client)
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(pii_keys.KeyRingIncomplete, match=r"key 2: 2 rows"):
        await start(before)
    # Key 1 removed from the ring while a row still uses it.
    with pytest.raises(pii_keys.KeyRingIncomplete, match=r"key 1: 1 rows"):
        await start(await replicas(pii_keys=f"2:{KEY_2}"))
    await start(after)
    # What the start-up check says of each key (the app's logging replaced pytest's handler).
    logging.getLogger().addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="sajja.members.pii_keys")
    db, vault = app_of(after).state.db, app_of(after).state.pii
    assert await pii_keys.check_at_startup(db, vault) == {1: 1, 2: 2}
    assert "national ID key 1: 1 rows still use it; keep it in the ring" in caplog.text
    await pii_keys.reencrypt(db, vault, batch=10)
    caplog.clear()
    assert await pii_keys.check_at_startup(db, vault) == {2: 3}
    assert "national ID key 1: no row uses it; it may be removed from the ring" in caplog.text
    await start(await replicas(pii_keys=f"2:{KEY_2}"))  # and now it may go


async def test_two_workers_at_once_move_every_row_once_while_reads_and_writes_go_on(replicas, engine, tokens) -> None:
    before = await replicas(**BEFORE)
    fund = await make_fund(before, tokens)
    members = [await register(fund, before, n) for n in range(100, 160)]
    first_event = await last_audit_id(engine)
    admin = tokens.headers(Role.platform_admin)
    after = await replicas(**AFTER)
    progress = (await after.get("/v1/members/pii-keys", headers=admin)).json()
    assert progress["current_key_id"] == 2 and progress["latest_reencryption"] is None
    assert [(k["key_id"], k["rows"], k["needed"]) for k in progress["keys"]] == [(1, 60, True), (2, 0, True)]
    assert (await after.get("/v1/members/pii-keys", headers=fund.committee)).status_code == 403

    # Two replicas, each its own pool of connections, small batches.
    vault = app_of(after).state.pii
    workers = [Database(create_async_engine(engine.url, pool_size=2)) for _ in range(2)]
    done = asyncio.Event()
    failures: list[str] = []
    rng = random.Random(21)
    written_under_key_1 = [60]

    async def traffic() -> int:
        n, calls = 1000, 0
        while not done.is_set() or calls < 20:
            member = rng.choice(members)
            answer = await reveal(fund, after, member["id"])
            if answer.status_code != 200 or answer.json()["national_id"] != member["national_id"]:
                failures.append(answer.text)
            if calls % 5 == 0:
                replica = rng.choice((before, after))
                members.append(await register(fund, replica, n))
                written_under_key_1[0] += replica is before
                n += 1
            calls += 1
        return calls

    async def work(db: Database) -> pii_keys.PassResult:
        try:
            return await pii_keys.reencrypt(db, vault, batch=4)
        finally:
            await db.dispose()

    async def both() -> list[pii_keys.PassResult]:
        try:
            return await asyncio.gather(*(work(db) for db in workers))
        finally:
            done.set()

    results, calls = await asyncio.gather(both(), traffic())
    assert failures == [] and calls >= 20
    # Every row under key 1 moved by exactly one of the two, except those the old replica wrote
    # after they finished, left for the next pass.
    left = (await keys_of_rows(engine)).get(1, 0)
    assert sum(r.moved for r in results) == written_under_key_1[0] - left, "every row moved exactly once"
    await pii_keys.reencrypt(app_of(after).state.db, vault, batch=4)
    assert await keys_of_rows(engine) == {2: len(members)}
    for member in members:
        answer = await reveal(fund, after, member["id"])
        assert answer.json()["national_id"] == member["national_id"]
    # One start and one finish per re-encryption, never two starts by two workers: a row the old
    # replica wrote after a finish makes a new re-encryption of the same key, audited the same way.
    events = await audited(engine, first_event)
    rounds = len(events) // 2
    assert rounds >= 1 and [action for action, _ in events] == ["pii.reencrypt_start", "pii.reencrypt_finish"] * rounds
    assert events[0][1]["to_key_id"] == 2 and events[0][1]["rows_by_key"]["1"] >= 60
    assert events[-1][1] == {"to_key_id": 2, "rows_by_key": {"2": len(members)}}
    progress = (await after.get("/v1/members/pii-keys", headers=admin)).json()
    assert [(k["key_id"], k["rows"], k["needed"]) for k in progress["keys"]] == [(1, 0, False), (2, len(members), True)]
    assert progress["latest_reencryption"]["to_key_id"] == 2 and progress["latest_reencryption"]["finished_at"]
    # Nothing left: a pass moves nothing and audits nothing.
    assert (await pii_keys.reencrypt(app_of(after).state.db, vault, batch=4)) == pii_keys.PassResult(0, [])
    assert len(await audited(engine, first_event)) == len(events)


async def test_a_worker_cancelled_mid_batch_leaves_every_row_readable(replicas, engine, tokens) -> None:
    before = await replicas(**BEFORE)
    fund = await make_fund(before, tokens)
    members = [await register(fund, before, n) for n in range(300, 330)]
    after = await replicas(**AFTER)
    real = app_of(after).state.pii

    class Crashing(PiiVault):
        """The ring of ``after``, cancelling its worker in the middle of the second batch: after
        that batch's rows are locked and some encrypted again, before they are written."""

        calls = 0

        def encrypt(self, national_id: str) -> tuple[int, str]:
            Crashing.calls += 1
            if Crashing.calls == 15:
                task.cancel()
            return super().encrypt(national_id)

    crashing = Crashing({1: KEY_1, 2: KEY_2}, 2, HASH_KEY)
    task = asyncio.create_task(pii_keys.reencrypt(app_of(after).state.db, crashing, batch=10))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await keys_of_rows(engine) == {1: 20, 2: 10}, "the first batch committed, the second rolled back"
    for member in members:
        answer = await reveal(fund, after, member["id"])
        assert answer.status_code == 200 and answer.json()["national_id"] == member["national_id"]
    # The next pass goes on from there.
    assert (await pii_keys.reencrypt(app_of(after).state.db, real, batch=10)).moved == 20
    assert await keys_of_rows(engine) == {2: 30}


async def test_a_replica_on_older_settings_never_moves_rows_back(replicas, engine, tokens) -> None:
    """During the rolling restart that makes key 2 current, a replica still on the previous
    settings (key 2 in its ring, key 1 current) runs its worker too: rows under key 2 stay."""
    after = await replicas(**AFTER)
    fund = await make_fund(after, tokens)
    for n in range(400, 405):
        await register(fund, after, n)
    held_back = await replicas(**AFTER, pii_key_current=1)
    result = await pii_keys.reencrypt(app_of(held_back).state.db, app_of(held_back).state.pii, batch=10)
    assert result.moved == 0 and await keys_of_rows(engine) == {2: 5}


async def test_anonymising_a_member_clears_its_key_id(replicas, engine, tokens) -> None:
    after = await replicas(**AFTER)
    fund = await make_fund(after, tokens)
    member = await register(fund, after, 500)
    base = f"/v1/members/funds/{fund.id}/members/{member['id']}"
    resigned = await after.post(f"{base}/status", headers=fund.committee,
                                json={"status": "resigned", "effective_on": "2026-01-01", "reason": "ย้ายถิ่น"})
    assert resigned.status_code in (200, 201), resigned.text
    gone = await after.post(f"{base}/anonymise", headers=fund.as_(Role.fund_admin), json={"reason": "ขอลบข้อมูล"})
    assert gone.status_code == 200, gone.text
    async with engine.connect() as conn:
        assert (await conn.execute(select(Member.national_id_enc, Member.national_id_key_id)
                                   .where(Member.id == member["id"]))).one() == (None, None)


async def test_the_cli_reports_the_ring_and_reencrypts_to_the_end(replicas, engine, tokens, pg_url, monkeypatch,
                                                                  capsys) -> None:
    before = await replicas(**BEFORE)
    fund = await make_fund(before, tokens)
    for n in range(600, 607):
        await register(fund, before, n)
    first_event = await last_audit_id(engine)
    from services.members.pii_keys.cli import run

    for name, value in {"SAJJA_ENV": "test", "SAJJA_DATABASE_URL": pg_url, "SAJJA_MEMBERS_DB_NAME": "sajja_members_pii_keys",
                        "SAJJA_SERVICE_SECRET": TEST_SECRET, "SAJJA_MEMBERS_PII_HASH_KEY": HASH_KEY,
                        "SAJJA_MEMBERS_PII_KEY": KEY_1, "SAJJA_MEMBERS_PII_KEYS": f"2:{KEY_2}"}.items():
        monkeypatch.setenv(name, value)
    assert await run("status") == 0
    assert '"rows": 7' in capsys.readouterr().out
    assert await run("reencrypt", batch=3) == 0
    assert '"moved": 7' in capsys.readouterr().out
    assert await keys_of_rows(engine) == {2: 7}
    async with engine.connect() as conn:
        actors = (await conn.execute(select(audit_events.c.actor).where(audit_events.c.id > first_event))).scalars().all()
    assert len(actors) == 2 and all(actor.startswith("cli:") for actor in actors)
    # A ring without key 2 while rows use it: the status says so and exits 1.
    monkeypatch.delenv("SAJJA_MEMBERS_PII_KEYS")
    assert await run("status") == 1
    assert '"in_ring": false' in capsys.readouterr().out
