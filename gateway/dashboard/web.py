"""``/dashboard``: server-rendered pages for committees and network staff, readable on a phone.

Login: the form posts phone and password here; the gateway checks them as ``/v1/auth/login`` does
(same rate limits, failures recorded) and keeps the access and refresh tokens in cookies that are
HttpOnly, SameSite=Strict, Secure over HTTPS, and sent only to ``/dashboard``. An expired access
token is renewed with the refresh token. SameSite=Strict is the CSRF defence: no other site can
make a browser send these cookies, and the only forms that change anything are login and logout
(pages only read). Since a Strict cookie is not sent on a navigation that another site started,
a successful login answers with a page that moves on by itself (a same-site navigation), rather
than a redirect.

Charts are inline SVG drawn on the server: the pages load nothing from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth import service as auth
from gateway.auth.schemas import LoginRequest
from gateway.dashboard import api, charts, exports, figures, thai
from gateway.dashboard.upstream import Upstream, UpstreamProblem, gather_all, problem_text
from gateway.models import User
from shared import projection_view
from shared.auth import Principal, Role
from shared.db import DbSession
from shared.errors import SajjaError, Unauthenticated, render_message
from shared.timeutil import bangkok_today
from shared.schemas import QueryDate

router = APIRouter(prefix="/dashboard", include_in_schema=False)

ACCESS_COOKIE = "sajja_access"
REFRESH_COOKIE = "sajja_refresh"
COOKIE_PATH = "/dashboard"
_SAFE_NEXT = re.compile(r"^/dashboard(/[A-Za-z0-9._~%/-]*)?(\?[A-Za-z0-9._~%=&+-]*)?$")

DateFrom = Annotated[QueryDate | None, Query(alias="from")]
DateTo = Annotated[QueryDate | None, Query(alias="to")]
Fmt = Literal["csv", "xlsx"]

#: Characters an HTML page may not show (C0 but tab and line breaks, DEL, C1, lone surrogates): data
#: stored before input refused them (docs/input-hygiene.md) is shown with U+FFFD in their place.
_NOT_IN_HTML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def shown(value: Any) -> Any:
    """Every value a template writes, as a page may show it (``finalize``; markup stays markup)."""
    if isinstance(value, str) and _NOT_IN_HTML.search(value):
        cleaned = _NOT_IN_HTML.sub("\ufffd", value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


templates = Environment(loader=PackageLoader("gateway.dashboard", "templates"), autoescape=select_autoescape(["html"]),
                        trim_blocks=True, lstrip_blocks=True, finalize=shown)
templates.filters.update(baht=thai.baht, number=thai.number, pct=thai.pct, thai_date=thai.thai_date,
                         short_name=thai.short_fund_name)


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers={
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        "X-Content-Type-Options": "nosniff",
    })


def safe_next(value: str | None) -> str:
    """Where to go after login: a dashboard path on this site, never another site."""
    return value if value and _SAFE_NEXT.match(value) and "//" not in value else "/dashboard"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").split(",")[0].strip() == "https"


def set_session(response: Response, request: Request, pair: dict[str, Any]) -> None:
    max_age = request.app.state.settings.refresh_token_ttl_seconds
    for name, value in ((ACCESS_COOKIE, pair["access_token"]), (REFRESH_COOKIE, pair["refresh_token"])):
        response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, secure=_secure(request),
                            samesite="strict")


def clear_session(response: Response, request: Request) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path=COOKIE_PATH, httponly=True, secure=_secure(request), samesite="strict")


def to_login(request: Request) -> Response:
    target = urllib.parse.quote(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse("/dashboard/login?" + urllib.parse.urlencode({"next": safe_next(target)}), status_code=303)
    clear_session(response, request)
    return response


@dataclass
class WebSession:
    principal: Principal
    token: str
    #: A new token pair from a refresh, to set as cookies on the answer.
    renewed: dict[str, Any] | None
    user: str

    def upstream(self, request: Request) -> Upstream:
        return Upstream(request, self.token, lang="th")


async def web_session(request: Request, session: AsyncSession) -> WebSession | None:
    """The signed-in caller from the cookies (renewing an expired access token), or None."""
    verifier = request.app.state.verifier
    token, renewed = request.cookies.get(ACCESS_COOKIE), None
    principal = None
    if token:
        try:
            principal = await verifier.verify(token)
        except Unauthenticated:
            principal = None
    if principal is None:
        refresh = request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            return None
        renewed, _ = await auth.refresh(session=session, issuer=request.app.state.issuer, token=refresh)
        if renewed is None:
            return None
        token = renewed["access_token"]
        principal = await verifier.verify(token)
    try:
        user = await session.get(User, uuid.UUID(principal.subject))
    except ValueError:  # a machine's token (client credentials) has no user behind it
        user = None
    assert token is not None  # the one verified, or the renewed one
    return WebSession(principal=principal, token=token, renewed=renewed, user=user.display_name if user else principal.subject)


Page = Callable[[WebSession], Awaitable[Response]]


async def page(request: Request, session: AsyncSession, build: Page) -> Response:
    """A page (or download) for a signed-in caller; problems become a Thai page, a lost session the
    login form. Returns rather than raises, so a refresh (or a revoked family) is committed."""
    web = await web_session(request, session)
    if web is None:
        return to_login(request)
    try:
        response = await build(web)
    except (UpstreamProblem, SajjaError) as error:
        status, title, detail = problem_text(error)
        if status == 401:
            return to_login(request)
        response = render("error.html", status_code=status, title=title, detail=detail, user=web.user)
    if web.renewed:
        set_session(response, request, web.renewed)
    return response


def _presets(today: dt.date) -> list[tuple[str, str, str]]:
    year_ago = today - dt.timedelta(days=364)
    return [
        (f"ปีนี้ ({today.year + thai.BE_OFFSET})", f"{today.year}-01-01", today.isoformat()),
        (f"ปีที่แล้ว ({today.year - 1 + thai.BE_OFFSET})", f"{today.year - 1}-01-01", f"{today.year - 1}-12-31"),
        ("12 เดือนล่าสุด", dt.date(year_ago.year, year_ago.month, 1).isoformat(), today.isoformat()),
    ]


def _charts(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "sources": charts.bars([(s["label"], s["amount_satang"]) for s in f["income_by_source"]["sources"]],
                               title="รายรับแยกตามแหล่งที่มา"),
        "months": charts.columns([(thai.month_label(m["month"]), m["amount_satang"]) for m in f["deposits_by_month"]["months"]],
                                 title="เงินสัจจะรายเดือน"),
        "categories": charts.bars([(c["label"], c["amount_satang"]) for c in f["benefits_paid"]["by_category"]],
                                  title="สวัสดิการที่จ่ายแยกตามประเภท"),
    }


def _context(web: WebSession, f: dict[str, Any], base: str) -> dict[str, Any]:
    today = bangkok_today()
    last_month = (dt.date(today.year, today.month, 1) - dt.timedelta(days=1)).strftime("%Y-%m")
    return {"f": f, "charts": _charts(f), "base": base, "user": web.user, "presets": _presets(today),
            "last_month": last_month,
            "period_query": urllib.parse.urlencode({"from": f["period"]["from"], "to": f["period"]["to"]})}


# --- Login ------------------------------------------------------------------------------------


@router.get("/login")
async def login_form(next: str | None = None) -> Response:
    return render("login.html", next=safe_next(next), phone="", error=None)


@router.post("/login")
async def login(request: Request, session: DbSession) -> Response:
    """Check the phone and password as ``/v1/auth/login`` does, then keep the tokens in cookies."""
    form = await request.form(max_files=0, max_fields=5)
    phone, password, target = (str(form.get(k) or "") for k in ("phone", "password", "next"))
    target = safe_next(target)
    lang = "th"
    try:
        data = LoginRequest.model_validate({"phone": phone, "password": password})
    except ValidationError:
        _, detail = render_message("auth.invalid_credentials", lang, {})
        return render("login.html", status_code=422, next=target, phone=phone, error=detail)
    # A browser still holding this user's refresh cookie proves the device (docs/login-throttling.md).
    pair, error = await auth.login(session=session, issuer=request.app.state.issuer, phone=data.phone,
                                   password=data.password, address=request.client.host if request.client else "unknown",
                                   throttle=request.app.state.login_throttle,
                                   refresh_token=request.cookies.get(REFRESH_COOKIE))
    if error is not None:
        _, detail = render_message(error.code, lang, error.params)
        response = render("login.html", status_code=error.status_code, next=target, phone=phone, error=detail)
        response.headers.update({k: v for k, v in error.headers.items() if k.lower() == "retry-after"})
        return response
    assert pair is not None  # no error: the tokens
    response = render("signed_in.html", next=target, user=None)
    set_session(response, request, pair)
    return response


@router.post("/logout")
async def logout(request: Request, session: DbSession) -> Response:
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        await auth.logout(session=session, token=refresh)
    response = RedirectResponse("/dashboard/login", status_code=303)
    clear_session(response, request)
    return response


# --- Pages ------------------------------------------------------------------------------------


@router.get("")
async def home(request: Request, session: DbSession) -> Response:
    """Each role's own view: a fund's staff their fund, a network officer their network, a
    platform admin the country."""

    async def build(web: WebSession) -> Response:
        who = web.principal
        if who.role is Role.platform_admin:
            return RedirectResponse("/dashboard/national", status_code=303)
        if who.role is Role.network_officer and who.network_id:
            return RedirectResponse(f"/dashboard/networks/{who.network_id}", status_code=303)
        if who.fund_id:
            return RedirectResponse(f"/dashboard/funds/{who.fund_id}", status_code=303)
        raise SajjaError("auth.forbidden", status_code=403)

    return await page(request, session, build)


def _projection(asked: dict[str, Any], what_if: dict[str, Any]) -> dict[str, Any]:
    """The projection section of a fund's page: its charts and words, or why it is not shown."""
    p = asked["projection"]
    out: dict[str, Any] = {"what_if": what_if, "title": projection_view.text("title")}
    if p is None:
        why = f"{projection_view.text('refused')}: {asked['problem']}" if asked["problem"] else projection_view.text("unavailable")
        return {**out, "available": False, "unavailable": why}
    path = p["path"]
    return {
        **out, "available": True, "p": p, "rows": projection_view.every_fifth_year(path),
        "as_of": thai.thai_date(dt.date.fromisoformat(str(p["as_of"])[:10])),
        "sources": [(s, thai.label(thai.SOURCES, s)) for s in sorted(p["starting"].get("co_funding_per_year_satang") or {})],
        "benefit_codes": sorted(path[0].get("benefits_by_code_satang") or {}),
        "under_floor": projection_view.under_floor_words(p), "mortality": projection_view.mortality_words(p),
        "reserve_chart": charts.band(path, "reserve_satang", floor=p["reserve_floor_satang"],
                                     title=f"{projection_view.text('reserve')} 20 ปีข้างหน้า"),
        "members_chart": charts.band(path, "members", money=False, title=f"{projection_view.text('members')} 20 ปีข้างหน้า"),
    }


