"""Downloads: member rolls, statements, income by source and the funds table as CSV or XLSX; a
receipt and the committee's monthly report as PDF. Each reads the services with the caller's
token, so whoever may not read a roll cannot download it either."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.dashboard import figures, pdf, thai
from gateway.dashboard.tables import Column, Format, Table, attachment, table_response
from gateway.dashboard.upstream import Upstream, gather_all
from gateway.models import User
from shared.timeutil import bangkok_today


#: What the funds table says is missing, and who did not answer.
MISSING_LABELS = {"accumulated_satang": "เงินกองทุนสะสม"}
SERVICE_LABELS = {"ledger": "ระบบบัญชี", "members": "ระบบสมาชิก"}


def _slug(fund: dict[str, Any]) -> str:
    return fund["name"].replace(" ", "")


async def members_roll(up: Upstream, fund_id: uuid.UUID, fmt: Format) -> Response:
    """The fund's roll in Thai alphabetical order, national IDs masked."""
    fund, members = await gather_all(
        up.get("members", f"/v1/members/funds/{fund_id}"),
        up.pages("members", f"/v1/members/funds/{fund_id}/members"),
    )
    table = Table(
        title="ทะเบียนสมาชิก",
        heading=[f"ทะเบียนสมาชิก {fund['name']}", f"ณ วันที่ {thai.thai_date(bangkok_today())} จำนวน {len(members):,} คน"],
        columns=[Column("เลขทะเบียน", "int"), Column("เลขประจำตัวประชาชน"), Column("คำนำหน้า"), Column("ชื่อ"),
                 Column("นามสกุล"), Column("เพศ"), Column("หมู่ที่", "int"), Column("บ้านเลขที่"), Column("โทรศัพท์"),
                 Column("สถานะ")],
        rows=[[m["member_no"], m["national_id_masked"], m["title"], m["first_name"], m["last_name"],
               thai.SEXES.get(m["sex"], m["sex"]), m["village"], m["house_no"], m["phone"],
               thai.MEMBER_STATUSES.get(m["status"], m["status"])] for m in members],
    )
    return await table_response(table, fmt, f"ทะเบียนสมาชิก-{_slug(fund)}")


async def statement(up: Upstream, fund_id: uuid.UUID, member_id: uuid.UUID, fmt: Format) -> Response:
    """A member's deposits and corrections, oldest first, with a running balance."""
    fund, member, lines = await gather_all(
        up.get("members", f"/v1/members/funds/{fund_id}"),
        up.get("members", f"/v1/members/funds/{fund_id}/members/{member_id}"),
        up.pages("ledger", f"/v1/ledger/funds/{fund_id}/members/{member_id}/statement", items="lines"),
    )
    lines.reverse()
    running, rows = 0, []
    for line in lines:
        running += line["amount_satang"]
        day = dt.date.fromisoformat(line["business_date"])
        rows.append([thai.thai_date(day, short=True), thai.ENTRY_KINDS.get(line["kind"], line["kind"]), line["receipt_no"],
                     line["amount_satang"], running])
    name = " ".join(p for p in (member.get("title"), member["first_name"], member["last_name"]) if p)
    table = Table(
        title="รายการเงินสัจจะ",
        heading=[f"รายการเงินสัจจะของ {name} สมาชิกเลขที่ {member['member_no']}", fund["name"],
                 f"ยอดสะสม {thai.baht(running)} บาท"],
        columns=[Column("วันที่"), Column("รายการ"), Column("เลขที่ใบเสร็จ", "int"), Column("จำนวนเงิน (บาท)", "money"),
                 Column("ยอดสะสม (บาท)", "money")],
        rows=rows,
    )
    return await table_response(table, fmt, f"รายการเงินสัจจะ-{member['member_no']}")


