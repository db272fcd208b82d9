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
