"""PDFs in Thai: a member's receipt and the monthly report for the committee meeting.

fpdf2 writes them with a Thai TrueType font embedded (subset) and HarfBuzz shaping, so vowels and
tone marks sit where they belong and the text can be searched and copied. The font is Debian's
TLWG Laksaman (the metrics of TH Sarabun, the face of Thai official documents) or Garuda,
installed by ``make run``/``make test`` (``tools/system_packages.sh fonts``); another TrueType
file can be named by ``SAJJA_GATEWAY_THAI_FONT`` (its bold next to it as ``<name>-Bold.ttf``).
Without one, asking for a PDF is a 503 problem that says so.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF

from gateway.dashboard import thai
from shared.errors import SajjaError, register_messages
from shared.timeutil import BANGKOK, utcnow

register_messages(
    {
        "pdf.font_missing": {
            "th": ("ไม่มีแบบอักษรภาษาไทย", "เครื่องแม่ข่ายไม่มีแบบอักษรภาษาไทยสำหรับสร้าง PDF (ติดตั้ง fonts-tlwg-laksaman-ttf หรือกำหนด SAJJA_GATEWAY_THAI_FONT)"),
            "en": ("No Thai font", "The server has no Thai font to make PDFs with (install fonts-tlwg-laksaman-ttf or set SAJJA_GATEWAY_THAI_FONT)"),
        },
    }
)

FONT_DIRS = (Path("/usr/share/fonts/truetype/tlwg"), Path("/usr/share/fonts/truetype/thai-tlwg"))
FAMILIES = ("Laksaman", "Garuda", "Loma")
FAMILY = "thai"
PDF_TYPE = "application/pdf"
#: Millimetres, given as numbers: fpdf2 warns about its named A5.
PAGE_SIZES = {"A4": (210, 297), "A5": (148, 210)}


@dataclass(frozen=True)
class ThaiFont:
    regular: Path
    bold: Path


def find_thai_font() -> ThaiFont | None:
    """The configured font, else the first TLWG face installed; None when there is none."""
    configured = os.environ.get("SAJJA_GATEWAY_THAI_FONT") or os.environ.get("SAJJA_THAI_FONT")
    candidates: list[Path] = [Path(configured)] if configured else []
    candidates += [folder / f"{family}.ttf" for family in FAMILIES for folder in FONT_DIRS]
    for regular in candidates:
        if regular.is_file():
            bold = regular.with_name(f"{regular.stem}-Bold{regular.suffix}")
            return ThaiFont(regular, bold if bold.is_file() else regular)
    return None


class ThaiPdf(FPDF):
    """An A4 or A5 page in the Thai font, with a footer naming the fund and the page."""

    def __init__(self, *, page_format: str = "A4", footer_text: str = "") -> None:
        super().__init__(format=PAGE_SIZES[page_format])
        font = find_thai_font()
        if font is None:
            raise SajjaError("pdf.font_missing", status_code=503)
        self.add_font(FAMILY, "", str(font.regular))
        self.add_font(FAMILY, "B", str(font.bold))
        self.set_text_shaping(True)
        self.footer_text = footer_text
        self.set_auto_page_break(True, margin=16)
        self.set_margins(16, 14, 16)
        self.set_creator("Sajja")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 9)
        self.set_text_color(110)
        printed = utcnow().astimezone(BANGKOK)
        self.cell(0, 5, f"{self.footer_text}   พิมพ์เมื่อ {thai.thai_date(printed.date())} {printed:%H:%M} น."
                        f"   หน้า {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    def text_line(self, text: str, *, size: float = 13, bold: bool = False, height: float = 7, align: str = "L") -> None:
        self.set_font(FAMILY, "B" if bold else "", size)
        self.multi_cell(0, height, text, align=align, new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str) -> None:
        """A section title, never alone at the foot of a page."""
        if self.get_y() > self.h - self.b_margin - 30:
            self.add_page()
        self.ln(2)
        self.set_fill_color(232, 241, 236)
        self.set_font(FAMILY, "B", 14)
        self.cell(0, 8, text, fill=True, new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def pairs(self, rows: Iterable[tuple[str, str]], *, label_width: float = 80, size: float = 13) -> None:
        """Label and value lines, the values right-aligned."""
        for name, value in rows:
            self.set_font(FAMILY, "", size)
            self.cell(label_width, 7, name)
            self.set_font(FAMILY, "B", size)
            self.cell(0, 7, value, align="R", new_x="LMARGIN", new_y="NEXT")

    def grid(self, header: list[str], rows: list[list[str]], widths: list[float], *, size: float = 12) -> None:
        """A small table: first column left, the others right-aligned."""
        self.set_font(FAMILY, "B", size)
        self.set_fill_color(245, 245, 245)
        for i, (title, width) in enumerate(zip(header, widths, strict=True)):
            self.cell(width, 7, title, border="B", align="L" if i == 0 else "R", fill=True)
        self.ln(7)
        self.set_font(FAMILY, "", size)
        for row in rows:
            for i, (value, width) in enumerate(zip(row, widths, strict=True)):
                self.cell(width, 7, value, align="L" if i == 0 else "R")
            self.ln(7)
        if not rows:
            self.set_text_color(110)
            self.cell(0, 7, "ไม่มีรายการ", new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0)

    def columns_chart(self, values: list[tuple[str, int]], *, height: float = 28) -> None:
        """Columns with labels under them (money in satang), for months of the year."""
        if not values:
            return
        top = max((v for _, v in values), default=0) or 1
        x0, width = self.l_margin, self.w - self.l_margin - self.r_margin
        y0 = self.get_y() + 2
        slot = width / len(values)
        self.set_font(FAMILY, "", 8)
        for i, (name, value) in enumerate(values):
            bar = height * value / top
            self.set_fill_color(46, 125, 90)
            if bar > 0:
                self.rect(x0 + i * slot + slot * 0.15, y0 + height - bar, slot * 0.7, bar, style="F")
            self.set_xy(x0 + i * slot, y0 + height + 1)
            self.cell(slot, 4, name, align="C")
        self.set_draw_color(160)
        self.line(x0, y0 + height, x0 + width, y0 + height)
        self.set_draw_color(0)
        self.set_xy(self.l_margin, y0 + height + 7)


def receipt_pdf(*, fund: dict[str, Any], deposit: dict[str, Any], member: dict[str, Any] | None,
                collector_name: str | None) -> bytes:
    """One deposit's receipt (ใบเสร็จรับเงินสัจจะ), on A5."""
    pdf = ThaiPdf(page_format="A5", footer_text=fund["name"])
    pdf.set_title(f"ใบเสร็จรับเงิน เลขที่ {deposit['receipt_no']}")
    pdf.add_page()
    pdf.text_line(fund["name"], size=15, bold=True, align="C")
    pdf.text_line(f"ตำบล{fund['subdistrict']} จังหวัด{fund['province']}", size=12, align="C")
    pdf.ln(2)
    pdf.text_line("ใบเสร็จรับเงินสัจจะ", size=20, bold=True, align="C", height=10)
    pdf.ln(2)
    collected = dt.datetime.fromisoformat(deposit["collected_at"]).astimezone(BANGKOK)
    name = "-"
    if member is not None:
        name = " ".join(p for p in (member.get("title"), member["first_name"], member["last_name"]) if p)
        name += f" (สมาชิกเลขที่ {member['member_no']})"
    pdf.pairs([
        ("เลขที่ใบเสร็จ", str(deposit["receipt_no"])),
        ("วันที่รับเงิน", f"{thai.thai_date(collected.date())} {collected:%H:%M} น."),
    ], label_width=40)
    pdf.ln(2)
    pdf.text_line(f"ได้รับเงินจาก {name}")
    pdf.text_line("รายการ เงินสัจจะ (เงินออมของสมาชิก)")
    pdf.ln(2)
    pdf.set_font(FAMILY, "B", 16)
    pdf.cell(0, 10, f"จำนวนเงิน {thai.baht(deposit['amount_satang'])} บาท", border=1, align="C",
             new_x="LMARGIN", new_y="NEXT")
    pdf.text_line(f"({thai.baht_words(deposit['amount_satang'])})", size=13, align="C")
    pdf.ln(6)
    pdf.text_line(f"ผู้รับเงิน {collector_name or '-'}", align="R")
    pdf.ln(4)
    pdf.set_text_color(110)
    posted = dt.datetime.fromisoformat(deposit["posted_at"]).astimezone(BANGKOK)
    pdf.text_line(f"บันทึกเข้าระบบ {thai.thai_date(posted.date())} {posted:%H:%M} น.  รหัสรายการ {deposit['id']}", size=9)
    pdf.set_text_color(0)
    return bytes(pdf.output())


