"""What each Sajja service may ask of another (issue 18.3): one table in ``shared.service_calls``, the
same in docs/service-calls.md, checked by every route services call; a service's role passes no
fund check by itself, and a token of one service cannot do another's work.

- the docs' table is the code's, and each route the docs name checks its permission (and no other
  route checks one);
- every permission, called with every service's token: the services granted it get past the
  check, every other one gets 403 ``auth.service_not_allowed`` and moves nothing;
- the members service's token, which every fund check used to let through, posts no payout, no
  reversal, and reads no fund's books.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import func, select

from services.ledger.models import JournalEntry, Movement
from shared.auth import GLOBAL_ROLES, Principal, Role, ensure_fund_access
from shared.errors import Forbidden
from shared.service_calls import CALLERS, GRANTS, PERMISSIONS, ServiceMay, calling_service, ensure_service_may, service_may
from shared.timeutil import BANGKOK
from tests.support.factories import add_collector, make_fund, person

ROOT = Path(__file__).resolve().parents[2]
APPS = {name: f"services.{name}.app" for name in ("members", "ledger", "benefits", "grants")} | {"gateway": "gateway.app"}
TODAY = dt.datetime.now(BANGKOK).date()


# --- The table, in the docs and in the code ---------------------------------------------------------


def docs_table() -> dict[str, tuple[str, set[tuple[str, str]], set[str]]]:
    """docs/service-calls.md's table: permission -> (asked of, its routes, granted to)."""
    rows: dict[str, tuple[str, set[tuple[str, str]], set[str]]] = {}
    for line in (ROOT / "docs" / "service-calls.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.fullmatch(r"`[a-z_]+\.[a-z_]+`", cells[0]):
            continue
        routes = set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`]+)`", cells[2]))
        granted = {c.strip() for c in cells[3].split(",") if c.strip()}
        rows[cells[0].strip("`")] = (cells[1], routes, granted)
    return rows


def test_the_docs_table_is_the_codes_table() -> None:
    table = docs_table()
    assert {p: (asked, granted) for p, (asked, _, granted) in table.items()} == {
        p: (asked, {caller for caller, may in GRANTS.items() if p in may}) for p, asked in PERMISSIONS.items()}
    assert set(GRANTS) == set(CALLERS)
    for caller, may in GRANTS.items():
        assert may <= set(PERMISSIONS), caller
        assert all(PERMISSIONS[p] != caller for p in may), f"{caller} is granted what it is asked itself"
    assert all(routes for _, routes, _ in table.values()), "every permission names its routes"


def _dependencies(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependencies(sub)


def permissions_checked() -> dict[tuple[str, str, str], set[str]]:
    """(app, method, path) -> the permissions its access dependencies check, for every route that checks one."""
    found: dict[tuple[str, str, str], set[str]] = {}
    for name, module in APPS.items():
        app: FastAPI = importlib.import_module(module).create_app()
        for context in iter_route_contexts(app.routes):
            if not isinstance(context.original_route, APIRoute):
                continue
            checked = {p for call in _dependencies(context.dependant) if (p := getattr(call, "permission", None))}
            for method in context.methods:
                if checked:
                    found[(name, method, context.path)] = checked
    return found


def test_each_route_the_docs_name_checks_its_permission_and_no_other_route_checks_one() -> None:
    expected = {(asked, method, path): {permission}
                for permission, (asked, routes, _) in docs_table().items() for method, path in routes}
    assert permissions_checked() == expected


# --- What a service token is -------------------------------------------------------------------------


def _service(name: str, **kw: Any) -> Principal:
    return Principal(subject=kw.pop("subject", f"svc-{name}"), role=kw.pop("role", Role.service),
                     scopes=frozenset(kw.pop("scopes", {f"service:{name}"})))


def test_a_service_passes_no_fund_check_by_its_role() -> None:
    fund = uuid.uuid4()
    assert Role.service not in GLOBAL_ROLES
    for name in CALLERS:
        principal = _service(name)
        assert not principal.is_global and not principal.may_act_in_fund(fund)
        with pytest.raises(Forbidden):
            ensure_fund_access(principal, fund)
        with pytest.raises(Forbidden):
            ensure_fund_access(principal, fund, roles=(Role.committee, Role.fund_admin))
    assert Principal(subject="admin", role=Role.platform_admin).may_act_in_fund(fund)


def test_a_service_is_named_by_its_scope_and_subject_together() -> None:
    assert [calling_service(_service(name)) for name in CALLERS] == list(CALLERS)
    odd = {
        "another service's subject": _service("benefits", subject="svc-members"),
        "no service scope": _service("benefits", scopes=set()),
        "two service scopes": _service("benefits", scopes={"service:benefits", "service:grants"}),
        "an unknown service": _service("billing"),
        "a grant system holding the scope": _service("benefits", role=Role.integration),
        "a platform admin holding the scope": _service("benefits", role=Role.platform_admin),
    }
    for case, principal in odd.items():
        assert calling_service(principal) is None, case
        assert not service_may(principal, "ledger.payout"), case
    with pytest.raises(Forbidden) as refused:
        ensure_service_may(_service("members"), "ledger.payout")
    assert refused.value.code == "auth.service_not_allowed"
    with pytest.raises(KeyError):
        ServiceMay("ledger.anything")
    with pytest.raises(ValueError):
        ServiceMay("members.fund_facts", Role.service)


# --- Every permission, asked with every service's token ----------------------------------------------


@pytest.fixture
async def world(service_client, tokens) -> dict[str, Any]:
    members = await service_client("members")
    ledger = await service_client("ledger")
    benefits = await service_client("benefits")
    grants = await service_client("grants")
    fund = await make_fund(members, tokens)
    member = (await fund.register(person(7001))).json()["id"]
    collector = str(uuid.uuid4())
    assert (await add_collector(fund, collector)).status_code == 201
    funded = await ledger.post(f"/v1/ledger/funds/{fund.id}/co-funding", headers=fund.committee, json={
        "id": str(uuid.uuid4()), "source": "codi", "amount_satang": 1_000_000, "received_on": TODAY.isoformat()})
    assert funded.status_code == 201, funded.text
    return {"clients": {"members": members, "ledger": ledger, "benefits": benefits, "grants": grants}, "fund": fund.id, "member": member,
            "collector": collector}


def requests_for(permission: str, fund: str, member: str, collector: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, url, request options) asking what ``permission`` allows, each route of it."""
    internal, books = f"/v1/members/internal/funds/{fund}", f"/v1/ledger/funds/{fund}"
    today = TODAY.isoformat()
    return {
        "members.fund_facts": [("GET", internal, {})],
        "members.member_facts": [("GET", f"{internal}/members/{member}/facts", {}),
                                 ("POST", f"{internal}/members/facts", {"json": {"member_ids": [member]}})],
        "members.collector_facts": [("GET", f"{internal}/collectors/by-user/{collector}", {})],
        "members.current_members": [("GET", f"{internal}/members", {})],
        "members.roll": [("GET", f"{internal}/roll", {})],
        "members.roll_changes": [("GET", "/v1/members/internal/roll-changes", {"params": {"since": today}})],
        "ledger.payout": [("POST", f"{books}/payouts", {"json": {
            "id": str(uuid.uuid4()), "category": "death", "amount_satang": 1000, "paid_on": today}})],
        "ledger.co_funding": [("POST", f"{books}/co-funding", {"json": {
            "id": str(uuid.uuid4()), "source": "codi", "amount_satang": 1000, "received_on": today}})],
        "ledger.standing": [("GET", f"{books}/members/{member}/standing", {})],
        "ledger.member_contributions": [("GET", f"{books}/reports/member-contributions",
                                         {"params": {"from": "2020-01-01", "to": today}})],
        "ledger.deposit_feed": [("GET", f"{books}/deposits/feed", {})],
        "ledger.projection_inputs": [("GET", f"{books}/reports/projection-inputs", {})],
        "benefits.claim_feed": [("GET", f"/v1/benefits/funds/{fund}/claims/feed", {})],
        "benefits.projection": [("GET", f"/v1/benefits/funds/{fund}/projection", {})],
        **{f"{name}.audit": [("GET", f"/v1/{name}/internal/audit", {"params": {"fund_id": fund}})]
           for name in ("members", "ledger", "benefits", "grants")},
        **{f"{name}.member_erase": [("POST", f"/v1/{name}/internal/funds/{fund}/members/{member}/erase", {})]
           for name in ("ledger", "benefits")},
        **{f"{name}.member_export": [("GET", f"/v1/{name}/internal/funds/{fund}/members/{member}/export", {})]
           for name in ("members", "ledger", "benefits")},
    }[permission]


async def _movements(ledger: Any, fund: str) -> tuple[int, int]:
    async with ledger._transport.app.state.db.sessionmaker() as session:
        moved = await session.scalar(select(func.count()).select_from(Movement).where(Movement.fund_id == uuid.UUID(fund)))
        entries = await session.scalar(select(func.count()).select_from(JournalEntry).where(JournalEntry.fund_id == uuid.UUID(fund)))
    return moved, entries


#: The gateway's own permission (the revocation list) is asked of a gateway in tests/gateway/test_accounts.py.
@pytest.mark.parametrize("permission", [p for p, owner in PERMISSIONS.items() if owner != "gateway"])
async def test_only_the_services_granted_a_permission_get_past_its_check(world: dict[str, Any], tokens, permission: str) -> None:
    client = world["clients"][PERMISSIONS[permission]]
    ledger = world["clients"]["ledger"]
    for caller in CALLERS:
        granted = permission in GRANTS[caller]
        for method, url, options in requests_for(permission, world["fund"], world["member"], world["collector"]):
            before = await _movements(ledger, world["fund"])
            answer = await client.request(method, url, headers=tokens.service(caller), **options)
            if granted:
                assert answer.status_code in (200, 201), (caller, permission, method, url, answer.text)
            else:
                assert answer.status_code == 403, (caller, permission, method, url, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["code"] == "auth.service_not_allowed", answer.json()
                assert await _movements(ledger, world["fund"]) == before, f"{caller} moved money refused"


async def test_the_refusal_is_problem_json_in_thai_or_english(world: dict[str, Any], tokens) -> None:
    url = f"/v1/ledger/funds/{world['fund']}/payouts"
    body = {"id": str(uuid.uuid4()), "category": "death", "amount_satang": 1000, "paid_on": TODAY.isoformat()}
    thai = (await world["clients"]["ledger"].post(url, json=body, headers=tokens.service("members"))).json()
    english = (await world["clients"]["ledger"].post(url, json=body, headers={**tokens.service("members"), "Accept-Language": "en"})).json()
    assert thai["title"] == "บริการนี้ไม่มีสิทธิ์" and "ledger.payout" in thai["detail"]
    assert english["detail"] == "The calling service is not granted ledger.payout"


async def test_the_members_token_posts_no_payout_no_reversal_and_reads_no_books(world: dict[str, Any], tokens) -> None:
    """Found before: ``service`` was a global role, so the members service's token (or any other
    service's) passed every fund check: it could post payouts and reversals in any fund."""
    ledger, fund = world["clients"]["ledger"], world["fund"]
    books = f"/v1/ledger/funds/{fund}"
    assert (await ledger.get(f"{books}/accounts", headers=tokens.headers())).status_code == 200  # a platform admin reads them
    before = await _movements(ledger, fund)
    for caller in CALLERS:
        headers = tokens.service(caller)
        reversal = await ledger.post(f"{books}/entries/{uuid.uuid4()}/reverse", headers=headers,
                                     json={"id": str(uuid.uuid4()), "reason": "ลองกลับรายการ"})
        assert reversal.status_code == 403, (caller, reversal.text)
        handover = await ledger.post(f"{books}/handovers", headers=headers, json={
            "id": str(uuid.uuid4()), "collector_id": str(uuid.uuid4()), "amount_satang": 100, "handed_over_on": TODAY.isoformat()})
        assert handover.status_code == 403, (caller, handover.text)
        for path in ("/trial-balance", "/accounts", f"/members/{world['member']}/statement"):
            assert (await ledger.get(books + path, headers=headers)).status_code == 403, (caller, path)
    members_token = tokens.service("members")
    payout = await ledger.post(f"{books}/payouts", headers=members_token, json={
        "id": str(uuid.uuid4()), "category": "death", "amount_satang": 1000, "paid_on": TODAY.isoformat()})
    assert payout.status_code == 403
    assert await _movements(ledger, fund) == before
