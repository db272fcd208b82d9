"""Thai data rules, with worked examples."""

from __future__ import annotations

import datetime as dt

import pytest

from services.members import thai


def _with_check_digit(first12: str) -> str:
    return first12 + str(thai.national_id_check_digit(first12))


def test_check_digit_worked_example() -> None:
    # 1 1 0 1 7 0 0 2 0 3 4 5 weighted 13..2: 13+12+0+10+63+0+0+12+0+12+12+10 = 144;
    # 144 mod 11 = 1; 11 - 1 = 10; 10 mod 10 = 0.
    assert thai.national_id_check_digit("110170020345") == 0
    # 3 1 0 0 6 0 0 1 2 3 4 5: 39+12+0+0+54+0+0+6+10+12+12+10 = 155; 155 mod 11 = 1; -> 0 as well
    assert thai.national_id_check_digit("310060012345") == 0
    # 1 2 3 4 5 6 7 8 9 0 1 2: 13+24+33+40+45+48+49+48+45+0+3+4 = 352; 352 mod 11 = 0; 11 mod 10 = 1
    assert thai.national_id_check_digit("123456789012") == 1
    assert thai.normalize_national_id("1-1017-00203-45-0") == "1101700203450"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1101700203459", "check digit"),
        ("110170020345", "13 digits"),
        ("11017002034599", "13 digits"),
        ("0" + _with_check_digit("100000000000")[1:], "0 or 9"),
        ("9" + _with_check_digit("100000000000")[1:], "0 or 9"),
        ("๑๑๐๑๗๐๐๒๐๓๔๕๙", "13 digits"),
        ("abcdefghijklm", "13 digits"),
    ],
)
def test_invalid_national_ids(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        thai.normalize_national_id(value)


def test_every_first_digit_from_1_to_8_is_accepted() -> None:
    for first in "12345678":
        number = _with_check_digit(first + "10170020345")
        assert thai.normalize_national_id(number) == number


def test_masks_show_only_the_last_three_digits() -> None:
    assert thai.mask_national_id("450") == "x-xxxx-xxxxx-45-0"
    assert thai.format_national_id("1101700203450") == "1-1017-00203-45-0"


def test_thai_dictionary_order() -> None:
    # Leading vowels sort under the consonant that follows (เขา under ข, ไก่ under ก) and after the
    # other vowels; อ is a consonant, so กอน comes before กา, as in the Royal Institute dictionary.
    words = ["มด", "แม่", "เขา", "ขอ", "ไก่", "กา", "กิน", "ก่อน", "กอน"]
    expected = ["กอน", "ก่อน", "กา", "กิน", "ไก่", "ขอ", "เขา", "มด", "แม่"]
    assert sorted(words, key=thai.thai_sort_key) == expected


def test_tone_marks_only_break_ties() -> None:
    assert thai.thai_sort_key("ก่า") > thai.thai_sort_key("กา")
    assert thai.thai_sort_key("ก่า") < thai.thai_sort_key("กาก")


@pytest.mark.parametrize(
    ("text", "date"),
    [("2010-05-01", dt.date(2010, 5, 1)), ("01/05/2553", dt.date(2010, 5, 1)), ("1/5/2010", dt.date(2010, 5, 1)),
     ("15.01.2500", dt.date(1957, 1, 15)), ("2553-05-01", dt.date(2010, 5, 1))],
)
def test_dates_in_iso_or_thai_buddhist_era(text: str, date: dt.date) -> None:
    assert thai.parse_date(text) == date


@pytest.mark.parametrize("text", ["", "31/02/2553", "2010/05/01", "yesterday"])
def test_bad_dates(text: str) -> None:
    with pytest.raises(ValueError):
        thai.parse_date(text)


def test_sex_in_thai_or_english() -> None:
    assert [thai.normalize_sex(v) for v in ("ชาย", "หญิง", "M", "female")] == ["male", "female", "male", "female"]
    with pytest.raises(ValueError):
        thai.normalize_sex("x")
