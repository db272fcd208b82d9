"""``GET /v1/audit``: the one place to read the audit trail (docs/audit.md).

Gathers the gateway's own events and each service's (``GET /v1/<service>/internal/audit``, asked
with the gateway's own service token, permission ``<service>.audit``), merged newest first.
Platform admins read every fund's and the platform's; a fund admin reads their own fund's only
(another fund is 403 ``audit.other_fund``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request

from gateway.access import AuditReader
from gateway.proxy import TRANSPORT_ERRORS, bad_gateway, upstream_failure
from shared.audit import make_cursor, parse_cursor, read_events, sort_key
from shared.auth import Role
from shared.db import DbSession
from shared.errors import Forbidden, register_messages
from shared.schemas import QueryTime

register_messages(
    {
        "audit.other_fund": {
            "th": ("ไม่มีสิทธิ์อ่านบันทึกของกองทุนอื่น", "ผู้ดูแลกองทุนอ่านได้เฉพาะบันทึกของกองทุนตนเอง"),
            "en": ("Not your fund's audit trail", "A fund admin reads their own fund's audit trail only"),
        },
    }
)

router = APIRouter(prefix="/v1/audit", tags=["audit"])

#: The services whose events the gateway gathers, besides its own.
SERVICES = ("members", "ledger", "benefits", "grants")


async def _service_events(request: Request, service: str, params: dict[str, str]) -> list[dict[str, Any]]:
    token = request.app.state.issuer.gateway_token()
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": getattr(request.state, "request_id", "")}
    try:
        answer = await request.app.state.forwarder.call(
            service, "GET", f"/v1/{service}/internal/audit", params=params, headers=headers)
    except TRANSPORT_ERRORS as exc:
        raise upstream_failure(exc, service) from None
    if answer.status != 200:
        raise bad_gateway(service)
    try:
        return list(orjson.loads(answer.body)["items"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise bad_gateway(service) from None


@router.get("")
async def read_audit(
    request: Request,
    session: DbSession,
    principal: AuditReader,
    fund_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    date_from: Annotated[QueryTime | None, Query(alias="from")] = None,
    date_to: Annotated[QueryTime | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Administrative acts, newest first: who, when, what, the request id. Platform admins: all of
    it (``fund_id`` narrows); a fund admin: their fund's only."""
    if principal.role is not Role.platform_admin:
        if fund_id is not None and fund_id != principal.fund_id:
            raise Forbidden("audit.other_fund")
        if principal.fund_id is None:
            raise Forbidden("audit.other_fund")
        fund_id = principal.fund_id
    parse_cursor(cursor)  # 400 before anything is asked
    filters = {"fund_id": fund_id, "action": action, "actor": actor, "from": date_from, "to": date_to,
               "cursor": cursor, "limit": limit}
    params = {k: (v.isoformat() if isinstance(v, dt.datetime) else str(v)) for k, v in filters.items() if v is not None}
    own = await read_events(session, "gateway", fund_id=fund_id, action=action, actor=actor,
                            date_from=date_from, date_to=date_to, cursor=cursor, limit=limit)
    theirs = await asyncio.gather(*(_service_events(request, s, params) for s in SERVICES))
    merged = heapq.nlargest(limit + 1, [*own, *(e for events in theirs for e in events)], key=sort_key)
    page = merged[:limit]
    return {"items": page, "next_cursor": make_cursor(page[-1]) if len(merged) > limit else None}
