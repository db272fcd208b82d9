"""The base of every closed request body: a body that refuses fields it does not know.

An unknown field is a 422 (``extra_forbidden``, "ไม่รู้จักช่องนี้") rather than silently
dropped, so a misspelt or smuggled field (``is_superuser``) is never mistaken for a valid request;
the OpenAPI schema says so with ``additionalProperties: false``. Spaces around a string are
trimmed before its own checks. This is not pydantic's strict mode: types still coerce as usual
(fields that must not, amounts in satang, say so with ``StrictInt``).

Free text in a body is one of two types, so that what text may hold is decided here once:
``SingleLineText`` (names, addresses, references, memos: no control character at all, C0, DEL
or C1) and ``MultiLineText`` (notes, reasons, summaries: tab and line breaks too). A control
character they refuse is a 422 naming the field (``text_control_character``). Characters that
look like a formula (``=HYPERLINK(...)``) are text like any other: exports write them as text.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from shared.errors import register_field_messages
from shared.validators import control_character

register_field_messages(
    {
        "text_control_character": {
            "th": "มีอักขระควบคุม ({char}) ซึ่งใช้ในช่องนี้ไม่ได้",
            "en": "Contains a control character ({char}) this field does not take",
        },
    }
)


class ClosedModel(BaseModel):
    """A request body that refuses fields it does not know (and trims spaces around its strings)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _refuse_controls(value: str | None, *, multiline: bool) -> str | None:
    if value is not None and (char := control_character(value, multiline=multiline)):
        raise PydanticCustomError("text_control_character", "Contains a control character ({char}) this field does not take",
                                  {"char": char})
    return value


def _single_line(value: str | None) -> str | None:
    return _refuse_controls(value, multiline=False)


def _multi_line(value: str | None) -> str | None:
    return _refuse_controls(value, multiline=True)


# The optional forms check ``str | None`` as a whole (not ``SingleLineText | None``), so that a
# field's ``max_length`` still applies to the string and is the usual ``string_too_long``.

#: A name, an address, a reference, a memo: one line, no control characters.
SingleLineText = Annotated[str, AfterValidator(_single_line)]
OptionalSingleLineText = Annotated[str | None, AfterValidator(_single_line)]
#: A note, a reason, a summary: lines and tabs, no other control characters.
MultiLineText = Annotated[str, AfterValidator(_multi_line)]
OptionalMultiLineText = Annotated[str | None, AfterValidator(_multi_line)]
#: The checks the text types make, for tests that each text field of a body is one of them.
TEXT_CHECKS = (AfterValidator(_single_line), AfterValidator(_multi_line))
