"""Member rolls uploaded as CSV or XLSX, turned into rows of raw cell text.

Funds keep their member rolls in Excel or as CSV. This module only reads the file: it finds the
header row, maps its column names (Thai or English) to canonical names and gives back, for each
data row, the stripped text of each mapped cell with the row number a person sees in the file.
Checking what the cells say (national ID check digit, dates, ...) is for the caller.

Pure Python: no web framework, no database. ``read_roll`` is CPU-bound; an async endpoint should
run it in a worker thread.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "CANONICAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "RollFileError",
    "RollRow",
    "read_roll",
]


class RollFileError(Exception):
    """The file as a whole cannot be read. ``.code`` is a stable string, ``.params`` a dict for the message.

    Codes:

    - ``import.undecodable``: not UTF-8 / UTF-8 with BOM / TIS-620 (cp874) text, or a broken xlsx.
    - ``import.unsupported_type``: params ``content_type``.
    - ``import.empty``: no data rows.
    - ``import.missing_columns``: params ``columns``, the missing canonical names, comma-separated.
    - ``import.too_many_rows``: params ``limit``.
    """

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code} {params}" if params else code)
        self.code = code
        self.params = params


CANONICAL_COLUMNS: tuple[str, ...] = (
    "national_id",
    "title",
    "first_name",
    "last_name",
    "birth_date",
    "sex",
    "phone",
    "village",
    "house_no",
    "joined_on",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("national_id", "first_name", "last_name", "birth_date", "sex", "joined_on")


@dataclass(frozen=True, slots=True)
class RollRow:
    """One data row of the roll.

    ``line`` is the 1-based row number as a person sees it in the file: the row number Excel shows
    (for CSV, the record number, which is the text line number unless a quoted cell spans lines).
    ``values`` maps each canonical column found in the header (always every required one) to the
    stripped cell text, ``""`` when the cell is empty. Unknown columns are dropped.
    """

    line: int
    values: dict[str, str]


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_CONTENT_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/plain",
        "application/vnd.ms-excel",  # what browsers send for .csv on Windows with Excel installed
        "text/tab-separated-values",
    }
)
_UNTYPED = frozenset({"", "application/octet-stream"})
_ZIP_MAGIC = b"PK\x03\x04"
_UTF8_BOM = b"\xef\xbb\xbf"

# How many non-blank rows from the top may be titles ("ทะเบียนสมาชิก...") before the header row.
_HEADER_SCAN_ROWS = 10
# Decompressed size of all parts of an xlsx, against zip bombs (a 20,000-row roll is a few MiB).
_MAX_XLSX_UNCOMPRESSED = 128 * 1024 * 1024

_ALIASES: dict[str, tuple[str, ...]] = {
    "national_id": (
        "national_id", "national id", "national id no", "national id number", "citizen_id", "citizen id",
        "citizen id no", "id card", "id card no", "id card number", "pid",
        "เลขประจำตัวประชาชน", "เลขบัตรประชาชน", "เลขบัตรประจำตัวประชาชน", "เลขประชาชน",
        "หมายเลขบัตรประชาชน", "หมายเลขบัตรประจำตัวประชาชน", "เลขที่บัตรประชาชน", "เลขที่บัตรประจำตัวประชาชน",
        "บัตรประชาชน", "บัตรประจำตัวประชาชน", "เลขบัตร",
    ),
    "title": ("title", "prefix", "name title", "name prefix", "คำนำหน้า", "คำนำหน้าชื่อ", "คำนำหน้านาม"),
    "first_name": ("first_name", "first name", "firstname", "given name", "ชื่อ", "ชื่อจริง", "ชื่อต้น"),
    "last_name": (
        "last_name", "last name", "lastname", "surname", "family name", "นามสกุล", "สกุล",
    ),
    "birth_date": (
        "birth_date", "birth date", "birthdate", "date of birth", "dob", "birthday",
        "วันเกิด", "วันเดือนปีเกิด", "วันที่เกิด", "ว/ด/ป เกิด", "วดป เกิด",
    ),
    "sex": ("sex", "gender", "เพศ"),
    "phone": (
        "phone", "phone no", "phone number", "telephone", "tel", "mobile", "mobile phone", "mobile no",
        "โทรศัพท์", "เบอร์โทร", "เบอร์โทรศัพท์", "มือถือ", "เบอร์มือถือ", "หมายเลขโทรศัพท์", "โทร", "เบอร์",
    ),
    "village": ("village", "village no", "moo", "หมู่", "หมู่ที่"),
    "house_no": (
        "house_no", "house no", "house number", "house", "บ้านเลขที่", "เลขที่", "เลขที่บ้าน",
    ),
    "joined_on": (
        "joined_on", "joined on", "joined", "join date", "joining date", "date joined", "member since",
        "membership date", "วันที่สมัคร", "วันที่เป็นสมาชิก", "วันสมัคร", "วันที่สมัครสมาชิก",
        "วันที่เข้าเป็นสมาชิก", "วันเข้าเป็นสมาชิก", "วันเป็นสมาชิก", "วันที่เริ่มเป็นสมาชิก",
    ),
}

# Dropped from header cells before matching: spaces, dots, underscores, dashes, slashes, colons,
# asterisks ("ชื่อ*" in templates) and zero-width characters Thai text often carries.
_HEADER_NOISE = re.compile(r"[\s._\-/:*\u200b\u200c\u200d\u2060\ufeff]+")
_PARENTHESISED = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def _header_key(text: str) -> str:
    # NFKC makes "ำ" and "ํา" (sara am typed as two characters) alike, and full-width letters plain.
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())


def _build_alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for canonical, aliases in _ALIASES.items():
        for alias in aliases:
            key = _header_key(alias)
            if index.setdefault(key, canonical) != canonical:  # pragma: no cover - a programming error
                raise AssertionError(f"header alias {alias!r} maps to {index[key]} and {canonical}")
    return index


_ALIAS_INDEX = _build_alias_index()


def canonical_column(header: str) -> str | None:
    """The canonical column a header cell names, or None. "วันเกิด (พ.ศ.)" matches as "วันเกิด"."""
    key = _header_key(header)
    found = _ALIAS_INDEX.get(key)
    if found is None and ("(" in header or "[" in header):
        found = _ALIAS_INDEX.get(_header_key(_PARENTHESISED.sub("", header)))
    return found


# ---------------------------------------------------------------------------------------------
# Kind of file


def _kind(data: bytes, filename: str | None, content_type: str | None) -> str:
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    name = (filename or "").strip().lower()
    if ctype == XLSX_CONTENT_TYPE or name.endswith(".xlsx") or data.startswith(_ZIP_MAGIC):
        return "xlsx"
    if ctype in CSV_CONTENT_TYPES or name.endswith((".csv", ".tsv", ".txt")) or ctype in _UNTYPED:
        return "csv"
    raise RollFileError("import.unsupported_type", content_type=content_type or "")


# ---------------------------------------------------------------------------------------------
# CSV

# C0 controls other than tab, LF and CR; DEL; C1 controls (cp874 and UTF-8 can both yield them).
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LETTER = re.compile(r"[A-Za-z\u0e01-\u0e4e]")  # Thai letters and marks, not Thai digits


def _decode(data: bytes) -> str:
    if data.startswith(_UTF8_BOM):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    else:
        encodings = ("utf-8", "cp874")
    for encoding in encodings:
        try:
            text = data.decode(encoding, errors="strict")
        except UnicodeDecodeError:
            continue
        text = text.rstrip("\x1a")  # old DOS tools end text files with Ctrl-Z
        if _BINARY.search(text):
            raise RollFileError("import.undecodable")
        if encoding == "cp874":
            # cp874 maps nearly every byte to something: insist the first line reads as words.
            first = next((line for line in text[:65536].splitlines() if line.strip()), "")
            if not _LETTER.search(first):
                raise RollFileError("import.undecodable")
        return text
    raise RollFileError("import.undecodable")


def _delimiter(text: str) -> str:
    """Comma, unless the top lines hold more semicolons or tabs (Excel in some locales, tab-separated)."""
    lines = [line for line in text[:65536].splitlines()[:50] if line.strip()][:_HEADER_SCAN_ROWS]
    sample = "\n".join(lines)
    counts = {",": sample.count(","), ";": sample.count(";"), "\t": sample.count("\t")}
    best = max((";", "\t"), key=counts.__getitem__)
    return best if counts[best] > counts[","] else ","


def _csv_rows(data: bytes) -> Generator[Sequence[str]]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        yield from reader
    except csv.Error:  # a field past the size limit, or a quote left open at the end
        raise RollFileError("import.undecodable") from None


def _csv_cell(value: str) -> str:
    return value.strip()


# ---------------------------------------------------------------------------------------------
# XLSX

_ALL_ZEROS = re.compile(r"^0+$")


def _xlsx_rows(data: bytes) -> Generator[Sequence[Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > _MAX_XLSX_UNCOMPRESSED:
                raise RollFileError("import.undecodable")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise RollFileError("import.undecodable") from None

    from openpyxl import load_workbook  # imported here: CSV uploads need not pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a zip that is no workbook
        raise RollFileError("import.undecodable") from None
    try:
        sheets = workbook.worksheets
        if not sheets:
            return
        # The first sheet a person sees: templates often hide a first sheet of drop-down lists.
        sheet = next((ws for ws in sheets if ws.sheet_state == "visible"), sheets[0])
        sheet.reset_dimensions()  # some writers record wrong dimensions; read every row present
        rows = sheet.iter_rows(min_row=1)  # gaps come back as empty rows: row numbers stay true
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except Exception:  # noqa: BLE001 - bad XML or a missing part inside the zip
                raise RollFileError("import.undecodable") from None
            yield row
    finally:
        workbook.close()


def _xlsx_cell(cell: Any) -> str:
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return _zero_padded(str(value), cell)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer():
            return _zero_padded(str(int(value)), cell)
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value).strip()


def _zero_padded(digits: str, cell: Any) -> str:
    """A number shown through a "0000000000" format keeps the zeros a person sees (phones)."""
    fmt = cell.number_format
    if fmt and len(fmt) > len(digits) and not digits.startswith("-") and _ALL_ZEROS.match(fmt):
        return digits.zfill(len(fmt))
    return digits


# ---------------------------------------------------------------------------------------------
# Rows


def _find_header(
    numbered: Iterator[tuple[int, Sequence[Any]]], render: Callable[[Any], str]
) -> list[tuple[str, int]]:
    """Column mapping [(canonical, index)] of the header: the first row, among the first non-blank
    ones, that names every required column. Title rows above it are passed over."""
    best: tuple[int, int, list[tuple[str, int]]] | None = None
    seen = 0
    for _line, row in numbered:
        texts = [render(cell) for cell in row]
        if not any(texts):
            continue
        mapping: dict[str, int] = {}
        for index, text in enumerate(texts):
            canonical = canonical_column(text) if text else None
            if canonical is not None and canonical not in mapping:  # the first of duplicates wins
                mapping[canonical] = index
        pairs = list(mapping.items())
        required = sum(1 for column in REQUIRED_COLUMNS if column in mapping)
        if required == len(REQUIRED_COLUMNS):
            return pairs
        if best is None or (required, len(pairs)) > (best[0], best[1]):
            best = (required, len(pairs), pairs)
        seen += 1
        if seen >= _HEADER_SCAN_ROWS:
            break
    if best is None:
        raise RollFileError("import.empty")
    found = {column for column, _ in best[2]}
    missing = [column for column in REQUIRED_COLUMNS if column not in found]
    raise RollFileError("import.missing_columns", columns=",".join(missing))


def _collect(rows: Iterable[Sequence[Any]], render: Callable[[Any], str], max_rows: int) -> list[RollRow]:
    numbered = enumerate(rows, start=1)
    pairs = _find_header(numbered, render)
    ordered = sorted(pairs, key=lambda pair: CANONICAL_COLUMNS.index(pair[0]))
    out: list[RollRow] = []
    for line, row in numbered:
        width = len(row)
        values = {column: (render(row[index]) if index < width else "") for column, index in ordered}
        if not any(values.values()):
            continue
        if len(out) >= max_rows:
            raise RollFileError("import.too_many_rows", limit=max_rows)
        out.append(RollRow(line=line, values=values))
    if not out:
        raise RollFileError("import.empty")
    return out


def read_roll(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    max_rows: int = 20000,
) -> list[RollRow]:
    """The data rows of an uploaded member roll (CSV or XLSX), or RollFileError for the whole file.

    Blank rows are skipped (their numbers still count); more than ``max_rows`` data rows is an error.
    """
    kind = _kind(data, filename, content_type)
    if not data.strip():
        raise RollFileError("import.empty")
    rows: Generator[Sequence[Any]]
    render: Callable[[Any], str]
    if kind == "xlsx":
        rows, render = _xlsx_rows(data), _xlsx_cell
    else:
        rows, render = _csv_rows(data), _csv_cell
    try:
        return _collect(rows, render, max_rows)
    finally:
        rows.close()  # let an xlsx workbook go at once, even on an error
