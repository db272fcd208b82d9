"""Notifications by LINE push, and the sender of everything queued for LINE.

The money path never waits for LINE: the notifier reads the services' feeds (deposits from the
ledger, claim decisions from benefits) per fund that has linked members, from a cursor it keeps,
and queues messages in ``line_outbox``; a deposit is not slowed by any of it. Receipts of one
member and day found in one pass go out as one message. Each message is sent with its own
``X-Line-Retry-Key``, so a retry after a lost answer is not delivered twice (LINE answers 409 to a
key it has already accepted); 429 waits for ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from typing import Any

import httpx
from sqlalchemy import or_, select

from gateway.auth.service import TokenIssuer
from gateway.line.client import LineClient
from gateway.line.service import baht, queue_push
from gateway.models import FeedCursor, LineLink, LineOutbox
from shared.db import Database
from shared.timeutil import utcnow

log = logging.getLogger("sajja.line")

MAX_ATTEMPTS = 10


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** attempts, 600))


class Notifier:
    def __init__(self, db: Database, line: LineClient, issuer: TokenIssuer, http: httpx.AsyncClient, service_urls: dict[str, str]) -> None:
        self.db, self.line, self.issuer, self.http, self.urls = db, line, issuer, http, service_urls

    def _service_headers(self) -> dict[str, str]:
        token = self.issuer.gateway_token()
        return {"Authorization": f"Bearer {token}"}

    async def _feed(self, service: str, path: str, after: str | None, since: dt.datetime) -> dict[str, Any]:
        position = {"after": after} if after else {"since": since.isoformat()}
        response = await self.http.get(f"{self.urls[service]}{path}", params={"limit": 500, **position},
                                       headers=self._service_headers(), timeout=10)
        response.raise_for_status()
        return response.json()

    async def read_feeds(self) -> int:
        """Queue pushes for what happened since the last pass; returns how many were queued."""
        if not self.line.messaging_configured:
            return 0
        async with self.db.sessionmaker() as session:
            funds = (await session.scalars(select(LineLink.fund_id).distinct())).all()
        queued = 0
        for fund_id in funds:
            for source, path, handler in (
                ("ledger", f"/v1/ledger/funds/{fund_id}/deposits/feed", self._receipts),
                ("benefits", f"/v1/benefits/funds/{fund_id}/claims/feed", self._claims),
            ):
                try:
                    queued += await self._read(fund_id, source, path, handler)
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("feed %s of fund %s: %s", source, fund_id, type(exc).__name__)
        return queued

    async def _read(self, fund_id: uuid.UUID, source: str, path: str, handler: Any) -> int:
        async with self.db.sessionmaker() as session:
            async with session.begin():
                cursor = await session.get(FeedCursor, (source, fund_id), with_for_update=True)
                links = {row.member_id: row for row in (await session.scalars(
                    select(LineLink).where(LineLink.fund_id == fund_id))).all()}
                # A fund read for the first time is read from its first link on, not from the beginning.
                first_link = min((row.linked_at for row in links.values()), default=utcnow())
                page = await self._feed(source, path, cursor.cursor if cursor else None, first_link)
                if not page["items"]:
                    return 0
                queued = await handler(session, links, page["items"])
                if cursor is None:
                    session.add(FeedCursor(source=source, fund_id=fund_id, cursor=page["next_cursor"]))
                else:
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
        async with self.db.sessionmaker() as session:
            async with session.begin():
                message = await session.scalar(
                    select(LineOutbox).where(LineOutbox.status == "pending",
                                             or_(LineOutbox.next_attempt_at.is_(None), LineOutbox.next_attempt_at <= utcnow()))
                    .order_by(LineOutbox.created_at).limit(1).with_for_update(skip_locked=True))
                if message is None:
                    return False
                message.attempts += 1
                try:
                    if message.kind == "reply":
                        response = await self.line.reply(message.reply_token, message.messages)
                    else:
                        response = await self.line.push(message.line_user_id, message.messages, str(message.id))
                except httpx.HTTPError as exc:
                    message.last_error, message.next_attempt_at = type(exc).__name__, utcnow() + backoff(message.attempts)
                    return True
                if response.status_code == 200 or (response.status_code == 409 and message.kind == "push"):
                    message.status, message.sent_at, message.last_error = "sent", utcnow(), None
                elif response.status_code == 429 or response.status_code >= 500:
                    wait = int(response.headers.get("retry-after", "0") or 0)
                    message.next_attempt_at = utcnow() + max(dt.timedelta(seconds=wait), backoff(message.attempts))
                    message.last_error = f"LINE answered {response.status_code}"
                    if message.attempts >= MAX_ATTEMPTS or message.kind == "reply":
                        message.status = "failed"  # a reply token lives about a minute
                else:
                    message.status, message.last_error = "failed", f"LINE answered {response.status_code}"
                return True

    async def send_due(self, limit: int) -> int:
        sent = 0
        while sent < limit and await self.send_one():
            sent += 1
        return sent

    async def one_pass(self, limit: int) -> None:
        """Read the services' feeds, then send what is due (up to ``limit``)."""
        await self.read_feeds()
        await self.send_due(limit)
