"""Notifications by LINE push, and the sender of everything queued for LINE.

The money path never waits for LINE: the notifier reads the services' feeds (deposits from the
ledger, claim decisions from benefits) per fund that has linked members, from a cursor it keeps,
and queues messages in ``line_outbox``; a deposit is not slowed by any of it. Receipts of one
member and day found in one pass go out as one message.

Any number of replicas run it (docs/workers.md). Each feed cursor (a fund and a feed) is claimed
with a lease, many funds at a time, least recently read first; their feeds are read concurrently,
holding nothing in the database; each page's messages are queued and its cursor moved on in one
short transaction, only if the cursor's lease is still this replica's. So a page is queued once:
a replica that died before that transaction leaves the cursor where it was, to be read again by
whoever takes the lease over, and one whose lease was taken over meanwhile writes nothing.

Each outbox message is claimed with a lease too, and sent with no lock held. A push carries the
message's id as ``X-Line-Retry-Key``, the same on every attempt: LINE accepts a key once (for a
day) and answers 409 to it again, counted as sent. So a replica that died after LINE accepted a
push and before it recorded so does not make the member get it twice. 429 waits for
``Retry-After``. A reply token is accepted by LINE once, so a reply is never delivered twice either.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import defaultdict
from typing import Any

import httpx
from sqlalchemy import exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert

from gateway.auth.service import TokenIssuer
from gateway.line.client import LineClient
from gateway.line.service import baht, queue_push
from gateway.models import FeedCursor, LineLink, LineOutbox
from shared import lease
from shared.db import Database
from shared.lease import DEFAULT_LEASE_SECONDS
from shared.metrics import LINE_PUSHES_FAILED
from shared.timeutil import utcnow

log = logging.getLogger("sajja.line")

MAX_ATTEMPTS = 10

#: Each feed the notifier reads per fund: its path, and the method that queues its items.
FEEDS: dict[str, tuple[str, str]] = {
    "ledger": ("/v1/ledger/funds/{fund_id}/deposits/feed", "_receipts"),
    "benefits": ("/v1/benefits/funds/{fund_id}/claims/feed", "_claims"),
}


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** attempts, 600))


class Notifier:
    def __init__(self, db: Database, line: LineClient, issuer: TokenIssuer, http: httpx.AsyncClient, service_urls: dict[str, str],
                 *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.db, self.line, self.issuer, self.http, self.urls = db, line, issuer, http, service_urls
        self.lease_seconds = lease_seconds

    def _service_headers(self) -> dict[str, str]:
        token = self.issuer.gateway_token()
        return {"Authorization": f"Bearer {token}"}

    async def _feed(self, service: str, path: str, after: str | None, since: dt.datetime) -> dict[str, Any]:
        position = {"after": after} if after else {"since": since.isoformat()}
        response = await self.http.get(f"{self.urls[service]}{path}", params={"limit": 500, **position},
                                       headers=self._service_headers(), timeout=10)
        response.raise_for_status()
        return response.json()

    async def read_feeds(self, *, funds: int = 100, concurrency: int = 8) -> int:
        """Queue pushes for what happened since the last pass, for up to ``funds`` feed cursors
        claimed by this replica; returns how many were queued."""
        if not self.line.messaging_configured:
            return 0
        async with self.db.sessionmaker() as session, session.begin():
            # A cursor row for every fund with links and feed, NULL until first read: the rows are
            # what replicas claim.
            funds_linked = select(LineLink.fund_id).distinct().subquery()
            for source in FEEDS:
                await session.execute(
                    insert(FeedCursor).from_select(["source", "fund_id"], select(literal(source), funds_linked.c.fund_id))
                    .on_conflict_do_nothing(index_elements=["source", "fund_id"]))
            cursors = await lease.claim(
                session, FeedCursor, exists().where(LineLink.fund_id == FeedCursor.fund_id),
                order_by=(FeedCursor.read_at.asc().nulls_first(), FeedCursor.fund_id), limit=funds, seconds=self.lease_seconds)
            firsts = dict((await session.execute(
                select(LineLink.fund_id, func.min(LineLink.linked_at))
                .where(LineLink.fund_id.in_({c.fund_id for c in cursors})).group_by(LineLink.fund_id))).all()) if cursors else {}
            claimed = [(c.source, c.fund_id, c.cursor, c.claim_token, firsts.get(c.fund_id) or utcnow()) for c in cursors]
        gate = asyncio.Semaphore(concurrency)

        async def read(source: str, fund_id: uuid.UUID, after: str | None, token: uuid.UUID | None, since: dt.datetime) -> int:
            assert token is not None  # the claim's
            async with gate:
                try:
                    page = await self._feed(source, FEEDS[source][0].format(fund_id=fund_id), after, since)
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("feed %s of fund %s: %s", source, fund_id, type(exc).__name__)
                    page = None
                return await self._queue(source, fund_id, token, page)

        return sum(await asyncio.gather(*(read(*c) for c in claimed)))

    async def _queue(self, source: str, fund_id: uuid.UUID, token: uuid.UUID, page: dict[str, Any] | None) -> int:
        """Queue one page's messages and move the cursor past it, if the cursor is still ours."""
        async with self.db.sessionmaker() as session, session.begin():
            cursor = await lease.hold(session, FeedCursor, (source, fund_id), token)
            if cursor is None:
                log.warning("feed %s of fund %s: its lease passed to another worker; this page is left to it", source, fund_id)
                return 0
            lease.release(cursor)
            cursor.read_at = utcnow()
            if page is None or not page["items"]:
                return 0
            links = {row.member_id: row for row in (await session.scalars(
                select(LineLink).where(LineLink.fund_id == fund_id))).all()}
            queued = await getattr(self, FEEDS[source][1])(session, links, page["items"])
            cursor.cursor = page["next_cursor"]
            return queued

    async def _receipts(self, session: Any, links: dict[uuid.UUID, LineLink], items: list[dict[str, Any]]) -> int:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            groups[(item["member_id"], item["business_date"])].append(item)
        queued = 0
        for (member_id, day), deposits in groups.items():
            link = links.get(uuid.UUID(member_id))
            if link is None or not link.notify_receipts:
                continue
            receipts = sorted(d["receipt_no"] for d in deposits)
            total = sum(d["amount_satang"] for d in deposits)
            text = (f"ได้รับเงินสัจจะ {baht(total)} บาท วันที่ {day} ใบเสร็จเลขที่ {receipts[0]}" if len(deposits) == 1 else
                    f"ได้รับเงินสัจจะ {len(deposits)} รายการ รวม {baht(total)} บาท วันที่ {day} ใบเสร็จเลขที่ "
                    + ", ".join(str(r) for r in receipts))
            await queue_push(session, link.line_user_id, text, f"receipts:{member_id}:{day}:{receipts[-1]}")
            queued += 1
        return queued

    async def _claims(self, session: Any, links: dict[uuid.UUID, LineLink], items: list[dict[str, Any]]) -> int:
        queued = 0
        for item in items:
            link = links.get(uuid.UUID(item["member_id"]))
            if link is None or not link.notify_claims:
                continue
            amount = baht(item["amount_satang"])
            text = {
                "approve": f"คำขอสวัสดิการ {item['benefit_code']} {amount} บาท ได้รับอนุมัติแล้ว",
                "reject": f"คำขอสวัสดิการ {item['benefit_code']} ไม่ได้รับอนุมัติ: {item.get('note') or '-'}",
                "payout": f"จ่ายเงินสวัสดิการ {item['benefit_code']} {amount} บาท เรียบร้อยแล้ว",
            }.get(item["action"])
            if text:
                await queue_push(session, link.line_user_id, text, f"claim:{item['claim_id']}:{item['seq']}")
                queued += 1
        return queued

    async def send_one(self) -> bool:
        """Send one due message; False when none was due. Claimed with a lease that commits before
        LINE is called; the answer is written only if the lease is still ours."""
        async with self.db.sessionmaker() as session, session.begin():
            messages = await lease.claim(
                session, LineOutbox, LineOutbox.status == "pending",
                or_(LineOutbox.next_attempt_at.is_(None), LineOutbox.next_attempt_at <= utcnow()),
                order_by=LineOutbox.created_at, seconds=self.lease_seconds)
            if not messages:
                return False
            message: LineOutbox | None  # None below when the lease has passed on
            message = messages[0]
            message.attempts += 1
            key, token, kind, attempts = message.id, message.claim_token, message.kind, message.attempts
            to, reply_token, content = message.line_user_id, message.reply_token, message.messages
        assert token is not None
        response: httpx.Response | None = None
        error = ""
        try:
            if kind == "reply":
                assert reply_token is not None  # a reply is queued with its token
                response = await self.line.reply(reply_token, content)
            else:
                assert to is not None  # a push is queued to a LINE user
                response = await self.line.push(to, content, str(key))
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        async with self.db.sessionmaker() as session, session.begin():
            message = await lease.hold(session, LineOutbox, key, token)
            if message is None:
                log.warning("LINE message %s: its lease passed to another worker; this answer is not recorded", key)
                return True
            lease.release(message)
            if response is None:
                message.last_error, message.next_attempt_at = error, utcnow() + backoff(attempts)
            elif response.status_code == 200 or (response.status_code == 409 and kind == "push"):
                message.status, message.sent_at, message.last_error = "sent", utcnow(), None
            elif response.status_code == 429 or response.status_code >= 500:
                wait = int(response.headers.get("retry-after", "0") or 0)
                message.next_attempt_at = utcnow() + max(dt.timedelta(seconds=wait), backoff(attempts))
                message.last_error = f"LINE answered {response.status_code}"
                if attempts >= MAX_ATTEMPTS or kind == "reply":
                    message.status = "failed"  # a reply token lives about a minute
            else:
                message.status, message.last_error = "failed", f"LINE answered {response.status_code}"
            if message.status != "sent":
                LINE_PUSHES_FAILED.labels("true" if message.status == "failed" else "false").inc()
            return True

    async def send_due(self, limit: int) -> int:
        sent = 0
        while sent < limit and await self.send_one():
            sent += 1
        return sent

    async def one_pass(self, limit: int, *, funds: int = 100, concurrency: int = 8) -> None:
        """Read the services' feeds, then send what is due (up to ``limit``)."""
        await self.read_feeds(funds=funds, concurrency=concurrency)
        await self.send_due(limit)