def monthly_report_pdf(*, month: str, figures: dict[str, Any], year_months: list[dict[str, Any]]) -> bytes:
    """The monthly report for the committee meeting (รายงานประจำเดือน), on A4."""
    fund = figures["fund"]
    pdf = ThaiPdf(footer_text=fund["name"])
    pdf.set_title(f"รายงานประจำเดือน {thai.month_label(month, short=False)} {fund['name']}")
    pdf.add_page()
    pdf.text_line(fund["name"], size=18, bold=True, align="C", height=9)
    pdf.text_line(f"รายงานประจำเดือน{thai.month_label(month, short=False)} สำหรับการประชุมคณะกรรมการ", size=15,
                  bold=True, align="C", height=8)
    pdf.text_line(f"ตำบล{fund['subdistrict']} อำเภอ{fund['district']} จังหวัด{fund['province']}"
                  f"  ก่อตั้ง พ.ศ. {figures['founded_year_be']}", size=12, align="C")

    holdings = figures["holdings"] or {}
    pdf.heading("1. ฐานะของกองทุน (ณ วันที่พิมพ์)")
    pdf.pairs([
        ("เงินกองทุนสะสม", f"{thai.baht(figures['accumulated_satang'])} บาท"),
        ("  เงินฝากธนาคาร", f"{thai.baht(holdings.get('bank_satang'))} บาท"),
        ("  เงินสดของกองทุน", f"{thai.baht(holdings.get('fund_cash_satang'))} บาท"),
        ("  เงินสดในมืออาสาสมัครเก็บเงิน", f"{thai.baht(holdings.get('collectors_cash_satang'))} บาท"),
    ])
    members = figures["members"]
    pdf.heading("2. สมาชิก")
    pdf.pairs([
        ("สมาชิกที่ยังมีสถานะปกติ", f"{thai.number(members['active'])} คน"),
        ("ประชากรในตำบล", f"{thai.number(members['population'])} คน"),
        ("สัดส่วนสมาชิกต่อประชากร", f"{thai.pct(members['coverage_pct'])} %"),
        ("สมาชิกค้างส่งเงินสัจจะเกินกำหนด",
         f"{thai.number(figures['arrears']['members'])} คน ({thai.baht(figures['arrears']['amount_satang'])} บาท)"),
    ])
    income = figures["income_by_source"]
    pdf.heading("3. รายรับของเดือนแยกตามแหล่งที่มา")
    income_rows = [[s["label"], thai.baht(s["amount_satang"]), thai.pct(s["share_pct"], digits=2)] for s in income["sources"]]
    if income_rows:
        income_rows.append(["รวม", thai.baht(income["total_satang"]), "100.00"])
    pdf.grid(["แหล่งที่มา", "จำนวนเงิน (บาท)", "ร้อยละ"], income_rows, [95, 50, 33])
    deposits = figures["deposits_by_month"]
    pdf.heading("4. เงินสัจจะที่อาสาสมัครรับในเดือน")
    pdf.pairs([("จำนวนรายการ", f"{thai.number(deposits['deposits'])} รายการ"),
               ("จำนวนเงิน", f"{thai.baht(deposits['amount_satang'])} บาท")])
    if year_months:
        pdf.text_line("เงินสัจจะรายเดือนตั้งแต่ต้นปี (บาท)", size=11)
        pdf.columns_chart([(m["label"], m["amount_satang"]) for m in year_months])
    paid = figures["benefits_paid"]
    pdf.heading("5. สวัสดิการที่จ่ายในเดือน")
    paid_rows = [[c["label"], thai.number(c["claims"]), thai.baht(c["amount_satang"])] for c in paid["by_category"]]
    if paid_rows:
        paid_rows.append(["รวม", thai.number(paid["claims"]), thai.baht(paid["total_satang"])])
    pdf.grid(["ประเภทสวัสดิการ", "ราย", "จำนวนเงิน (บาท)"], paid_rows, [95, 33, 50])
    pending = figures["pending_claims"]
    pdf.heading("6. คำขอสวัสดิการที่รอดำเนินการ")
    pdf.grid(["สถานะ", "คำขอ", "รอนานสุด (วัน)"],
             [[p["label"], thai.number(p["claims"]), thai.number(p["oldest_days"])] for p in pending["by_status"]],
             [95, 33, 50])
    grants = figures["grants"]
    pdf.heading("7. เงินอุดหนุน (ทุกโครงการ)")
    pdf.pairs([
        ("ได้รับอนุมัติ", f"{thai.baht(grants['awarded_satang'])} บาท ({thai.number(grants['awarded'])} โครงการ)"),
        ("ได้รับเข้าบัญชีกองทุนแล้ว", f"{thai.baht(grants['received_satang'])} บาท"),
        ("ผู้ให้ทุนโอนแล้ว อยู่ระหว่างบันทึก", f"{thai.baht(grants['in_transit_satang'])} บาท"),
    ])
    pdf.ln(10)
    if pdf.get_y() > pdf.h - 50:
        pdf.add_page()
    pdf.set_font(FAMILY, "", 13)
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    pdf.cell(half, 8, "ลงชื่อ .................................. เหรัญญิก", align="C")
    pdf.cell(half, 8, "ลงชื่อ .................................. ประธานกรรมการ", align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
