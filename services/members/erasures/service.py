"""A member's erasure (PDPA): recorded with the members service's own part, carried to the other
processes by the worker, readable by the fund's admins (docs/personal-data.md)."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.models import Erasure, Member, MemberStatusChange
from shared.auth import Principal
from shared.db import rowcount
from shared.timeutil import utcnow

#: The processes the worker carries an erasure to, besides the members service itself. The grants
#: service holds nothing keyed to a member (docs/personal-data.md), so it has no step.
REMOTE_STEPS: tuple[str, ...] = ("gateway", "ledger", "benefits")


def new_steps(members_erased: dict[str, int]) -> dict[str, Any]:
    now = utcnow().isoformat()
    steps: dict[str, Any] = {"members": {"status": "done", "attempts": 1, "last_error": None, "done_at": now,
                                         "erased": members_erased}}
    for name in REMOTE_STEPS:
        steps[name] = {"status": "pending", "attempts": 0, "last_error": None, "done_at": None, "erased": None}
    return steps


async def of_member(session: AsyncSession, member: Member) -> Erasure | None:
    return await session.scalar(select(Erasure).where(Erasure.member_id == member.id))


async def record(session: AsyncSession, member: Member, principal: Principal, members_erased: dict[str, int]) -> Erasure:
    """The erasure of ``member``, its members step done (in this transaction) and the others due now."""
    erasure = Erasure(fund_id=member.fund_id, member_id=member.id, requested_by=principal.subject[:64],
                      requested_role=str(principal.role.value)[:32], steps=new_steps(members_erased),
                      next_attempt_at=utcnow())
    session.add(erasure)
    await session.flush()
    return erasure


async def clear_status_reasons(session: AsyncSession, member: Member) -> int:
    """Reasons written with the member's earlier statuses are free text (a resignation's reason may
    name them or their family): cleared. The statuses and dates stay."""
    result = await session.execute(
        update(MemberStatusChange)
        .where(MemberStatusChange.member_id == member.id, MemberStatusChange.reason.is_not(None))
        .values(reason=None)
    )
    return rowcount(result)


def mark_step(erasure: Erasure, name: str, **changes: Any) -> None:
    """Change one step (a new dict, so the JSONB column is written)."""
    steps = copy.deepcopy(erasure.steps)
    steps[name].update(changes)
    erasure.steps = steps


def pending_steps(erasure: Erasure) -> list[str]:
    return [name for name, step in erasure.steps.items() if step["status"] != "done"]


def to_out(erasure: Erasure) -> dict[str, Any]:
    return {
        "id": erasure.id,
        "fund_id": erasure.fund_id,
        "member_id": erasure.member_id,
        "requested_by": erasure.requested_by,
        "requested_role": erasure.requested_role,
        "requested_at": erasure.requested_at,
        "completed": erasure.completed_at is not None,
        "completed_at": erasure.completed_at,
        "next_attempt_at": erasure.next_attempt_at,
        "steps": erasure.steps,
    }
