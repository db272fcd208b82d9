"""Figures as Thai readers expect them: baht from satang, Buddhist Era dates, month names, the
amount in words on a receipt, and the labels of sources, benefit categories and claim states.

Pure functions; the dashboard's JSON, pages, spreadsheets and PDFs all format through here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shared.figures import BE_OFFSET, be_year

MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
          "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
MONTHS_SHORT = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

#: Income sources as the ledger names them (members' contributions and the co-funding legs).
SOURCES: dict[str, tuple[str, str]] = {
    "members": ("เงินสัจจะสมาชิก", "Members' contributions"),
    "local_government": ("องค์กรปกครองส่วนท้องถิ่น", "Local government"),
    "codi": ("รัฐ (พอช.)", "State through CODI"),
    "provincial_office": ("สำนักงานพัฒนาสังคมฯ จังหวัด (พมจ.)", "Provincial office"),
    "donors": ("ผู้บริจาคและเครือข่าย", "Donors and networks"),
    "community_enterprise": ("วิสาหกิจชุมชน", "Community enterprises"),
    "interest": ("ดอกเบี้ย", "Interest"),
    "other": ("รายได้อื่น (รวมยอดยกมา)", "Other (including balances brought forward)"),
}

#: Ban Song's nine benefit categories, as the ledger and benefits services name them.
CATEGORIES: dict[str, tuple[str, str]] = {
    "birth": ("เกิด", "Birth"),
    "sickness_medical": ("เจ็บป่วย", "Sickness and medical"),
    "elderly": ("ผู้สูงอายุ", "Elderly"),
    "death": ("เสียชีวิต", "Death"),
    "education": ("การศึกษา", "Education"),
    "disadvantaged_disabled": ("ผู้ด้อยโอกาสและผู้พิการ", "Disadvantaged and disabled"),
    "occupation": ("ส่งเสริมอาชีพ", "Occupation"),
    "housing_repair": ("ซ่อมแซมที่อยู่อาศัย", "Housing repair"),
    "disaster_relief": ("ภัยพิบัติ", "Disaster relief"),
}

#: Claims still waiting, as the benefits service's pending report keys them.
PENDING_STATES: dict[str, tuple[str, str]] = {
    "submitted": ("ยื่นคำขอแล้ว รอพิจารณา", "Submitted, awaiting review"),
    "under_review": ("อยู่ระหว่างพิจารณา", "Under review"),
    "payout_pending": ("อนุมัติแล้ว รอจ่าย", "Approved, payout pending"),
    "payout_held": ("อนุมัติแล้ว ระงับการจ่าย (ต่ำกว่าเงินสำรอง)", "Approved, payout held (reserve floor)"),
}

MEMBER_STATUSES = {"active": "ปกติ", "suspended": "พักสมาชิกภาพ", "resigned": "ลาออก", "deceased": "เสียชีวิต"}
SEXES = {"male": "ชาย", "female": "หญิง"}
ENTRY_KINDS = {"deposit": "ฝากเงินสัจจะ", "reversal": "กลับรายการ"}


FUND_PREFIX = "กองทุนสวัสดิการชุมชน"


def short_fund_name(name: str) -> str:
    """``ตำบลบ้านส้อง`` for ``กองทุนสวัสดิการชุมชนตำบลบ้านส้อง``: what fits a phone's table."""
    return name.removeprefix(FUND_PREFIX).strip() or name


def label(table: dict[str, tuple[str, str]], key: str, lang: str = "th") -> str:
    """The Thai (or English) name of a key; the key itself when it has none."""
    names = table.get(key)
    if names is None:
        return key
    return names[1] if lang == "en" else names[0]


def baht(satang: int | None, *, blank: str = "-") -> str:
    """``1,234,567.89`` from satang; ``blank`` for a missing figure (never 0 for unknown)."""
    if satang is None:
        return blank
    sign = "-" if satang < 0 else ""
    whole, part = divmod(abs(int(satang)), 100)
    return f"{sign}{whole:,}.{part:02d}"


def baht_plain(satang: int | None) -> str:
    """``1234567.89``: for CSV files, where thousands separators get in the way."""
    if satang is None:
        return ""
    sign = "-" if satang < 0 else ""
    whole, part = divmod(abs(int(satang)), 100)
    return f"{sign}{whole}.{part:02d}"


def baht_decimal(satang: int | None) -> Decimal | None:
    return None if satang is None else Decimal(int(satang)).scaleb(-2)


def number(value: int | None, *, blank: str = "-") -> str:
    return blank if value is None else f"{int(value):,}"


def pct(value: float | None, *, digits: int = 1, blank: str = "-") -> str:
    return blank if value is None else f"{value:.{digits}f}"


def thai_date(day: dt.date | None, *, short: bool = False) -> str:
    """``22 พฤศจิกายน 2569`` (or ``22 พ.ย. 2569``)."""
    if day is None:
        return "-"
    names = MONTHS_SHORT if short else MONTHS
    return f"{day.day} {names[day.month - 1]} {be_year(day)}"


def month_label(month: str, *, lang: str = "th", short: bool = True) -> str:
    """``ต.ค. 69`` (or ``ตุลาคม 2569``, ``Oct 2026``) from ``2026-10``."""
    year, number_ = (int(part) for part in month.split("-"))
    if lang == "en":
        return f"{MONTHS_EN[number_ - 1]} {year}"
    if short:
        return f"{MONTHS_SHORT[number_ - 1]} {str(year + BE_OFFSET)[-2:]}"
    return f"{MONTHS[number_ - 1]} {year + BE_OFFSET}"


def months_between(start: dt.date, end: dt.date) -> list[str]:
    """Every ``YYYY-MM`` from the month of ``start`` to the month of ``end``."""
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


_DIGITS = ("", "หนึ่ง", "สอง", "สาม", "สี่", "ห้า", "หก", "เจ็ด", "แปด", "เก้า")
_PLACES = ("", "สิบ", "ร้อย", "พัน", "หมื่น", "แสน")


def _words_below_million(value: int) -> str:
    """Thai words for 0 < value < 1,000,000, with เอ็ด for a final one and ยี่สิบ for twenty."""
    text = []
    digits = str(value)
    count = len(digits)
    for index, char in enumerate(digits):
        digit, place = int(char), count - index - 1
        if digit == 0:
            continue
        if place == 1 and digit == 1:
            text.append("สิบ")
        elif place == 1 and digit == 2:
            text.append("ยี่สิบ")
        elif place == 0 and digit == 1 and count > 1:
            text.append("เอ็ด")
        else:
            text.append(_DIGITS[digit] + _PLACES[place])
    return "".join(text)


def number_words(value: int) -> str:
    """Thai words for a whole number: 21 ``ยี่สิบเอ็ด``, 1,000,000 ``หนึ่งล้าน``."""
    if value == 0:
        return "ศูนย์"
    millions, rest = divmod(value, 1_000_000)
    text = ""
    if millions:
        text = number_words(millions) + "ล้าน"
    if rest == 1 and millions:
        text += "เอ็ด"
    elif rest:
        text += _words_below_million(rest)
    return text


def baht_words(satang: int) -> str:
    """The amount in words as written on a receipt: ``สามสิบบาทถ้วน``, ``ห้าสิบสตางค์``."""
    whole, part = divmod(int(satang), 100)
    if whole and part:
        return f"{number_words(whole)}บาท{number_words(part)}สตางค์"
    if part:
        return f"{number_words(part)}สตางค์"
    return f"{number_words(whole)}บาทถ้วน"
