"""Every route says in its signature who may call it: a dependency of its service's access module.

Each service keeps the checks a route always makes (the caller's role, the fund in the path, the
object in the path being the fund's and visible to the caller, an integration client's scope) as
FastAPI dependencies in its ``access.py``; what a route still checks in its body depends on an
object's state or on the request body. This walks every route of every app (and the gateway's own
routes) through its dependencies, and fails on one that has none from its access module, unless it
is listed below as open to everyone, with the reason.
"""

from __future__ import annotations

import importlib
import inspect
import typing
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import httpx
import orjson
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from services.ledger.access import FundPoster, FundReader
from shared.db import get_session
from shared.auth import CurrentPrincipal, Role, TokenVerifier, current_principal
from shared.errors import install_error_handlers
from shared.lean import LeanRoute
from shared.middleware import RequestIdMiddleware
from tests.support.helpers import AUDIENCE, ISSUER, Tokens

#: Each app and the module whose dependencies admit its callers.
APPS = {
    "members": ("services.members.app", "services.members.access"),
    "ledger": ("services.ledger.app", "services.ledger.access"),
    "benefits": ("services.benefits.app", "services.benefits.access"),
    "grants": ("services.grants.app", "services.grants.access"),
    "gateway": ("gateway.app", "gateway.access"),
}

#: Routes anyone may call, without a token: (app, method, path) -> why.
PUBLIC = {
    **{(app, "GET", "/healthz"): "liveness, for the process manager" for app in APPS},
    **{(app, "GET", "/readyz"): "readiness, for the process manager" for app in APPS},
    ("gateway", "GET", "/.well-known/jwks.json"): "the public keys every service verifies tokens with",
    ("gateway", "GET", "/openapi.json"): "the API's description",
    ("gateway", "GET", "/docs"): "the API's description, as a page",
    ("gateway", "POST", "/v1/auth/login"): "signing in: the phone and password are the credentials",
    ("gateway", "POST", "/v1/auth/refresh"): "the refresh token in the body is the credential",
    ("gateway", "POST", "/v1/auth/logout"): "the refresh token in the body is the credential",
    ("gateway", "POST", "/v1/auth/pin"): "the one-time PIN ticket in the body is the credential",
    ("gateway", "POST", "/v1/auth/token"): "OAuth client credentials: the client's secret is the credential",
    ("gateway", "POST", "/v1/auth/line"): "signing in with LINE: the LINE ID token is the credential",
    ("gateway", "POST", "/v1/auth/line/link"): "the LINE ID token and a one-time code are the credentials",
    ("gateway", "POST", "/v1/line/webhook"): "LINE's Messaging API: the body's signature is checked",
    ("gateway", "GET", "/dashboard/login"): "the web dashboard's login form",
    ("gateway", "POST", "/dashboard/login"): "the web dashboard's login: the phone and password are the credentials",
    ("gateway", "POST", "/dashboard/logout"): "signing out of the web dashboard (clears its cookies)",
}

#: The web dashboard's pages sign in by cookie, not by bearer token: ``gateway.dashboard.web.page``
#: sends a caller without a session to the login form (a redirect, not a 401), and every figure on
#: a page is read from its service with the caller's own token, so the service that owns it decides
#: who may see it (as for ``/v1/dashboard``, whose routes declare ``gateway.access.SignedIn``); the
#: roll-up pages also go through ``gateway.dashboard.api``'s roll-up functions, which check the role.
COOKIE_PAGES = {
    ("gateway", "GET", "/dashboard"),
    ("gateway", "GET", "/dashboard/funds/{fund_id}"),
    ("gateway", "GET", "/dashboard/national"),
    ("gateway", "GET", "/dashboard/networks/{network_id}"),
    ("gateway", "GET", "/dashboard/provinces/{province_name}"),
    ("gateway", "GET", "/dashboard/exports/funds.{fmt}"),
    ("gateway", "GET", "/dashboard/funds/{fund_id}/exports/members.{fmt}"),
    ("gateway", "GET", "/dashboard/funds/{fund_id}/members/{member_id}/exports/statement.{fmt}"),
    ("gateway", "GET", "/dashboard/funds/{fund_id}/exports/income.{fmt}"),
    ("gateway", "GET", "/dashboard/funds/{fund_id}/deposits/{deposit_id}/receipt.pdf"),
    ("gateway", "GET", "/dashboard/funds/{fund_id}/reports/monthly.pdf"),
}


def access_dependencies(module_name: str) -> set[Callable[..., Any]]:
    """The callables an access module admits callers with: its own functions, and what its
    ``Annotated[..., Depends(...)]`` aliases depend on (``require_roles(...)`` made there too)."""
    module = importlib.import_module(module_name)
    found: set[Callable[..., Any]] = set()
    for value in vars(module).values():
        if inspect.isfunction(value) and value.__module__ == module_name:
            found.add(value)
        elif typing.get_origin(value) is Annotated:
            found.update(m.dependency for m in value.__metadata__ if hasattr(m, "dependency") and m.dependency)
    # ``CurrentPrincipal``, imported there, only says the caller has a token: a route open to every
    # signed-in caller says so with its access module's own ``SignedIn``.
    found.discard(current_principal)
    # Nor does the database session some access modules use (``shared.db.DbSession``).
    found.discard(get_session)
    return found


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency a route solves, through sub-dependencies."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from dependency_calls(sub)