async def income(up: Upstream, fund_id: uuid.UUID, period: figures.Period, fmt: Format) -> Response:
    """Income by source over the period, with each source's share."""
    fund, report = await gather_all(
        up.get("members", f"/v1/members/funds/{fund_id}"),
        up.get("ledger", f"/v1/ledger/funds/{fund_id}/reports/sources", period.params()),
    )
    rows = [[thai.label(thai.SOURCES, s["source"]), s["amount_satang"], s["share_pct"]] for s in report["sources"]]
    rows.append(["รวม", report["total_satang"], 100.0 if report["sources"] else 0.0])
    table = Table(
        title="รายรับแยกตามแหล่งที่มา",
        heading=[f"รายรับแยกตามแหล่งที่มา {fund['name']}", f"ตั้งแต่ {thai.thai_date(period.start)} ถึง {thai.thai_date(period.end)}"],
        columns=[Column("แหล่งที่มา"), Column("จำนวนเงิน (บาท)", "money"), Column("ร้อยละ", "pct")],
        rows=rows,
    )
    return await table_response(table, fmt, f"รายรับ-{_slug(fund)}-{period.start}-{period.end}")


async def funds(answer: dict[str, Any], fmt: Format, title: str) -> Response:
    """The funds table, as the source table of ten funds prints it; figures a service did not give
    are empty cells, and a heading line says which and why."""
    rows = answer["rows"]
    missing = [f"ไม่มีข้อมูล{MISSING_LABELS.get(name, name)} ({SERVICE_LABELS.get(u['service'], u['service'])}ไม่ตอบ)"
               for u in answer["unavailable"] for name in answer["missing"] if name in u["figures"]]
    table = Table(
        title="ตารางกองทุน",
        heading=[title, f"ณ วันที่ {thai.thai_date(bangkok_today())}", *missing],
        columns=[Column("ลำดับ", "int"), Column("กองทุน"), Column("จังหวัด"), Column("ปีก่อตั้ง (พ.ศ.)", "int"),
                 Column("เงินกองทุนสะสม (บาท)", "money"), Column("สมาชิก", "int"), Column("ร้อยละของประชากรตำบล", "pct")],
        rows=[[r["no"], r["name"], r["province"], r["founded_year_be"], r["accumulated_satang"], r["members"],
               r["coverage_pct"]] for r in rows],
    )
    return await table_response(table, fmt, "ตารางกองทุน")


async def receipt(up: Upstream, session: AsyncSession, fund_id: uuid.UUID, deposit_id: uuid.UUID) -> Response:
    """A deposit's receipt as PDF: whoever may read the deposit (the member, its collector, the
    fund's staff) may print it."""
    fund, deposit = await gather_all(
        up.get("members", f"/v1/members/funds/{fund_id}"),
        up.get("ledger", f"/v1/ledger/funds/{fund_id}/deposits/{deposit_id}"),
    )
    # A collector may print the receipts of their round without reading the member's record.
    member = await up.get("members", f"/v1/members/funds/{fund_id}/members/{deposit['member_id']}", missing_ok=True)
    collector = await session.get(User, uuid.UUID(deposit["collector_id"]))
    body = await asyncio.to_thread(pdf.receipt_pdf, fund=fund, deposit=deposit, member=member,
                                   collector_name=collector.display_name if collector else None)
    return Response(body, media_type=pdf.PDF_TYPE, headers=attachment(f"receipt-{deposit['receipt_no']}.pdf"))


async def monthly_report(up: Upstream, fund_id: uuid.UUID, month: str | None) -> Response:
    """The month's figures for the committee meeting, as PDF."""
    period = figures.Period.month(month)
    label = f"{period.start:%Y-%m}"
    year_to_month = figures.Period(dt.date(period.start.year, 1, 1), period.end)
    report, year = await gather_all(
        figures.fund_figures(up, fund_id, period),
        up.get("ledger", f"/v1/ledger/funds/{fund_id}/reports/deposits-by-month", year_to_month.params()),
    )
    by_month = {m["month"]: m["amount_satang"] for m in year["months"]}
    year_months = [{"month": m, "label": thai.MONTHS_SHORT[int(m[5:]) - 1], "amount_satang": by_month.get(m, 0)}
                   for m in thai.months_between(year_to_month.start, year_to_month.end)]
    body = await asyncio.to_thread(pdf.monthly_report_pdf, month=label, figures=report, year_months=year_months)
    return Response(body, media_type=pdf.PDF_TYPE, headers=attachment(f"monthly-report-{label}.pdf"))
