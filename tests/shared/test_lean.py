"""``shared.lean.LeanRoute`` answers as FastAPI does for the same endpoint, only cheaper."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, Strict

from services.ledger.schemas import DepositBatchIn
from shared.auth import CurrentPrincipal, Role, TokenVerifier
from shared.errors import install_error_handlers
from shared.lean import LeanRoute
from shared.middleware import RequestIdMiddleware
from tests.support.helpers import AUDIENCE, ISSUER, Tokens


class Item(BaseModel):
    id: uuid.UUID
    amount_satang: int = Field(gt=0, le=1_000_000)
    collected_at: dt.datetime
    note: str | None = None


class Answer(BaseModel):
    fund_id: uuid.UUID
    id: uuid.UUID
    amount_satang: int
    by: str
    note: str | None


async def post_item(fund_id: uuid.UUID, body: Item, request: Request, principal: CurrentPrincipal) -> Any:
    """Post an item."""
    if body.note == "raw":
        return Response(b'{"raw":true}', status_code=200, media_type="application/json", headers={"X-Raw": "1"})
    return Answer(fund_id=fund_id, id=body.id, amount_satang=body.amount_satang, by=principal.subject,
                  note=request.headers.get("x-note", body.note))


def _app(tokens: Tokens, route_class: type) -> FastAPI:
    app = FastAPI()
    app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://unused/jwks")
    app.state.verifier.set_jwks(tokens.jwks)
    install_error_handlers(app)
    router = APIRouter(prefix="/v1/x/funds/{fund_id}/items", tags=["items"], route_class=route_class)
    router.post("", response_model=Answer, status_code=201)(post_item)
    app.include_router(router)
    app.add_middleware(RequestIdMiddleware)
    return app


GOOD = {"id": str(uuid.uuid4()), "amount_satang": 100, "collected_at": "2026-11-22T07:00:00+07:00"}
FUND = str(uuid.uuid4())

CASES: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("good", FUND, None, {}),
    ("raw response", FUND, {**GOOD, "note": "raw"}, {}),
    ("header", FUND, None, {"X-Note": "from header"}),
    ("english", FUND, {**GOOD, "amount_satang": 0}, {"Accept-Language": "en"}),
    ("amount too small", FUND, {**GOOD, "amount_satang": 0}, {}),
    ("amount not a number", FUND, {**GOOD, "amount_satang": "a lot"}, {}),
    ("missing fields", FUND, {"id": GOOD["id"]}, {}),
    ("not an object", FUND, [1, 2], {}),
    ("bad path", "not-a-uuid", None, {}),
    ("bad path and body", "not-a-uuid", {"id": "x"}, {}),
]


#: Bodies as bytes, where parsing JSON in one pass (pydantic-core) and json.loads might differ.
RAW = {
    "broken json": b'{"id": ',
    "empty body": b"",
    "no token": b"{}",
    "bad token and body": b"{",
    "repeated key": b'{"id": "%s", "amount_satang": 5, "amount_satang": 100, "collected_at": "2026-11-22T07:00:00+07:00"}'
                    % GOOD["id"].encode(),
    "escapes and spaces": b' {"id":"%s","amount_satang":100,"collected_at":"2026-11-22T07:00:00+07:00","note":"\\u0e01 \\n"} '
                          % GOOD["id"].encode(),
    "float amount": b'{"id": "%s", "amount_satang": 100.0, "collected_at": "2026-11-22T07:00:00+07:00"}' % GOOD["id"].encode(),
    "nan amount": b'{"id": "%s", "amount_satang": NaN, "collected_at": "2026-11-22T07:00:00+07:00"}' % GOOD["id"].encode(),
    "trailing garbage": b'{"id": "%s", "amount_satang": 100, "collected_at": "2026-11-22T07:00:00+07:00"} x' % GOOD["id"].encode(),
    "not utf-8": b'{"id": "%s", "amount_satang": 100, "collected_at": "2026-11-22T07:00:00+07:00", "note": "\xff"}'
                 % GOOD["id"].encode(),
}


#: Content types FastAPI reads as JSON or not (it is strict by default: no type, no JSON).
TYPES = {"no content type": None, "text/plain": "text/plain", "json with charset": "application/json; charset=utf-8",
         "problem+json": "application/problem+json", "form": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("case", [c[0] for c in CASES] + list(RAW) + list(TYPES))
async def test_lean_route_answers_as_fastapi_does(tokens: Tokens, case: str) -> None:
    headers = {**tokens.headers(Role.collector), "X-Request-ID": "same-id", "Content-Type": "application/json"}
    found = {c[0]: c for c in CASES}
    if case in found:
        _, fund, body, extra = found[case]
        content = httpx.Request("POST", "/", json=GOOD if body is None else body).content
        headers.update(extra)
    elif case in TYPES:
        fund, content = FUND, httpx.Request("POST", "/", json=GOOD).content
        if TYPES[case] is None:
            headers.pop("Content-Type")
        else:
            headers["Content-Type"] = TYPES[case]
    else:
        fund, content = FUND, RAW[case]
        if case == "no token":
            headers.pop("Authorization")
        if case == "bad token and body":
            headers["Authorization"] = "Bearer not.a.token"
    answers = []
    for route_class in (LeanRoute, APIRoute):
        app = _app(tokens, route_class)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post(f"/v1/x/funds/{fund}/items", content=content, headers=headers)
        answers.append((response.status_code, response.headers.get("content-type"), response.headers.get("x-raw"),
                        response.json()))
    assert answers[0] == answers[1]
    if case in ("good", "header"):
        assert answers[0][0] == 201 and answers[0][3]["amount_satang"] == 100


def test_lean_route_keeps_the_openapi_document(tokens: Tokens) -> None:
    lean, plain = _app(tokens, LeanRoute), _app(tokens, APIRoute)
    assert lean.openapi() == plain.openapi()
    assert "requestBody" in lean.openapi()["paths"]["/v1/x/funds/{fund_id}/items"]["post"]


class StrictDate(BaseModel):
    model_config = ConfigDict(strict=True)
    day: dt.date


class Inner(BaseModel):
    id: Annotated[uuid.UUID, Strict()]


class Outer(BaseModel):
    items: list[Inner]


async def post_batch(fund_id: uuid.UUID, batch: DepositBatchIn) -> Any:
    return Answer(fund_id=fund_id, id=batch.deposits[0].id, amount_satang=batch.deposits[0].amount_satang, by="x", note=None)


def test_lean_route_refuses_what_it_cannot_call() -> None:
    async def with_query(fund_id: uuid.UUID, limit: int = Query(10)) -> Any:
        return None

    def not_async(fund_id: uuid.UUID) -> Any:
        return None

    async def strict_model(fund_id: uuid.UUID, body: StrictDate) -> Any:
        return None

    async def strict_inside(fund_id: uuid.UUID, body: Outer) -> Any:
        return None

    for endpoint in (with_query, not_async, strict_model, strict_inside):
        router = APIRouter(route_class=LeanRoute)
        with pytest.raises(TypeError, match="LeanRoute"):
            router.post("/{fund_id}")(endpoint)


@pytest.mark.parametrize("body", [
    {"deposits": [{"id": str(uuid.uuid4()), "member_id": str(uuid.uuid4()), "amount_satang": 100,
                   "collected_at": "2026-11-22T07:00:00+07:00"}]},
    {"deposits": [{"id": str(uuid.uuid4()), "member_id": str(uuid.uuid4()), "amount_satang": "100",
                   "collected_at": "2026-11-22T07:00:00+07:00"}]},
    {"deposits": [{"id": str(uuid.uuid4()), "member_id": str(uuid.uuid4()), "amount_satang": 100.0,
                   "collected_at": "2026-11-22T07:00:00"}]},
    {"deposits": [{"id": f" {uuid.uuid4()} ", "member_id": str(uuid.uuid4()), "amount_satang": True,
                   "collected_at": 1764000000, "extra": 1}]},
    {"deposits": []},
])
async def test_the_ledgers_own_deposit_models_answer_as_fastapi_does(tokens: Tokens, body: Any) -> None:
    """The one-pass parsing against FastAPI's, on the real batch model (StrictInt, AwareDatetime, extra forbidden)."""
    answers = []
    for route_class in (LeanRoute, APIRoute):
        app = FastAPI()
        install_error_handlers(app)
        router = APIRouter(prefix="/v1/x/funds/{fund_id}/batch", route_class=route_class)
        router.post("", response_model=Answer, status_code=201)(post_batch)
        app.include_router(router)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post(f"/v1/x/funds/{FUND}/batch", json=body)
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]


def test_deposits_are_posted_on_lean_routes() -> None:
    from services.ledger.deposits.endpoints import posting_router

    lean = {(route.path, tuple(sorted(route.methods))) for route in posting_router.routes if isinstance(route, LeanRoute)}
    assert lean == {("/v1/ledger/funds/{fund_id}/deposits", ("POST",)), ("/v1/ledger/funds/{fund_id}/deposits/batch", ("POST",))}
