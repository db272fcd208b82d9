"""Test data the test folders share: funds, members, collectors, ledger books, and the funds'
particulars from the source documents.

- ``BAN_SONG``: Ban Song municipality's fund (Surat Thani), the fund ``make_fund`` registers.
- ``NAKHON``: where the Nakhon Si Thammarat grant document's funds are (pass to ``make_fund``).
- ``E2E_FUND``: the fund the end-to-end tests and the benchmark register through the gateway.
- ``person(n)``: a member's registration body with a valid national ID made from ``n``.
- ``make_fund`` -> ``Fund``: a fund in the members service, with a token for each role in it.
- ``add_collector``: a collector of a fund.
- ``make_grantor``: a grantor organisation in the grants service (its id); ``grant_officer``: the
  headers of an officer acting for it.
- ``roll_csv`` / ``roll_row``: a roll file to import, as a fund's register has it (Thai headers).
- ``make_books`` -> ``Books``: a fund with members and a collector, and shortcuts to its ledger (a
  second committee member, ``checker``, confirms what ``committee`` proposes: ``post_confirmed``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from services.members.thai import national_id_check_digit
from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.support.helpers import Tokens

BAN_SONG = {
    "name": "กองทุนสวัสดิการชุมชนเทศบาลตำบลบ้านส้อง",
    "name_en": "Ban Song Municipality Community Welfare Fund",
    "kind": "municipal",
    "province": "สุราษฎร์ธานี",
    "district": "เวียงสระ",
    "subdistrict": "บ้านส้อง",
    "province_code": "84",
    "founded_on": "2010-05-01",
    "population": 17539,
}

NAKHON = {"province": "นครศรีธรรมราช", "district": "ฉวาง", "subdistrict": "ฉวาง", "founded_on": "2008-06-01"}

#: The same fund for the end-to-end tests and the benchmark, so a change to the fund's schema is made in one place.
E2E_FUND = {
    "name": "กองทุนสวัสดิการชุมชนตำบลฉวาง",
    "province": "นครศรีธรรมราช",
    "district": "ฉวาง",
    "subdistrict": "ฉวาง",
    "founded_on": "2011-06-01",
    "population": 2775,
}

NOW = dt.datetime.now(BANGKOK).replace(microsecond=0)


def national_id(n: int, first: str = "3") -> str:
    first12 = first + f"{n:011d}"
    return first12 + str(national_id_check_digit(first12))


def person(n: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "national_id": national_id(n),
        "title": "นาง",
        "first_name": "สมศรี",
        "last_name": f"ใจดี{n}",
        "birth_date": "1960-03-15",
        "sex": "female",
        "phone": f"081{n:07d}",
        "house_no": f"{n}/1",
        "village": 3,
        "joined_on": "2012-01-10",
        "consent_given": True,
    }
    body.update(overrides)
    return body


#: The header of a roll file in Thai, as ``roll_csv`` writes it.
ROLL_HEADER = "ลำดับ,เลขประจำตัวประชาชน,คำนำหน้า,ชื่อ,นามสกุล,วันเกิด,เพศ,โทรศัพท์,หมู่ที่,บ้านเลขที่,วันที่สมัคร\n"


def roll_csv(rows: list[tuple[str, ...]]) -> str:
    return ROLL_HEADER + "".join(",".join((str(i), *row)) + "\n" for i, row in enumerate(rows, start=1))


def roll_row(n: int, **overrides: str) -> tuple[str, ...]:
    values = {"national_id": national_id(n), "title": "นาย", "first_name": f"สมชาย{n}", "last_name": "รักดี",
              "birth_date": "01/02/2505", "sex": "ชาย", "phone": f"089{n:07d}", "village": "4", "house_no": f"{n}",
              "joined_on": "15/06/2556"}
    values.update(overrides)
    return tuple(values.values())


class Fund:
    """A fund in the members service and tokens for people in it."""

    def __init__(self, client: Any, tokens: Tokens, data: dict[str, Any]) -> None:
        self.client, self.tokens, self.data = client, tokens, data
        self.id = data["id"]
        self._subjects: dict[Role, str] = {}

    def as_(self, role: Role, **claims: Any) -> dict[str, str]:
        """A token for one person per role in this fund (the same ``sub`` every time)."""
        if role in (Role.member, Role.collector, Role.committee, Role.fund_admin):
            claims.setdefault("fund_id", self.id)
        claims.setdefault("sub", self._subjects.setdefault(role, str(uuid.uuid4())))
        return self.tokens.headers(role, **claims)

    @property
    def committee(self) -> dict[str, str]:
        return self.as_(Role.committee)

    async def register(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return await self.client.post(f"/v1/members/funds/{self.id}/members", json=body, headers=headers or self.committee)


async def make_fund(client: Any, tokens: Tokens, **overrides: Any) -> Fund:
    response = await client.post("/v1/members/funds", json={**BAN_SONG, **overrides}, headers=tokens.headers())
    assert response.status_code == 201, response.text
    return Fund(client, tokens, response.json())


async def add_collector(fund: Fund, user_id: str, display_name: str = "อาสา") -> Any:
    """``user_id`` made a collector of ``fund`` by its committee; the members service's answer."""
    return await fund.client.post(f"/v1/members/funds/{fund.id}/collectors", headers=fund.committee,
                                  json={"user_id": user_id, "display_name": display_name})


