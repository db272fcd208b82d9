"""The world the matrix asks about: two funds and every kind of object a path names, made through
the processes' own APIs (once for the package, on the rolled-back connections of
``tests/authz/harness.py``).

- network N1 with fund A, network N2 with fund B (another province);
- in each fund: members 1 and 2 (member 1 with a gateway user), collectors 1 and 2 (gateway users;
  collector 1's round holds member 1), a deposit of member 1 taken by collector 1 and its entry, an
  administration expense its committee member proposed,
  the benefit catalog from the templates, a claim member 1 submitted with a document (an ID card,
  not medical), and an awarded grant application with one tranche still to be paid;
- grantors X and Y; a grant program of X both funds applied to, and another of X's programs (a
  narrowed client's); a webhook subscription of the ``integration_read`` client with
  one delivery, and another client's subscription with one;
- a LINE link for member A1.

:meth:`World.params` gives the path parameters for fund A's objects, fund B's, or ids that exist
nowhere.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.authz.harness import System
from tests.authz.principals import BY_KEY, Principal
from tests.support.factories import national_id, person

TODAY = dt.datetime.now(BANGKOK).date()
NOW = dt.datetime.now(BANGKOK).replace(microsecond=0)

FUNDS = {
    "A": {"name": "กองทุนสวัสดิการชุมชนตำบลบ้านส้อง (authz)", "kind": "municipal", "province": "สุราษฎร์ธานี",
          "district": "เวียงสระ", "subdistrict": "บ้านส้อง", "founded_on": "2010-05-01", "population": 17539},
    "B": {"name": "กองทุนสวัสดิการชุมชนตำบลฉวาง (authz)", "province": "นครศรีธรรมราช", "district": "ฉวาง",
          "subdistrict": "ฉวาง", "founded_on": "2008-06-01", "population": 2775},
}
NETWORKS = {"N1": {"name_th": "เครือข่ายสุราษฎร์ธานี (authz)", "province": "สุราษฎร์ธานี"},
            "N2": {"name_th": "เครือข่ายนครศรีธรรมราช (authz)", "province": "นครศรีธรรมราช"}}


class Failed(AssertionError):
    pass


def _ok(response: Any, *statuses: int) -> Any:
    if response.status_code not in (statuses or (200, 201)):
        raise Failed(f"building the world: {response.request.method} {response.request.url.path} -> "
                     f"{response.status_code} {response.text}")
    return response.json() if response.content else None


@dataclass
class World:
    system: System
    #: Named ids: ``fund:A``, ``member:A1``, ``user:collector-A1``, ``claim:A`` ...
    ids: dict[str, str] = field(default_factory=dict)
    _minted: dict[str, dict[str, str]] = field(default_factory=dict)

    def headers(self, principal: Principal | str) -> dict[str, str]:
        """The principal's bearer token, as the gateway would mint it (one per principal: the
        services cache what they verified, as they do for a phone's token)."""
        p = BY_KEY[principal] if isinstance(principal, str) else principal
        if p.role is None:
            return {}
        if p.key not in self._minted:
            self._minted[p.key] = self._mint(p)
        return dict(self._minted[p.key])

    def _mint(self, p: Principal) -> dict[str, str]:
        claims: dict[str, Any] = {"sub": self.ids.get(p.subject or "", p.subject)}
        if p.fund:
            claims["fund_id"] = self.ids[f"fund:{p.fund}"]
        if p.member:
            claims["member_id"] = self.ids[f"member:{p.member}"]
        if p.network:
            claims["network_id"] = self.ids[f"network:{p.network}"]
        if p.scopes:
            claims["scope"] = " ".join(p.scopes)
        if p.grantor:
            claims["grantor_id"] = self.ids[f"grantor:{p.grantor}"]
        if p.programs is not None:
            claims["program_ids"] = [self.ids[name] for name in p.programs]
        return self.system.tokens.headers(p.role, **claims)

    def token(self, principal: Principal | str) -> str | None:
        header = self.headers(principal).get("Authorization")
        return header.split(" ", 1)[1] if header else None

    def secrets(self, side: str) -> dict[str, str]:
        """What shows a fund's objects in an answer: their ids, the fund's name and its province
        (fund A and fund B are in different provinces)."""
        made = {name: value for name, value in self.ids.items()
                if name.partition(":")[2].split("-")[-1].rstrip("12") == side}
        made.update({"name": FUNDS[side]["name"], "province": FUNDS[side]["province"]})
        return made

    def params(self, side: str) -> dict[str, str]:
        """Path parameters and body placeholders: ``A`` (fund A's objects), ``B`` (fund B's), or
        ``random`` (ids of nothing; names nobody uses)."""
        if side == "random":
            made = {key: str(uuid.uuid4()) for key in self.params("A")}
            # Programs are public (every signed-in caller reads them): not an object to hide.
            made.update({"code": "no-such-benefit", "province_name": "ไม่มีจังหวัดนี้", "fmt": "csv", "year": "2001",
                         "phone": "0899999990", "program_id": self.ids["program"]})
            return made
        other = "B" if side == "A" else "A"
        ids = self.ids
        return {
            "fund_id": ids[f"fund:{side}"],
            "other_fund_id": ids[f"fund:{other}"],
            "client_id": ids["client"],
            # The gateway's next signing key: revoking it harms no token (docs/signing-keys.md).
            "kid": self.system.apps["gateway"].state.keyring.next_kid,
            "network_id": ids[f"network:N{1 if side == 'A' else 2}"],
            "member_id": ids[f"member:{side}1"],
            "member2_id": ids[f"member:{side}2"],
            "collector_id": ids[f"collector:{side}1"],
            "user_id": ids[f"user:collector-{side}1"],
            "deposit_id": ids[f"deposit:{side}"],
            "entry_id": ids[f"entry:{side}"],
            "claim_id": ids[f"claim:{side}"],
            "document_id": ids[f"document:{side}"],
            "code": "education",
            "program_id": ids["program"],
            "application_id": ids[f"application:{side}"],
            "tranche_id": ids[f"tranche:{side}"],
            "proposal_id": ids[f"proposal:{side}"],
            "subscription_id": ids["subscription:own" if side == "A" else "subscription:other"],
            "delivery_id": ids["delivery:own" if side == "A" else "delivery:other"],
            "province_name": FUNDS[side]["province"],
            "fmt": "csv",
            # a fiscal year long past: closing and reopening it moves nothing of the world's
            "year": "2001",
            "phone": "0899999990",
        }


