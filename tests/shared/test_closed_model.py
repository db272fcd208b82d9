"""One base for closed request bodies: ``shared.schemas.ClosedModel``.

A body with a field the API does not know is the same 422 problem+json in every process, and no
module makes its own ``extra="forbid"`` base again (a scan of the source, with a table of what it
must and must not catch). No database: these run in milliseconds.
"""

# No ``from __future__ import annotations``: the endpoint below is annotated with a local variable.

import ast
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from gateway.auth.schemas import RefreshRequest
from gateway.line.endpoints import UnlinkIn
from services.benefits.rules import Rules, Tier
from services.benefits.schemas import ReasonIn
from services.grants.schemas import SubscriptionIn
from services.ledger.schemas import ReversalIn
from services.members.schemas import StatusChange
from shared.errors import install_error_handlers
from shared.schemas import ClosedModel

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("gateway", "services", "shared", "tools")
THE_BASE = Path("shared/schemas.py")

#: One closed body of each module that had its own base, each with a valid body.
BODIES = [
    pytest.param(RefreshRequest, {"refresh_token": "r" * 16}, id="gateway.auth"),
    pytest.param(UnlinkIn, {"fund_id": str(uuid.uuid4()), "member_id": str(uuid.uuid4())}, id="gateway.line"),
    pytest.param(StatusChange, {"status": "resigned", "effective_on": "2026-01-31"}, id="members"),
    pytest.param(ReversalIn, {"id": str(uuid.uuid4()), "reason": "ผิดคน"}, id="ledger"),
    pytest.param(ReasonIn, {"reason": "เอกสารไม่ครบ"}, id="benefits"),
    pytest.param(Tier, {"min_years": 3, "amount_satang": 500_000}, id="benefits.rules"),
    pytest.param(SubscriptionIn, {"url": "https://example.org/hook", "events": ["tranche.held"]}, id="grants"),
]


@pytest.mark.parametrize(("model", "body"), BODIES)
async def test_an_unknown_field_is_the_same_422_everywhere(model: type[BaseModel], body: dict) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/x")
    async def take(item: model) -> dict:  # type: ignore[valid-type]
        return {}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.post("/x", json=body)).status_code == 200
        response = await client.post("/x", json={**body, "nickname": "แดง"})
    assert issubclass(model, ClosedModel)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:sajja:problem:request.validation_failed",
        "title": "ข้อมูลไม่ถูกต้อง",
        "status": 422,
        "detail": "ข้อมูลที่ส่งมามี 1 ช่องที่ไม่ถูกต้อง",
        "code": "request.validation_failed",
        "errors": [{"field": "body.nickname", "code": "extra_forbidden", "message": "ไม่รู้จักช่องนี้"}],
    }


def test_the_base_refuses_unknown_fields_and_trims_strings_and_is_not_pydantic_strict() -> None:
    assert ReasonIn.model_validate({"reason": "  ผิดคน  "}).reason == "ผิดคน"
    assert Tier.model_validate({"min_years": "3", "amount_satang": 1}).min_years == 3  # types still coerce
    assert Rules.model_json_schema()["additionalProperties"] is False
    assert RefreshRequest.model_json_schema()["additionalProperties"] is False


def own_closed_bases(source: str) -> list[int]:
    """Lines of ``source`` that make a model closed by themselves: ``extra="forbid"`` as a keyword
    (``ConfigDict(extra="forbid")``, a class keyword), a dict entry, or an assignment (pydantic 1's
    ``class Config``); ``Extra.forbid`` too."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "extra" and _forbid(node.value):
            found.append(node.value.lineno)
        elif isinstance(node, ast.Dict):
            found += [v.lineno for k, v in zip(node.keys, node.values)
                      if isinstance(k, ast.Constant) and k.value == "extra" and _forbid(v)]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None and _forbid(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [node.lineno for t in targets if isinstance(t, ast.Name) and t.id == "extra"]
    return sorted(found)


def _forbid(value: ast.expr) -> bool:
    return (isinstance(value, ast.Constant) and value.value == "forbid") or (
        isinstance(value, ast.Attribute) and value.attr == "forbid")


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ('class Strict(BaseModel):\n    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)\n', [2]),
        ("class A(BaseModel, extra='forbid'):\n    x: int\n", [1]),
        ('class A(BaseModel):\n    model_config = {"extra": "forbid"}\n', [2]),
        ('class A(BaseModel):\n    class Config:\n        extra = "forbid"\n', [3]),
        ("class A(BaseModel):\n    class Config:\n        extra = Extra.forbid\n", [3]),
        ("class A(ClosedModel):\n    x: int\n", []),
        ('model_config = SettingsConfigDict(extra="ignore")\n', []),
        ('"""Requests forbid unknown fields (extra="forbid")."""\n', []),
        ('raise SajjaError("auth.forbidden")\n', []),
    ],
)
def test_the_scan_finds_a_closed_base_however_it_is_written(source: str, caught: list[int]) -> None:
    assert own_closed_bases(source) == caught


def test_no_module_makes_its_own_closed_base() -> None:
    found = []
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel != THE_BASE:
                found += [f"{rel}:{line}" for line in own_closed_bases(path.read_text(encoding="utf-8"))]
    assert found == [], "closed request bodies derive from shared.schemas.ClosedModel"
    assert own_closed_bases((ROOT / THE_BASE).read_text(encoding="utf-8")) != []
