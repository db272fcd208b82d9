"""Tables as files people open in Excel or LibreOffice: CSV (UTF-8 with a byte order mark, so
Excel shows Thai, CRLF lines) and XLSX (money as numbers formatted ``#,##0.00``).

Every CSV and XLSX the system writes is written here, and every text cell of them (heading
lines, column titles, values) through :func:`safe_text`: text from data is never a formula. In
the CSV a text cell that a spreadsheet would read as a formula (``= + - @``, tab, carriage
return first) starts with a single quote; in the XLSX every text is a string cell (never ``<f>``,
never an error cell such as ``#N/A``), marked quote-prefixed when it looks like a formula so that
editing the cell keeps it text. Numbers stay numbers (a negative amount is a number, not text).
Characters XML cannot hold (C0 controls but tab, line feed and carriage return; lone surrogates;
U+FFFE, U+FFFF), which older rows may still carry, become U+FFFD in both formats, so such a row
exports instead of failing the whole file, and its reader sees where a character was."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from gateway.dashboard import thai

Format = Literal["csv", "xlsx"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: What an XML 1.0 document cannot hold (so neither can an XLSX): openpyxl refuses the controls.
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Put where such a character was: visible, so the record can be found and corrected, and two
#: names never become one by a character silently dropped.
REPLACEMENT = "\ufffd"


@dataclass
class Column:
    title: str
    #: ``money`` values are satang: baht with two decimals in the file.
    kind: Literal["text", "int", "money", "pct", "date"] = "text"


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    #: Lines above the header (fund, period), as the committee's own sheets have them.
    heading: list[str] = field(default_factory=list)


def safe_text(value: str, fmt: Format) -> str:
    """A text cell as it is written: the one place exports make text safe. Characters XML cannot
    hold become U+FFFD (both formats, so the CSV and the XLSX say the same); in the CSV, text a
    spreadsheet would take for a formula gets a leading single quote, which Excel and LibreOffice
    read as "this is text" (the XLSX says so by the cell's type, see :func:`_xlsx_cell`)."""
    text = NOT_IN_XML.sub(REPLACEMENT, value)
    if fmt == "csv" and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _csv_value(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "money" and _is_number(value):
        return thai.baht_plain(value)
    return str(value) if _is_number(value) else safe_text(str(value), "csv")


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in table.heading:
        writer.writerow([safe_text(line, "csv")])
    writer.writerow([safe_text(c.title, "csv") for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_value(c.kind, v) for c, v in zip(table.columns, row, strict=True)])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def _xlsx_cell(sheet: Any, kind: str, value: Any) -> WriteOnlyCell:
    """One cell of the sheet: money, percentages and counts as numbers, text in a string cell
    (openpyxl would otherwise write ``=...`` as a formula and ``#N/A`` as an error)."""
    number = _is_number(value)
    if kind == "money" and number:
        cell = WriteOnlyCell(sheet, value=thai.baht_decimal(value))
        cell.number_format = "#,##0.00"
    elif kind == "pct" and number:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.0#"
    elif kind == "int" and number:
        cell = WriteOnlyCell(sheet, value=int(value))
        cell.number_format = "#,##0"
    elif value is None or number or isinstance(value, dt.date):
        cell = WriteOnlyCell(sheet, value=value)  # empty, a number or a date: never a formula
    else:
        text = safe_text(str(value), "xlsx")
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        if text.startswith(FORMULA_STARTS):
            cell.quotePrefix = True
    return cell


def to_xlsx(table: Table) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=table.title[:31])
    bold = Font(bold=True)
    for line in table.heading:
        cell = _xlsx_cell(sheet, "text", line)
        cell.font = bold
        sheet.append([cell])
    header = []
    for column in table.columns:
        cell = _xlsx_cell(sheet, "text", column.title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append([_xlsx_cell(sheet, column.kind, value) for column, value in zip(table.columns, row, strict=True)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def attachment(filename: str) -> dict[str, str]:
    """``Content-Disposition`` with an ASCII fallback and the UTF-8 name (RFC 6266). The name may
    hold a fund's name: controls become ``_`` (a header cannot carry them), and the fallback
    keeps only printable ASCII."""
    filename = re.sub(r"[\x00-\x1f\x7f-\x9f]", "_", filename)
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "_", filename)
    return {"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename)}",
            "Cache-Control": "private, no-store"}


async def table_response(table: Table, fmt: Format, filename: str) -> Response:
    """The table as a download: ``<filename>.csv`` or ``.xlsx``, written off the event loop (a roll
    of thousands of members is long enough CPU work to hold up every other request)."""
    if fmt == "xlsx":
        return Response(await asyncio.to_thread(to_xlsx, table), media_type=XLSX_TYPE, headers=attachment(f"{filename}.xlsx"))
    return Response(await asyncio.to_thread(to_csv, table), media_type="text/csv; charset=utf-8",
                    headers=attachment(f"{filename}.csv"))
