"""``GET /v1/members/pii-keys``: the national ID key ring and how far re-encryption has come, for
platform admins (docs/national-id-keys.md). No key is ever shown, only ids and row counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.members.access import PlatformAdmin
from services.members.pii_keys import service
from shared.db import DbSession

router = APIRouter(prefix="/v1/members/pii-keys", tags=["pii-keys"])


class KeyRowsOut(BaseModel):
    key_id: int
    rows: int = Field(description="National IDs encrypted under this key")
    in_ring: bool = Field(description="The service's key ring holds this key (false: its rows cannot be read)")
    current: bool = Field(description="New national IDs are encrypted under this key")
    needed: bool = Field(description="Current, or rows use it: keep it in the ring")


class ReencryptionOut(BaseModel):
    to_key_id: int
    started_at: dt.datetime
    started_by: str
    finished_at: dt.datetime | None


class KeyRingOut(BaseModel):
    current_key_id: int
    keys: list[KeyRowsOut]
    latest_reencryption: ReencryptionOut | None


@router.get("", response_model=KeyRingOut)
async def key_ring(request: Request, session: DbSession, principal: PlatformAdmin) -> Any:
    """Each key id of the ring and of the stored national IDs, its rows, and whether it is still
    needed; the latest re-encryption and whether it has finished."""
    return await service.status(session, request.app.state.pii)
