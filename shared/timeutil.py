"""Business dates are in Asia/Bangkok; timestamps are stored in UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def bangkok_today() -> dt.date:
    return dt.datetime.now(BANGKOK).date()


def bangkok_date(moment: dt.datetime) -> dt.date:
    """The Bangkok calendar date of an aware timestamp."""
    return moment.astimezone(BANGKOK).date()