def routes(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    """Each API route's method, full path, and the route as the app serves it (through included
    routers: its dependant then holds the router's own dependencies too)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            for method in sorted(context.methods):
                yield method, context.path, context


def unguarded(name: str, app: FastAPI, access_module: str, open_to_all: set[tuple[str, str, str]]) -> list[str]:
    """The routes of ``app`` with no dependency from ``access_module`` and not listed as open."""
    admitting = access_dependencies(access_module)
    return [
        f"{method} {path}"
        for method, path, route in routes(app)
        if (name, method, path) not in open_to_all and not admitting.intersection(dependency_calls(route.dependant))
    ]


def _app(name: str) -> FastAPI:
    return importlib.import_module(APPS[name][0]).create_app()


@pytest.mark.parametrize("name", list(APPS))
def test_every_route_says_who_may_call_it(name: str) -> None:
    missing = unguarded(name, _app(name), APPS[name][1], set(PUBLIC) | COOKIE_PAGES)
    assert not missing, f"{name}: routes with no dependency from {APPS[name][1]}: {missing}"


@pytest.mark.parametrize("name", list(APPS))
def test_the_open_routes_exist_and_take_no_token(name: str) -> None:
    """The lists above name real routes, and a public route does not ask for a caller after all."""
    app = _app(name)
    present = {(name, method, path): route for method, path, route in routes(app)}
    listed = {key for key in set(PUBLIC) | COOKIE_PAGES if key[0] == name}
    assert listed <= set(present), f"listed but not routes of {name}: {sorted(listed - set(present))}"
    for key in PUBLIC:
        if key[0] == name:
            calls = {getattr(c, "__name__", "") for c in dependency_calls(present[key].dependant)}
            assert "current_principal" not in calls, f"{key} is listed as public but needs a bearer token"


async def _open(fund_id: str, principal: CurrentPrincipal) -> None: ...


async def _wrapped(fund_id: FundReader) -> None: ...


async def _guarded(_: Annotated[None, Depends(_wrapped)], principal: CurrentPrincipal) -> None: ...


def test_the_walk_finds_a_route_without_an_access_dependency() -> None:
    """The check itself: a fund's route with only the caller, and no access dependency, is found;
    one that declares an access module's alias, even through a dependency of its own, is not."""
    app = FastAPI()
    app.get("/v1/x/funds/{fund_id}/open")(_open)
    app.get("/v1/x/funds/{fund_id}/guarded")(_guarded)
    assert unguarded("x", app, "services.ledger.access", set()) == ["GET /v1/x/funds/{fund_id}/open"]


# --- An access dependency on a lean route (``shared.lean``) answers as FastAPI's own solving does ---


class Item(BaseModel):
    id: uuid.UUID
    amount_satang: int = Field(gt=0)


class Posted(BaseModel):
    fund_id: uuid.UUID
    id: uuid.UUID
    by: str


async def _post_item(fund_id: FundPoster, body: Item, request: Request, principal: CurrentPrincipal) -> Any:
    return Posted(fund_id=fund_id, id=body.id, by=principal.subject)


FUND = uuid.uuid4()
GOOD = {"id": str(uuid.uuid4()), "amount_satang": 100}

#: case -> (the caller's role and fund, or None for no token; the fund in the path; the body)
LEAN_CASES: dict[str, tuple[tuple[Role, uuid.UUID | None] | None, str, bytes]] = {
    "a collector of the fund": ((Role.collector, FUND), str(FUND), orjson.dumps(GOOD)),
    "a collector of another fund": ((Role.collector, uuid.uuid4()), str(FUND), orjson.dumps(GOOD)),
    "a member": ((Role.member, FUND), str(FUND), orjson.dumps(GOOD)),
    "a network officer, with a bad body": ((Role.network_officer, None), str(FUND), orjson.dumps({"id": 1})),
    "another fund's collector, with a bad body": ((Role.collector, uuid.uuid4()), str(FUND), b'{"amount_satang": 0}'),
    "a bad fund id": ((Role.collector, FUND), "not-a-uuid", orjson.dumps(GOOD)),
    "a bad fund id, from a member": ((Role.member, FUND), "not-a-uuid", orjson.dumps({"id": 1})),
    "no token": (None, str(FUND), orjson.dumps(GOOD)),
    "no token, broken JSON": (None, str(FUND), b'{"id": '),
    "broken JSON, from another fund": ((Role.collector, uuid.uuid4()), str(FUND), b'{"id": '),
}


@pytest.mark.parametrize("case", list(LEAN_CASES))
async def test_an_access_dependency_on_a_lean_route_answers_as_fastapi_does(tokens: Tokens, case: str) -> None:
    caller, fund, content = LEAN_CASES[case]
    headers = {"Content-Type": "application/json", "X-Request-ID": "same-id"}
    if caller is not None:
        headers.update(tokens.headers(caller[0], fund_id=caller[1]))
    answers = []
    for route_class in (LeanRoute, APIRoute):
        app = FastAPI()
        app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://unused/jwks")
        app.state.verifier.set_jwks(tokens.jwks)
        install_error_handlers(app)
        router = APIRouter(prefix="/v1/x/funds/{fund_id}/items", route_class=route_class)
        router.post("", status_code=201)(_post_item)
        app.include_router(router)
        app.add_middleware(RequestIdMiddleware)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post(f"/v1/x/funds/{fund}/items", content=content, headers=headers)
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    if case == "a collector of the fund":
        assert answers[0][0] == 201
    if case in ("a collector of another fund", "a member", "another fund's collector, with a bad body"):
        assert answers[0][0] == 403


async def _with_request(fund_id: uuid.UUID, request: Request) -> uuid.UUID:
    return fund_id


async def _needs_request(fund_id: Annotated[uuid.UUID, Depends(_with_request)]) -> Any: ...


def test_a_lean_route_refuses_a_dependency_it_cannot_call() -> None:
    """Only path ids and the caller: a dependency that wants the request is FastAPI's to solve."""
    router = APIRouter(route_class=LeanRoute)
    with pytest.raises(TypeError, match="LeanRoute"):
        router.post("/{fund_id}")(_needs_request)
