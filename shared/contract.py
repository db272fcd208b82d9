"""The API contract: how every process describes its routes in OpenAPI, in one place.

Front ends generate their clients from the gateway's public document (``/openapi.json``), so what
the document says is decided here, once, rather than in each route's decorator:

- **operationIds** are ``<domain>_<action>``: the domain is the path's first part after ``/v1``
  (``ledger``, ``members``, ``auth``...), the action the endpoint function's name, unless
  :data:`ACTIONS` names a better one for that method and path (``members_list``, not
  ``members_search_members``). :func:`operation_id` is each app's ``generate_unique_id_function``.
- **tags** are the domain, described in :data:`DOMAINS`.
- **errors**: every operation lists the problems it may answer (401, 403 for operations that need
  a token, 404 where the path names something, 409 for changes, 422 where it takes input), each
  ``application/problem+json`` with the one :class:`Problem` schema. The 422 is the real one
  (``errors[]``), not FastAPI's validation shape, which is left out of the document.
- **security**: a bearer access token, or one obtained with OAuth2 client credentials at the
  gateway's ``/v1/auth/token``; operations that take none say ``security: []``.
- **request examples** in Thai, by operationId (:data:`shared.contract_examples.EXAMPLES`).
- **internal routes** (``/v1/<service>/internal/...``, called by other services with a service
  token) are in a document of their own (``/openapi.internal.json``, service tokens only), never in
  the public one.

The gateway merges the services' public documents (``gateway/openapi.py``); a schema name, path or
operationId two documents define differently is an error there, so names are made unique at their
source (the pydantic models' class names), not renamed in the merge.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import PROBLEM_MEDIA_TYPE

#: Each domain (the path's first part after ``/v1``), its tag's description.
DOMAINS: dict[str, str] = {
    "auth": "Sign-in (phone and password, PIN, LINE), tokens, users, API clients and signing keys (gateway).",
    "me": "What Sajja holds about the signed-in person (gateway).",
    "audit": "The audit trail, read across every process (gateway).",
    "dashboard": "Figures, roll-ups, exports and PDF reports for committees and networks (gateway).",
    "line": "LINE notices and reminders (gateway).",
    "members": "Networks, funds, members, beneficiaries, collectors and their rounds, national IDs (members service).",
    "ledger": "The double-entry savings ledger: deposits, receipts, co-funding, handovers, proposals, plans, reports (ledger service).",
    "benefits": "Each fund's benefit catalog and rules, claims and their documents, payouts (benefits service).",
    "grants": "Grantors, grant programs, applications, tranches, disbursements, webhooks (grants service).",
}

#: Actions for routes whose function name does not say what they do well: ``"METHOD path"`` -> action.
ACTIONS: dict[str, str] = {
    "GET /v1/me/data": "data",
    "GET /v1/members/funds/{fund_id}/members": "list",
    "POST /v1/members/funds/{fund_id}/members": "register",
    "GET /v1/members/funds/{fund_id}/members/{member_id}": "get",
    "PATCH /v1/members/funds/{fund_id}/members/{member_id}": "update",
    "POST /v1/members/funds/{fund_id}/members/import": "import",
    "GET /v1/ledger/funds/{fund_id}/deposits/feed": "deposit_feed",
    "GET /v1/ledger/funds/{fund_id}/accounts": "list_accounts",
    "GET /v1/ledger/funds/{fund_id}/rules": "get_rules",
    "GET /v1/ledger/funds/{fund_id}/reports/sources": "sources_report",
    "GET /v1/ledger/funds/{fund_id}/reports/holdings": "holdings_report",
    "GET /v1/ledger/funds/{fund_id}/reports/collections": "collections_report",
    "GET /v1/ledger/funds/{fund_id}/reports/matching": "matching_report",
    "GET /v1/ledger/funds/{fund_id}/arrears": "list_arrears",
    "POST /v1/ledger/funds/{fund_id}/proposals/{proposal_id}/confirm": "confirm_proposal",
    "POST /v1/ledger/funds/{fund_id}/proposals/{proposal_id}/withdraw": "withdraw_proposal",
    "POST /v1/ledger/aggregates/refresh": "refresh_aggregates",
    "GET /v1/benefits/funds/{fund_id}/catalog": "list_catalog",
    "GET /v1/benefits/funds/{fund_id}/claims/feed": "claim_feed",
    "POST /v1/benefits/funds/{fund_id}/claims/check": "check_claim",
    "POST /v1/benefits/funds/{fund_id}/claims": "submit_claim",
    "POST /v1/benefits/funds/{fund_id}/claims/{claim_id}/review": "review_claim",
    "POST /v1/benefits/funds/{fund_id}/claims/{claim_id}/approve": "approve_claim",
    "POST /v1/benefits/funds/{fund_id}/claims/{claim_id}/reject": "reject_claim",
    "POST /v1/benefits/funds/{fund_id}/claims/{claim_id}/cancel": "cancel_claim",
    "POST /v1/benefits/funds/{fund_id}/claims/{claim_id}/release": "release_claim",
    "POST /v1/benefits/funds/{fund_id}/claims/{claim_id}/documents": "upload_document",
    "GET /v1/benefits/funds/{fund_id}/claims/{claim_id}/documents/{document_id}": "download_document",
    "GET /v1/benefits/funds/{fund_id}/reports/paid": "paid_report",
    "GET /v1/benefits/funds/{fund_id}/reports/pending": "pending_report",
    "POST /v1/grants/applications/{application_id}/submit": "submit_application",
    "POST /v1/grants/applications/{application_id}/reviews": "review_application",
    "POST /v1/grants/applications/{application_id}/decision": "decide_application",
    "POST /v1/grants/applications/{application_id}/tranches/{tranche_id}/disbursement": "disburse_tranche",
    "GET /v1/grants/reports/rollup": "rollup_report",
    "POST /v1/grants/webhooks": "subscribe_webhook",
    "GET /v1/grants/webhooks/{subscription_id}/deliveries": "list_deliveries",
}

#: The OAuth2 token URL, relative to the document's server (the gateway).
TOKEN_URL = "/v1/auth/token"

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "An access token from `POST /v1/auth/login` (or LINE, PIN, refresh), ES256-signed, ten minutes.",
    },
    "clientCredentials": {
        "type": "oauth2",
        "description": "Grant systems and other integrations: client credentials at the gateway, sent as a bearer token.",
        "flows": {"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": {}}},
    },
}
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"clientCredentials": []}]

#: A path of this form is internal: called by other services with a service token only.
INTERNAL_MARK = "/internal/"


def is_internal(path: str) -> bool:
    return INTERNAL_MARK in path or path.startswith("/v1/internal")


def domain_of(path: str) -> str:
    """``/v1/ledger/funds/...`` -> ``ledger``; a path outside ``/v1`` has its own first part."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "v1":
        parts = parts[1:]
    return parts[0].replace("-", "_") if parts else "root"


