"""Thai data as people write it: national ID numbers, names in dictionary order, dates in B.E.

Pure functions, no I/O; each is tested with worked examples.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from shared.figures import BE_OFFSET

# --- National ID (เลขประจำตัวประชาชน) -----------------------------------------------------------

_NON_DIGITS = re.compile(r"[\s\-]")


def national_id_check_digit(first12: str) -> int:
    """The 13th digit: (11 - sum(digit_i * (13 - i)) mod 11) mod 10, for i = 0..11."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return (11 - total % 11) % 10


def normalize_national_id(value: str) -> str:
    """Digits only; raises ValueError naming what is wrong.

    The first digit is the person's category (1 to 8); 0 and 9 are not issued to people.
    """
    digits = _NON_DIGITS.sub("", value or "")
    if not digits.isdigit() or len(digits) != 13 or not digits.isascii():
        raise ValueError("national_id must be 13 digits")
    if digits[0] in "09":
        raise ValueError("national_id cannot start with 0 or 9")
    if national_id_check_digit(digits[:12]) != int(digits[12]):
        raise ValueError("national_id check digit is wrong")
    return digits


def mask_national_id(tail3: str) -> str:
    """``x-xxxx-xxxxx-12-3`` from the last three digits: enough to tell two people apart on a list."""
    return f"x-xxxx-xxxxx-{tail3[:2]}-{tail3[2]}"


def format_national_id(digits: str) -> str:
    """``1-1017-00203-45-1``, the way it is printed on the card."""
    return f"{digits[0]}-{digits[1:5]}-{digits[5:10]}-{digits[10:12]}-{digits[12]}"


# --- Names in Thai dictionary order ---------------------------------------------------------------

#: Vowels written before the consonant they follow in speech (and in the dictionary).
_LEADING_VOWELS = frozenset("เแโใไ")
#: Tone marks and other signs that only break ties (secondary weight).
_SECONDARY = frozenset("\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e")


def thai_sort_key(text: str) -> str:
    """A string whose plain (C collation) order is Thai dictionary order.

    PostgreSQL here has no ICU, so the key is computed once when a name is written and sorted
    with ``COLLATE "C"``. Two rules make Unicode order into dictionary order: a leading vowel
    (เ แ โ ใ ไ) sorts after the consonant it precedes, and tone marks only break ties.
    """
    text = unicodedata.normalize("NFC", text.strip().lower())
    primary: list[str] = []
    secondary: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _LEADING_VOWELS and i + 1 < len(text) and "\u0e01" <= text[i + 1] <= "\u0e2e":
            primary += [text[i + 1], ch]
            i += 2
            continue
        if ch in _SECONDARY:
            secondary.append(ch)
        else:
            primary.append(ch)
        i += 1
    return "".join(primary) + "\x01" + "".join(secondary)


# --- Dates ------------------------------------------------------------------------------------------

_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def parse_date(value: str) -> dt.date:
    """ISO ``YYYY-MM-DD`` or Thai ``D/M/YYYY``; a year after 2400 is Buddhist Era."""
    value = (value or "").strip()
    match = _YMD.match(value)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _DMY.match(value)
        if not match:
            raise ValueError("date must be YYYY-MM-DD or DD/MM/YYYY")
        day, month, year = (int(g) for g in match.groups())
    if year > 2400:
        year -= BE_OFFSET
    return dt.date(year, month, day)


# --- Small vocabularies -------------------------------------------------------------------------------

SEX_ALIASES = {
    "male": "male", "m": "male", "ชาย": "male", "ช": "male",
    "female": "female", "f": "female", "หญิง": "female", "ญ": "female",
}


def normalize_sex(value: str) -> str:
    try:
        return SEX_ALIASES[(value or "").strip().lower()]
    except KeyError:
        raise ValueError("sex must be male/female (ชาย/หญิง)") from None
