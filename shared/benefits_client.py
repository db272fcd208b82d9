"""The benefits service as other services see it: the fund's 20-year sustainability projection
(``benefits.projection``, docs/service-calls.md), which the ledger prints in the annual statements."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from shared.http import get_json

#: How long the statements wait for a projection (a simulation of many runs) before printing
#: the page as unavailable.
PROJECTION_TIMEOUT_SECONDS = 20.0


class BenefitsClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base = base_url.rstrip("/") + "/v1/benefits/funds"

    async def projection(self, fund_id: uuid.UUID, **params: Any) -> dict[str, Any]:
        """The fund's projection (query parameters as the route takes them: ``years``, ``runs``,
        ``seed``, what-ifs); any failure is a 503 ``upstream.unavailable`` problem."""
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items() if v is not None}
        answer: dict[str, Any] = await get_json(self.http, f"{self.base}/{fund_id}/projection", service="benefits",
                                                params=query, timeout=PROJECTION_TIMEOUT_SECONDS)
        return answer
