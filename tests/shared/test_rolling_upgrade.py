"""Migrations safe for rolling upgrades (docs/migrations.md).

- A revision waits for a lock only ``lock_timeout``; then its transaction is rolled back whole and
  tried again after a backoff, so an ALTER TABLE never queues the running release's queries behind
  it for long; after the last attempt nothing of it is applied.
- The previous release's calls (tests/support/previous_release.py: the ledger's posting function
  as it calls it, a claim document's row as it writes it) work on this release's schema.
- This release's code on the previous migration head: tests/ledger/test_previous_head.py.
- ``sajja wait-schema`` (the Deployments' init container) waits for this release's head and lets a
  later release's revision pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from urllib.parse import urlsplit
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.cli import wait_schema
from shared.migrate import LockNotAvailable, code_head, schema_ready, upgrade
from tests.support import previous_release
from tests.support.claims import PNG, claim_desk
from tests.support.factories import make_books
from tests.support.migrations import fresh_database

BENEFITS_BEFORE = "20261207_0006_kept_aggregates"  # the revision before the document envelopes


async def columns(url: str, table: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set((await conn.scalars(text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t"), {"t": table})).all())
    finally:
        await engine.dispose()


# --- lock timeout and retries ---------------------------------------------------------------------


async def test_a_revision_that_waits_for_a_lock_is_rolled_back_and_tried_again(pg_url: str) -> None:
    url = await fresh_database(pg_url, "benefits", BENEFITS_BEFORE)
    reader = create_async_engine(url)
    retries: list[tuple[str, int, str]] = []
    try:
        conn = await reader.connect()
        blocking = await conn.begin()
        await conn.execute(text("SELECT count(*) FROM claim_documents"))  # a long read: ACCESS SHARE held

        async def release(process: str, attempt: int, error: BaseException) -> None:
            retries.append((process, attempt, type(error.orig).__name__ if hasattr(error, "orig") else ""))
            await blocking.rollback()  # the long transaction ends; the next attempt gets its lock

        await upgrade("benefits", url, lock_timeout=0.1, attempts=3, backoff=0, on_retry=release)
        await conn.close()
    finally:
        await reader.dispose()
    assert [(p, a) for p, a, _ in retries] == [("benefits", 1)]
    assert await schema_ready("benefits", url) == (True, code_head("benefits"))
    assert {"object_key", "key_id", "wrapped_key"} <= await columns(url, "claim_documents")


async def test_a_revision_that_never_gets_its_lock_leaves_nothing_applied(pg_url: str) -> None:
    url = await fresh_database(pg_url, "benefits", BENEFITS_BEFORE)
    reader = create_async_engine(url)
    attempts: list[int] = []
    try:
        async with reader.connect() as conn, conn.begin():
            await conn.execute(text("SELECT count(*) FROM claim_documents"))
            with pytest.raises(LockNotAvailable):
                await upgrade("benefits", url, lock_timeout=0.05, attempts=2, backoff=0,
                              on_retry=lambda process, attempt, error: attempts.append(attempt))
    finally:
        await reader.dispose()
    assert attempts == [1]
    assert await schema_ready("benefits", url) == (False, BENEFITS_BEFORE)
    assert "object_key" not in await columns(url, "claim_documents")


# --- the schema's revision and the init containers' wait ---------------------------------------------


async def test_wait_schema_waits_for_this_release_and_lets_a_later_one_pass(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    behind = await fresh_database(pg_url, "benefits", BENEFITS_BEFORE)
    current = await fresh_database(pg_url, "benefits", "head")
    monkeypatch.setenv("SAJJA_ENV", "production")  # no secret is needed to wait
    for url, expected in ((behind, 1), (current, 0)):
        monkeypatch.setenv("SAJJA_BENEFITS_DATABASE_URL", url)
        monkeypatch.setenv("SAJJA_BENEFITS_DB_NAME", urlsplit(url).path.lstrip("/"))
        assert await _in_thread(wait_schema, "benefits", 0.0) == expected
    engine = create_async_engine(current)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '20991231_0099_later_release'"))
    finally:
        await engine.dispose()
    assert await schema_ready("benefits", current) == (True, "20991231_0099_later_release")


async def _in_thread(function: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(function, *args)


# --- the previous release's calls on this release's schema -------------------------------------------


async def test_the_previous_releases_posting_call_works_on_this_schema(service_client, tokens) -> None:
    books = await make_books(service_client, tokens)
    first = books.deposit(0, amount=2500)
    assert (await books.post("/deposits", first, books.collector_headers)).status_code == 201
    now = dt.datetime.now(dt.UTC)
    deposit_id = uuid.uuid4()
    db = books.ledger._transport.app.state.db
    async with db.sessionmaker() as session:
        rows = (await session.execute(text(previous_release.LEDGER_POST_DEPOSITS), {
            "fund": uuid.UUID(books.id), "today": now.date(), "fresh_after": now - dt.timedelta(hours=1),
            "ids": [deposit_id], "members": [uuid.UUID(books.member_ids[0])], "collectors": [uuid.UUID(books.collector)],
            "amounts": [4000], "collected": [now], "dates": [now.date()], "hashes": [hashlib.sha256(b"previous").digest()],
            "by": [books.collector]})).mappings().all()
        await session.commit()
    assert len(rows) == 1 and set(previous_release.LEDGER_POST_DEPOSITS_COLUMNS) <= set(rows[0])
    assert rows[0]["id"] == deposit_id and rows[0]["outcome"] == "created" and rows[0]["receipt_no"] == 2
    balance = (await books.get(f"/members/{books.member_ids[0]}/balance")).json()
    assert balance["contributed_satang"] == 2500 + 4000


async def test_the_previous_releases_document_rows_work_on_this_schema(service_client, tokens) -> None:
    """A row written as the previous release writes it (no object key, no wrapped key) is accepted
    by this release's schema and read by this release's code (its file in plaintext by checksum)."""
    desk = await claim_desk(service_client, tokens)
    claim_id = await desk.open_claim()
    store = desk.app().state.documents
    digest = hashlib.sha256(PNG).hexdigest()
    await store.blobs.put(f"{digest[:2]}/{digest}", PNG)
    document_id = uuid.uuid4()
    async with desk.app().state.db.sessionmaker() as session:
        await session.execute(text(previous_release.BENEFITS_INSERT_DOCUMENT), {
            "fund": uuid.UUID(desk.fund.id), "claim": uuid.UUID(claim_id), "id": document_id, "kind": "id_card",
            "filename": "old.png", "type": "image/png", "size": len(PNG), "sha": digest, "by": "previous"})
        await session.commit()
    answer = await desk.download(claim_id, document_id)
    assert answer.status_code == 200 and answer.content == PNG
