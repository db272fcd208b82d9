"""The year's statements as a workbook and as a Thai PDF for the general meeting
(docs/fiscal-years.md).

The PDF is written by fpdf2 with Sarabun, a Thai font under the SIL Open Font License 1.1, shipped
here (``fonts/``, with its licence ``fonts/OFL.txt``, from the ``fontpkg-sarabun`` package), so a
statement never depends on what fonts a server has; HarfBuzz shaping puts vowels and tone marks
where they belong and keeps the text extractable. Every text cell of the workbook is written as
text (never a formula), as the dashboard's exports are.
"""

from __future__ import annotations

import io
import re
import urllib.parse
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from services.ledger.schemas import StatementFigure, YearStatements
from shared import projection_view as view
from shared.figures import short_baht
from shared.fiscal import BE_OFFSET

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"
FONTS = Path(__file__).with_name("fonts")
FAMILY = "Sarabun"
MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม", "กันยายน",
          "ตุลาคม", "พฤศจิกายน", "ธันวาคม")


def thai_date(day) -> str:  # type: ignore[no-untyped-def]
    return f"{day.day} {MONTHS[day.month - 1]} {day.year + BE_OFFSET}"


def baht(satang: int) -> str:
    """Satang as baht with thousands separators; a deficit in brackets, as accounts print it."""
    text = f"{abs(satang) // 100:,}.{abs(satang) % 100:02d}"
    return f"({text})" if satang < 0 else text


def attachment(filename: str) -> dict[str, str]:
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "_", filename)
    return {"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename)}",
            "Cache-Control": "private, no-store"}


def _sections(s: YearStatements) -> list[tuple[str, list[StatementFigure], StatementFigure | None]]:
    """The statements' sections in the order the meeting reads them: (title, lines, total)."""
    ie = s.income_and_expenditure
    pos = s.position
    return [
        ("สินทรัพย์", pos.assets, pos.assets_total),
        ("หนี้สินและทุน", [*pos.liabilities, *pos.funds], pos.funds_total),
        ("รายรับ", ie.income, ie.income_total),
        ("รายจ่ายสวัสดิการ", ie.benefits, ie.benefits_total),
        ("รายจ่ายอื่น", ie.other_expenditure, ie.expenditure_total),
        ("ผลการดำเนินงาน", [ie.surplus, ie.prior_year_corrections], None),
    ]


def _titles(s: YearStatements) -> list[str]:
    return [
        f"งบการเงินประจำปีบัญชี {s.year_be}",
        f"ตั้งแต่วันที่ {thai_date(s.starts_on)} ถึงวันที่ {thai_date(s.ends_on)}"
        f" ({'ปิดบัญชีแล้ว' if s.status == 'closed' else 'ยังไม่ปิดบัญชี'})",
    ]


def _money(satang: int) -> Decimal:
    return Decimal(satang) / 100


