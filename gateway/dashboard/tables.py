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
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from fastapi.responses import Response

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


#: The sheet's cell formats (``cellXfs`` of ``xl/styles.xml``), by index: what each kind of cell is.
_PLAIN, _BOLD, _BOLD_QUOTED, _QUOTED, _MONEY, _INT, _PCT, _DATE, _DATETIME = range(9)

_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="3"><numFmt numFmtId="164" formatCode="0.0#"/><numFmt numFmtId="165" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="166" formatCode="yyyy-mm-dd h:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="9">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" quotePrefix="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="3" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '</Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'),
    "xl/styles.xml": _STYLES,
}
#: Excel's day 0 (its serial dates count days from here, fractions for the time of day).
_EPOCH = dt.datetime(1899, 12, 30)
#: What a sheet's name cannot hold.
_NOT_IN_SHEET_NAME = re.compile(r"[\\/*?:\[\]]")


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xml_text(text: str) -> str:
    """Text as XML content: escaped, and a carriage return kept (a parser would make it a line feed)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _xlsx_cell(ref: str, kind: str, value: Any, bold: bool = False) -> str:
    """One cell of the sheet: money, percentages and counts as numbers, text in a string cell
    (never a formula, never an error value such as ``#N/A``), quote-prefixed when it looks like a
    formula; an empty value is no cell."""
    if value is None:
        return ""
    number = _is_number(value)
    if kind == "money" and number:
        return f'<c r="{ref}" s="{_MONEY}"><v>{thai.baht_decimal(value)}</v></c>'
    if kind == "pct" and number:
        return f'<c r="{ref}" s="{_PCT}"><v>{value!r}</v></c>'
    if kind == "int" and number:
        return f'<c r="{ref}" s="{_INT}"><v>{int(value)}</v></c>'
    if number:
        return f'<c r="{ref}"><v>{value if isinstance(value, int | Decimal) else repr(value)}</v></c>'
    if isinstance(value, dt.datetime):
        days = (value.replace(tzinfo=None) - _EPOCH) / dt.timedelta(days=1)
        return f'<c r="{ref}" s="{_DATETIME}"><v>{days!r}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{_DATE}"><v>{(value - _EPOCH.date()).days}</v></c>'
    text = safe_text(str(value), "xlsx")
    quoted = text.startswith(FORMULA_STARTS)
    style = (_BOLD_QUOTED if quoted else _BOLD) if bold else (_QUOTED if quoted else _PLAIN)
    styled = f' s="{style}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{styled}><is><t xml:space="preserve">{_xml_text(text)}</t></is></c>'


def to_xlsx(table: Table) -> bytes:
    """The table as a workbook of one sheet, written directly as SpreadsheetML: the funds table of
    the whole country is thousands of rows, and a general-purpose writer's cost per cell made it
    the slowest download (docs/aggregates.md)."""
    letters = [_column_letters(i) for i in range(max(len(table.columns), 1))]
    lines = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN}"><sheetData>']

    def row(number: int, cells: list[str]) -> None:
        lines.append(f'<row r="{number}">' + "".join(cells) + "</row>")

    number = 0
    for number, line in enumerate(table.heading, start=1):
        row(number, [_xlsx_cell(f"A{number}", "text", line, bold=True)])
    number += 1
    row(number, [_xlsx_cell(f"{letters[i]}{number}", "text", c.title, bold=True) for i, c in enumerate(table.columns)])
    kinds = [c.kind for c in table.columns]
    for values in table.rows:
        number += 1
        if len(values) != len(kinds):
            raise ValueError(f"a row of {len(values)} values in a table of {len(kinds)} columns")
        row(number, [_xlsx_cell(f"{letters[i]}{number}", kinds[i], v) for i, v in enumerate(values)])
    lines.append("</sheetData></worksheet>")
    name = _NOT_IN_SHEET_NAME.sub("_", safe_text(table.title, "xlsx"))[:31] or "Sheet1"
    workbook = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
                f'<sheets><sheet name="{_xml_text(name).replace(chr(34), "&quot;")}" sheetId="1" r:id="rId1"/></sheets></workbook>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as book:
        for part, text in _PARTS.items():
            book.writestr(part, text)
        book.writestr("xl/workbook.xml", workbook)
        book.writestr("xl/worksheets/sheet1.xml", "".join(lines))
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