def operation_id_for(method: str, path: str, name: str) -> str:
    action = ACTIONS.get(f"{method} {path}", name)
    domain = domain_of(path)
    if action.startswith(f"{domain}_"):
        action = action[len(domain) + 1:]
    return f"{domain}_{action}"


def operation_id(route: APIRoute) -> str:
    """Every app's ``generate_unique_id_function``: ``<domain>_<action>`` (see the module's docstring)."""
    method = sorted(route.methods)[0] if route.methods else "GET"
    return operation_id_for(method, route.path_format, route.name)


# --- The one error schema ---------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One invalid field of a request."""

    model_config = ConfigDict(title="FieldError")

    field: str = Field(description="Where: ``body.deposits.0.amount_satang``, ``query.date``.", examples=["body.amount_satang"])
    code: str = Field(description="What: pydantic's or Sajja's error type.", examples=["greater_than"])
    message: str = Field(description="In the caller's language (Thai unless English is preferred).",
                         examples=["ต้องมากกว่า 0"])


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details), in Thai or English by ``Accept-Language``."""

    model_config = ConfigDict(title="Problem", extra="allow")

    type: str = Field(description="``urn:sajja:problem:<code>``.", examples=["urn:sajja:problem:auth.forbidden"])
    title: str = Field(examples=["ไม่มีสิทธิ์"])
    status: int = Field(examples=[403])
    detail: str = Field(examples=["คุณไม่มีสิทธิ์ทำรายการนี้"])
    code: str = Field(description="Stable: clients branch on it, never on the text.", examples=["auth.forbidden"])
    request_id: str | None = Field(default=None, description="Quote it when reporting a problem.")
    errors: list[FieldError] | None = Field(default=None, description="Every invalid field (422 only).")


#: The error answers, by status: (component name, description).
ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "401": ("Unauthenticated", "No valid credential: a missing, expired or revoked token, or wrong credentials."),
    "403": ("Forbidden", "The caller may not do this: its role, fund or scope does not allow it."),
    "404": ("NotFound", "Nothing of that id that the caller may see."),
    "409": ("Conflict", "The request conflicts with the current state (a duplicate, a state that does not allow it)."),
    "422": ("ValidationFailed", "The request is invalid; ``errors`` lists every invalid field."),
    "413": ("BodyTooLarge", "The body is larger than the operation takes."),
    "429": ("TooManyAttempts", "Too many failed attempts: try again after ``Retry-After`` seconds."),
}

#: Errors only some operations answer, by operationId: sign-ins slowed after failures
#: (docs/login-throttling.md), uploads with a larger body limit of their own.
EXTRA_ERRORS: dict[str, tuple[str, ...]] = {
    "auth_login": ("429",),
    "auth_token": ("429",),
    "members_import": ("413",),
    "benefits_upload_document": ("413",),
}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"Problem": schema, **defs}


def _is_public_operation(operation: dict[str, Any]) -> bool:
    return operation.get("security") == []


def _errors_of(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["401"]
    if not _is_public_operation(operation):
        statuses.append("403")
    if "{" in path:
        statuses.append("404")
    if method in ("post", "put", "patch", "delete"):
        statuses.append("409")
    if operation.get("parameters") or operation.get("requestBody") or "422" in operation.get("responses", {}):
        statuses.append("422")
    return statuses + list(EXTRA_ERRORS.get(operation.get("operationId", ""), ()))


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Make a FastAPI document Sajja's contract: tags, error answers, security, examples (in place)."""
    from shared.contract_examples import EXAMPLES

    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(_problem_schemas())
    components["responses"] = {
        name: {"description": description, "content": _problem_content()}
        for name, description in ERROR_RESPONSES.values()
    }
    components["securitySchemes"] = dict(SECURITY_SCHEMES)
    document["security"] = list(SECURITY)
    used: set[str] = set()
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            domain = domain_of(path)
            used.add(domain)
            operation["tags"] = [domain]
            responses = operation.setdefault("responses", {})
            for status in _errors_of(method, path, operation):
                name = ERROR_RESPONSES[status][0]
                responses[status] = {"$ref": f"#/components/responses/{name}"}
            example = EXAMPLES.get(operation.get("operationId", ""))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if example is not None and body is not None:
                summary, value = example
                body["examples"] = {"th": {"summary": summary, "value": value}}
    document["tags"] = [{"name": d, "description": DOMAINS.get(d, d)} for d in DOMAINS if d in used] + [
        {"name": d, "description": d} for d in sorted(used - set(DOMAINS))
    ]
    return document


