"""``/v1/grants/programs``: grant programs, readable by every signed-in caller."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select, tuple_

from services.grants.models import Program
from services.grants.programs.schemas import ProgramCreate, ProgramOut, ProgramPage
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import DbSession
from shared.errors import SajjaError
from shared.pagination import Cursor, Limit, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/grants/programs", tags=["grants"])

GrantOfficer = Annotated[Principal, Depends(require_roles(Role.grant_officer))]


@router.post("", response_model=ProgramOut, status_code=201)
async def create_program(body: ProgramCreate, session: DbSession, principal: GrantOfficer) -> Any:
    """Open a program with its budget envelope (grant officers)."""
    program = Program(id=uuid.uuid4(), **body.model_dump(), created_by=principal.subject)
    session.add(program)
    await session.flush()
    return ProgramOut.model_validate(program)


@router.get("", response_model=ProgramPage)
async def list_programs(
    session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> Any:
    """Programs, newest fiscal year first."""
    query = select(Program).order_by(Program.fiscal_year_be.desc(), Program.id).limit(limit + 1)
    key = decode_cursor(cursor, 2)
    if key is not None:
        try:
            year, last_id = int(key[0]), uuid.UUID(key[1])
        except ValueError:
            raise SajjaError("request.cursor_invalid", status_code=400) from None
        query = query.where(tuple_(-Program.fiscal_year_be, Program.id) > (-year, last_id))
    rows = list((await session.scalars(query)).all())
    next_cursor = encode_cursor(rows[limit - 1].fiscal_year_be, rows[limit - 1].id) if len(rows) > limit else None
    return ProgramPage(items=[ProgramOut.model_validate(p) for p in rows[:limit]], next_cursor=next_cursor)