@router.get("/funds/{fund_id}")
async def fund_page(fund_id: uuid.UUID, request: Request, session: DbSession, date_from: DateFrom = None,
                    date_to: DateTo = None) -> Response:
    """The fund's figures, and its 20-year projection (with the what-ifs of the query, passed
    through to the benefits service; the page renders without the projection when it cannot be had)."""
    what_if: dict[str, Any] = {}
    for name in figures.WHAT_IFS:
        values = [v[:80] for v in request.query_params.getlist(name) if v][:20]
        if values:
            what_if[name] = values if name in figures.REPEATED_WHAT_IFS else values[0]

    async def build(web: WebSession) -> Response:
        up = web.upstream(request)
        f, projection = await gather_all(
            figures.fund_figures(up, fund_id, figures.Period.of(date_from, date_to), without_benefits_ok=True),
            figures.fund_projection(up, fund_id, what_if))
        f = _blanked(f)
        return render("fund.html", **_context(web, f, f"/dashboard/funds/{fund_id}"),
                      projection=_projection(projection, what_if))

    return await page(request, session, build)


#: What a missing figure group shows on a page: blanks ("-"), never a 0.
_BLANK: dict[str, Any] = {
    "funds": {"count": None, "with_books": None, "founded_year_be_first": None, "founded_year_be_last": None},
    "members": {"active": None, "total": None, "population": None, "coverage_pct": None},
    "income_by_source": {"total_satang": None, "sources": []},
    "deposits_by_month": {"deposits": None, "amount_satang": None, "months": []},
    "benefits_paid": {"total_satang": None, "claims": None, "members_helped": None, "by_category": []},
    "arrears": {"members": None, "amount_satang": None},
    "pending_claims": {"claims": None, "by_status": []},
    "grants": {k: None for k in ("applications", "awarded", "requested_satang", "awarded_satang", "disbursed_satang",
                                 "received_satang", "in_transit_satang")},
    "table": [],
}

