"""The ledger as other services see it: a member's standing, and money posted idempotently."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from shared.http import get_json


@dataclass(frozen=True)
class LedgerAnswer:
    status_code: int
    body: dict[str, Any]

    @property
    def code(self) -> str | None:
        return self.body.get("code")


class LedgerClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base = base_url.rstrip("/") + "/v1/ledger/funds"

    async def _get(self, path: str, params: dict[str, str] | None) -> Any:
        """The JSON of a 200 answer; a transport failure or any other status is a 503 problem."""
        return await get_json(self.http, f"{self.base}/{path}", service="ledger", params=params)

    async def standing(self, fund_id: uuid.UUID, member_id: uuid.UUID, as_of: str | None = None) -> dict[str, Any]:
        standing: dict[str, Any] = await self._get(f"{fund_id}/members/{member_id}/standing", {"as_of": as_of} if as_of else None)
        return standing

    async def post(self, fund_id: uuid.UUID, path: str, body: dict[str, Any]) -> LedgerAnswer:
        """POST a money movement. Transport failures raise ``httpx.HTTPError``: the caller retries
        with the same body, which the ledger answers as a replay if the first one landed."""
        response = await self.http.post(f"{self.base}/{fund_id}/{path}", json=body)
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        return LedgerAnswer(response.status_code, payload)

    async def member_contributions(self, fund_id: uuid.UUID, date_from: str, date_to: str) -> dict[str, int]:
        """Each member's contributions between two dates (inclusive), by member id."""
        report = await self._get(f"{fund_id}/reports/member-contributions", {"from": date_from, "to": date_to})
        return {m["member_id"]: m["amount_satang"] for m in report["members"]}

    async def projection_inputs(self, fund_id: uuid.UUID, years: int = 5) -> dict[str, Any]:
        """The reserve, income by year and source, and the plan in force (``ledger.projection_inputs``)."""
        inputs: dict[str, Any] = await self._get(f"{fund_id}/reports/projection-inputs", {"years": str(years)})
        return inputs
