"""Deposits: members' contributions posted by collectors, online one at a time or synced in batches.

Each deposit debits the collector's cash in hand and credits the member's contribution account,
gets the fund's next receipt number, and is recorded under the phone's id: posting the same id
with the same content again is a duplicate (nothing counted twice), with other content a conflict.
Checks that need no lock (amounts, dates, who is a member or collector) run first; the posting
itself is one call to ``ledger_post_deposits`` under the fund's posting lock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.chart import collector_cash_account, ensure_fund, members_in_ledger
from services.ledger.posting import request_hash
from services.ledger.schemas import DepositIn
from services.ledger.settings import LedgerSettings
from shared.auth import Principal, Role
from shared.errors import register_messages, render_message
from shared.members_client import MembersDirectory
from shared.timeutil import bangkok_date, bangkok_today, utcnow

register_messages(
    {
        "deposit.id_conflict": {
            "th": ("รหัสรายการซ้ำ", "รหัสรายการ {id} เคยใช้กับการฝากที่ต่างจากครั้งนี้"),
            "en": ("Deposit id reused", "Deposit id {id} was already used for a different deposit"),
        },
        "deposit.too_late": {
            "th": ("ส่งช้าเกินกำหนด", "รับเงินเกิน {days} วันก่อนส่งเข้าระบบ โปรดติดต่อเหรัญญิก"),
            "en": ("Posted too late", "Collected more than {days} days ago; contact the treasurer"),
        },
        "deposit.in_future": {
            "th": ("เวลาในอนาคต", "เวลารับเงินอยู่ในอนาคต โปรดตรวจนาฬิกาของโทรศัพท์"),
            "en": ("Time in the future", "The collection time is in the future; check the phone's clock"),
        },
        "deposit.too_large": {
            "th": ("ยอดเงินสูงเกินไป", "ยอดฝากครั้งเดียวต้องไม่เกิน {max_satang} สตางค์"),
            "en": ("Amount too large", "One deposit may be at most {max_satang} satang"),
        },
        "deposit.member_unknown": {
            "th": ("ไม่พบสมาชิก", "ไม่พบสมาชิกนี้ในกองทุน"),
            "en": ("Unknown member", "No such member in this fund"),
        },
        "deposit.member_not_current": {
            "th": ("สมาชิกไม่อยู่ในสถานะรับฝาก", "สมาชิกนี้ลาออกหรือเสียชีวิตแล้ว"),
            "en": ("Member not current", "This member has resigned or died"),
        },
        "deposit.collector_unknown": {
            "th": ("ไม่ใช่อาสาสมัครของกองทุน", "ผู้รับเงินไม่ใช่อาสาสมัครเก็บเงินที่ยังปฏิบัติงานในกองทุนนี้"),
            "en": ("Unknown collector", "The collector is not an active collector of this fund"),
        },
        "deposit.collector_required": {
            "th": ("ต้องระบุอาสาสมัคร", "ต้องระบุ collector_id ของอาสาสมัครที่รับเงิน"),
            "en": ("Collector required", "Give the collector_id of who took the money"),
        },
        "deposit.not_own": {
            "th": ("ฝากแทนผู้อื่นไม่ได้", "อาสาสมัครบันทึกได้เฉพาะเงินที่ตนเองรับ"),
            "en": ("Not your collection", "A collector may post only money they took themselves"),
        },
        "deposit.repeated_in_batch": {
            "th": ("ซ้ำในชุดเดียวกัน", "รหัสรายการนี้ซ้ำกับรายการก่อนหน้าในชุดเดียวกัน"),
            "en": ("Repeated in the batch", "The same deposit id appears earlier in this batch"),
        },
    }
)

CURRENT = ("active", "suspended")


@dataclass
class Outcome:
    """What became of one deposit: created, duplicate (same as before), or rejected with a code."""

    id: uuid.UUID
    status: str
    code: str | None = None
    params: dict | None = None
    receipt_no: int | None = None
    entry_id: uuid.UUID | None = None
    posted_at: dt.datetime | None = None
    item: DepositIn | None = None
    collector_id: uuid.UUID | None = None
    business_date: dt.date | None = None

    def reason(self, lang: str) -> str | None:
        return render_message(self.code, lang, self.params or {})[1] if self.code else None


def _fingerprint(item: DepositIn, collector_id: uuid.UUID) -> bytes:
    return request_hash({
        "member_id": item.member_id, "amount_satang": item.amount_satang, "collector_id": collector_id,
        "collected_at": item.collected_at.astimezone(dt.UTC).isoformat(),
    })


async def post_deposits(
    *,
    session: AsyncSession,
    directory: MembersDirectory,
    settings: LedgerSettings,
    fund_id: uuid.UUID,
    principal: Principal,
    items: list[DepositIn],
) -> list[Outcome]:
    fund = await ensure_fund(session, directory, fund_id)
    now = utcnow()
    today = bangkok_today()
    outcomes: list[Outcome] = []
    seen: set[uuid.UUID] = set()
    candidates: list[Outcome] = []
    # Deposits already posted are answered from what was recorded, whatever has changed since
    # (the window passed, the member resigned): a phone re-syncing must see "duplicate".
    posted = {
        row.id: row
        for row in (await session.execute(
            text("SELECT id, request_hash, receipt_no, entry_id, posted_at FROM deposits"
                 " WHERE fund_id = :fund AND id = ANY(:ids)"),
            {"fund": fund_id, "ids": [i.id for i in items]},
        )).all()
    }
    for item in items:
        outcome = Outcome(id=item.id, status="rejected", item=item)
        outcomes.append(outcome)
        collector_id = item.collector_id
        if principal.role is Role.collector:
            collector_id = collector_id or uuid.UUID(principal.subject)
            if str(collector_id) != principal.subject:
                outcome.code = "deposit.not_own"
                continue
        if collector_id is None:
            outcome.code = "deposit.collector_required"
            continue
        if item.id in seen:
            outcome.code = "deposit.repeated_in_batch"
            continue
        seen.add(item.id)
        outcome.collector_id, outcome.business_date = collector_id, bangkok_date(item.collected_at)
        earlier = posted.get(item.id)
        if earlier is not None:
            if earlier.request_hash == _fingerprint(item, collector_id):
                outcome.status = "duplicate"
                outcome.receipt_no, outcome.entry_id, outcome.posted_at = earlier.receipt_no, earlier.entry_id, earlier.posted_at
            else:
                outcome.code, outcome.params = "deposit.id_conflict", {"id": str(item.id)}
            continue
        if item.amount_satang > settings.deposit_max_satang:
            outcome.code, outcome.params = "deposit.too_large", {"max_satang": settings.deposit_max_satang}
            continue
        if item.collected_at > now + dt.timedelta(seconds=settings.clock_skew_seconds):
            outcome.code = "deposit.in_future"
            continue
        if (today - outcome.business_date).days > fund.late_window_days:
            outcome.code, outcome.params = "deposit.too_late", {"days": fund.late_window_days}
            continue
        candidates.append(outcome)

    ttl = settings.member_facts_ttl_seconds
    members = await members_in_ledger(session, directory, fund_id, [o.item.member_id for o in candidates], ttl) if candidates else {}
    collector_accounts: dict[uuid.UUID, uuid.UUID | None] = {}
    for collector_id in sorted({o.collector_id for o in candidates}):
        collector_accounts[collector_id] = await collector_cash_account(session, directory, fund_id, collector_id, ttl)

    ready: list[tuple[Outcome, uuid.UUID, uuid.UUID]] = []
    for outcome in candidates:
        member = members.get(outcome.item.member_id)
        cash = collector_accounts.get(outcome.collector_id)
        if member is None:
            outcome.code = "deposit.member_unknown"
        elif member.status not in CURRENT:
            outcome.code = "deposit.member_not_current"
        elif cash is None:
            outcome.code = "deposit.collector_unknown"
        else:
            ready.append((outcome, member.account_id, cash))
    if not ready:
        return outcomes

    # The hot path holds the fund's posting lock only for the posting itself: what came before
    # (accounts opened, members confirmed) is idempotent and committed first, and the posting is
    # committed the moment the function returns. Everywhere else the request's unit of work
    # commits once at the end; here that would keep every other phone of the fund waiting while
    # this request's Python runs (measured: the lock was held about 9 ms per deposit, mostly by a
    # transaction waiting to send COMMIT).
    await session.commit()
    rows = (await session.execute(
        text("SELECT * FROM ledger_post_deposits(:fund, :ids, :members, :member_accounts, :collectors,"
             " :collector_accounts, :amounts, :collected, :dates, :hashes, :by)"),
        {
            "fund": fund_id,
            "ids": [o.id for o, _, _ in ready],
            "members": [o.item.member_id for o, _, _ in ready],
            "member_accounts": [m for _, m, _ in ready],
            "collectors": [o.collector_id for o, _, _ in ready],
            "collector_accounts": [c for _, _, c in ready],
            "amounts": [o.item.amount_satang for o, _, _ in ready],
            "collected": [o.item.collected_at for o, _, _ in ready],
            "dates": [o.business_date for o, _, _ in ready],
            "hashes": [_fingerprint(o.item, o.collector_id) for o, _, _ in ready],
            "by": principal.subject,
        },
    )).all()
    await session.commit()
    for (outcome, _, _), row in zip(ready, rows, strict=True):
        assert row.id == outcome.id
        if row.outcome == "conflict":
            outcome.code, outcome.params = "deposit.id_conflict", {"id": str(outcome.id)}
            continue
        outcome.status = row.outcome
        outcome.receipt_no, outcome.entry_id, outcome.posted_at = row.receipt_no, row.entry_id, row.posted_at
    return outcomes
