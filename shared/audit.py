"""The audit trail of administrative acts (docs/audit.md): one function to record an act, one to read.

``await audit(session, principal, "user.create", fund_id=..., object_type="user", object_id=..., details={...})``
adds one row to the process's own ``audit_events`` table in the session's transaction, so the row
is kept exactly when the act is (an act refused or rolled back leaves none). The request id is
read from the request context (``shared.logs.request_id_var``). The table is append-only: a
trigger refuses UPDATE, DELETE and TRUNCATE.

``details`` never carries secrets, passwords, tokens or national ID numbers: keys that name them
are refused here (``ValueError``), and a national ID number in a value is replaced by ``[redacted]``.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.db import DbSession
from shared.errors import SajjaError
from shared.logs import request_id_var
from shared.pagination import decode_cursor, encode_cursor
from shared.service_calls import ServiceMay
from shared.schemas import QueryTime

TABLE = "audit_events"

#: Keys never written into ``details`` (compared lower case, as substrings).
FORBIDDEN_KEYS = ("secret", "password", "token", "national_id", "pin", "private", "pii_key")
_THIRTEEN_DIGITS = re.compile(r"(?<!\d)\d{13}(?!\d)")
_NATIONAL_ID_DASHED = re.compile(r"(?<!\d)\d[- ]\d{4}[- ]\d{5}[- ]\d{2}[- ]\d(?!\d)")


def audit_events_table(metadata: MetaData) -> Table:
    """The ``audit_events`` table in ``metadata`` (each process's models call it with their own)."""
    return Table(
        TABLE,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor", String(64), nullable=False),
        Column("actor_role", String(32), nullable=False),
        Column("fund_id", UUID(as_uuid=True)),
        Column("action", String(64), nullable=False),
        Column("object_type", String(32)),
        Column("object_id", String(64)),
        Column("request_id", String(128)),
        Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_fund_at", "fund_id", "at"),
    )


#: The same table, for the helper's own statements (every process's table has these columns).
_events = audit_events_table(MetaData())


def _checked(value: Any, path: str = "details") -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            lowered = str(key).lower()
            if any(word in lowered for word in FORBIDDEN_KEYS):
                raise ValueError(f"audit {path}.{key}: secrets and national IDs are never audited")
            out[str(key)] = _checked(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [_checked(item, path) for item in value]
    if isinstance(value, uuid.UUID | dt.date | dt.datetime):
        return str(value)
    if isinstance(value, str):
        # Free text (a purpose, a reason) may hold a national ID: never written.
        return _THIRTEEN_DIGITS.sub("[redacted]", _NATIONAL_ID_DASHED.sub("[redacted]", value))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


async def audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    *,
    fund_id: uuid.UUID | str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record one administrative act by ``principal`` in the session's transaction."""
    request_id = request_id_var.get()
    await session.execute(
        _events.insert().values(
            at=func.clock_timestamp(),
            actor=principal.subject[:64],
            actor_role=str(principal.role.value if hasattr(principal.role, "value") else principal.role)[:32],
            fund_id=uuid.UUID(str(fund_id)) if fund_id is not None else None,
            action=action,
            object_type=object_type,
            object_id=str(object_id)[:64] if object_id is not None else None,
            request_id=None if request_id == "-" else request_id,
            details=_checked(details or {}),
        )
    )


def event_out(row: Any, process: str) -> dict[str, Any]:
    """One event as the read routes answer it."""
    return {
        "id": row.id,
        "process": process,
        "at": row.at,
        "actor": row.actor,
        "actor_role": row.actor_role,
        "fund_id": row.fund_id,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "request_id": row.request_id,
        "details": row.details,
    }


def parse_cursor(cursor: str | None) -> tuple[dt.datetime, str, int] | None:
    """The (at, process, id) of the last event seen (newest first), or None; 400 when it does not parse."""
    key = decode_cursor(cursor, 3)
    if key is None:
        return None
    try:
        at = dt.datetime.fromisoformat(key[0])
        return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)), key[1], int(key[2])
    except ValueError:
        raise SajjaError("request.cursor_invalid", status_code=400) from None


def make_cursor(event: dict[str, Any]) -> str:
    return encode_cursor(*sort_key(event))


def sort_key(event: dict[str, Any]) -> tuple[dt.datetime, str, int]:
    at = event["at"] if isinstance(event["at"], dt.datetime) else dt.datetime.fromisoformat(str(event["at"]))
    return at, event["process"], int(event["id"])


async def read_events(
    session: AsyncSession,
    process: str,
    *,
    fund_id: uuid.UUID | None = None,
    action: str | None = None,
    actor: str | None = None,
    date_from: dt.datetime | None = None,
    date_to: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """This process's events, newest first (ordered by at, process, id, as the gateway merges
    them), after ``cursor`` when given; at most ``limit``."""
    conditions = []
    if fund_id is not None:
        conditions.append(_events.c.fund_id == fund_id)
    if action:
        conditions.append(_events.c.action == action)
    if actor:
        conditions.append(_events.c.actor == actor)
    if date_from is not None:
        conditions.append(_events.c.at >= date_from)
    if date_to is not None:
        conditions.append(_events.c.at < date_to)
    after = parse_cursor(cursor)
    if after is not None:
        at, last_process, last_id = after
        if process < last_process:
            conditions.append(_events.c.at <= at)
        elif process > last_process:
            conditions.append(_events.c.at < at)
        else:
            conditions.append(or_(_events.c.at < at, and_(_events.c.at == at, _events.c.id < last_id)))
    query = select(_events).where(*conditions).order_by(_events.c.at.desc(), _events.c.id.desc()).limit(limit)
    return [event_out(row, process) for row in (await session.execute(query)).all()]


def audit_reader(process: str) -> Any:
    """The dependency admitting the gateway's service token (permission ``<process>.audit``) and no
    one else; each service's access module names it (``AuditReader``)."""
    return Annotated[Principal, Depends(ServiceMay(f"{process}.audit"))]


def internal_router(process: str, reader: Any) -> APIRouter:
    """``GET /v1/<process>/internal/audit``: this process's events, for the gateway's ``GET /v1/audit``
    only (``reader``: the access module's ``AuditReader``); filters as :func:`read_events`."""
    router = APIRouter(prefix=f"/v1/{process}/internal", tags=["internal"])

    @router.get("/audit", dependencies=list(typing.get_args(reader)[1:]))
    async def internal_audit(
        session: DbSession,
        fund_id: uuid.UUID | None = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
        actor: Annotated[str | None, Query(max_length=64)] = None,
        date_from: Annotated[QueryTime | None, Query(alias="from")] = None,
        date_to: Annotated[QueryTime | None, Query(alias="to")] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Audit events of this process, newest first (the gateway merges every process's)."""
        events = await read_events(session, process, fund_id=fund_id, action=action, actor=actor,
                                   date_from=date_from, date_to=date_to, cursor=cursor, limit=limit)
        return {"items": events}

    return router