#: Who did not answer, as a page says it.
SERVICE_NAMES = {"members": "ระบบสมาชิก", "ledger": "ระบบบัญชี", "benefits": "ระบบสวัสดิการ", "grants": "ระบบเงินอุดหนุน"}
REASONS = {"timeout": "ตอบช้าเกินกำหนด", "unavailable": "ติดต่อไม่ได้", "failed": "ขัดข้อง"}


def _blanked(f: dict[str, Any]) -> dict[str, Any]:
    """The figures with those of a service that did not answer blanked, and who did not, in words."""
    f = {**f, **{name: _BLANK[name] for name in f["missing"] if name in _BLANK}}
    f["unavailable_text"] = [f"{SERVICE_NAMES[u['service']]}{REASONS[u['reason']]}" for u in f["unavailable"]]
    return f


def _rollup_page(web: WebSession, f: dict[str, Any], base: str, heading: str, table_query: str) -> Response:
    f = _blanked(f)
    provinces = sorted({row["province"] for row in f["table"]}) if f["scope"]["kind"] != "province" else []
    return render("rollup.html", **_context(web, f, base), heading=heading, table_query=table_query, provinces=provinces)


@router.get("/national")
async def national_page(request: Request, session: DbSession, date_from: DateFrom = None, date_to: DateTo = None) -> Response:
    async def build(web: WebSession) -> Response:
        f = await api.national(web.upstream(request), web.principal, figures.Period.of(date_from, date_to))
        return _rollup_page(web, f, "/dashboard/national", "ภาพรวมระดับประเทศ", "")

    return await page(request, session, build)