def duplicate_operation_ids(document: dict[str, Any]) -> dict[str, list[str]]:
    """operationId -> the operations sharing it, for each one used more than once."""
    seen: dict[str, list[str]] = {}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                seen.setdefault(operation["operationId"], []).append(f"{method.upper()} {path}")
    return {op: where for op, where in seen.items() if len(where) > 1}


def _refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _prune_schemas(document: dict[str, Any]) -> None:
    """Drop the component schemas no operation reaches (those of the other document's routes)."""
    schemas = document.get("components", {}).get("schemas", {})
    prefix = "#/components/schemas/"
    reached: set[str] = set()
    pending = [r for r in _refs(document.get("paths", {})) if r.startswith(prefix)]
    pending += [r for r in _refs(document.get("components", {}).get("responses", {})) if r.startswith(prefix)]
    while pending:
        name = pending.pop()[len(prefix):]
        if name in reached or name not in schemas:
            continue
        reached.add(name)
        pending += [r for r in _refs(schemas[name]) if r.startswith(prefix)]
    for name in list(schemas):
        if name not in reached:
            del schemas[name]


def build_document(app: FastAPI, *, internal: bool = False, title: str | None = None,
                   description: str | None = None) -> dict[str, Any]:
    """The app's public document, or (``internal=True``) the document of its internal routes."""
    for route in app.router.routes:
        # Lean routes go into the app's list directly (shared.app.include_router), past FastAPI's
        # include_router and so past the app's generate_unique_id_function: name them here.
        if isinstance(route, APIRoute) and route.operation_id is None:
            route.unique_id = operation_id(route)
    document = get_openapi(
        title=title or (f"{app.title} (internal)" if internal else app.title),
        version=app.version,
        description=description if description is not None else app.description,
        routes=app.routes,
    )
    document["paths"] = {path: item for path, item in document.get("paths", {}).items() if is_internal(path) == internal}
    finish(document)
    _prune_schemas(document)
    duplicates = duplicate_operation_ids(document)
    if duplicates:
        raise ValueError(f"operationIds used more than once: {duplicates}")
    return document
