"""Linking LINE accounts to memberships, signing in with LINE, and answering members in chat."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

import httpx
import segno
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.service import TokenIssuer, hash_password
from gateway.models import LineLink, LineLinkCode, LineOutbox, LineWebhookEvent, User
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden, NotFound, SajjaError, register_messages
from shared.timeutil import utcnow

register_messages(
    {
        "line.not_linked": {
            "th": ("ยังไม่ได้ผูกบัญชี LINE", "บัญชี LINE นี้ยังไม่ได้ผูกกับสมาชิก โปรดขอรหัสผูกบัญชีจากคณะกรรมการกองทุน"),
            "en": ("LINE not linked", "This LINE account is not linked to a member; ask the fund committee for a link code"),
        },
        "line.code_invalid": {
            "th": ("รหัสไม่ถูกต้อง", "รหัสผูกบัญชีไม่ถูกต้อง หมดอายุ หรือใช้ไปแล้ว"),
            "en": ("Invalid code", "The link code is wrong, expired or already used"),
        },
        "line.already_linked": {
            "th": ("ผูกบัญชีแล้ว", "สมาชิกนี้ผูกกับบัญชี LINE อื่นอยู่ ต้องยกเลิกก่อน"),
            "en": ("Already linked", "This member is linked to another LINE account; unlink it first"),
        },
    }
)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on phones
CODE_LENGTH = 8


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def qr_svg(text: str) -> str:
    return segno.make(text, error="m").svg_inline(scale=4)


def ensure_code_issuer(principal: Principal, fund_id: uuid.UUID) -> None:
    """The fund's committee and fund admins, and platform admins, issue its members' link codes."""
    if principal.role is not Role.platform_admin and (principal.role not in (Role.committee, Role.fund_admin) or principal.fund_id != fund_id):
        raise Forbidden("auth.out_of_scope")


async def issue_code(session: AsyncSession, principal: Principal, fund_id: uuid.UUID, member_id: uuid.UUID, ttl: int) -> tuple[str, dt.datetime]:
    """A one-time code for one member, made by the committee of the member's fund."""
    ensure_code_issuer(principal, fund_id)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = utcnow() + dt.timedelta(seconds=ttl)
    session.add(LineLinkCode(code_hash=code_hash(code), fund_id=fund_id, member_id=member_id, created_by=principal.subject,
                             expires_at=expires_at))
    await session.flush()
    return code, expires_at


async def link(session: AsyncSession, line_user_id: str, code: str) -> LineLink:
    """Bind the LINE user (from a verified token or a signed webhook) to the code's membership."""
    row = await session.get(LineLinkCode, code_hash(code), with_for_update=True)
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise SajjaError("line.code_invalid", status_code=422)
    existing_for_member = await session.scalar(select(LineLink).where(LineLink.member_id == row.member_id))
    if existing_for_member is not None and existing_for_member.line_user_id != line_user_id:
        raise Conflict("line.already_linked")
    row.used_at = utcnow()
    user = await session.scalar(select(User).where(User.member_id == row.member_id, User.role == Role.member.value))
    if user is None:
        user = User(id=uuid.uuid4(), phone=f"line:{uuid.uuid4().hex[:14]}", password_hash=await hash_password(secrets.token_urlsafe(32)),
                    display_name="สมาชิก (LINE)", role=Role.member.value, fund_id=row.fund_id, member_id=row.member_id,
                    created_by="line-link")
        session.add(user)
        await session.flush()
    await session.execute(delete(LineLink).where(LineLink.line_user_id == line_user_id))
    linked = LineLink(line_user_id=line_user_id, user_id=user.id, fund_id=row.fund_id, member_id=row.member_id)
    session.add(linked)
    await session.flush()
    return linked


async def linked_user(session: AsyncSession, line_user_id: str) -> tuple[LineLink, User]:
    row = await session.get(LineLink, line_user_id)
    user = await session.get(User, row.user_id) if row else None
    if row is None or user is None or not user.is_active:
        raise NotFound("line.not_linked")
    return row, user


async def unlink(session: AsyncSession, principal: Principal, member_id: uuid.UUID, fund_id: uuid.UUID) -> None:
    """The member themself, or the committee of their fund."""
    is_self = principal.role is Role.member and principal.member_id == member_id
    is_committee = principal.role in (Role.committee, Role.fund_admin) and principal.fund_id == fund_id
    if not (is_self or is_committee or principal.role is Role.platform_admin):
        raise Forbidden("auth.out_of_scope")
    await session.execute(delete(LineLink).where(LineLink.member_id == member_id, LineLink.fund_id == fund_id))


def text_message(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text[:5000]}


def baht(satang: int) -> str:
    whole, part = divmod(satang, 100)
    return f"{whole:,}" + (f".{part:02d}" if part else "")


HELP = ("พิมพ์ \"ยอดเงิน\" ดูเงินสัจจะสะสม, \"ใบเสร็จ\" ดูใบเสร็จล่าสุด, \"สถานะ\" ดูคำขอสวัสดิการ "
        "หรือ \"ผูกบัญชี รหัส\" เพื่อผูกบัญชีกับกองทุน")


