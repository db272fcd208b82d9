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

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator
from pydantic_core import PydanticCustomError, PydanticKnownError

from shared.errors import register_field_messages
from shared.timeutil import bangkok_today
from shared.validators import control_character

register_field_messages(
    {
        "text_control_character": {
            "th": "มีอักขระควบคุม ({char}) ซึ่งใช้ในช่องนี้ไม่ได้",
            "en": "Contains a control character ({char}) this field does not take",
        },
        "date_too_early": {"th": "วันที่ต้องไม่ก่อน {earliest}", "en": "The date must not be before {earliest}"},
        "date_too_late": {"th": "วันที่ต้องไม่หลัง {latest}", "en": "The date must not be after {latest}"},
        "date_in_future": {"th": "วันที่อยู่ในอนาคต", "en": "The date is in the future"},
        "body_empty": {"th": "ต้องระบุอย่างน้อยหนึ่งช่องที่จะเปลี่ยน", "en": "Give at least one field to change"},
        "text_lone_surrogate": {
            "th": "มีรหัส surrogate ที่ไม่มีคู่ ({char}) ซึ่งไม่ใช่อักขระ",
            "en": "Contains a lone surrogate ({char}), which is not a character",
        },
    }
)


class ClosedModel(BaseModel):
    """A request body that refuses fields it does not know (and trims spaces around its strings)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PatchBody(ClosedModel):
    """The body of a ``PATCH``: every field optional, and at least one given. An empty object
    (``{}``) changes nothing and is a 422 naming the body (``body_empty``), so that a client that
    lost its fields on the way learns it, and nothing (an audit row, a version) is written for it."""

    @model_validator(mode="after")
    def _not_empty(self) -> PatchBody:
        if not self.model_fields_set:
            raise PydanticCustomError("body_empty", "Give at least one field to change")
        return self


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


# --- Integers: money within a domain maximum, everything else within its column ----------------------------

#: The most any single amount of money in a request may be, in satang: 10^12 satang is ten
#: thousand million baht, far above what a fund moves at once or a grantor's program holds in a
#: year, and small enough that sums of millions of such amounts still fit PostgreSQL's bigint.
MAX_SATANG = 10**12
#: What a PostgreSQL ``integer`` column holds: counts, days, basis points, years.
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
#: What a ``bigint`` column holds.
INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1



def _at_most_max_satang(value: int) -> int:
    if value > MAX_SATANG:
        raise PydanticKnownError("less_than_equal", {"le": MAX_SATANG})
    return value


#: The check ``Satang`` makes, for tests that each amount of money is bounded.
SATANG_CHECK = AfterValidator(_at_most_max_satang)
#: An amount of money in satang: a JSON integer (never a string or a float), at most ``MAX_SATANG``;
#: a field says its own sign (``Field(gt=0)``, ``Field(ge=0)``) and may say a lower maximum. The
#: maximum is a validator rather than a ``le`` constraint so that it never takes the place of a
#: field's own ``le`` (pydantic keeps one of two).
Satang = Annotated[StrictInt, SATANG_CHECK]


# --- Dates: each kind within a window that fits what it records --------------------------------------------


@dataclass(frozen=True)
class DateWindow:
    """The dates a kind of field takes: from ``earliest`` to ``days_ahead`` days after today (in
    Bangkok). A date outside is a 422 naming the field: ``date_too_early``, or ``date_in_future`` for
    a date that cannot be ahead of today (``days_ahead`` of at most a day, which allows for a clock
    east of Bangkok's), ``date_too_late`` otherwise. A timestamp is judged by its own calendar
    date, never converted first (year 1 with an offset cannot be)."""

    earliest: dt.date
    days_ahead: int

    def __call__(self, value: dt.date) -> dt.date:
        day = value.date() if isinstance(value, dt.datetime) else value
        latest = bangkok_today() + dt.timedelta(days=self.days_ahead)
        if day < self.earliest:
            raise PydanticCustomError("date_too_early", "The date must not be before {earliest}",
                                      {"earliest": self.earliest.isoformat()})
        if day > latest:
            if self.days_ahead <= 1:
                raise PydanticCustomError("date_in_future", "The date is in the future")
            raise PydanticCustomError("date_too_late", "The date must not be after {latest}", {"latest": latest.isoformat()})
        return value


#: Dates in people's lives and a fund's history (birth, joining, founding, a change of status): from
#: 1900 to today. Nobody alive was born before it; a fund's records begin after.
PAST = DateWindow(dt.date(1900, 1, 1), days_ahead=1)
#: Dates money moves or something happens (collected, paid, received, handed over, disbursed, a
#: claim's event): since 2000, before which no fund kept books here, and up to a year ahead, which
#: covers a date typed a day early and nothing a real record needs beyond it.
EVENTS = DateWindow(dt.date(2000, 1, 1), days_ahead=366)
#: Dates something is planned from (a rule's or a plan's ``effective_from``, a tranche's due date):
#: since 2000 and up to ten years ahead, the longest a program or a plan is drawn up for.
PLANS = DateWindow(dt.date(2000, 1, 1), days_ahead=3653)
#: Dates a report or a list is asked about (``from``, ``to``, ``as_of``): since 2000 and up to a
#: year ahead.
QUERIES = EVENTS
#: A date or a moment a query asks about (``from``, ``to``, ``as_of``, ``since``).
QueryDate = Annotated[dt.date, AfterValidator(QUERIES)]
QueryTime = Annotated[dt.datetime, AfterValidator(QUERIES)]
#: The windows, for tests that each date a service takes has one.
DATE_WINDOWS = (PAST, EVENTS, PLANS)

BirthDate = Annotated[dt.date, AfterValidator(PAST)]
PastDate = Annotated[dt.date, AfterValidator(PAST)]
EventDate = Annotated[dt.date, AfterValidator(EVENTS)]
EventTime = Annotated[dt.datetime, AfterValidator(EVENTS)]
PlanDate = Annotated[dt.date, AfterValidator(PLANS)]
#: A fiscal year in Buddhist Era (October to September), 2000 to 2100 C.E.
FiscalYearBE = Annotated[int, Field(ge=2543, le=2643)]
#: A calendar year (C.E.), 2000 to 2100.
Year = Annotated[int, Field(ge=2000, le=2100)]
