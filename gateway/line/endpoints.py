"""``/v1/auth/line...`` (sign in with LINE, link and unlink) and ``/v1/line/webhook`` (Messaging API)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from gateway.access import FundCommittee, Member, SignedIn
from gateway.line import service
from gateway.line.client import check_signature
from gateway.models import LineLink
from gateway.proxy import bad_gateway
from shared.db import DbSession
from shared.errors import Forbidden, SajjaError
from shared.schemas import ClosedModel

router = APIRouter(tags=["line"])


class LineLogin(ClosedModel):
    id_token: str = Field(min_length=10, max_length=4096)
    nonce: str | None = Field(default=None, max_length=256)


class LineLinkIn(LineLogin):
    code: str = Field(min_length=6, max_length=16)


class LinkCodeIn(ClosedModel):
    fund_id: uuid.UUID
    member_id: uuid.UUID


class LinkCodeOut(BaseModel):
    code: str
    expires_at: Any
    qr_svg: str = Field(description="The code as a QR image (SVG) to show on the committee's screen")


class UnlinkIn(ClosedModel):
    fund_id: uuid.UUID
    member_id: uuid.UUID


class Preferences(ClosedModel):
    receipts: bool = True
    claims: bool = True
    arrears: bool = False


def _line(request: Request) -> Any:
    return request.app.state.line


async def _pair(request: Request, session: Any, user: Any) -> dict[str, Any]:
    return await request.app.state.issuer.pair(session, user)


@router.post("/v1/auth/line", openapi_extra={"security": []})
async def login_with_line(body: LineLogin, request: Request, session: DbSession) -> Any:
    """Exchange a LINE ID token (LINE Login or LIFF) for Sajja tokens, for a linked member."""
    claims = await _line(request).verify_id_token(body.id_token, body.nonce)
    _, user = await service.linked_user(session, claims["sub"])
    return await _pair(request, session, user)


@router.post("/v1/auth/line/link", openapi_extra={"security": []})
async def link_with_code(body: LineLinkIn, request: Request, session: DbSession) -> Any:
    """Link the LINE account in the ID token to the membership of a one-time code; returns tokens."""
    claims = await _line(request).verify_id_token(body.id_token, body.nonce)
    linked = await service.link(session, claims["sub"], body.code)
    _, user = await service.linked_user(session, linked.line_user_id)
    return await _pair(request, session, user)


@router.post("/v1/auth/line/link-codes", response_model=LinkCodeOut, status_code=201)
async def issue_link_code(body: LinkCodeIn, request: Request, session: DbSession, principal: SignedIn) -> Any:
    """The committee gives a member a one-time code (and QR) to link their LINE account."""
    # Who may (the fund's committee and fund admins, platform admins) depends on the fund the body
    # names, so it is checked here; before the member is looked up, so that nobody else can tell
    # from the answer (403, or 422 user.member_unknown) whether a member exists in a fund.
    service.ensure_code_issuer(principal, body.fund_id)
    if not await request.app.state.members_facts.member_exists(body.fund_id, body.member_id):
        raise SajjaError("user.member_unknown", status_code=422)
    settings = request.app.state.settings
    code, expires_at = await service.issue_code(session, principal, body.fund_id, body.member_id, settings.line_link_code_ttl_seconds)
    return LinkCodeOut(code=code, expires_at=expires_at, qr_svg=service.qr_svg(code))


@router.post("/v1/auth/line/unlink", status_code=204)
async def unlink(body: UnlinkIn, session: DbSession, principal: SignedIn) -> Response:
    """Unlink a member's LINE account (the member themself, or their fund's committee)."""
    # The body names the member and the fund, so ``service.unlink`` decides who may.
    await service.unlink(session, principal, body.member_id, body.fund_id)
    return Response(status_code=204)


@router.put("/v1/auth/line/preferences", response_model=Preferences)
async def preferences(body: Preferences, session: DbSession, principal: Member) -> Any:
    """What the member wants pushed to LINE: receipts, claim news, arrears reminders."""
    link = await session.scalar(select(LineLink).where(LineLink.member_id == principal.member_id))
    if link is None:
        raise SajjaError("line.not_linked", status_code=404)
    link.notify_receipts, link.notify_claims, link.notify_arrears = body.receipts, body.claims, body.arrears
    return body


@router.post("/v1/line/webhook", include_in_schema=False)
async def webhook(request: Request, session: DbSession) -> Response:
    """The Messaging API webhook: signature checked on the raw body, each event handled once."""
    line = _line(request)
    if not line.messaging_configured:
        raise SajjaError("line.not_configured", status_code=503)
    raw = await request.body()
    check_signature(request.app.state.settings.line_messaging_channel_secret, raw, request.headers.get("x-line-signature"))
    try:
        events = orjson.loads(raw).get("events", [])
    except orjson.JSONDecodeError:
        raise SajjaError("request.validation_failed", status_code=400, params={"count": 1}) from None
    for event in events:
        event_id = event.get("webhookEventId")
        if not event_id or not await service.first_time(session, str(event_id)):
            continue
        await service.handle_event(session, request.app.state.member_view, event)
    return Response(status_code=200)


class ReminderIn(ClosedModel):
    fund_id: uuid.UUID


class ReminderOut(BaseModel):
    queued: int


@router.post("/v1/line/reminders/arrears", response_model=ReminderOut)
async def remind_arrears(body: ReminderIn, request: Request, session: DbSession, principal: FundCommittee) -> Any:
    """The committee sends arrears reminders by LINE to members who asked for them. The arrears come
    from the ledger, read with the committee member's own token."""
    # The body names the fund: their own only.
    if principal.fund_id != body.fund_id:
        raise Forbidden("auth.out_of_scope")
    urls = request.app.state.forwarder.service_urls
    response = await request.app.state.internal_http.get(
        f"{urls['ledger']}/v1/ledger/funds/{body.fund_id}/arrears", headers={"Authorization": request.headers["authorization"]})
    if response.status_code != 200:
        raise bad_gateway("ledger")
    arrears = response.json()
    links = {row.member_id: row for row in (await session.scalars(
        select(LineLink).where(LineLink.fund_id == body.fund_id, LineLink.notify_arrears))).all()}
    queued = 0
    for item in arrears["items"]:
        link = links.get(uuid.UUID(item["member_id"]))
        if link is None:
            continue
        text = (f"แจ้งเตือนจากกองทุน: ค้างส่งเงินสัจจะ {item['periods_in_arrears']} งวด "
                f"รวม {service.baht(item['arrears_satang'])} บาท (ส่งถึงวันที่ {item['paid_through'] or '-'})")
        await service.queue_push(session, link.line_user_id, text, f"arrears:{link.member_id}:{arrears['as_of']}")
        queued += 1
    return ReminderOut(queued=queued)
