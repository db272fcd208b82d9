"""A fund's chart of accounts: made from a template on first use, with accounts per member and
per collector opened idempotently when first needed (after checking with the members service)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import Account, LedgerCollector, LedgerFund, LedgerMember
from shared.errors import NotFound, register_messages
from shared.members_client import MembersDirectory
from shared.timeutil import utcnow

register_messages(
    {
        "fund.not_found": {
            "th": ("ไม่พบกองทุน", "ไม่พบกองทุนนี้"),
            "en": ("Fund not found", "No such fund"),
        },
    }
)

#: Ban Song's nine benefit categories (the Ban Song case study); one expense account each.
BENEFIT_CATEGORIES = {
    "birth": ("สวัสดิการเกิด", "Birth"),
    "sickness_medical": ("สวัสดิการเจ็บป่วย", "Sickness and medical"),
    "elderly": ("สวัสดิการผู้สูงอายุ", "Elderly"),
    "death": ("สวัสดิการเสียชีวิต", "Death"),
    "education": ("สวัสดิการการศึกษา", "Education"),
    "disadvantaged_disabled": ("สวัสดิการผู้ด้อยโอกาสและผู้พิการ", "Disadvantaged and disabled"),
    "occupation": ("สวัสดิการส่งเสริมอาชีพ", "Occupation"),
    "housing_repair": ("สวัสดิการซ่อมแซมที่อยู่อาศัย", "Housing repair"),
    "disaster_relief": ("สวัสดิการภัยพิบัติ", "Disaster relief"),
}

#: Income accounts by source: the co-funding legs (สมทบ 3 ขา / 4 ขา) and more.
INCOME_SOURCES = {
    "local_government": ("4200", "เงินสมทบจากองค์กรปกครองส่วนท้องถิ่น", "Local government co-funding"),
    "codi": ("4300", "เงินสมทบจากรัฐ (พอช.)", "State co-funding through CODI"),
    "provincial_office": ("4350", "เงินสนับสนุนจากสำนักงานพัฒนาสังคมฯ จังหวัด (พมจ.)", "Provincial office co-funding"),
    "donors": ("4400", "เงินบริจาคและเครือข่าย", "Donors and networks"),
    "community_enterprise": ("4500", "ส่วนแบ่งจากวิสาหกิจชุมชน", "Community enterprise share"),
    "interest": ("4600", "ดอกเบี้ยรับ", "Interest"),
    "other": ("4900", "รายได้อื่น", "Other income"),
}


@dataclass(frozen=True)
class Template:
    code: str
    kind: str
    type: str
    name_th: str
    name_en: str
    source: str | None = None
    allow_negative: bool = False


TEMPLATE: tuple[Template, ...] = (
    Template("1010", "fund_cash", "asset", "เงินสดของกองทุน", "Fund cash"),
    Template("1020", "bank", "asset", "เงินฝากธนาคาร", "Bank deposits"),
    Template("1300", "grants_receivable", "asset", "เงินอุดหนุนค้างรับ", "Grants receivable"),
    Template("3100", "restricted", "equity", "เงินทุนที่มีวัตถุประสงค์เฉพาะ", "Restricted funds"),
    # What closing a year carries the year's result into (a deficit too), and the contra of the
    # members' own contribution accounts, which closing never touches (docs/fiscal-years.md).
    Template("3200", "accumulated_fund", "equity", "กองทุนสะสม", "Accumulated fund", allow_negative=True),
    Template("4199", "contribution_closed", "income", "เงินสัจจะสมาชิกที่ปิดเข้ากองทุนสะสม",
             "Members' contributions carried to the accumulated fund", "members", allow_negative=True),
    *(Template(code, "income", "income", th, en, source) for source, (code, th, en) in INCOME_SOURCES.items()),
    *(
        Template(f"5100-{category}", "benefit_expense", "expense", th, en, category)
        for category, (th, en) in BENEFIT_CATEGORIES.items()
    ),
    Template("5900", "admin_expense", "expense", "ค่าใช้จ่ายในการบริหาร", "Administration expense"),
)


async def ensure_fund(session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID) -> LedgerFund:
    """The fund's ledger, made with its chart of accounts the first time (idempotent)."""
    fund = await session.get(LedgerFund, fund_id)
    if fund is not None:
        return fund
    if await directory.fund(fund_id) is None:
        raise NotFound("fund.not_found")
    await session.execute(insert(LedgerFund).values(fund_id=fund_id).on_conflict_do_nothing())
    await session.execute(
        insert(cast(Table, Account.__table__)).on_conflict_do_nothing(index_elements=["fund_id", "code"]),
        [
            {"fund_id": fund_id, "id": uuid.uuid4(), "code": t.code, "kind": t.kind, "type": t.type,
             "name_th": t.name_th, "name_en": t.name_en, "source": t.source, "allow_negative": t.allow_negative,
             "balance_satang": 0}
            for t in TEMPLATE
        ],
    )
    fund = await session.get(LedgerFund, fund_id)
    assert fund is not None
    return fund