async def build_world(system: System) -> World:
    world = World(system)
    ids = world.ids
    c = system.clients
    admin = system.tokens.headers(Role.platform_admin, sub="authz-world-builder")
    for name in ("A", "B"):
        ids[f"user:committee-{name}"] = str(uuid.uuid4())
        ids[f"user:admin-{name}"] = str(uuid.uuid4())
    for name in ("N1", "N2"):
        ids[f"user:officer-{name}"] = str(uuid.uuid4())
    ids["user:grant-officer"] = str(uuid.uuid4())
    ids["user:grant-officer-y"] = str(uuid.uuid4())
    ids["user:platform-admin"] = str(uuid.uuid4())

    # Networks and funds.
    for name, body in NETWORKS.items():
        ids[f"network:{name}"] = _ok(await c["members"].post("/v1/members/networks", json=body, headers=admin))["id"]
    for side, network in (("A", "N1"), ("B", "N2")):
        made = _ok(await c["members"].post("/v1/members/funds", headers=admin,
                                           json={**FUNDS[side], "network_id": ids[f"network:{network}"]}))
        ids[f"fund:{side}"] = made["id"]

    joined = (TODAY - dt.timedelta(days=4000)).isoformat()
    for n, side in enumerate(("A", "B")):
        fund_id = ids[f"fund:{side}"]
        committee = world.headers(f"committee{'' if side == 'A' else '_b'}")
        fund_admin = world.headers(f"fund_admin{'' if side == 'A' else '_b'}")
        # Members (national IDs in a range no other test uses).
        for i in (1, 2):
            body = person(97_000 + 10 * n + i, joined_on=joined, birth_date="1955-01-01",
                          national_id=national_id(97_000 + 10 * n + i, first="5"))
            ids[f"member:{side}{i}"] = _ok(await c["members"].post(f"/v1/members/funds/{fund_id}/members", json=body,
                                                                    headers=committee))["id"]
        # Gateway users: member 1, collectors 1 and 2.
        gateway = c["gateway"]
        user = _ok(await gateway.post("/v1/auth/users", headers=admin, json={
            "phone": f"08970{n}0001", "password": "member-pin-1", "display_name": f"สมาชิก {side}1", "role": "member",
            "fund_id": fund_id, "member_id": ids[f"member:{side}1"]}))
        ids[f"user:{side}1"] = user["id"]
        ids[f"user:{side}2"] = str(uuid.uuid4())
        if side == "A":  # a grant system's client, listed, revoked and rotated by the matrix
            ids["client"] = _ok(await gateway.post("/v1/auth/clients", headers=admin, json={
                "name": "ระบบทุน (authz)", "scopes": []}))["client_id"]
        for i in (1, 2):
            user = _ok(await gateway.post("/v1/auth/users", headers=admin, json={
                "phone": f"08970{n}010{i}", "password": "collector-password-1", "display_name": f"อาสา {side}{i}",
                "role": "collector", "fund_id": fund_id}))
            ids[f"user:collector-{side}{i}"] = user["id"]
            collector = _ok(await c["members"].post(f"/v1/members/funds/{fund_id}/collectors", headers=committee, json={
                "user_id": user["id"], "display_name": f"อาสา {side}{i}",
                "member_ids": [ids[f"member:{side}1"]] if i == 1 else []}))
            ids[f"collector:{side}{i}"] = collector["id"]

        # The ledger: money in the bank, and a deposit of member 1 taken by collector 1.
        base = f"/v1/ledger/funds/{fund_id}"
        _ok(await c["ledger"].post(f"{base}/co-funding", headers=committee, json={
            "id": str(uuid.uuid4()), "source": "codi", "amount_satang": 10_000_000, "received_on": TODAY.isoformat()}))
        collector_headers = world.headers("collector" if side == "A" else "collector_b")
        deposit = _ok(await c["ledger"].post(f"{base}/deposits", headers=collector_headers, json={
            "id": str(uuid.uuid4()), "member_id": ids[f"member:{side}1"], "amount_satang": 10_000,
            "collected_at": NOW.isoformat()}))
        ids[f"deposit:{side}"], ids[f"entry:{side}"] = deposit["id"], deposit["entry_id"]
        # An administration expense the committee proposed, for another person to confirm.
        ids[f"proposal:{side}"] = _ok(await c["ledger"].post(f"{base}/expenses/administration", headers=committee, json={
            "id": str(uuid.uuid4()), "amount_satang": 100, "paid_on": TODAY.isoformat(), "memo": "ค่าเครื่องเขียน"}), 202)["id"]

        # Benefits: the catalog, and a claim member 1 submitted, with an ID card.
        bbase = f"/v1/benefits/funds/{fund_id}"
        _ok(await c["benefits"].post(f"{bbase}/catalog/from-templates", headers=fund_admin,
                                     json={"effective_from": "2000-01-01"}))
        member_headers = world.headers("member" if side == "A" else "member_b")
        claim = _ok(await c["benefits"].post(f"{bbase}/claims", headers=member_headers, json={
            "member_id": ids[f"member:{side}1"], "benefit_code": "education",
            "event_date": (TODAY - dt.timedelta(days=10)).isoformat()}))
        ids[f"claim:{side}"] = claim["id"]
        document = _ok(await c["benefits"].post(f"{bbase}/claims/{claim['id']}/documents", params={"kind": "id_card"},
                                                headers=member_headers, files={"file": ("id.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")}))
        ids[f"document:{side}"] = document["id"]

    # Grants: grantor X (whose program the funds apply to) and grantor Y, another of X's programs (a
    # narrowed client's); then the integration clients' subscriptions, so the applications' changes are delivered.
    for name, kind in (("X", "codi"), ("Y", "provincial_office")):
        ids[f"grantor:{name}"] = _ok(await c["grants"].post("/v1/grants/grantors", headers=admin, json={
            "kind": kind, "name": f"ผู้ให้ทุน {name} (authz)"}))["id"]
    ids["program:other"] = _ok(await c["grants"].post("/v1/grants/programs", headers=admin, json={
        "grantor_id": ids["grantor:X"], "name": "โครงการอื่นของผู้ให้ทุน X (authz)", "fiscal_year_be": 2569,
        "envelope_satang": 1_000_000}))["id"]
    owner = world.headers("integration_read")
    other_client = system.tokens.headers(Role.integration, sub="cli-authz-someone-else", scope="grants:read",
                                         grantor_id=ids["grantor:X"])
    for key, headers in (("own", owner), ("other", other_client)):
        ids[f"subscription:{key}"] = _ok(await c["grants"].post("/v1/grants/webhooks", headers=headers, json={
            "url": "http://127.0.0.1:9/hook", "events": ["application.status_changed"]}))["id"]
    officer = world.headers("grant_officer")
    ids["program"] = _ok(await c["grants"].post("/v1/grants/programs", headers=officer, json={
        "grantor": "codi", "name": "สนับสนุนกองทุนสวัสดิการชุมชน (authz)", "fiscal_year_be": 2569,
        "envelope_satang": 1_000_000_000, "per_fund_ceiling_satang": 10_000_000, "matching_ratio_bp": 10_000}))["id"]
    for side in ("A", "B"):
        staff = world.headers("fund_admin" if side == "A" else "fund_admin_b")
        application = _ok(await c["grants"].post(f"/v1/grants/programs/{ids['program']}/applications", headers=staff, json={
            "fund_id": ids[f"fund:{side}"], "title": "ขยายสวัสดิการผู้สูงอายุ",
            "budget_lines": [{"line": "L1", "description": "กิจกรรม", "amount_satang": 5_000_000}]}))
        aid = ids[f"application:{side}"] = application["id"]
        _ok(await c["grants"].post(f"/v1/grants/applications/{aid}/submit", headers=staff))
        for reviewer in ("reviewer-1", "reviewer-2"):
            _ok(await c["grants"].post(f"/v1/grants/applications/{aid}/reviews",
                                       headers=system.tokens.headers(Role.grant_officer, sub=reviewer, grantor_id=ids["grantor:X"]),
                                       json={"score": 80, "recommendation": "approve"}))
        awarded = _ok(await c["grants"].post(f"/v1/grants/applications/{aid}/decision", headers=officer, json={
            "decision": "approve", "tranches": [{"amount_satang": 5_000_000, "due_on": TODAY.isoformat()}]}))
        ids[f"tranche:{side}"] = awarded["tranches"][0]["id"]
    deliveries = (await system.conns["grants"].execute(text(
        "SELECT subscription_id::text, id::text FROM webhook_deliveries ORDER BY created_at"))).all()
    for key in ("own", "other"):
        ids[f"delivery:{key}"] = next(d for s, d in deliveries if s == ids[f"subscription:{key}"])

    # A LINE link for member A1 (LINE's own login is not part of this world).
    await system.conns["gateway"].execute(text(
        "INSERT INTO line_links (line_user_id, user_id, fund_id, member_id, notify_receipts, notify_claims, notify_arrears, linked_at)"
        " VALUES ('U-authz-A1', :user, :fund, :member, true, true, true, now())"),
        {"user": ids["user:A1"], "fund": ids["fund:A"], "member": ids["member:A1"]})
    return world
