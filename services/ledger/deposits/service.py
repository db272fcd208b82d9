"""Deposits: members' contributions posted by collectors, online one at a time or synced in batches.

Each deposit debits the collector's cash in hand and credits the member's contribution account,
gets the fund's next receipt number, and is recorded under the phone's id: posting the same id
with the same content again is a duplicate (nothing counted twice), with other content a conflict.
Checks that need no database (amounts, the phone's clock, who may post for whom) run first; every
other check and the posting itself are one call to ``ledger_post_deposits`` (receipts, deposits
and balances under the fund's lock), shared with the fund's other requests of the moment (``poster``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from services.ledger.chart import collector_cash_account, ensure_fund, members_in_ledger
from services.ledger.deposits.poster import Deposit, DepositPoster
from services.ledger.posting import request_hash
from services.ledger.schemas import DepositIn
from services.ledger.settings import LedgerSettings
from shared.auth import Principal, Role
from shared.errors import register_messages, render_message
from shared.members_client import MembersDirectory
from shared.metrics import DEPOSITS_POSTED
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


@dataclass
class Outcome:
    """What became of one deposit: created, duplicate (same as before), or rejected with a code."""

    id: uuid.UUID
    status: str
    code: str | None = None
    params: dict[str, Any] | None = None
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


#: What the posting function answers for a deposit it could not judge from the ledger's own
#: tables: ask the members service (or make the fund's ledger) and call again.
REFRESH = {"refresh_member", "refresh_collector", "no_ledger"}
#: Its other refusals, and what the caller is told; after a refresh, a member or collector the
#: members service does not know here is unknown.
REFUSED = {
    "conflict": "deposit.id_conflict",
    "member_not_current": "deposit.member_not_current",
    "collector_inactive": "deposit.collector_unknown",
    "too_late": "deposit.too_late",
    "refresh_member": "deposit.member_unknown",
    "refresh_collector": "deposit.collector_unknown",
}


async def post_deposits(
    *,
    directory: MembersDirectory,
    poster: DepositPoster,
    settings: LedgerSettings,
    fund_id: uuid.UUID,
    principal: Principal,
    items: list[DepositIn],
) -> list[Outcome]:
    """Judge and post deposits: what needs no database here, the rest in ``ledger_post_deposits``
    (one call for the whole request, shared with other requests of the fund; see ``poster``)."""
    now = utcnow()
    latest = now + dt.timedelta(seconds=settings.clock_skew_seconds)
    largest = settings.deposit_max_satang
    own_only = principal.role is Role.collector
    own = principal.user_id if own_only else None  # whose money alone a collector may post
    outcomes: list[Outcome] = []
    seen: set[uuid.UUID] = set()
    ready: list[Outcome] = []
    held: list[Outcome] = []  # refused by a setting: unless already posted, see below
    for item in items:
        outcome = Outcome(id=item.id, status="rejected", item=item)
        outcomes.append(outcome)
        collector_id = item.collector_id
        if own_only:
            if collector_id is not None and collector_id != own:
                outcome.code = "deposit.not_own"
                continue
            collector_id = own
        if collector_id is None:
            outcome.code = "deposit.collector_required"
            continue
        if item.id in seen:
            outcome.code = "deposit.repeated_in_batch"
            continue
        seen.add(item.id)
        outcome.collector_id, outcome.business_date = collector_id, bangkok_date(item.collected_at)
        # A deposit already posted is a duplicate even if it would now be refused (the window
        # passed, the member resigned): the function looks for its id before any other check.
        if item.amount_satang > largest:
            outcome.code, outcome.params = "deposit.too_large", {"max_satang": largest}
            held.append(outcome)
            continue
        if item.collected_at > latest:
            outcome.code = "deposit.in_future"
            held.append(outcome)
            continue
        ready.append(outcome)
    if held:
        # The limits are settings: a deposit posted under an older one is still its duplicate.
        async with poster.database.sessionmaker() as session:
            posted = set((await session.scalars(
                text("SELECT id FROM deposits WHERE fund_id = :fund AND id = ANY(:ids)"),
                {"fund": fund_id, "ids": [o.id for o in held]},
            )).all())
        for outcome in held:
            if outcome.id in posted:
                outcome.code = outcome.params = None
                ready.append(outcome)
    if not ready:
        return outcomes

    ttl = dt.timedelta(seconds=settings.member_facts_ttl_seconds)
    refresh = await _post(poster, fund_id, principal, ready, fresh_after=now - ttl, final=False)
    if refresh:
        # First use of a fund, member or collector, or facts older than the TTL: ask the members
        # service, open what is missing, commit, and post those deposits again.
        # The function names the first thing it missed; the member and the collector are both
        # looked at (each is only asked for when missing or stale). A session of its own: the
        # usual path needs none.
        again = [outcome for outcome, _ in refresh]
        async with poster.database.sessionmaker() as session:
            if any(word == "no_ledger" for _, word in refresh):
                await ensure_fund(session, directory, fund_id)
            ttl_seconds = settings.member_facts_ttl_seconds
            # (Every outcome to post has its item and collector: the None filters are for mypy.)
            await members_in_ledger(session, directory, fund_id, [o.item.member_id for o in again if o.item is not None],
                                    ttl_seconds)
            for collector_id in sorted({o.collector_id for o in again if o.collector_id is not None}):
                await collector_cash_account(session, directory, fund_id, collector_id, ttl_seconds)
            await session.commit()
        # Facts fetched just now are younger than the first call's limit: the same limit holds.
        await _post(poster, fund_id, principal, again, fresh_after=now - ttl, final=True)
    DEPOSITS_POSTED.inc(sum(1 for o in ready if o.status == "created"))
    return outcomes


def _deposit(o: Outcome, principal: Principal) -> Deposit:
    """The deposit of an outcome ready to post (its item, collector and business date known)."""
    assert o.item is not None and o.collector_id is not None and o.business_date is not None
    return Deposit(id=o.id, member_id=o.item.member_id, collector_id=o.collector_id, amount_satang=o.item.amount_satang,
                   collected_at=o.item.collected_at, business_date=o.business_date,
                   request_hash=_fingerprint(o.item, o.collector_id), posted_by=principal.subject)


async def _post(
    poster: DepositPoster, fund_id: uuid.UUID, principal: Principal, ready: list[Outcome], *,
    fresh_after: dt.datetime, final: bool,
) -> list[tuple[Outcome, str]]:
    """Post ``ready`` and record each answer in its outcome; those to refresh are returned with
    the function's word for what it missed, unless ``final``."""
    rows = await poster.post(
        fund_id,
        [_deposit(o, principal) for o in ready],
        today=bangkok_today(), fresh_after=fresh_after,
    )
    refresh: list[tuple[Outcome, str]] = []
    for outcome, row in zip(ready, rows, strict=True):
        assert row.id == outcome.id
        if row.outcome in ("created", "duplicate"):
            outcome.status = row.outcome
            outcome.receipt_no, outcome.entry_id, outcome.posted_at = row.receipt_no, row.entry_id, row.posted_at
        elif row.outcome in REFRESH and not final:
            refresh.append((outcome, row.outcome))
        elif row.outcome == "no_ledger":
            raise RuntimeError(f"fund {fund_id} still has no ledger after it was made")
        else:
            outcome.code = REFUSED[row.outcome]
            if row.outcome == "conflict":
                outcome.params = {"id": str(outcome.id)}
            elif row.outcome == "too_late":
                outcome.params = {"days": row.late_window_days}
    return refresh