def xlsx(s: YearStatements) -> bytes:
    """One sheet: each section's lines with the year's and the previous year's figures in baht."""
    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)  # a new workbook's one sheet
    sheet.title = f"งบการเงิน {s.year_be}"
    bold = Font(bold=True)

    def text(row: int, column: int, value: str, strong: bool = False) -> None:
        cell = sheet.cell(row=row, column=column, value=value)
        cell.data_type = "s"  # text, never a formula, whatever it starts with
        if strong:
            cell.font = bold

    def money(row: int, column: int, satang: int) -> None:
        cell = sheet.cell(row=row, column=column, value=_money(satang))
        cell.number_format = "#,##0.00"

    row = 1
    for line in _titles(s):
        text(row, 1, line, strong=True)
        row += 1
    text(row, 1, "รายการ", True)
    text(row, 2, f"ปี {s.year_be} (บาท)", True)
    text(row, 3, f"ปี {s.year_be - 1} (บาท)", True)
    text(row, 4, "ร้อยละ", True)
    for title, lines, total in _sections(s):
        row += 2
        text(row, 1, title, strong=True)
        for figure in lines:
            row += 1
            text(row, 1, figure.label_th)
            money(row, 2, figure.amount_satang)
            money(row, 3, figure.previous_satang)
            if figure.share_pct is not None:
                sheet.cell(row=row, column=4, value=figure.share_pct)
        if total is not None:
            row += 1
            text(row, 1, total.label_th, strong=True)
            money(row, 2, total.amount_satang)
            money(row, 3, total.previous_satang)
    admin = s.income_and_expenditure.administration
    row += 2
    text(row, 1, f"ค่าใช้จ่ายบริหารเทียบเพดานร้อยละ {admin.cap_bp / 100:g} ของรายรับ", strong=True)
    row += 1
    text(row, 1, "ค่าใช้จ่ายบริหาร")
    money(row, 2, admin.spent_satang)
    money(row, 3, admin.previous_spent_satang)
    row += 1
    text(row, 1, "เพดานค่าใช้จ่ายบริหาร")
    money(row, 2, admin.cap_satang)
    money(row, 3, admin.previous_cap_satang)
    sheet.column_dimensions["A"].width = 52
    for column in "BC":
        sheet.column_dimensions[column].width = 20
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class StatementPdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.add_font(FAMILY, "", str(FONTS / "Sarabun-Regular.ttf"))
        self.add_font(FAMILY, "B", str(FONTS / "Sarabun-Bold.ttf"))
        self.set_text_shaping(True)
        self.footer_text = footer_text
        self.set_auto_page_break(True, margin=16)
        self.set_margins(18, 14, 18)
        self.set_creator("Sajja")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 9)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.footer_text}   หน้า {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    def rows(self, title: str, lines: Iterable[StatementFigure], total: StatementFigure | None, widths: list[float]) -> None:
        if self.get_y() > self.h - self.b_margin - 30:
            self.add_page()
        self.ln(2)
        self.set_font(FAMILY, "B", 13)
        self.set_fill_color(232, 241, 236)
        self.cell(0, 8, title, fill=True, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FAMILY, "", 12)
        for figure in lines:
            self._row(figure, widths)
        if total is not None:
            self.set_font(FAMILY, "B", 12)
            self._row(total, widths, border="T")

    def _row(self, figure: StatementFigure, widths: list[float], border: str = "") -> None:
        share = f"{figure.share_pct:.2f}%" if figure.share_pct is not None else ""
        self.cell(widths[0], 7, figure.label_th, border=border)
        self.cell(widths[1], 7, share, border=border, align="R")
        self.cell(widths[2], 7, baht(figure.amount_satang), border=border, align="R")
        self.cell(widths[3], 7, baht(figure.previous_satang), border=border, align="R", new_x="LMARGIN", new_y="NEXT")


def pdf(s: YearStatements, fund_name: str | None = None, projection: dict[str, Any] | None = None) -> bytes:
    """The statements on A4 for the general meeting: position, then income and expenditure, each
    figure beside the previous year's, then the administration against its cap; last, a page of
    the fund's 20-year sustainability projection (``projection``: the benefits service's answer,
    None when it could not be had, and the page says so)."""
    doc = StatementPdf(footer_text=f"งบการเงินประจำปีบัญชี {s.year_be}")
    doc.add_page()
    doc.set_font(FAMILY, "B", 16)
    if fund_name:
        doc.cell(0, 9, fund_name, align="C", new_x="LMARGIN", new_y="NEXT")
    for i, line in enumerate(_titles(s)):
        doc.set_font(FAMILY, "B" if i == 0 else "", 15 if i == 0 else 12)
        doc.cell(0, 8, line, align="C", new_x="LMARGIN", new_y="NEXT")
    widths = [84.0, 18.0, 36.0, 36.0]
    doc.ln(2)
    doc.set_font(FAMILY, "B", 12)
    for title, width, align in (("รายการ", widths[0], "L"), ("ร้อยละ", widths[1], "R"),
                                (f"ปี {s.year_be} (บาท)", widths[2], "R"), (f"ปี {s.year_be - 1} (บาท)", widths[3], "R")):
        doc.cell(width, 7, title, border="B", align=align)
    doc.ln(7)
    sections = _sections(s)
    doc.set_font(FAMILY, "B", 14)
    doc.cell(0, 9, f"งบแสดงฐานะการเงิน ณ วันที่ {thai_date(s.ends_on)}", new_x="LMARGIN", new_y="NEXT")
    for title, lines, total in sections[:2]:
        doc.rows(title, lines, total, widths)
    doc.ln(3)
    doc.set_font(FAMILY, "B", 14)
    doc.cell(0, 9, "งบรายรับและรายจ่าย", new_x="LMARGIN", new_y="NEXT")
    for title, lines, total in sections[2:]:
        doc.rows(title, lines, total, widths)
    admin = s.income_and_expenditure.administration
    doc.ln(3)
    doc.set_font(FAMILY, "", 12)
    doc.multi_cell(0, 7, f"ค่าใช้จ่ายในการบริหาร {baht(admin.spent_satang)} บาท เพดานร้อยละ {admin.cap_bp / 100:g} ของรายรับ"
                         f" คือ {baht(admin.cap_satang)} บาท ({'ไม่เกินเพดาน' if admin.within_cap else 'เกินเพดาน'})",
                   new_x="LMARGIN", new_y="NEXT")
    if s.closing is not None:
        doc.multi_cell(0, 7, f"ที่ประชุมใหญ่อนุมัติเมื่อวันที่ {thai_date(s.closing.meeting_on)} ตามรายงานการประชุม"
                             f" {s.closing.minutes_ref}", new_x="LMARGIN", new_y="NEXT")
    projection_page(doc, view.usable(projection))
    return bytes(doc.output())


#: The projection chart's colours (RGB): the dashboard's green, its band lighter, the floor red.
GREEN, BAND, FLOOR, GRID = (46, 125, 90), (200, 226, 212), (181, 71, 58), (215, 215, 215)


def projection_page(doc: StatementPdf, projection: dict[str, Any] | None) -> None:
    """"ประมาณการความยั่งยืน 20 ปี": the reserve's expected path and its 5-95% band against the
    floor, when it first falls under the floor, every fifth year in a table, and the mortality
    basis. The projection is the one of the day the PDF is made, with the defaults (no what-ifs)."""
    doc.add_page()
    doc.set_font(FAMILY, "B", 15)
    doc.cell(0, 9, view.text("title"), align="C", new_x="LMARGIN", new_y="NEXT")
    doc.set_font(FAMILY, "", 12)
    if projection is None:
        doc.ln(4)
        doc.multi_cell(0, 7, view.text("unavailable"), new_x="LMARGIN", new_y="NEXT")
        doc.multi_cell(0, 7, "งบการเงินในเอกสารนี้ครบถ้วน ขอพิมพ์เอกสารนี้ใหม่ภายหลังเพื่อดูประมาณการ",
                       new_x="LMARGIN", new_y="NEXT")
        return
    path = projection["path"]
    start = projection["starting"]
    floor = int(projection["reserve_floor_satang"])
    as_of = dt.date.fromisoformat(str(projection["as_of"])[:10])
    doc.cell(0, 7, f"ประมาณการ ณ วันที่ {thai_date(as_of)} ปี พ.ศ. {path[0]['year'] + BE_OFFSET}–{path[-1]['year'] + BE_OFFSET}"
                   f" จากการจำลอง {int(projection.get('runs') or 0):,} รอบ ตามสมมติฐานปัจจุบันของกองทุน",
             align="C", new_x="LMARGIN", new_y="NEXT")
    without_birth = int(start.get("members_without_birth_date") or 0)
    doc.multi_cell(0, 7, f"ตั้งต้น: เงินสำรอง {baht(int(start['reserve_satang']))} บาท สมาชิก {int(start.get('members') or 0):,} คน"
                         + (f" (ไม่มีวันเกิดในทะเบียน {without_birth:,} คน)" if without_birth else "")
                         + f" เงินสำรองขั้นต่ำ {baht(floor)} บาท", new_x="LMARGIN", new_y="NEXT")
    _projection_chart(doc, path, floor)
    doc.set_font(FAMILY, "B", 12)
    doc.multi_cell(0, 7, view.under_floor_words(projection), new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    _projection_table(doc, view.every_fifth_year(path))
    doc.ln(2)
    doc.set_font(FAMILY, "", 11)
    doc.multi_cell(0, 6, view.mortality_words(projection), new_x="LMARGIN", new_y="NEXT")
    note = (projection.get("mortality") or {}).get("note")
    if note:
        doc.multi_cell(0, 6, str(note), new_x="LMARGIN", new_y="NEXT")
    doc.set_text_color(90)
    doc.multi_cell(0, 6, "ประมาณการนี้ใช้ค่าตั้งต้นของระบบ ไม่มีการสมมติเปลี่ยนเงินสัจจะ สวัสดิการ สมาชิกใหม่ หรือเงินสมทบ"
                         " ค่าคาดหมายคือค่าเฉลี่ยของการจำลอง ช่วง 5–95% คือช่วงที่ผลการจำลองร้อยละ 90 อยู่ภายใน",
                   new_x="LMARGIN", new_y="NEXT")
    doc.set_text_color(0)


def _projection_chart(doc: StatementPdf, path: list[dict[str, Any]], floor: int) -> None:
    """The reserve's band, expected line and floor, drawn with fpdf2's polygons and lines."""
    top = doc.get_y() + 4
    plot = view.band_plot(path, "reserve_satang", left=doc.l_margin + 20, top=top, width=doc.epw - 24, height=78,
                          floor=floor, unit=100)
    doc.set_font(FAMILY, "", 8)
    doc.set_line_width(0.2)
    doc.set_draw_color(*GRID)
    for y, value in plot.y_ticks:
        doc.line(plot.left, y, plot.right, y)
        doc.set_xy(doc.l_margin, y - 2)
        doc.cell(18, 4, short_baht(value), align="R")
    for x, year in plot.x_ticks:
        doc.set_xy(x - 8, plot.bottom + 1)
        doc.cell(16, 4, str(year + BE_OFFSET), align="C")
    doc.set_fill_color(*BAND)
    doc.polygon(plot.band, style="F")
    doc.set_draw_color(*GREEN)
    doc.set_line_width(0.7)
    doc.polyline(plot.expected)
    if plot.floor_y is not None:
        doc.set_draw_color(*FLOOR)
        doc.set_line_width(0.5)
        doc.set_dash_pattern(dash=2, gap=1.2)
        doc.line(plot.left, plot.floor_y, plot.right, plot.floor_y)
        doc.set_dash_pattern()
    doc.set_draw_color(0)
    doc.set_line_width(0.2)
    # The legend, under the years.
    y = plot.bottom + 7
    x = plot.left
    for colour, label, kind in ((BAND, view.text("band"), "band"), (GREEN, view.text("expected"), "line"),
                                (FLOOR, view.text("floor"), "line")):
        if kind == "band":
            doc.set_fill_color(*colour)
            doc.rect(x, y + 0.8, 8, 2.6, style="F")
        else:
            doc.set_draw_color(*colour)
            doc.set_line_width(0.7)
            doc.line(x, y + 2, x + 8, y + 2)
        doc.set_xy(x + 9, y)
        doc.cell(34, 4, label)
        x += 44
    doc.set_draw_color(0)
    doc.set_line_width(0.2)
    doc.set_font(FAMILY, "", 12)
    doc.set_xy(doc.l_margin, y + 7)


def _projection_table(doc: StatementPdf, rows: list[dict[str, Any]]) -> None:
    """Every fifth year: members, contributions, co-funding, benefits, and the reserve with its band."""
    widths = [14.0, 16.0, 22.0, 22.0, 22.0, 26.0, 26.0, 26.0]
    heads = ["ปี พ.ศ.", "สมาชิก", "เงินสัจจะ", "เงินสมทบ", "สวัสดิการ", "เงินสำรอง", "ช่วงล่าง 5%", "ช่วงบน 95%"]
    doc.set_font(FAMILY, "B", 9)
    doc.cell(0, 5, "ค่าคาดหมายทุก 5 ปี (บาท) และช่วง 5–95% ของเงินสำรอง", new_x="LMARGIN", new_y="NEXT")
    for head, width in zip(heads, widths):
        doc.cell(width, 6, head, border="B", align="L" if head == heads[0] else "R")
    doc.ln(6)
    doc.set_font(FAMILY, "", 9)
    for point in rows:
        reserve = point["reserve_satang"]
        cells = [str(int(point["year"]) + BE_OFFSET), f"{round(float(point['members']['expected'])):,}",
                 *(baht(round(float(value))) for value in (
                     point["contributions_satang"]["expected"], point["co_funding_satang"]["expected"],
                     point["benefits_satang"]["expected"], reserve["expected"], reserve["p5"], reserve["p95"]))]
        for i, (value, width) in enumerate(zip(cells, widths)):
            doc.cell(width, 6, value, align="L" if i == 0 else "R")
        doc.ln(6)
