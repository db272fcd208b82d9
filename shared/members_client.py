"""The members service as other services see it: does this fund, member or collector exist here?

Used by the ledger, benefits and grants with their service tokens. Callers keep answers as long
as suits them (the ledger in its own tables for a TTL, so a busy evening asks once per member).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from shared.errors import Forbidden, NotFound, SajjaError, register_messages
from shared.http import request_with_retries

register_messages(
    {
        # A fund the members service does not know, for every service that asks it about one.
        "fund.not_found": {
            "th": ("ไม่พบกองทุน", "ไม่พบกองทุนนี้"),
            "en": ("Fund not found", "No such fund"),
        },
    }
)


class MembersDirectory:
    """Calls to ``/v1/members/internal``; a 5xx or a transport failure is a 503 problem."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base = base_url.rstrip("/") + "/v1/members/internal/funds"

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await request_with_retries(self.http, method, url, **kwargs)
        except httpx.HTTPError:
            raise SajjaError("upstream.unavailable", status_code=503, params={"service": "members"}) from None
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise SajjaError("upstream.unavailable", status_code=503, params={"service": "members"})
        return response

    async def fund(self, fund_id: uuid.UUID) -> dict[str, Any] | None:
        response = await self._call("GET", f"{self.base}/{fund_id}")
        return response.json() if response.status_code == 200 else None

    async def ensure_in_network(self, network_id: uuid.UUID | None, fund_id: uuid.UUID) -> None:
        """A network officer reads only the funds of their own network: 403 for any other fund."""
        fund = await self.fund(fund_id)
        if fund is None or fund.get("network_id") is None or fund["network_id"] != str(network_id):
            raise Forbidden("auth.out_of_scope")

    async def network_funds(self, network_id: uuid.UUID) -> set[uuid.UUID]:
        """The funds of a network (``members.fund_facts``): a network officer's aggregates cover these."""
        url = self.base.removesuffix("/funds") + f"/networks/{network_id}/funds"
        response = await self._call("GET", url)
        if response.status_code != 200:
            raise SajjaError("upstream.bad_gateway", status_code=502, params={"service": "members"})
        return {uuid.UUID(f) for f in response.json()["fund_ids"]}

    async def members(self, fund_id: uuid.UUID, member_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        """Facts of those members that belong to the fund (a read, so retried: it is a POST only for its size)."""
        found: dict[uuid.UUID, dict[str, Any]] = {}
        for start in range(0, len(member_ids), 500):
            chunk = [str(m) for m in member_ids[start:start + 500]]
            response = await self._call(
                "POST", f"{self.base}/{fund_id}/members/facts", json={"member_ids": chunk},
                headers={"Idempotency-Key": f"facts-{uuid.uuid4()}"},
            )
            if response.status_code != 200:
                raise SajjaError("upstream.bad_gateway", status_code=502, params={"service": "members"})
            for facts in response.json()["facts"]:
                found[uuid.UUID(facts["member_id"])] = facts
        return found

    async def collector(self, fund_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any] | None:
        response = await self._call("GET", f"{self.base}/{fund_id}/collectors/by-user/{user_id}")
        return response.json() if response.status_code == 200 else None

    async def current_members(self, fund_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every current member of the fund, page by page."""
        members: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            response = await self._call("GET", f"{self.base}/{fund_id}/members", params=params)
            if response.status_code != 200:
                raise SajjaError("upstream.bad_gateway", status_code=502, params={"service": "members"})
            page = response.json()
            members += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return members

    async def roll(self, fund_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every member the fund has had, no one named (``members.roll``): dicts of member_id, birth_date
        (None when not known), sex, joined_on, status, status_since, as ISO strings."""
        response = await self._call("GET", f"{self.base}/{fund_id}/roll")
        if response.status_code == 404:
            raise NotFound("fund.not_found")
        if response.status_code != 200:
            raise SajjaError("upstream.bad_gateway", status_code=502, params={"service": "members"})
        body = response.json()
        return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]

    async def roll_changes(self, since: dt.datetime) -> tuple[dt.datetime, dict[uuid.UUID, dt.datetime]]:
        """The funds whose rolls changed at or after ``since`` (``members.roll_changes``), each with
        its latest change, and ``as_of``, the members database's clock before it looked: every
        change committed before then is in the answer."""
        url = self.base.removesuffix("/funds") + "/roll-changes"
        response = await self._call("GET", url, params={"since": since.isoformat()})
        if response.status_code != 200:
            raise SajjaError("upstream.bad_gateway", status_code=502, params={"service": "members"})
        body = response.json()
        return (dt.datetime.fromisoformat(body["as_of"]),
                {uuid.UUID(f["fund_id"]): dt.datetime.fromisoformat(f["changed_at"]) for f in body["funds"]})
