"""The authorization matrix, asked: every route of the five processes, as every caller of
``tests/authz/principals.py``, against the answers ``tests/authz/matrix.csv`` expects (issue 18,
points 6 and 7).

For each route and caller:

- the answer is the expected one: admitted (not 401, 403 or 404, and no server error), or refused
  with the expected 401, 403 or 404 as ``application/problem+json`` with a ``code`` (a web page
  refuses with an HTML page, and sends a caller without a session to the login form);
- a request refused (a 4xx: for who asks, or for what they ask) that is not a GET left nothing
  written in any database (PostgreSQL counts the rows each request inserts, updates and deletes,
  and a table it counted is compared as the request left it and as it was);
- a caller outside fund A (another fund's people, another network's officer, grant officers and
  systems, services) refused on fund A's objects gets what they get for ids of nothing: the same
  status and code, so a refusal does not tell that another fund's object exists; admitted (to a
  list, a roll-up), they are shown nothing of fund A's (no id of its objects, not its name);
  but for those a policy says see fund A's objects there, as they should;
- a public route answers the same whatever the token.

And, per route: fund B's objects named under fund A's path are answered as ids of nothing, for
every caller the route admits; and each service route answers the same through the gateway.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.authz.ask import Answer, ask
from tests.authz.calls import named_objects, path_params
from tests.authz.generate import policy_of
from tests.authz.policies import A_PEOPLE, NETWORK, Policy
from tests.authz.principals import KEYS
from tests.authz.routes import Route, all_routes
from tests.authz.table import ROUTE_POLICIES
from tests.authz.world import World

ROUTES = [route for route in all_routes() if route in ROUTE_POLICIES]
#: Path parameters that are names, not ids of objects (a benefit's code, a province, a file format, a
#: fiscal year).
NAMES = {"code", "province_name", "fmt", "year"}
#: Objects anyone may know of: programs are public, networks are not a fund's.
PUBLIC_OBJECTS = {"program_id", "network_id"}
#: Who sees fund A: a refusal of theirs may say that fund A's object exists.
SEE_FUND_A = A_PEOPLE | {NETWORK, "platform_admin"}


def _ids(route: Route) -> list[str]:
    return [name for name in path_params(route) if name not in NAMES]


def _check(route: Route, policy: Policy, principal: str, answer: Answer, anonymous: Answer | None) -> str | None:
    """What is wrong with ``answer`` (None when it is as the matrix expects)."""
    expected = policy.expected(principal)
    if policy.name == "public":
        assert anonymous is not None
        if (answer.status, answer.code) != (anonymous.status, anonymous.code):
            return f"a public route answers {answer} with a token, {anonymous} without"
        if answer.status == 403:
            return f"a public route refused: {answer}"
        return None
    if answer.outcome != expected:
        return f"expected {expected}, got {answer}"
    if answer.status >= 400 and answer.written:
        return f"refused ({answer.status} {answer.code}), but left written {answer.written}"
    if expected == "allow":
        if answer.status >= 500:
            return f"admitted, but a server error: {answer}"
        return None
    if expected == "login":
        return None
    if route.is_web_page:
        if answer.content_type != "text/html":
            return f"a web page refused with {answer.content_type}, not an HTML page: {answer}"
    elif not answer.is_problem:
        return f"refused without problem+json and a code: {answer}"
    return None


@pytest.mark.parametrize("route", ROUTES, ids=[r.id for r in ROUTES])
async def test_every_caller_gets_the_expected_answer(world: World, route: Route) -> None:
    policy = policy_of(route)
    ids = [name for name in named_objects(route) if name not in NAMES | PUBLIC_OBJECTS]
    wrong: list[str] = []
    anonymous = None
    for principal in KEYS:
        answer = await ask(world, route, principal)
        if principal == "anonymous":
            anonymous = answer
        problem = _check(route, policy, principal, answer, anonymous)
        if problem:
            wrong.append(f"{principal}: {problem}")
            continue
        if principal in SEE_FUND_A or principal in policy.sees:
            continue
        if answer.outcome == "allow" and not ids:
            # What the request itself named (a province in the path) is not shown by the answer.
            text = _without(answer.text, world.params("A"), named_objects(route))
            shown = [name for name, value in world.secrets("A").items() if value in text]
            if shown:
                wrong.append(f"{principal}: admitted, and shown fund A's {', '.join(shown)}: {answer}")
        elif ids and answer.outcome in ("403", "404"):
            nothing = await ask(world, route, principal, world.params("random"))
            if (nothing.status, nothing.code) != (answer.status, answer.code):
                wrong.append(f"{principal}: refused with {answer.status} {answer.code} on fund A's object but "
                             f"{nothing.status} {nothing.code} on ids of nothing: the refusal tells that the object exists")
    assert not wrong, f"{route.id} ({policy.name}):\n  " + "\n  ".join(wrong)


#: Routes whose path names an object inside another (a fund's member, an application's tranche).
NESTED = [route for route in ROUTES if len(_ids(route)) >= 2]


@pytest.mark.parametrize("route", NESTED, ids=[r.id for r in NESTED])
async def test_another_funds_object_under_ones_own_path_is_an_object_of_nothing(world: World, route: Route) -> None:
    """Fund A's path (or application) with fund B's objects in it, asked by whoever the route admits,
    is answered as with ids of nothing."""
    outer, *inner = _ids(route)
    own, other, nothing = world.params("A"), world.params("B"), world.params("random")
    foreign = {**own, **{name: other[name] for name in inner}}
    missing = {**own, **{name: nothing[name] for name in inner}}
    policy = policy_of(route)
    wrong = []
    for principal in (k for k in KEYS if policy.expected(k) == "allow"):
        seen, absent = await ask(world, route, principal, foreign), await ask(world, route, principal, missing)
        if _gist(seen, foreign) != _gist(absent, missing):
            wrong.append(f"{principal}: fund B's {', '.join(inner)} under fund A's {outer}: {seen}; ids of nothing: {absent}")
    assert not wrong, f"{route.id}:\n  " + "\n  ".join(wrong)


def _without(text: str, params: dict[str, str], names: list[str]) -> str:
    for name in names:
        text = text.replace(params[name], "")
    return text


def _gist(answer: Answer, params: dict[str, str]) -> tuple[Any, ...]:
    """What must not differ between two answers: a refusal's status and code; an admitted JSON
    answer's body, but for the ids asked about (a balance of nobody is 0, whoever's id it is)."""
    if answer.status >= 300 or answer.content_type != "application/json":
        return answer.status, answer.code, answer.content_type
    text = answer.text
    for value in params.values():
        text = text.replace(value, "")
    return answer.status, text


SERVICE_ROUTES = [route for route in ROUTES if route.app != "gateway" and route.path.startswith("/v1/")]


def _sample(policy: Policy) -> list[str]:
    """No token, the first caller refused and the first admitted."""
    refused = next((k for k in KEYS[1:] if policy.expected(k) != "allow"), None)
    admitted = next((k for k in KEYS if policy.expected(k) == "allow"), None)
    return [k for k in dict.fromkeys(["anonymous", refused, admitted]) if k]


@pytest.mark.parametrize("route", SERVICE_ROUTES, ids=[r.id for r in SERVICE_ROUTES])
async def test_the_gateway_forwards_the_services_answer(world: World, route: Route) -> None:
    wrong: list[Any] = []
    for principal in _sample(policy_of(route)):
        direct = await ask(world, route, principal)
        forwarded = await ask(world, route, principal, through_gateway=True)
        if (forwarded.status, forwarded.code) != (direct.status, direct.code):
            wrong.append(f"{principal}: {forwarded} through the gateway, {direct} from the service")
    assert not wrong, f"{route.id}:\n  " + "\n  ".join(wrong)


async def test_the_write_check_sees_what_a_request_leaves_and_nothing_else(world: World) -> None:
    """The check itself: a row a request leaves changed is seen, one it changed and rolled back
    itself is not, and the world is as it was after either."""
    driver = (await world.system._drivers())["grants"]
    name = await driver.fetchval("SELECT name FROM programs WHERE id = $1", uuid.UUID(world.ids["program"]))
    async with world.system.isolated() as kept:
        await driver.execute("UPDATE programs SET name = name || ' (changed)'")
    async with world.system.isolated() as undone:
        await driver.execute("SAVEPOINT inner_work; UPDATE programs SET name = name || ' (changed)'; "
                             "ROLLBACK TO SAVEPOINT inner_work; RELEASE SAVEPOINT inner_work")
    assert set(kept) == {"grants"} and "programs" in kept["grants"]
    assert undone == {}
    assert await driver.fetchval("SELECT name FROM programs WHERE id = $1", uuid.UUID(world.ids["program"])) == name