@router.get("/networks/{network_id}")
async def network_page(network_id: uuid.UUID, request: Request, session: DbSession, date_from: DateFrom = None,
                       date_to: DateTo = None) -> Response:
    async def build(web: WebSession) -> Response:
        f = await api.network(web.upstream(request), web.principal, network_id, figures.Period.of(date_from, date_to))
        provinces = sorted({row["province"] for row in f["table"]})
        heading = f"เครือข่ายกองทุนสวัสดิการชุมชน{' '.join('จังหวัด' + p for p in provinces)}"
        return _rollup_page(web, f, f"/dashboard/networks/{network_id}", heading, f"?network_id={network_id}")

    return await page(request, session, build)


@router.get("/provinces/{province_name}")
async def province_page(province_name: str, request: Request, session: DbSession, date_from: DateFrom = None,
                        date_to: DateTo = None) -> Response:
    async def build(web: WebSession) -> Response:
        f = await api.province(web.upstream(request), web.principal, province_name, figures.Period.of(date_from, date_to))
        quoted = urllib.parse.quote(province_name)
        return _rollup_page(web, f, f"/dashboard/provinces/{quoted}", f"จังหวัด{province_name}", f"?province={quoted}")

    return await page(request, session, build)


# --- Downloads (the same as /v1/dashboard's, with the session cookie) ---------------------------


@router.get("/exports/funds.{fmt}")
async def funds_export(fmt: Fmt, request: Request, session: DbSession,
                       province_name: Annotated[str | None, Query(alias="province", max_length=100)] = None,
                       network_id: uuid.UUID | None = None) -> Response:
    async def build(web: WebSession) -> Response:
        table = await api.table(web.upstream(request), web.principal, province_name, network_id)
        return await exports.funds(table, fmt, "ตารางกองทุนสวัสดิการชุมชน")

    return await page(request, session, build)


@router.get("/funds/{fund_id}/exports/members.{fmt}")
async def members_export(fund_id: uuid.UUID, fmt: Fmt, request: Request, session: DbSession) -> Response:
    return await page(request, session, lambda web: exports.members_roll(web.upstream(request), fund_id, fmt))


@router.get("/funds/{fund_id}/members/{member_id}/exports/statement.{fmt}")
async def statement_export(fund_id: uuid.UUID, member_id: uuid.UUID, fmt: Fmt, request: Request, session: DbSession) -> Response:
    return await page(request, session, lambda web: exports.statement(web.upstream(request), fund_id, member_id, fmt))


@router.get("/funds/{fund_id}/exports/income.{fmt}")
async def income_export(fund_id: uuid.UUID, fmt: Fmt, request: Request, session: DbSession, date_from: DateFrom = None,
                        date_to: DateTo = None) -> Response:
    async def build(web: WebSession) -> Response:
        return await exports.income(web.upstream(request), fund_id, figures.Period.of(date_from, date_to), fmt)

    return await page(request, session, build)


@router.get("/funds/{fund_id}/deposits/{deposit_id}/receipt.pdf")
async def receipt(fund_id: uuid.UUID, deposit_id: uuid.UUID, request: Request, session: DbSession) -> Response:
    return await page(request, session, lambda web: exports.receipt(web.upstream(request), session, fund_id, deposit_id))


@router.get("/funds/{fund_id}/reports/monthly.pdf")
async def monthly_report(fund_id: uuid.UUID, request: Request, session: DbSession,
                         month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None) -> Response:
    return await page(request, session, lambda web: exports.monthly_report(web.upstream(request), fund_id, month))
