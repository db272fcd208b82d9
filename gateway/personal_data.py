"""A member's personal data at the gateway: erased at the members service's request, and the
download of everything Sajja holds about a member (PDPA's rights of access and portability;
docs/personal-data.md).

- ``POST /v1/internal/funds/{fund_id}/members/{member_id}/erase`` (the members service's erasure
  worker, ``auth.member_erase``): the member's user rows lose their name and phone, are
  deactivated and their tokens stop (``bump_user``); their LINE links, link codes and every LINE
  message queued or sent to them go, and so does the login throttle's row of their phone.
  Idempotent: asked again it answers what was left (nothing).
- ``GET /v1/me/data`` (the member) and ``GET /v1/dashboard/funds/{fund_id}/members/{member_id}/data.json``
  (their fund's admins, on their behalf): one JSON document, gathered from each service's internal
  export with the gateway's own token (``<service>.member_export``) and the gateway's own tables,
  never a password hash, token or whole national ID. Each download is audited (``member.data_export``).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from sqlalchemy import delete, select

from gateway.access import DataSubject, MemberDataReader, MemberEraser
from gateway.auth.accounts import bump_user
from gateway.models import LineLink, LineLinkCode, LineOutbox, LoginThrottle, User
from gateway.proxy import TRANSPORT_ERRORS, bad_gateway, upstream_failure
from shared.audit import audit
from shared.auth import Principal
from shared.db import DbSession, rowcount
from shared.errors import NotFound, register_messages
from shared.timeutil import utcnow

register_messages(
    {
        "personal_data.member_not_found": {
            "th": ("ไม่พบสมาชิก", "ไม่พบสมาชิกนี้ในกองทุน หรือคุณไม่มีสิทธิ์เห็น"),
            "en": ("Member not found", "No such member in this fund, or you may not see them"),
        },
    }
)

router = APIRouter(tags=["personal data"])
internal = APIRouter(prefix="/v1/internal", tags=["internal"], include_in_schema=False)

#: The services whose data about a member goes into the download. The grants service holds nothing
#: keyed to a member (docs/personal-data.md).
EXPORTING_SERVICES = ("members", "ledger", "benefits")
ERASED_NAME = "-"


def erased_phone(user: User) -> str:
    """A phone no one has: users.phone is unique and required."""
    return f"erased-{user.id.hex[:12]}"


@internal.post("/funds/{fund_id}/members/{member_id}/erase")
async def erase_member(fund_id: uuid.UUID, member_id: uuid.UUID, session: DbSession, principal: MemberEraser) -> dict[str, Any]:
    """Erase what the gateway holds about the member; answers the counts erased, by kind."""
    users = (await session.scalars(select(User).where(User.fund_id == fund_id, User.member_id == member_id)
                                   .with_for_update())).all()
    erased_users = throttled = 0
    for user in users:
        if user.phone == erased_phone(user):
            continue
        throttled += rowcount(await session.execute(
            delete(LoginThrottle).where(LoginThrottle.kind == "phone", LoginThrottle.key == user.phone)))
        user.phone, user.display_name, user.password_hash = erased_phone(user), ERASED_NAME, "!erased"
        user.is_active, user.pin_ticket_hash, user.pin_ticket_expires_at = False, None, None
        await bump_user(session, user, "erased")
        erased_users += 1
    line_users = (await session.scalars(select(LineLink.line_user_id).where(
        LineLink.fund_id == fund_id, LineLink.member_id == member_id))).all()
    messages = rowcount(await session.execute(delete(LineOutbox).where(LineOutbox.line_user_id.in_(line_users))))
    links = rowcount(await session.execute(delete(LineLink).where(LineLink.line_user_id.in_(line_users))))
    codes = rowcount(await session.execute(delete(LineLinkCode).where(
        LineLinkCode.fund_id == fund_id, LineLinkCode.member_id == member_id)))
    erased = {"users": erased_users, "line_links": links, "line_link_codes": codes, "line_messages": messages,
              "login_throttle": throttled}
    if any(erased.values()):
        await audit(session, principal, "member.erase", fund_id=fund_id, object_type="member", object_id=member_id,
                    details={"erased": erased})
    return {"erased": erased}


async def _service_export(request: Request, service: str, fund_id: uuid.UUID, member_id: uuid.UUID) -> Any:
    token = request.app.state.issuer.gateway_token()
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": getattr(request.state, "request_id", "")}
    path = f"/v1/{service}/internal/funds/{fund_id}/members/{member_id}/export"
    try:
        answer = await request.app.state.forwarder.call(service, "GET", path, headers=headers)
    except TRANSPORT_ERRORS as exc:
        raise upstream_failure(exc, service) from None
    if answer.status == 404 and service == "members":
        raise NotFound("personal_data.member_not_found")
    if answer.status != 200:
        raise bad_gateway(service)
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        raise bad_gateway(service) from None


async def _own_data(session: Any, fund_id: uuid.UUID, member_id: uuid.UUID) -> dict[str, Any]:
    """The gateway's rows about the member: never a password hash, a token or a ticket."""
    users = (await session.scalars(select(User).where(User.fund_id == fund_id, User.member_id == member_id)
                                   .order_by(User.created_at))).all()
    links = (await session.scalars(select(LineLink).where(LineLink.fund_id == fund_id, LineLink.member_id == member_id)
                                   .order_by(LineLink.linked_at))).all()
    messages = (await session.scalars(select(LineOutbox).where(
        LineOutbox.line_user_id.in_([link.line_user_id for link in links])).order_by(LineOutbox.created_at))).all()
    return {
        "users": [{"id": u.id, "phone": u.phone, "display_name": u.display_name, "role": u.role, "is_active": u.is_active,
                   "created_at": u.created_at} for u in users],
        "line_links": [{"line_user_id": link.line_user_id, "linked_at": link.linked_at,
                        "notify_receipts": link.notify_receipts, "notify_claims": link.notify_claims,
                        "notify_arrears": link.notify_arrears} for link in links],
        "line_messages": [{"kind": m.kind, "status": m.status, "created_at": m.created_at, "sent_at": m.sent_at,
                           "messages": m.messages} for m in messages],
    }


