"""The public API document's rules (``shared/contract.py``, docs/api-contract.md), checked on the
document as the gateway serves it (``tools.contract.public_document``): valid OpenAPI
(openapi-spec-validator), clean under the committed Spectral ruleset (``contract/.spectral.yaml``),
readable unique operationIds, every error answer a problem+json ``Problem``, bearer and
client-credentials security, no internal route (those are in each service's
``/openapi.internal.json``, for service tokens only), and Thai examples each route accepts.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from openapi_spec_validator import validate
from pydantic import TypeAdapter

from gateway.auth.schemas import ClientCredentialsRequest
from shared.auth import Role, TokenVerifier
from shared.contract import DOMAINS, ERROR_RESPONSES, EXTRA_ERRORS, build_document, is_internal, operation_id_for
from shared.contract_examples import EXAMPLES
from tests.support.helpers import AUDIENCE, ISSUER, Tokens
from tools import contract

METHODS = ("get", "put", "post", "patch", "delete")
CONTRACT_DIR = contract.ROOT / "contract"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return contract.public_document()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items() if method in METHODS]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_operation_ids_are_domain_and_action_unique_and_short(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for (method, path, op), op_id in zip(operations(document), ids):
        domain, _, action = op_id.partition("_")
        assert domain in DOMAINS and action and op["tags"] == [domain], (method, path, op_id, op["tags"])
    assert statistics.median(len(i) for i in ids) <= 24
    assert {"ledger_post_deposit", "ledger_post_deposit_batch", "members_list", "members_my_round",
            "ledger_collections_report", "auth_login"} <= set(ids)


def test_every_operation_documents_its_problems(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    for name, _ in ERROR_RESPONSES.values():
        assert responses[name]["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for method, path, op in operations(document):
        answers = op["responses"]
        expected = {"401"} | ({"403"} if op.get("security") != [] else set()) | ({"404"} if "{" in path else set())
        expected |= {"409"} if method != "get" else set()
        expected |= {"422"} if op.get("parameters") or op.get("requestBody") else set()
        expected |= set(EXTRA_ERRORS.get(op["operationId"], ()))
        assert expected <= set(answers), (method, path, sorted(answers))
        for status, answer in answers.items():
            if status.startswith(("4", "5")):
                assert answer == {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}, (method, path, status)
    text = json.dumps(document)
    assert "HTTPValidationError" not in text and '"ValidationError"' not in text


def test_the_problem_schema_is_what_the_processes_send(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert problem["properties"]["errors"]["anyOf"][0]["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert set(document["components"]["schemas"]["FieldError"]["required"]) == {"field", "code", "message"}


def test_security_schemes_bearer_and_client_credentials(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["clientCredentials"]["flows"]["clientCredentials"]["tokenUrl"] == "/v1/auth/token"
    assert document["security"] == [{"bearerAuth": []}, {"clientCredentials": []}]
    login = document["paths"]["/v1/auth/login"]["post"]
    assert login["security"] == [] and "403" not in login["responses"]


def test_no_internal_route_is_published(document: dict[str, Any]) -> None:
    assert not [path for path in document["paths"] if is_internal(path)]
    for app in contract.service_apps().values():
        internal = app.openapi()
        inner = build_document(app, internal=True)
        assert inner["paths"] and all(is_internal(path) for path in inner["paths"])
        assert not set(inner["paths"]) & set(internal["paths"])


def _body_routes() -> dict[str, APIRoute]:
    found: dict[str, APIRoute] = {}
    apps = [contract.gateway_app(), *contract.service_apps().values()]
    for app in apps:
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, APIRoute) and route.body_field is not None:
                method = sorted(context.methods)[0]
                found[route.operation_id or operation_id_for(method, context.path, route.name)] = route
    return found


#: Routes that read their body themselves (a form or JSON), and the model they read it with.
OWN_BODIES = {"auth_token": ClientCredentialsRequest}


def test_every_example_is_thai_and_accepted_by_its_route(document: dict[str, Any]) -> None:
    routes = _body_routes()
    ids = {op["operationId"]: op for _, _, op in operations(document)}
    for op_id, (summary, value) in EXAMPLES.items():
        assert op_id in ids, op_id
        assert any("\u0e00" <= ch <= "\u0e7f" for ch in summary), summary
        shown = ids[op_id]["requestBody"]["content"]["application/json"]["examples"]["th"]
        assert shown == {"summary": summary, "value": value}
        model = OWN_BODIES[op_id] if op_id in OWN_BODIES else routes[op_id].body_field.field_info.annotation
        TypeAdapter(model).validate_python(value)
    assert {"auth_login", "ledger_post_deposit_batch", "members_register", "benefits_submit_claim"} <= set(EXAMPLES)


def test_the_document_passes_the_spectral_ruleset(document: dict[str, Any], tmp_path: Path) -> None:
    spectral = CONTRACT_DIR / "node_modules" / ".bin" / "spectral"
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed for the contract checks (docs/api-contract.md)")
    assert spectral.exists(), "contract/node_modules is missing: `make test` installs it (npm ci --prefix contract)"
    target = tmp_path / "openapi.json"
    target.write_text(contract.dumps(document), encoding="utf-8")
    done = subprocess.run([str(spectral), "lint", "--ruleset", str(CONTRACT_DIR / ".spectral.yaml"), "--fail-severity", "warn",
                           str(target)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_the_internal_document_is_for_services_only(tokens: Tokens) -> None:
    """``/openapi.internal.json`` (each service): a service token reads it, anyone else is refused."""
    app = contract.service_apps()["members"]
    app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=tokens.jwks)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://members") as client:
        assert (await client.get("/openapi.internal.json")).status_code == 401
        refused = await client.get("/openapi.internal.json", headers=tokens.headers(Role.platform_admin))
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
        answer = await client.get("/openapi.internal.json", headers=tokens.service("ledger"))
        assert answer.status_code == 200
        paths = answer.json()["paths"]
        assert "/v1/members/internal/funds/{fund_id}/members/facts" in paths and all(is_internal(p) for p in paths)
        public = (await client.get("/openapi.json")).json()["paths"]
        assert public and not [p for p in public if is_internal(p)]
