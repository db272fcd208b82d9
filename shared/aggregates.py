"""What a service's aggregates over many funds are asked for: a scope (every fund, or a list of
funds) and a period, and who may ask for which (docs/aggregates.md).

Platform admins ask for any scope; a network officer for the funds of their own network only (the
members service says which: one call), the whole network when no list is given. Each service's
``access.py`` makes this its ``AggregateReader``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import NamedTuple

from pydantic import ConfigDict, Field

from shared.auth import Principal, Role
from shared.errors import Forbidden, SajjaError, register_messages
from shared.members_client import MembersDirectory
from shared.schemas import ClosedModel, QueryDate

register_messages(
    {
        "aggregates.period_invalid": {
            "th": ("ช่วงเวลาไม่ถูกต้อง", "วันที่เริ่มต้องไม่หลังวันที่สิ้นสุด"),
            "en": ("Invalid period", "The start must not be after the end"),
        },
    }
)

#: More funds than the country has, with room.
MAX_FUNDS = 20_000


class ScopeIn(ClosedModel):
    """Which funds, and which dates (Bangkok, inclusive) the flows are counted over."""

    model_config = ClosedModel.model_config | ConfigDict(populate_by_name=True)

    fund_ids: list[uuid.UUID] | None = Field(
        None, max_length=MAX_FUNDS, description="The funds; null: every fund the caller may see")
    date_from: QueryDate | None = Field(None, alias="from")
    date_to: QueryDate | None = Field(None, alias="to")

    def period(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """Default: 1 January of ``to``'s year to today."""
        end = self.date_to or today
        start = self.date_from or dt.date(end.year, 1, 1)
        if start > end:
            raise SajjaError("aggregates.period_invalid", status_code=422)
        return start, end


class Scoped(NamedTuple):
    """The funds an aggregate covers (None: every fund) and its period."""

    fund_ids: list[uuid.UUID] | None
    start: dt.date
    end: dt.date


async def scoped_funds(principal: Principal, fund_ids: list[uuid.UUID] | None,
                       directory: MembersDirectory) -> list[uuid.UUID] | None:
    """The funds an aggregate covers (None: every fund), or 403 for a scope beyond the caller's."""
    if principal.role is Role.platform_admin:
        return fund_ids
    if principal.role is Role.network_officer and principal.network_id is not None:
        own = await directory.network_funds(principal.network_id)
        if fund_ids is None:
            return sorted(own)
        if not set(fund_ids) <= own:
            raise Forbidden("auth.out_of_scope")
        return fund_ids
    raise Forbidden()