async def export(request: Request, session: Any, principal: Principal, fund_id: uuid.UUID, member_id: uuid.UUID) -> Response:
    # The members service first: it says whether the member is the fund's (404 otherwise).
    members = await _service_export(request, "members", fund_id, member_id)
    ledger, benefits = await asyncio.gather(*(_service_export(request, s, fund_id, member_id) for s in ("ledger", "benefits")))
    document = {
        "format": "sajja.personal-data.v1",
        "generated_at": utcnow(),
        "fund_id": fund_id,
        "member_id": member_id,
        "members": members,
        "ledger": ledger,
        "benefits": benefits,
        "gateway": await _own_data(session, fund_id, member_id),
    }
    await audit(session, principal, "member.data_export", fund_id=fund_id, object_type="member", object_id=member_id,
                details={"for": "self" if principal.member_id == member_id else "member"})
    body = orjson.dumps(jsonable_encoder(document))
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="sajja-member-{member_id}.json"', "Cache-Control": "private, no-store"})


@router.get("/v1/me/data", response_class=Response)
async def my_data(request: Request, session: DbSession, principal: DataSubject) -> Response:
    """Everything Sajja holds about the signed-in member, as one JSON document (PDPA)."""
    assert principal.fund_id is not None and principal.member_id is not None  # DataSubject's promise
    return await export(request, session, principal, principal.fund_id, principal.member_id)


@router.get("/v1/dashboard/funds/{fund_id}/members/{member_id}/data.json", response_class=Response)
async def member_data(fund_id: uuid.UUID, member_id: uuid.UUID, request: Request, session: DbSession,
                      principal: MemberDataReader) -> Response:
    """Everything Sajja holds about one member of the fund, as one JSON document, for the fund's
    admins acting on the member's request (PDPA)."""
    return await export(request, session, principal, fund_id, member_id)
