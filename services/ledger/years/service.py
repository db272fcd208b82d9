"""The fund's fiscal years: closing one into the accumulated fund, reopening it, and its statements
for the general meeting (docs/fiscal-years.md).

Closing posts one entry of kind ``year_closing`` dated the year's last day: each income and
expense account that is not a member's is brought to zero as of that day against the accumulated
fund (3200); the members' contributions of the year go to their contra (4199), never off a
member's own account, so members' balances, statements, standing and arrears do not change. Then
``closed_through`` locks the period. Reopening (platform admins) reverses that entry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.chart import BENEFIT_CATEGORIES, INCOME_SOURCES, account_of_kind, ensure_fund
from services.ledger.models import Account, LedgerFund, Posting, YearClosing
from services.ledger.movements.service import ensure_balances_allow
from services.ledger.posting import FLOWLESS_KINDS, Reversed, lock_fund, not_flowless, post_entry, request_hash
from services.ledger.schemas import (
    AdministrationAgainstCap,
    FinancialPosition,
    FiscalYearOut,
    FiscalYears,
    IncomeAndExpenditure,
    StatementFigure,
    YearCloseIn,
    YearClosingOut,
    YearReopenIn,
    YearStatements,
)
from shared.audit import audit
from shared.auth import Principal
from shared.errors import Conflict, SajjaError, register_messages
from shared.figures import share_pct
from shared.fiscal import BE_OFFSET, fiscal_year_of, year_bounds
from shared.members_client import MembersDirectory
from shared.timeutil import bangkok_today, utcnow

register_messages(
    {
        "year.not_ended": {
            "th": ("ปีบัญชียังไม่สิ้นสุด", "ปีบัญชี {year_be} สิ้นสุดวันที่ {ends_on} จึงยังปิดบัญชีไม่ได้"),
            "en": ("Year not ended", "Fiscal year {year} ends on {ends_on}: it cannot be closed yet"),
        },
        "year.earlier_open": {
            "th": ("ยังไม่ได้ปิดปีก่อน", "ต้องปิดบัญชีปี {open_year_be} ก่อน จึงจะปิดปี {year_be} ได้ (ปิดบัญชีตามลำดับปี)"),
            "en": ("An earlier year is open", "Fiscal year {open_year} must be closed before {year} (years close in order)"),
        },
        "year.already_closed": {
            "th": ("ปิดบัญชีปีนี้แล้ว", "ปีบัญชี {year_be} ปิดบัญชีแล้ว"),
            "en": ("Year already closed", "Fiscal year {year} is already closed"),
        },
        "year.not_closed": {
            "th": ("ปีบัญชียังไม่ได้ปิด", "ปีบัญชี {year_be} ยังไม่ได้ปิดบัญชี จึงเปิดใหม่ไม่ได้"),
            "en": ("Year not closed", "Fiscal year {year} is not closed, so it cannot be reopened"),
        },
        "year.later_closed": {
            "th": ("ปีถัดไปปิดแล้ว", "ต้องเปิดปีบัญชีที่ปิดล่าสุดก่อน (ปิดถึงวันที่ {closed_through})"),
            "en": ("A later year is closed", "Reopen the latest closed year first (closed through {closed_through})"),
        },
        "year.meeting_date_invalid": {
            "th": ("วันประชุมใหญ่ไม่ถูกต้อง",
                   "วันประชุมใหญ่ที่อนุมัติงบการเงินต้องอยู่หลังวันสิ้นปีบัญชี ({ends_on}) และไม่เกินวันนี้"),
            "en": ("Invalid meeting date",
                   "The general meeting approving the accounts must be after the year's end ({ends_on}) and not in the future"),
        },
        "year.out_of_range": {
            "th": ("ปีบัญชีไม่ถูกต้อง", "ปีบัญชีต้องอยู่ระหว่าง {min} ถึง {max}"),
            "en": ("Year out of range", "The fiscal year must be between {min} and {max}"),
        },
        "fiscal_year.change_after_closing": {
            "th": ("เปลี่ยนปีบัญชีไม่ได้",
                   "กองทุนปิดบัญชีถึงวันที่ {closed_through} แล้ว จึงเปลี่ยนรอบปีบัญชีไม่ได้ (เปลี่ยนได้เฉพาะก่อนปิดบัญชีปีแรก)"),
            "en": ("Fiscal year fixed",
                   "The fund's books are closed through {closed_through}: its fiscal year can change only before its first closing"),
        },
    }
)

Answer = tuple[int, dict[str, Any], bool]
YEARS = (2000, 2200)
NOMINAL = ("income", "expense")


def _years_params(year: int) -> dict[str, Any]:
    return {"year": year, "year_be": year + BE_OFFSET}


def ensure_year_in_range(year: int) -> None:
    if not YEARS[0] <= year <= YEARS[1]:
        raise SajjaError("year.out_of_range", status_code=422, params={"min": YEARS[0], "max": YEARS[1]})


def closing_out(row: YearClosing) -> YearClosingOut:
    return YearClosingOut.model_validate(row)


async def _balances_through(session: AsyncSession, fund_id: uuid.UUID, day: dt.date) -> dict[uuid.UUID, int]:
    """Each account's balance at the end of ``day`` (every entry, closings included)."""
    rows = await session.execute(
        select(Posting.account_id, func.sum(Posting.amount_satang))
        .where(Posting.fund_id == fund_id, Posting.business_date <= day)
        .group_by(Posting.account_id))
    return {a: int(s) for a, s in rows if s}


