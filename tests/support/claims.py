"""A fund with members and its benefit catalog, and a claim to attach documents to: what the
claim documents' tests need (``claim_desk(service_client, tokens)``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.support.factories import make_fund, person

TODAY = dt.datetime.now(BANGKOK).date()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"x" * 64


class ClaimDesk:
    def __init__(self, benefits: Any, tokens: Any, fund: Any, member_id: str) -> None:
        self.benefits, self.tokens, self.fund, self.member_id = benefits, tokens, fund, member_id
        self.base = f"/v1/benefits/funds/{fund.id}"

    @property
    def committee(self) -> dict[str, str]:
        return self.fund.as_(Role.committee)

    def app(self) -> Any:
        return self.benefits._transport.app

    async def open_claim(self) -> str:
        made = await self.benefits.post(f"{self.base}/claims", headers=self.committee, json={
            "member_id": self.member_id, "benefit_code": "sickness_medical",
            "event_date": (TODAY - dt.timedelta(days=3)).isoformat(), "event_end_date": (TODAY - dt.timedelta(days=1)).isoformat()})
        assert made.status_code == 201, made.text
        return made.json()["id"]

    async def upload(self, claim_id: str, kind: str, data: bytes = PNG, headers: dict[str, str] | None = None) -> Any:
        return await self.benefits.post(f"{self.base}/claims/{claim_id}/documents", params={"kind": kind}, headers=headers or self.committee,
                                        files={"file": ("scan.png", data, "image/png")})

    async def download(self, claim_id: str, document_id: Any) -> Any:
        return await self.benefits.get(f"{self.base}/claims/{claim_id}/documents/{document_id}", headers=self.committee)


async def claim_desk(service_client: Any, tokens: Any) -> ClaimDesk:
    members = await service_client("members")
    await service_client("ledger")
    benefits = await service_client("benefits")
    fund = await make_fund(members, tokens)
    created = await fund.register(person(800, joined_on=(TODAY - dt.timedelta(days=4000)).isoformat(), birth_date="1950-01-01", sex="male"))
    assert created.status_code == 201, created.text
    made = await benefits.post(f"{fund_base(fund)}/catalog/from-templates", json={"effective_from": "2000-01-01"},
                               headers=fund.as_(Role.fund_admin))
    assert made.status_code == 201, made.text
    return ClaimDesk(benefits, tokens, fund, created.json()["id"])


def fund_base(fund: Any) -> str:
    return f"/v1/benefits/funds/{fund.id}"
