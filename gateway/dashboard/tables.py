"""Tables as files people open in Excel or LibreOffice: CSV (UTF-8 with a byte order mark, so
Excel shows Thai, CRLF lines) and XLSX (money as numbers formatted ``#,##0.00``)."""

from __future__ import annotations

import asyncio
import csv
import io
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from gateway.dashboard import thai

Format = Literal["csv", "xlsx"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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


def _csv_value(kind: str, value: Any) -> str:
    if value is None:
        return ""
    return thai.baht_plain(value) if kind == "money" else str(value)


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in table.heading:
        writer.writerow([line])
    writer.writerow([c.title for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_value(c.kind, v) for c, v in zip(table.columns, row, strict=True)])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=table.title[:31])
    bold = Font(bold=True)
    for line in table.heading:
        cell = WriteOnlyCell(sheet, value=line)
        cell.font = bold
        sheet.append([cell])
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=column.title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        cells = []
        for column, value in zip(table.columns, row, strict=True):
            if column.kind == "money" and value is not None:
                cell = WriteOnlyCell(sheet, value=thai.baht_decimal(value))
                cell.number_format = "#,##0.00"
            elif column.kind == "pct" and value is not None:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "0.0#"
            elif column.kind == "int" and value is not None:
                cell = WriteOnlyCell(sheet, value=int(value))
                cell.number_format = "#,##0"
            else:
                cell = WriteOnlyCell(sheet, value=value)
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def attachment(filename: str) -> dict[str, str]:
    """``Content-Disposition`` with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return {"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename)}",
            "Cache-Control": "private, no-store"}


async def table_response(table: Table, fmt: Format, filename: str) -> Response:
    """The table as a download: ``<filename>.csv`` or ``.xlsx``, written off the event loop (a roll
    of thousands of members is long enough CPU work to hold up every other request)."""
    if fmt == "xlsx":
        return Response(await asyncio.to_thread(to_xlsx, table), media_type=XLSX_TYPE, headers=attachment(f"{filename}.xlsx"))
    return Response(await asyncio.to_thread(to_csv, table), media_type="text/csv; charset=utf-8",
                    headers=attachment(f"{filename}.csv"))