class Books:
    """A fund with members and a collector, and shortcuts to its ledger."""

    def __init__(self, ledger: Any, members: Any, tokens: Tokens, fund: Any) -> None:
        self.ledger, self.members, self.tokens, self.fund = ledger, members, tokens, fund
        self.id = fund.id
        self.base = f"/v1/ledger/funds/{fund.id}"
        self.member_ids: list[str] = []
        self.collector = str(uuid.uuid4())
        self.checker_id = str(uuid.uuid4())

    @property
    def committee(self) -> dict[str, str]:
        return self.fund.as_(Role.committee)

    @property
    def checker(self) -> dict[str, str]:
        """A second committee member of the fund: confirms what ``committee`` proposes (maker-checker)."""
        return self.fund.as_(Role.committee, sub=self.checker_id)

    @property
    def admin(self) -> dict[str, str]:
        return self.fund.as_(Role.fund_admin)

    @property
    def collector_headers(self) -> dict[str, str]:
        return self.fund.as_(Role.collector, sub=self.collector)

    def deposit(self, member: int = 0, amount: int = 100, at: dt.datetime | None = None, **extra: Any) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "member_id": self.member_ids[member], "amount_satang": amount,
                "collected_at": (at or NOW).isoformat(), **extra}

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return await self.ledger.post(self.base + path, json=body, headers=headers or self.committee)

    async def post_confirmed(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        """An expense or a reversal proposed (by ``headers``, the committee by default) and, when the
        proposal is accepted (202), confirmed by the checker: the confirmation's answer (200, the
        movement under ``movement``), or the proposal's refusal."""
        proposed = await self.post(path, body, headers)
        if proposed.status_code != 202:
            return proposed
        return await self.post(f"/proposals/{proposed.json()['id']}/confirm", None, self.checker)

    async def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return await self.ledger.get(self.base + path, params=params, headers=headers or self.committee)


async def make_books(service_client: Any, tokens: Tokens, members_count: int = 3) -> Books:
    members = await service_client("members")
    ledger = await service_client("ledger")
    fund = await make_fund(members, tokens)
    books = Books(ledger, members, tokens, fund)
    for i in range(members_count):
        created = await fund.register(person(500 + i, joined_on="2012-01-10"))
        assert created.status_code == 201, created.text
        books.member_ids.append(created.json()["id"])
    collector = await add_collector(fund, books.collector)
    assert collector.status_code == 201
    return books


async def make_grantor(grants: Any, tokens: Tokens, kind: str = "codi", name: str | None = None) -> str:
    """A grantor organisation registered in the grants service by a platform admin: its id."""
    response = await grants.post("/v1/grants/grantors", headers=tokens.headers(Role.platform_admin),
                                 json={"kind": kind, "name": name or f"ผู้ให้ทุน {kind} {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def grant_officer(tokens: Tokens, grantor_id: str, sub: str | None = None) -> dict[str, str]:
    """Headers of a grant officer acting for ``grantor_id``."""
    return tokens.headers(Role.grant_officer, grantor_id=grantor_id, **({"sub": sub} if sub else {}))