async def _flows(session: AsyncSession, fund_id: uuid.UUID, start: dt.date, end: dt.date) -> dict[uuid.UUID, int]:
    """Each account's movement between two days, closing and reopening entries left out."""
    rows = await session.execute(
        select(Posting.account_id, func.sum(Posting.amount_satang))
        .where(Posting.fund_id == fund_id, Posting.business_date >= start, Posting.business_date <= end,
               not_flowless(Posting.fund_id, Posting.entry_id))
        .group_by(Posting.account_id))
    return {a: int(s) for a, s in rows if s}


async def _accounts(session: AsyncSession, fund_id: uuid.UUID) -> list[Account]:
    return list((await session.scalars(select(Account).where(Account.fund_id == fund_id).order_by(Account.code))).all())


async def close_year(
    *, session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, principal: Principal, year: int,
    data: YearCloseIn,
) -> Answer:
    """Close fiscal ``year``: carry its result into the accumulated fund and lock it. Idempotent by
    the body's id; one standing closing per fund and year."""
    ensure_year_in_range(year)
    await ensure_fund(session, directory, fund_id)
    fund = await lock_fund(session, fund_id)
    fingerprint = request_hash({"year": year, **data.model_dump(mode="json")})
    earlier = await session.get(YearClosing, (fund_id, data.id), populate_existing=True)
    if earlier is not None:
        if earlier.request_hash != fingerprint:
            raise Conflict("idempotency.key_reused", params={"key": str(data.id)})
        return 200, closing_out(earlier).model_dump(mode="json"), True
    start, end = year_bounds(year, fund.fiscal_year_start_month)
    params = {**_years_params(year), "ends_on": end.isoformat()}
    if end >= bangkok_today():
        raise SajjaError("year.not_ended", status_code=422, params=params)
    if not end < data.meeting_on <= bangkok_today():
        raise SajjaError("year.meeting_date_invalid", status_code=422, params=params)
    if fund.closed_through is not None and fund.closed_through >= end:
        raise Conflict("year.already_closed", params=params)
    open_from = fund.closed_through + dt.timedelta(days=1) if fund.closed_through is not None else await session.scalar(
        select(func.min(Posting.business_date)).where(Posting.fund_id == fund_id))
    if open_from is not None and open_from < start:
        open_year = fiscal_year_of(open_from, fund.fiscal_year_start_month)
        raise Conflict("year.earlier_open", params={**params, "open_year": open_year, "open_year_be": open_year + BE_OFFSET})

    accounts = await _accounts(session, fund_id)
    balances = await _balances_through(session, fund_id, end)
    accumulated = await account_of_kind(session, fund_id, "accumulated_fund")
    contra = await account_of_kind(session, fund_id, "contribution_closed")
    legs: list[tuple[uuid.UUID, int]] = []
    members = 0
    for account in accounts:
        balance = balances.get(account.id, 0)
        if account.type not in NOMINAL or balance == 0:
            continue
        if account.kind in ("member_contribution", "contribution_closed"):
            members += balance  # carried by the contra: members' own accounts are never touched
        else:
            legs.append((account.id, -balance))
    if members:
        legs.append((contra.id, -members))
    surplus = sum(amount for _, amount in legs)  # credits to income are negative balances: a debit to close
    if surplus:
        legs.append((accumulated.id, -surplus))
    entry_id = None
    if legs:
        # An open-year correction of this year made before it closed may leave an account on its
        # other side once this year is carried out of it: refused clearly, nothing written.
        await ensure_balances_allow(session, fund_id, legs)
        entry_id, _ = await post_entry(
            session, fund_id=fund_id, kind="year_closing", business_date=end, legs=legs, by=principal.subject,
            memo=f"ปิดบัญชีปี {year + BE_OFFSET} / closing of fiscal year {year} ({data.minutes_ref})"[:300])
    fund.closed_through = end
    row = YearClosing(
        fund_id=fund_id, id=data.id, year=year, starts_on=start, ends_on=end, entry_id=entry_id,
        request_hash=fingerprint, meeting_on=data.meeting_on, minutes_ref=data.minutes_ref, surplus_satang=surplus,
        closed_by=principal.subject, closed_role=principal.role.value, closed_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await audit(session, principal, "ledger.year_close", fund_id=fund_id, object_type="fiscal_year", object_id=str(year),
                details={"closing_id": str(data.id), "meeting_on": data.meeting_on.isoformat(),
                         "minutes_ref": data.minutes_ref, "surplus_satang": surplus,
                         "entry_id": str(entry_id) if entry_id else None})
    return 201, closing_out(row).model_dump(mode="json"), False


async def reopen_year(
    *, session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, principal: Principal, year: int,
    data: YearReopenIn,
) -> Answer:
    """Reopen the fund's latest closed year (platform admins, with a reason): the closing entry is
    reversed and the lock moves back. Idempotent by the body's id."""
    ensure_year_in_range(year)
    await ensure_fund(session, directory, fund_id)
    fund = await lock_fund(session, fund_id)
    earlier = await session.scalar(select(YearClosing).where(
        YearClosing.fund_id == fund_id, YearClosing.reopen_id == data.id).execution_options(populate_existing=True))
    if earlier is not None:
        if earlier.year != year or earlier.reopen_reason != data.reason or earlier.reopened_by != principal.subject:
            raise Conflict("idempotency.key_reused", params={"key": str(data.id)})
        return 200, closing_out(earlier).model_dump(mode="json"), True
    closing = await session.scalar(select(YearClosing).where(
        YearClosing.fund_id == fund_id, YearClosing.year == year, YearClosing.reopened_at.is_(None))
        .with_for_update().execution_options(populate_existing=True))
    if closing is None:
        raise Conflict("year.not_closed", params=_years_params(year))
    if fund.closed_through != closing.ends_on:
        raise Conflict("year.later_closed", params={"closed_through": str(fund.closed_through)})
    reopen_entry = None
    if closing.entry_id is not None:
        legs = [(a, -m) for a, m in (await session.execute(select(Posting.account_id, Posting.amount_satang).where(
            Posting.fund_id == fund_id, Posting.entry_id == closing.entry_id).order_by(Posting.line))).all()]
        reopen_entry, _ = await post_entry(
            session, fund_id=fund_id, kind="year_reopening", business_date=closing.ends_on, legs=legs,
            by=principal.subject, memo=f"เปิดปีบัญชี {year + BE_OFFSET} ใหม่ / fiscal year {year} reopened: {data.reason}"[:300],
            reverses=Reversed(closing.entry_id))
    previous = await session.scalar(select(func.max(YearClosing.ends_on)).where(
        YearClosing.fund_id == fund_id, YearClosing.reopened_at.is_(None), YearClosing.id != closing.id))
    fund.closed_through = previous
    closing.reopen_id, closing.reopen_entry_id, closing.reopened_by = data.id, reopen_entry, principal.subject
    closing.reopened_at, closing.reopen_reason = utcnow(), data.reason
    await session.flush()
    await audit(session, principal, "ledger.year_reopen", fund_id=fund_id, object_type="fiscal_year", object_id=str(year),
                details={"closing_id": str(closing.id), "reopen_id": str(data.id), "reason": data.reason,
                         "entry_id": str(reopen_entry) if reopen_entry else None})
    return 200, closing_out(closing).model_dump(mode="json"), False


async def fiscal_years(session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID) -> FiscalYears:
    """Every fiscal year from the fund's first entry to the current one, each open or closed."""
    fund = await ensure_fund(session, directory, fund_id)
    month = fund.fiscal_year_start_month
    current = fiscal_year_of(bangkok_today(), month)
    first_day = await session.scalar(select(func.min(Posting.business_date)).where(Posting.fund_id == fund_id))
    first = fiscal_year_of(first_day, month) if first_day is not None else current
    closings = (await session.scalars(select(YearClosing).where(YearClosing.fund_id == fund_id)
                                      .order_by(YearClosing.closed_at))).all()
    by_year: dict[int, list[YearClosing]] = defaultdict(list)
    for c in closings:
        by_year[c.year].append(c)
    years = []
    for year in range(min(first, current, *(by_year or [current])), current + 1):
        start, end = year_bounds(year, month)
        standing = next((c for c in by_year[year] if c.reopened_at is None), None)
        years.append(FiscalYearOut(
            year=year, year_be=year + BE_OFFSET, starts_on=start, ends_on=end,
            status="closed" if standing is not None else "open",
            closing=closing_out(standing) if standing else None,
            reopened=[closing_out(c) for c in by_year[year] if c.reopened_at is not None]))
    return FiscalYears(fund_id=fund_id, fiscal_year_start_month=month, closed_through=fund.closed_through,
                       current_year=current, years=years)


# --- Statements ------------------------------------------------------------------------------------

POSITION_ASSETS = (
    ("fund_cash", "เงินสด", "Cash"),
    ("bank", "เงินฝากธนาคาร", "Bank deposits"),
    ("collector_cash", "เงินสดในมืออาสาสมัครเก็บเงิน", "Cash with collectors"),
    ("grants_receivable", "เงินอุดหนุนค้างรับ", "Grants receivable"),
    ("other_assets", "สินทรัพย์อื่น", "Other assets"),
)
POSITION_FUNDS = (
    ("accumulated_fund", "กองทุนสะสม", "Accumulated fund"),
    ("restricted", "เงินทุนที่มีวัตถุประสงค์เฉพาะ", "Restricted funds"),
    ("other_funds", "ทุนอื่น", "Other funds"),
    ("result_not_closed", "รายรับสูงกว่า (ต่ำกว่า) รายจ่ายที่ยังไม่ปิดบัญชี", "Surplus (deficit) not yet closed"),
)


def _position_key(account: Account) -> tuple[str, str]:
    """Which line of the financial position an account is in: (side, key)."""
    if account.type == "asset":
        return "assets", account.kind if account.kind in {k for k, *_ in POSITION_ASSETS} else "other_assets"
    if account.type == "liability":
        return "liabilities", "liabilities"
    if account.type == "equity":
        return "funds", account.kind if account.kind in ("accumulated_fund", "restricted") else "other_funds"
    return "funds", "result_not_closed"


def _income_key(account: Account) -> str:
    if account.kind in ("member_contribution", "contribution_closed"):
        return "members"
    if account.kind == "income" and account.source:
        return account.source
    return f"account:{account.code}"


async def statements(session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, year: int) -> YearStatements:
    """The year's financial position at its end and its income and expenditure, beside the
    previous year's. Every account is in exactly one line of the position."""
    ensure_year_in_range(year)
    fund = await ensure_fund(session, directory, fund_id)
    month = fund.fiscal_year_start_month
    start, end = year_bounds(year, month)
    p_start, p_end = year_bounds(year - 1, month)
    accounts = await _accounts(session, fund_id)
    now, before = await _balances_through(session, fund_id, end), await _balances_through(session, fund_id, p_end)
    flows, p_flows = await _flows(session, fund_id, start, end), await _flows(session, fund_id, p_start, p_end)

    def figure(key: str, th: str, en: str, amount: int, previous: int) -> StatementFigure:
        return StatementFigure(key=key, label_th=th, label_en=en, amount_satang=amount, previous_satang=previous)

    # Position: assets debit-positive, liabilities and funds credit-positive.
    sides: dict[str, dict[str, list[int]]] = {"assets": defaultdict(lambda: [0, 0]), "liabilities": defaultdict(lambda: [0, 0]),
                                              "funds": defaultdict(lambda: [0, 0])}
    for account in accounts:
        side, key = _position_key(account)
        sign = 1 if side == "assets" else -1
        sides[side][key][0] += sign * now.get(account.id, 0)
        sides[side][key][1] += sign * before.get(account.id, 0)
    assets = [figure(k, th, en, *sides["assets"][k]) for k, th, en in POSITION_ASSETS]
    liabilities = ([figure("liabilities", "หนี้สิน", "Liabilities", *sides["liabilities"]["liabilities"])]
                   if "liabilities" in sides["liabilities"] else [])
    funds = [figure(k, th, en, *sides["funds"][k]) for k, th, en in POSITION_FUNDS]
    position = FinancialPosition(
        as_of=end, previous_as_of=p_end, assets=assets,
        assets_total=figure("assets_total", "รวมสินทรัพย์", "Total assets",
                            sum(f.amount_satang for f in assets), sum(f.previous_satang for f in assets)),
        liabilities=liabilities, funds=funds,
        funds_total=figure("funds_total", "รวมหนี้สินและทุน", "Total liabilities and funds",
                           sum(f.amount_satang for f in (*liabilities, *funds)),
                           sum(f.previous_satang for f in (*liabilities, *funds))),
    )

    # Income and expenditure: flows of the year, closing and reopening entries left out.
    income: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    labels: dict[str, tuple[str, str]] = {"members": ("เงินสัจจะสมาชิก", "Members' contributions")}
    labels.update({s: (th, en) for s, (_, th, en) in INCOME_SOURCES.items()})
    benefits: dict[str, list[int]] = {c: [0, 0] for c in BENEFIT_CATEGORIES}
    other: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    admin, corrections = [0, 0], [0, 0]
    for account in accounts:
        amounts = (flows.get(account.id, 0), p_flows.get(account.id, 0))
        if account.type == "income":
            key = _income_key(account)
            labels.setdefault(key, (account.name_th, account.name_en))
            income[key][0] -= amounts[0]
            income[key][1] -= amounts[1]
        elif account.kind == "benefit_expense" and account.source in benefits:
            benefits[account.source][0] += amounts[0]
            benefits[account.source][1] += amounts[1]
        elif account.kind == "admin_expense":
            admin[0] += amounts[0]
            admin[1] += amounts[1]
        elif account.type == "expense":
            other[f"account:{account.code}"][0] += amounts[0]
            other[f"account:{account.code}"][1] += amounts[1]
            labels[f"account:{account.code}"] = (account.name_th, account.name_en)
        elif account.kind == "accumulated_fund":
            corrections[0] -= amounts[0]
            corrections[1] -= amounts[1]
    income_total = [sum(v[0] for v in income.values()), sum(v[1] for v in income.values())]
    order = ["members", *INCOME_SOURCES, *sorted(k for k in income if k.startswith("account:"))]
    income_lines = [
        figure(k, *labels[k], *income[k]).model_copy(update={"share_pct": share_pct(income[k][0], income_total[0])})
        for k in order if k in income or k in ("members", *INCOME_SOURCES)
    ]
    benefit_lines = [figure(f"benefit:{c}", th, en, *benefits[c]) for c, (th, en) in BENEFIT_CATEGORIES.items()]
    benefits_total = [sum(v[0] for v in benefits.values()), sum(v[1] for v in benefits.values())]
    other_lines = [figure("administration", "ค่าใช้จ่ายในการบริหาร", "Administration", *admin)]
    other_lines += [figure(k, *labels[k], *v) for k, v in sorted(other.items())]
    expenditure = [benefits_total[0] + sum(f.amount_satang for f in other_lines),
                   benefits_total[1] + sum(f.previous_satang for f in other_lines)]
    cap, p_cap = income_total[0] * fund.admin_cap_bp // 10_000, income_total[1] * fund.admin_cap_bp // 10_000
    closing = await session.scalar(select(YearClosing).where(
        YearClosing.fund_id == fund_id, YearClosing.year == year, YearClosing.reopened_at.is_(None)))
    return YearStatements(
        fund_id=fund_id, year=year, year_be=year + BE_OFFSET, starts_on=start, ends_on=end, previous_year=year - 1,
        status="closed" if closing is not None else "open", closing=closing_out(closing) if closing else None,
        position=position,
        income_and_expenditure=IncomeAndExpenditure(
            income=income_lines, income_total=figure("income_total", "รวมรายรับ", "Total income", *income_total),
            benefits=benefit_lines,
            benefits_total=figure("benefits_total", "รวมจ่ายสวัสดิการ", "Total benefits", *benefits_total),
            other_expenditure=other_lines,
            expenditure_total=figure("expenditure_total", "รวมรายจ่าย", "Total expenditure", *expenditure),
            surplus=figure("surplus", "รายรับสูงกว่า (ต่ำกว่า) รายจ่าย", "Surplus (deficit)",
                           income_total[0] - expenditure[0], income_total[1] - expenditure[1]),
            prior_year_corrections=figure("prior_year_corrections", "รายการปรับปรุงของปีที่ปิดบัญชีแล้ว",
                                          "Corrections of closed years", *corrections),
            administration=AdministrationAgainstCap(
                cap_bp=fund.admin_cap_bp, spent_satang=admin[0], cap_satang=cap, previous_spent_satang=admin[1],
                previous_cap_satang=p_cap, within_cap=admin[0] <= cap),
        ),
    )


def is_flowless(kind: str) -> bool:
    return kind in FLOWLESS_KINDS


__all__ = ["LedgerFund", "close_year", "fiscal_years", "reopen_year", "statements"]
