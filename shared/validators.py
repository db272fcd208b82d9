"""Input formats every process accepts the same way (not domain rules)."""

from __future__ import annotations

import re

#: Control characters no text field takes: C0, DEL and C1 (names, addresses, memos, references).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
#: The same for text of several lines (notes, reasons, summaries): tab, line feed and carriage return
#: are its layout.
_CONTROLS_BUT_LAYOUT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PHONE_JUNK = re.compile(r"[\s\-()]")
_THAI_PHONE = re.compile(r"0[0-9]{8,9}")


def normalize_phone(value: str) -> str:
    """A Thai phone number as dialled: spaces, dashes and brackets dropped, +66 becomes 0."""
    digits = _PHONE_JUNK.sub("", value or "")
    if digits.startswith("+66"):
        digits = "0" + digits[3:]
    if not _THAI_PHONE.fullmatch(digits):
        raise ValueError("phone must be a Thai number of 9 or 10 digits starting with 0")
    return digits


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """The first control character of ``value`` that a text field refuses, as ``U+0007``; None if
    there is none. Single-line text refuses every C0 control, DEL and every C1 control; text of
    several lines (``multiline``) takes tab, line feed and carriage return besides."""
    found = (_CONTROLS_BUT_LAYOUT if multiline else _CONTROLS).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


#: What no string a service takes may hold, wherever it comes from (body, query, path): NUL, which
#: PostgreSQL text cannot store, and a lone UTF-16 surrogate (U+D800..U+DFFF alone), which is not a
#: character and cannot be written as UTF-8. JSON can carry both as escapes (``\u0000``, ``\ud800``).
_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def unencodable_character(value: str) -> tuple[str, str] | None:
    """``(error type, "U+XXXX")`` for the first character of ``value`` no string may hold: NUL is
    ``text_control_character`` (it is one), a lone surrogate ``text_lone_surrogate``; None if none."""
    found = _UNENCODABLE.search(value)
    if found is None:
        return None
    char = found.group()
    return ("text_control_character" if char == "\x00" else "text_lone_surrogate"), f"U+{ord(char):04X}"


def unencodable_strings(value: object, loc: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Every string in a decoded JSON document (keys too) holding what no string may hold: ``(location,
    error type, "U+XXXX")``, the location of a bad key ending with the key made printable."""
    found: list[tuple[tuple[str | int, ...], str, str]] = []
    if isinstance(value, str):
        if bad := unencodable_character(value):
            found.append((loc, *bad))
    elif isinstance(value, dict):
        for key, item in value.items():
            shown = printable(key)
            if bad := unencodable_character(key):
                found.append(((*loc, shown), *bad))
            found += unencodable_strings(item, (*loc, shown))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += unencodable_strings(item, (*loc, index))
    return found


def printable(value: str) -> str:
    """``value`` with what no string may hold replaced by U+FFFD, so that it can be written back (a
    field's name in an error, say)."""
    return _UNENCODABLE.sub("\ufffd", value)