class MemberView:
    """Reads a linked member's own data from the services, with a token the gateway signs for them."""

    def __init__(self, issuer: TokenIssuer, http: httpx.AsyncClient, service_urls: dict[str, str]) -> None:
        self.issuer, self.http, self.urls = issuer, http, service_urls

    async def get(self, user: User, service: str, path: str, **params: Any) -> dict[str, Any]:
        token = self.issuer.user_access_token(user)
        response = await self.http.get(f"{self.urls[service]}{path}", params=params or None,
                                       headers={"Authorization": f"Bearer {token}"}, timeout=10)
        response.raise_for_status()
        return response.json()

    async def answer(self, user: User, text: str) -> str:
        base_ledger = f"/v1/ledger/funds/{user.fund_id}/members/{user.member_id}"
        command = text.strip().lower()
        try:
            if command in ("ยอด", "ยอดเงิน", "balance"):
                balance = await self.get(user, "ledger", f"{base_ledger}/balance")
                return f"ยอดเงินสัจจะสะสม {baht(balance['contributed_satang'])} บาท (ฝาก {balance['deposits']} ครั้ง)"
            if command in ("ใบเสร็จ", "receipts"):
                statement = await self.get(user, "ledger", f"{base_ledger}/statement", limit=5)
                lines = [f"#{line['receipt_no']} {baht(line['amount_satang'])} บาท {line['business_date']}"
                         for line in statement["lines"] if line["receipt_no"]]
                return "ใบเสร็จล่าสุด\n" + "\n".join(lines) if lines else "ยังไม่มีใบเสร็จ"
            if command in ("สถานะ", "claims", "status"):
                claims = await self.get(user, "benefits", f"/v1/benefits/funds/{user.fund_id}/claims", limit=3)
                lines = [f"{c['benefit_code']} {baht(c['amount_satang'])} บาท: {STATUS_TH.get(c['status'], c['status'])}" for c in claims["items"]]
                return "คำขอสวัสดิการล่าสุด\n" + "\n".join(lines) if lines else "ยังไม่มีคำขอสวัสดิการ"
        except httpx.HTTPError:
            return "ขออภัย ระบบไม่พร้อมในขณะนี้ โปรดลองใหม่ภายหลัง"
        return HELP


STATUS_TH = {"submitted": "ยื่นแล้ว", "under_review": "กำลังพิจารณา", "approved": "อนุมัติแล้ว รอจ่าย", "rejected": "ไม่อนุมัติ",
             "paid": "จ่ายแล้ว", "cancelled": "ยกเลิก"}


async def first_time(session: AsyncSession, event_id: str) -> bool:
    """True the first time a webhook event is seen; LINE redelivers, and each is handled once."""
    result = await session.execute(insert(LineWebhookEvent).values(event_id=event_id).on_conflict_do_nothing().returning(LineWebhookEvent.event_id))
    return result.first() is not None


def queue_reply(session: AsyncSession, reply_token: str, text: str) -> None:
    session.add(LineOutbox(id=uuid.uuid4(), kind="reply", reply_token=reply_token, messages=[text_message(text)],
                           status="pending", next_attempt_at=utcnow()))


async def queue_push(session: AsyncSession, line_user_id: str, text: str, dedupe_key: str) -> None:
    await session.execute(insert(LineOutbox).values(
        id=uuid.uuid4(), kind="push", line_user_id=line_user_id, messages=[text_message(text)], dedupe_key=dedupe_key,
        status="pending", next_attempt_at=utcnow(), attempts=0).on_conflict_do_nothing(index_elements=["dedupe_key"]))


async def handle_event(session: AsyncSession, view: MemberView, event: dict[str, Any]) -> None:
    """One webhook event: link codes and simple Thai commands, each answered by reply."""
    source = event.get("source") or {}
    line_user_id = source.get("userId")
    reply_token = event.get("replyToken")
    if not line_user_id or not reply_token:
        return
    if event.get("type") == "follow":
        queue_reply(session, reply_token, "ยินดีต้อนรับสู่กองทุนสวัสดิการชุมชน " + HELP)
        return
    message = event.get("message") or {}
    if event.get("type") != "message" or message.get("type") != "text":
        return
    text = str(message.get("text", "")).strip()
    words = text.split()
    if len(words) == 2 and words[0].lower() in ("ผูกบัญชี", "link"):
        try:
            async with session.begin_nested():
                await link(session, line_user_id, words[1])
            queue_reply(session, reply_token, "ผูกบัญชีเรียบร้อยแล้ว จะแจ้งใบเสร็จและผลสวัสดิการทาง LINE นี้")
        except (SajjaError, Conflict):
            queue_reply(session, reply_token, "รหัสผูกบัญชีไม่ถูกต้อง หมดอายุ หรือใช้ไปแล้ว โปรดขอรหัสใหม่จากคณะกรรมการ")
        return
    try:
        _, user = await linked_user(session, line_user_id)
    except NotFound:
        queue_reply(session, reply_token, "บัญชี LINE นี้ยังไม่ได้ผูกกับสมาชิก " + HELP)
        return
    queue_reply(session, reply_token, await view.answer(user, text))
