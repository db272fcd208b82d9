"""The gateway's one question to the members service: does this member belong to this fund?

Asked with a service token the gateway signs for itself, over the forwarder's pooled client.
"""

from __future__ import annotations

import uuid

import orjson

from gateway.auth.service import TokenIssuer
from gateway.proxy import TRANSPORT_ERRORS, Forwarder, bad_gateway, upstream_failure


class MembersFacts:
    def __init__(self, forwarder: Forwarder, issuer: TokenIssuer) -> None:
        self.forwarder = forwarder
        self.issuer = issuer

    async def member_exists(self, fund_id: uuid.UUID, member_id: uuid.UUID) -> bool:
        token = self.issuer.gateway_token()
        try:
            answer = await self.forwarder.call(
                "members", "GET", f"/v1/members/internal/funds/{fund_id}/members/{member_id}/facts",
                headers={"Authorization": f"Bearer {token}"})
        except TRANSPORT_ERRORS as exc:
            raise upstream_failure(exc, "members") from None
        if answer.status == 404:
            return False
        try:
            facts = orjson.loads(answer.body) if answer.status == 200 else None
        except orjson.JSONDecodeError:
            facts = None
        if not isinstance(facts, dict):
            raise bad_gateway("members")
        return facts.get("status") in ("active", "suspended")