async def account_by_code(session: AsyncSession, fund_id: uuid.UUID, code: str) -> Account:
    account = await session.scalar(select(Account).where(Account.fund_id == fund_id, Account.code == code))
    if account is None:
        raise NotFound("account.not_found")
    return account


async def account_of_kind(session: AsyncSession, fund_id: uuid.UUID, kind: str, source: str | None = None) -> Account:
    query = select(Account).where(Account.fund_id == fund_id, Account.kind == kind, Account.owner_id.is_(None))
    if source is not None:
        query = query.where(Account.source == source)
    account = await session.scalar(query.order_by(Account.code).limit(1))
    if account is None:
        raise NotFound("account.not_found")
    return account


async def _open_owned(
    session: AsyncSession, fund_id: uuid.UUID, kind: str, owners: dict[uuid.UUID, tuple[str, str, str]],
    type_: str, source: str | None,
) -> dict[uuid.UUID, uuid.UUID]:
    """Accounts of one kind per owner, made when missing; owner -> account id."""
    await session.execute(
        insert(cast(Table, Account.__table__)).on_conflict_do_nothing(),
        [
            {"fund_id": fund_id, "id": uuid.uuid4(), "code": code, "kind": kind, "type": type_, "name_th": th,
             "name_en": en, "owner_id": owner, "source": source, "allow_negative": False, "balance_satang": 0}
            for owner, (code, th, en) in sorted(owners.items())
        ],
    )
    rows = await session.execute(
        select(Account.owner_id, Account.id).where(
            Account.fund_id == fund_id, Account.kind == kind, Account.owner_id.in_(list(owners))
        )
    )
    return {owner: account for owner, account in rows if owner is not None}  # each of ``owners``


@dataclass(frozen=True)
class MemberInLedger:
    member_id: uuid.UUID
    account_id: uuid.UUID
    joined_on: dt.date
    status: str


async def members_in_ledger(
    session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, member_ids: list[uuid.UUID], ttl_seconds: int
) -> dict[uuid.UUID, MemberInLedger]:
    """The fund's members among ``member_ids``, confirmed within the TTL, each with a contribution
    account. Members the members service does not know in this fund are left out."""
    wanted = sorted(set(member_ids))
    known = {
        row.member_id: row
        for row in (await session.scalars(
            select(LedgerMember).where(LedgerMember.fund_id == fund_id, LedgerMember.member_id.in_(wanted))
        )).all()
    }
    fresh_after = utcnow() - dt.timedelta(seconds=ttl_seconds)
    stale = [m for m in wanted if m not in known or known[m].checked_at < fresh_after]
    if stale:
        facts = await directory.members(fund_id, stale)
        if facts:
            accounts = await _open_owned(
                session, fund_id, "member_contribution",
                {m: (f"4100-{f['member_no']:06d}", f"เงินสัจจะสมาชิกเลขที่ {f['member_no']}",
                     f"Contributions of member no. {f['member_no']}") for m, f in facts.items()},
                "income", "members",
            )
            now = utcnow()
            rows = [
                {"fund_id": fund_id, "member_id": m, "account_id": accounts[m],
                 "joined_on": dt.date.fromisoformat(f["joined_on"]), "status": f["status"], "checked_at": now}
                for m, f in sorted(facts.items())
            ]
            stmt = insert(cast(Table, LedgerMember.__table__))
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["fund_id", "member_id"],
                    set_={"status": stmt.excluded.status, "joined_on": stmt.excluded.joined_on,
                          "checked_at": stmt.excluded.checked_at},
                ),
                rows,
            )
            for row in rows:
                known[row["member_id"]] = LedgerMember(**row)
        for gone in set(stale) - set(facts):
            known.pop(gone, None)
    return {
        m: MemberInLedger(member_id=m, account_id=row.account_id, joined_on=row.joined_on, status=row.status)
        for m, row in known.items()
    }


async def collector_cash_account(
    session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, collector_id: uuid.UUID, ttl_seconds: int
) -> uuid.UUID | None:
    """The collector's cash-in-hand account, or None when they are not an active collector here."""
    row = await session.get(LedgerCollector, (fund_id, collector_id))
    if row is not None and row.checked_at >= utcnow() - dt.timedelta(seconds=ttl_seconds):
        return row.account_id if row.is_active else None
    facts: dict[str, Any] | None = await directory.collector(fund_id, collector_id)
    if facts is None:
        return None
    accounts = await _open_owned(
        session, fund_id, "collector_cash",
        {collector_id: (f"1100-{collector_id.hex}", "เงินสดในมืออาสาสมัครเก็บเงิน", "Collector's cash in hand")},
        "asset", None,
    )
    stmt = insert(cast(Table, LedgerCollector.__table__)).values(
        fund_id=fund_id, collector_id=collector_id, account_id=accounts[collector_id],
        is_active=bool(facts["is_active"]), checked_at=utcnow(),
    )
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["fund_id", "collector_id"],
        set_={"is_active": stmt.excluded.is_active, "checked_at": stmt.excluded.checked_at},
    ))
    return accounts[collector_id] if facts["is_active"] else None
