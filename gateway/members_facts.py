"""The gateway's one question to the members service: does this member belong to this fund?

Asked with a service token the gateway signs for itself, over the forwarder's pooled session.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp

from gateway.auth.service import TokenIssuer
from gateway.proxy import Forwarder
from shared.errors import SajjaError


class MembersFacts:
    def __init__(self, forwarder: Forwarder, issuer: TokenIssuer) -> None:
        self.forwarder = forwarder
        self.issuer = issuer

    async def member_exists(self, fund_id: uuid.UUID, member_id: uuid.UUID) -> bool:
        token = self.issuer.gateway_token()
        url = f"{self.forwarder.service_urls['members']}/v1/members/internal/funds/{fund_id}/members/{member_id}/facts"
        try:
            async with self.forwarder.session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
                if response.status == 404:
                    return False
                if response.status != 200:
                    raise SajjaError("upstream.bad_gateway", status_code=502, params={"service": "members"})
                facts = await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raise SajjaError("upstream.unavailable", status_code=503, params={"service": "members"}) from None
        return facts.get("status") in ("active", "suspended")
