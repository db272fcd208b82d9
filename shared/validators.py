"""Input formats every process accepts the same way (not domain rules)."""

from __future__ import annotations

import re

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
