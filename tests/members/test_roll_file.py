"""Reading uploaded member rolls (CSV in UTF-8 / UTF-8 BOM / TIS-620, XLSX) into rows of raw text.

Plain functions: no database, no fixtures from conftest. Every file is built in the test.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import zipfile
from collections.abc import Callable

import pytest
from openpyxl import Workbook

from services.members import roll_file
from services.members.roll_file import (
    CANONICAL_COLUMNS,
    REQUIRED_COLUMNS,
    RollFileError,
    RollRow,
    canonical_column,
    read_roll,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

THAI_HEADER = "ลำดับ,คำนำหน้า,ชื่อ,นามสกุล,เลขประจำตัวประชาชน,วันเกิด,เพศ,เบอร์โทร,หมู่ที่,บ้านเลขที่,วันที่สมัคร"
THAI_ROLL = (
    THAI_HEADER + "\r\n"
    "1,นาง,สมศรี,ใจดี,1101700203451,15/01/2500,หญิง,0812345678,3,12/1,01/06/2566\r\n"
    "2,นาย,สมชาย, ใจดี ,3100600123456,02/12/2495,ชาย,,3,,01/06/2566\r\n"
)
EXPECTED_THAI = [
    RollRow(
        line=2,
        values={
            "national_id": "1101700203451",
            "title": "นาง",
            "first_name": "สมศรี",
            "last_name": "ใจดี",
            "birth_date": "15/01/2500",
            "sex": "หญิง",
            "phone": "0812345678",
            "village": "3",
            "house_no": "12/1",
            "joined_on": "01/06/2566",
        },
    ),
    RollRow(
        line=3,
        values={
            "national_id": "3100600123456",
            "title": "นาย",
            "first_name": "สมชาย",
            "last_name": "ใจดี",
            "birth_date": "02/12/2495",
            "sex": "ชาย",
            "phone": "",
            "village": "3",
            "house_no": "",
            "joined_on": "01/06/2566",
        },
    ),
]

ENGLISH_HEADER = "national_id,first_name,last_name,birth_date,sex,joined_on"


def xlsx_bytes(rows: list[list[object]], *, formats: dict[str, str] | None = None, title: str = "roll") -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for ref, number_format in (formats or {}).items():
        sheet[ref].number_format = number_format
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def error_of(data: bytes, **kwargs: object) -> RollFileError:
    with pytest.raises(RollFileError) as caught:
        read_roll(data, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- CSV encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp874"])
def test_the_same_thai_roll_reads_alike_in_every_encoding(encoding: str) -> None:
    data = THAI_ROLL.encode(encoding)
    assert read_roll(data, filename="สมาชิก.csv", content_type="text/csv") == EXPECTED_THAI


def test_the_three_encodings_are_really_different_bytes() -> None:
    utf8, bom, tis = (THAI_ROLL.encode(e) for e in ("utf-8", "utf-8-sig", "cp874"))
    assert bom.startswith(b"\xef\xbb\xbf") and not utf8.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        tis.decode("utf-8")
    assert read_roll(utf8) == read_roll(bom) == read_roll(tis) == EXPECTED_THAI


def test_bom_file_keeps_the_first_header_readable() -> None:
    # Without stripping the BOM the first header, "national_id", would not be recognised.
    data = (ENGLISH_HEADER + "\n1101700203451,Somsri,Jaidee,15/01/2500,F,2023-06-01\n").encode("utf-8-sig")
    [row] = read_roll(data, content_type="application/vnd.ms-excel")
    assert row.values["national_id"] == "1101700203451"


def test_sara_am_typed_as_two_characters_still_matches() -> None:
    # "ํา" (nikhahit + sara aa) instead of "ำ": common from some Thai keyboards and old files.
    header = THAI_HEADER.replace("ำ", "\u0e4d\u0e32")
    assert header != THAI_HEADER
    data = (header + "\n" + THAI_ROLL.split("\r\n", 1)[1]).encode()
    assert read_roll(data) == EXPECTED_THAI


# --- CSV shape --------------------------------------------------------------------------------


def test_quoted_fields_keep_commas_quotes_and_newlines() -> None:
    data = (
        "ชื่อ,นามสกุล,เลขบัตรประชาชน,วันเกิด,เพศ,วันสมัคร,บ้านเลขที่\n"
        'สมศรี,"ใจดี, จำกัด",1101700203451,15/01/2500,หญิง,1/6/2566,"12/1 ""บ้านบน""\nซอย 2"\n'
        "สมชาย,ใจดี,3100600123456,02/12/2495,ชาย,1/6/2566,5\n"
    ).encode()
    rows = read_roll(data)
    assert rows[0].values["last_name"] == "ใจดี, จำกัด"
    assert rows[0].values["house_no"] == '12/1 "บ้านบน"\nซอย 2'
    # Line numbers count records (rows as Excel shows them), not physical text lines.
    assert [r.line for r in rows] == [2, 3]


def test_semicolon_delimiter_is_sniffed() -> None:
    data = (
        b"national id;first name;last name;date of birth;gender;join date;tel\n"
        b"1101700203451;Somsri;Jaidee;1957-01-15;F;2023-06-01;081,234,5678\n"
    )
    [row] = read_roll(data, filename="roll.csv")
    assert row.values == {
        "national_id": "1101700203451",
        "first_name": "Somsri",
        "last_name": "Jaidee",
        "birth_date": "1957-01-15",
        "sex": "F",
        "phone": "081,234,5678",
        "joined_on": "2023-06-01",
    }


def test_tab_delimiter_is_sniffed() -> None:
    data = ("\t".join(ENGLISH_HEADER.split(",")) + "\n1101700203451\tสมศรี\tใจดี\t15/01/2500\tหญิง\t1/6/2566\n").encode("cp874")
    [row] = read_roll(data, content_type="text/plain")
    assert row.values["first_name"] == "สมศรี" and row.values["joined_on"] == "1/6/2566"


def test_comma_stays_when_it_is_the_most_common() -> None:
    data = (ENGLISH_HEADER + ",note\n1101700203451,Somsri,Jaidee,1957-01-15,F,2023-06-01,a;b;c\n").encode()
    [row] = read_roll(data)
    assert row.values["joined_on"] == "2023-06-01"


def test_english_headers_in_any_case_and_punctuation() -> None:
    data = (
        b"No.,Citizen_ID,Prefix,First Name,SURNAME,D.O.B.,Sex,Mobile,Village No.,House Number,Member Since\n"
        b"1,1101700203451,Mrs.,Somsri,Jaidee,1957-01-15,F,0812345678,3,12/1,2023-06-01\n"
    )
    [row] = read_roll(data)
    assert row.values == {
        "national_id": "1101700203451",
        "title": "Mrs.",
        "first_name": "Somsri",
        "last_name": "Jaidee",
        "birth_date": "1957-01-15",
        "sex": "F",
        "phone": "0812345678",
        "village": "3",
        "house_no": "12/1",
        "joined_on": "2023-06-01",
    }


def test_unknown_columns_are_dropped_and_absent_optional_ones_are_not_keys() -> None:
    data = (
        "ลำดับ,ชื่อ,นามสกุล,อาชีพ,เลขบัตรประชาชน,วันเกิด,เพศ,วันที่เป็นสมาชิก,หมายเหตุ,\n"
        "1,สมศรี,ใจดี,ทำนา,1101700203451,15/01/2500,หญิง,1/6/2566,ย้ายมาจากหมู่ 4,\n"
    ).encode()
    [row] = read_roll(data)
    assert set(row.values) == set(REQUIRED_COLUMNS)
    assert "ทำนา" not in row.values.values()


def test_short_rows_give_empty_text_for_missing_cells() -> None:
    data = (ENGLISH_HEADER + ",phone\n1101700203451,Somsri,Jaidee\n").encode()
    [row] = read_roll(data)
    assert row.values["last_name"] == "Jaidee"
    assert row.values["birth_date"] == row.values["phone"] == ""


def test_first_of_duplicate_columns_wins() -> None:
    data = (ENGLISH_HEADER + ",ชื่อ\n1101700203451,Somsri,Jaidee,1957-01-15,F,2023-06-01,Other\n").encode()
    [row] = read_roll(data)
    assert row.values["first_name"] == "Somsri"


def test_title_rows_above_the_header_are_passed_over() -> None:
    data = (
        "ทะเบียนสมาชิกกองทุนสวัสดิการชุมชนตำบลบ้านนา,,,,,,\n"
        "ณ วันที่ 1 มิถุนายน 2566,,,,,,\n"
        ",,,,,,\n"
        "ลำดับ,ชื่อ,นามสกุล,เลขประจำตัวประชาชน,วันเกิด,เพศ,วันที่สมัคร\n"
        "1,สมศรี,ใจดี,1101700203451,15/01/2500,หญิง,1/6/2566\n"
    ).encode("cp874")
    [row] = read_roll(data)
    assert row.line == 5
    assert row.values["first_name"] == "สมศรี"


def test_line_numbers_count_blank_and_skipped_rows() -> None:
    data = (
        ENGLISH_HEADER + ",note\r\n"
        "\r\n"
        "1101700203451,Somsri,Jaidee,1957-01-15,F,2023-06-01,\r\n"
        ",,,,,,only an unmapped cell\r\n"
        "   ,  ,,,,,\r\n"
        "\r\n"
        "3100600123456,Somchai,Jaidee,1952-12-02,M,2023-06-01,\r\n"
    ).encode()
    rows = read_roll(data)
    assert [r.line for r in rows] == [3, 7]
    assert [r.values["first_name"] for r in rows] == ["Somsri", "Somchai"]


def test_values_are_stripped_but_otherwise_raw() -> None:
    data = (ENGLISH_HEADER + "\n  1-1017-00203-45-1 , สมศรี\u00a0, ใจดี,15 ม.ค. 2500 ,หญิง,  \n").encode()
    [row] = read_roll(data)
    assert row.values["national_id"] == "1-1017-00203-45-1"
    assert row.values["first_name"] == "สมศรี"
    assert row.values["birth_date"] == "15 ม.ค. 2500"
    assert row.values["joined_on"] == ""


# --- XLSX -------------------------------------------------------------------------------------


def test_xlsx_numbers_and_dates_come_out_as_a_person_typed_them() -> None:
    data = xlsx_bytes(
        [
            ["ลำดับ", "คำนำหน้าชื่อ", "ชื่อ", "นามสกุล", "เลขบัตรประจำตัวประชาชน", "วันเดือนปีเกิด", "เพศ",
             "มือถือ", "หมู่", "เลขที่", "วันที่สมัคร"],
            [1, "นาง", "สมศรี", "ใจดี", 1101700203451, dt.datetime(1957, 1, 15), "หญิง",
             812345678, 3, "12/1", dt.date(2023, 6, 1)],
            [2, "นาย", "สมชาย ", "ใจดี", 3100600123456.0, "02/12/2495", "ชาย",
             None, 3.0, 45, dt.datetime(2023, 6, 1, 14, 30)],
        ],
        formats={"H2": "0000000000"},  # the phone shown with its leading zero
    )
    rows = read_roll(data, filename="roll.xlsx", content_type=XLSX)
    assert rows == [
        RollRow(
            line=2,
            values={
                "national_id": "1101700203451",
                "title": "นาง",
                "first_name": "สมศรี",
                "last_name": "ใจดี",
                "birth_date": "1957-01-15",
                "sex": "หญิง",
                "phone": "0812345678",
                "village": "3",
                "house_no": "12/1",
                "joined_on": "2023-06-01",
            },
        ),
        RollRow(
            line=3,
            values={
                "national_id": "3100600123456",
                "title": "นาย",
                "first_name": "สมชาย",
                "last_name": "ใจดี",
                "birth_date": "02/12/2495",
                "sex": "ชาย",
                "phone": "",
                "village": "3",
                "house_no": "45",
                "joined_on": "2023-06-01",
            },
        ),
    ]


def test_xlsx_big_and_fractional_numbers_never_use_scientific_notation() -> None:
    header = ENGLISH_HEADER.split(",") + ["house_no", "phone"]
    data = xlsx_bytes([header, [1.101700203451e12, "a", "b", 1e20, 0.00001, 2.5, 1e-7, -3.0]])
    [row] = read_roll(data)
    assert row.values["national_id"] == "1101700203451"
    assert row.values["birth_date"] == "100000000000000000000"
    assert row.values["sex"] == "0.00001"
    assert row.values["joined_on"] == "2.5"
    assert row.values["house_no"] == "0.0000001"
    assert row.values["phone"] == "-3"


def test_xlsx_skips_empty_rows_and_keeps_true_row_numbers() -> None:
    header = ["no", *ENGLISH_HEADER.split(",")]
    data = xlsx_bytes(
        [
            ["รายชื่อสมาชิก"],
            header,
            [1, 1101700203451, "Somsri", "Jaidee", dt.datetime(1957, 1, 15), "F", dt.datetime(2023, 6, 1)],
            [],
            [None, None, "  ", None],
            [2],  # numbered template row with nothing in it
            [3, 3100600123456, "Somchai", "Jaidee", dt.datetime(1952, 12, 2), "M", dt.datetime(2023, 6, 1)],
        ]
    )
    rows = read_roll(data, content_type="application/octet-stream")
    assert [r.line for r in rows] == [3, 7]
    assert rows[1].values["birth_date"] == "1952-12-02"


def test_xlsx_reads_the_first_worksheet() -> None:
    workbook = Workbook()
    first = workbook.active
    first.append(ENGLISH_HEADER.split(","))
    first.append([1101700203451, "Somsri", "Jaidee", "1957-01-15", "F", "2023-06-01"])
    other = workbook.create_sheet("notes")
    other.append(["nothing", "here"])
    workbook.active = 1  # saved with the second sheet selected
    out = io.BytesIO()
    workbook.save(out)
    [row] = read_roll(out.getvalue())
    assert row.values["first_name"] == "Somsri"


def test_xlsx_passes_over_a_hidden_first_sheet() -> None:
    workbook = Workbook()
    lists = workbook.active
    lists.title = "lists"
    lists.append(["เพศ", "ชาย", "หญิง"])
    lists.sheet_state = "hidden"
    roll = workbook.create_sheet("roll")
    roll.append(ENGLISH_HEADER.split(","))
    roll.append([1101700203451, "Somsri", "Jaidee", "1957-01-15", "F", "2023-06-01"])
    workbook.active = 1
    out = io.BytesIO()
    workbook.save(out)
    [row] = read_roll(out.getvalue())
    assert row.values["national_id"] == "1101700203451"


def rewrite_part(data: bytes, name: str, edit: Callable[[bytes], bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            target.writestr(info, edit(part) if info.filename == name else part)
    return out.getvalue()


def test_xlsx_with_a_wrong_dimension_record_is_read_whole() -> None:
    # Some writers record "A1" as the used range; read-only openpyxl would then stop after row 1.
    data = xlsx_bytes([ENGLISH_HEADER.split(","), *[[str(i), "a", "b", "c", "d", "e"] for i in range(3)]])
    wrong = rewrite_part(data, "xl/worksheets/sheet1.xml", lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', xml))
    assert wrong != data
    assert [row.line for row in read_roll(wrong)] == [2, 3, 4]


def test_xlsx_data_away_from_the_top_left_corner() -> None:
    workbook = Workbook()
    sheet = workbook.active
    for column, name in zip("BCDEFG", ENGLISH_HEADER.split(","), strict=True):
        sheet[f"{column}3"] = name
    sheet["B5"] = 1101700203451
    sheet["C5"] = "Somsri"
    out = io.BytesIO()
    workbook.save(out)
    [row] = read_roll(out.getvalue())
    assert row.line == 5
    assert row.values["national_id"] == "1101700203451" and row.values["last_name"] == ""


def test_xlsx_that_would_unpack_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = xlsx_bytes([ENGLISH_HEADER.split(","), ["1", "a", "b", "c", "d", "e"]])
    assert read_roll(data)
    monkeypatch.setattr(roll_file, "_MAX_XLSX_UNCOMPRESSED", 10_000)
    assert error_of(data).code == "import.undecodable"


def test_xlsx_detected_by_magic_whatever_the_name_says() -> None:
    data = xlsx_bytes([ENGLISH_HEADER.split(","), ["1101700203451", "a", "b", "c", "d", "e"]])
    assert data.startswith(b"PK\x03\x04")
    for kwargs in ({}, {"content_type": "text/csv"}, {"filename": "roll.csv"}, {"content_type": "application/zip"}):
        assert read_roll(data, **kwargs)[0].values["national_id"] == "1101700203451"  # type: ignore[arg-type]


def test_xlsx_missing_columns_and_empty_sheets() -> None:
    error = error_of(xlsx_bytes([["ชื่อ", "นามสกุล", "เพศ"], ["a", "b", "c"]]))
    assert error.code == "import.missing_columns"
    assert error.params == {"columns": "national_id,birth_date,joined_on"}
    assert error_of(xlsx_bytes([])).code == "import.empty"
    assert error_of(xlsx_bytes([ENGLISH_HEADER.split(",")])).code == "import.empty"


def test_xlsx_too_many_rows() -> None:
    rows = [ENGLISH_HEADER.split(",")] + [[str(i), "a", "b", "c", "d", "e"] for i in range(6)]
    assert len(read_roll(xlsx_bytes(rows), max_rows=6)) == 6
    error = error_of(xlsx_bytes(rows), max_rows=5)
    assert (error.code, error.params) == ("import.too_many_rows", {"limit": 5})


# --- whole-file errors ------------------------------------------------------------------------


PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa"


@pytest.mark.parametrize(
    "data",
    [
        PNG_HEADER,
        random.Random(7).randbytes(4096),
        b"\x00" * 64,  # valid UTF-8, but binary
        ENGLISH_HEADER.encode() + b"\n1101700203451,a\x00b,c,d,e,f\n",  # one NUL is enough
        b"\xf0\xf1\xf2;\xf3\xf4\n\xf5\xf6;\xf7\n",  # decodes as cp874, but no letters, only Thai digits
        "ชื่อ,นามสกุล\n".encode("utf-16"),  # a text encoding we do not take
        b"\xef\xbb\xbf" + "ชื่อ,นามสกุล".encode("cp874"),  # says UTF-8, is not
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),  # an old binary .xls
    ],
    ids=["png", "random", "nuls", "one-nul", "no-letters", "utf16", "false-bom", "xls"],
)
def test_binary_or_unknown_text_is_undecodable(data: bytes) -> None:
    for content_type in (None, "text/csv", "application/vnd.ms-excel"):
        assert error_of(data, content_type=content_type).code == "import.undecodable"


def test_zip_that_is_not_xlsx_is_undecodable() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "สวัสดี")
    for kwargs in ({}, {"filename": "roll.xlsx"}, {"content_type": XLSX}):
        assert error_of(out.getvalue(), **kwargs).code == "import.undecodable"


def test_broken_xlsx_is_undecodable() -> None:
    data = xlsx_bytes([ENGLISH_HEADER.split(","), ["1101700203451", "a", "b", "c", "d", "e"]])
    assert error_of(data[: len(data) // 2]).code == "import.undecodable"
    corrupt = bytearray(data)
    corrupt[200:260] = bytes(60)
    assert error_of(bytes(corrupt)).code == "import.undecodable"
    # Named and typed as xlsx, but the bytes are CSV.
    csv_bytes = (ENGLISH_HEADER + "\n1,a,b,c,d,e\n").encode()
    assert error_of(csv_bytes, filename="roll.xlsx", content_type=XLSX).code == "import.undecodable"


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("photo.png", "image/png"), (None, "application/pdf"), ("roll.csv.pdf", "application/pdf"), ("x", "text/html")],
)
def test_unsupported_type(filename: str | None, content_type: str | None) -> None:
    error = error_of(THAI_ROLL.encode(), filename=filename, content_type=content_type)
    assert error.code == "import.unsupported_type"
    assert error.params == {"content_type": content_type or ""}


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        (None, None),
        (None, "application/octet-stream"),
        (None, "text/csv; charset=utf-8"),
        (None, "application/csv"),
        (None, "TEXT/PLAIN"),
        (None, "application/vnd.ms-excel"),
        ("ROLL.CSV", "image/png"),
    ],
)
def test_csv_accepted_under_what_browsers_send(filename: str | None, content_type: str | None) -> None:
    assert read_roll(THAI_ROLL.encode(), filename=filename, content_type=content_type) == EXPECTED_THAI


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"  \r\n\r\n",
        b"\xef\xbb\xbf",
        (THAI_HEADER + "\r\n").encode("cp874"),
        (THAI_HEADER + "\r\n,,,,,,,,,,\r\n\r\n").encode("utf-8-sig"),
        (ENGLISH_HEADER + ",no\n,,,,,,1\n,,,,,,2\n").encode(),  # only the unmapped numbering filled in
    ],
    ids=["empty", "blank", "bom-only", "header-only", "header-blank-rows", "numbered-template"],
)
def test_no_data_rows_is_empty(data: bytes) -> None:
    assert error_of(data, filename="roll.csv").code == "import.empty"


def test_missing_required_columns_are_listed_in_canonical_order() -> None:
    data = "คำนำหน้า,ชื่อ-นามสกุล,เลขบัตรประชาชน,วันเกิด,เบอร์โทร\nนาง,สมศรี ใจดี,1101700203451,15/01/2500,081\n"
    error = error_of(data.encode())
    assert error.code == "import.missing_columns"
    assert error.params == {"columns": "first_name,last_name,sex,joined_on"}
    assert "import.missing_columns" in str(error)


def test_a_file_without_a_header_misses_every_required_column() -> None:
    data = "1,สมศรี,ใจดี,1101700203451,15/01/2500,หญิง,1/6/2566\n".encode()
    error = error_of(data)
    assert error.params == {"columns": ",".join(REQUIRED_COLUMNS)}


def test_too_many_rows_counts_data_rows_only() -> None:
    body = "".join(f"{1101700203451 + i},a,b,c,d,e\n\n" for i in range(4))
    data = (ENGLISH_HEADER + "\n" + body).encode()
    assert len(read_roll(data, max_rows=4)) == 4  # the blank lines do not count
    error = error_of(data, max_rows=3)
    assert (error.code, error.params) == ("import.too_many_rows", {"limit": 3})


# --- header names -----------------------------------------------------------------------------

REQUIRED_ALIASES = {
    "national_id": ["เลขประจำตัวประชาชน", "เลขบัตรประชาชน", "เลขบัตรประจำตัวประชาชน", "เลขประชาชน", "citizen_id",
                    "national id", "id card"],
    "title": ["คำนำหน้า", "คำนำหน้าชื่อ", "prefix"],
    "first_name": ["ชื่อ", "first name", "firstname", "given name"],
    "last_name": ["นามสกุล", "สกุล", "last name", "surname", "lastname"],
    "birth_date": ["วันเกิด", "วันเดือนปีเกิด", "date of birth", "dob", "birthdate"],
    "sex": ["เพศ", "gender"],
    "phone": ["โทรศัพท์", "เบอร์โทร", "เบอร์โทรศัพท์", "มือถือ", "mobile", "tel"],
    "village": ["หมู่", "หมู่ที่", "village no", "moo"],
    "house_no": ["บ้านเลขที่", "เลขที่", "house number"],
    "joined_on": ["วันที่สมัคร", "วันที่เป็นสมาชิก", "วันสมัคร", "joined", "join date", "member since"],
}


@pytest.mark.parametrize(
    ("alias", "column"), [(alias, column) for column, aliases in REQUIRED_ALIASES.items() for alias in aliases]
)
def test_header_aliases(alias: str, column: str) -> None:
    assert canonical_column(alias) == column
    assert canonical_column(f" {alias.upper()}. ") == column
    assert canonical_column(alias.replace(" ", "_")) == column
    assert canonical_column(column) == column


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("วันเกิด (พ.ศ.)", "birth_date"),
        ("เลขประจำตัวประชาชน (13 หลัก)", "national_id"),
        ("ชื่อ*", "first_name"),
        ("วัน/เดือน/ปีเกิด", "birth_date"),
        ("ลำดับ", None),
        ("no", None),
        ("No.", None),
        ("ชื่อ-นามสกุล", None),  # a full name in one cell is not a first name
        ("หมายเหตุ", None),
        ("", None),
    ],
)
def test_header_variants(header: str, column: str | None) -> None:
    assert canonical_column(header) == column


def test_interface_constants() -> None:
    assert CANONICAL_COLUMNS == (
        "national_id", "title", "first_name", "last_name", "birth_date", "sex", "phone", "village", "house_no",
        "joined_on",
    )
    assert REQUIRED_COLUMNS == ("national_id", "first_name", "last_name", "birth_date", "sex", "joined_on")
    assert set(REQUIRED_COLUMNS) <= set(CANONICAL_COLUMNS)
    error = RollFileError("import.too_many_rows", limit=10)
    assert (error.code, error.params) == ("import.too_many_rows", {"limit": 10})
    assert RollFileError("import.empty").params == {}
