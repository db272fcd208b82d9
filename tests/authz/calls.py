"""How the matrix calls each route: the path's objects, the query and a small valid body.

A body is valid for the world (``tests/authz/world.py``), so a caller the route admits gets past
validation to what the route does, and a check on what the body names (a member a claim is for,
the fund a user is made in) is reached. Placeholders in ``{braces}`` are filled from
``World.params`` (fund A's objects, fund B's, or ids of nothing), plus ``{new_id}`` (a fresh
uuid), ``{today}``, ``{yesterday}`` and ``{now}``. A route not listed here is called with its path
filled and nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.timeutil import BANGKOK
from tests.authz.routes import Route
from tests.support.factories import national_id, person

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@dataclass(frozen=True)
class Call:
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    #: A raw body and its content type (file uploads).
    content: bytes | None = None
    content_type: str | None = None
    #: Multipart files: field -> (filename, bytes, content type).
    files: dict[str, tuple[str, bytes, str]] | None = None


def _new_member() -> dict[str, Any]:
    n = 97_100
    return person(n, national_id=national_id(n, first="5"), joined_on="2020-01-01")


EXPENSE = {"id": "{new_id}", "amount_satang": 100, "paid_on": "{today}", "memo": "ค่าเครื่องเขียน"}
REVERSAL = {"id": "{new_id}", "reason": "บันทึกผิด"}
DEPOSIT = {"id": "{new_id}", "member_id": "{member_id}", "amount_satang": 100, "collected_at": "{now}",
           "collector_id": "{user_id}"}
CLAIM = {"member_id": "{member_id}", "benefit_code": "education", "event_date": "{yesterday}"}
PERIOD = {"from": "2020-01-01", "to": "{today}"}

M, L, B, G, GW = "/v1/members", "/v1/ledger/funds/{fund_id}", "/v1/benefits/funds/{fund_id}", "/v1/grants", "/v1"

CALLS: dict[tuple[str, str, str], Call] = {
    # members
    ("members", "POST", f"{M}/networks"): Call(json={"name_th": "เครือข่ายตรัง (authz)", "province": "ตรัง"}),
    ("members", "POST", f"{M}/funds"): Call(json={
        "name": "กองทุนใหม่ (authz)", "province": "สุราษฎร์ธานี", "district": "เวียงสระ", "subdistrict": "ทุ่งหลวง",
        "founded_on": "2015-01-01", "network_id": "{network_id}"}),
    ("members", "PATCH", f"{M}/funds/{{fund_id}}"): Call(json={"population": 18_000}),
    ("members", "POST", f"{M}/funds/{{fund_id}}/members"): Call(json=_new_member()),
    ("members", "POST", f"{M}/funds/{{fund_id}}/members/import"): Call(
        query={"dry_run": "true"}, content=b"national_id,first_name,last_name,birth_date,sex,joined_on\n",
        content_type="text/csv"),
    ("members", "PATCH", f"{M}/funds/{{fund_id}}/members/{{member_id}}"): Call(json={"phone": "0811234567"}),
    ("members", "PUT", f"{M}/funds/{{fund_id}}/members/{{member_id}}/beneficiaries"): Call(json={"beneficiaries": []}),
    ("members", "POST", f"{M}/funds/{{fund_id}}/members/{{member_id}}/status"): Call(
        json={"status": "suspended", "effective_on": "{yesterday}", "reason": "ขาดส่ง"}),
    ("members", "GET", f"{M}/funds/{{fund_id}}/members/{{member_id}}/national-id"): Call(query={"purpose": "ตรวจสอบสิทธิ์"}),
    ("members", "POST", f"{M}/funds/{{fund_id}}/members/{{member_id}}/anonymise"): Call(json={"reason": "สมาชิกขอลบข้อมูล"}),
    ("members", "POST", f"{M}/funds/{{fund_id}}/collectors"): Call(json={"user_id": "{new_id}", "display_name": "อาสาใหม่"}),
    ("members", "PUT", f"{M}/funds/{{fund_id}}/collectors/{{collector_id}}/round"): Call(json={"villages": [3]}),
    ("members", "POST", f"{M}/internal/funds/{{fund_id}}/members/facts"): Call(json={"member_ids": ["{member_id}"]}),
    ("members", "GET", f"{M}/internal/roll-changes"): Call(query={"since": "{today}"}),
    ("ledger", "POST", "/v1/ledger/aggregates"): Call(json={"fund_ids": ["{fund_id}"]}),
    ("benefits", "POST", "/v1/benefits/aggregates"): Call(json={"fund_ids": ["{fund_id}"]}),
    ("grants", "POST", f"{G}/aggregates"): Call(json={"fund_ids": ["{fund_id}"]}),
    # ledger
    ("ledger", "POST", f"{L}/deposits"): Call(json=DEPOSIT),
    ("ledger", "POST", f"{L}/deposits/batch"): Call(json={"deposits": [DEPOSIT]}),
    ("ledger", "POST", f"{L}/co-funding"): Call(json={"id": "{new_id}", "source": "donors", "amount_satang": 100,
                                                      "received_on": "{today}"}),
    ("ledger", "POST", f"{L}/handovers"): Call(json={"id": "{new_id}", "collector_id": "{user_id}", "amount_satang": 100,
                                                     "handed_over_on": "{today}"}),
    ("ledger", "POST", f"{L}/expenses/administration"): Call(json=EXPENSE),
    ("ledger", "POST", f"{L}/entries/{{entry_id}}/reverse"): Call(json=REVERSAL),
    ("ledger", "POST", f"{L}/deposits/{{deposit_id}}/reverse"): Call(json=REVERSAL),
    ("ledger", "POST", f"{L}/payouts"): Call(json={"id": "{new_id}", "category": "education", "amount_satang": 100,
                                                   "paid_on": "{today}"}),
    ("ledger", "POST", f"{L}/accounts"): Call(json={"code": "5990", "name_th": "ค่าใช้จ่ายอื่น", "name_en": "Other",
                                                    "type": "expense"}),
    ("ledger", "GET", f"{L}/reports/sources"): Call(query=PERIOD),
    ("ledger", "GET", f"{L}/reports/deposits-by-month"): Call(query=PERIOD),
    ("ledger", "GET", f"{L}/reports/member-contributions"): Call(query=PERIOD),
    ("ledger", "GET", f"{L}/reports/matching"): Call(query={"year": "2026"}),
    ("ledger", "POST", f"{L}/years/{{year}}/close"): Call(json={"id": "{new_id}", "meeting_on": "{today}",
                                                              "minutes_ref": "รายงานการประชุมใหญ่ 1/2569"}),
    ("ledger", "POST", f"{L}/years/{{year}}/reopen"): Call(json={"id": "{new_id}", "reason": "แก้ไขตามมติที่ประชุม"}),
    ("ledger", "PATCH", f"{L}/rules"): Call(json={"admin_cap_bp": 2000}),
    ("ledger", "POST", f"{L}/plans"): Call(json={"name": "สัจจะวันละบาท", "period": "day", "amount_satang": 100,
                                                 "effective_from": "2024-01-01"}),
    ("ledger", "PUT", f"{L}/matching-rules"): Call(json={"source": "local_government", "ratio_bp": 10_000}),
    # benefits
    ("benefits", "POST", f"{B}/catalog"): Call(json={
        "code": "glasses", "category": "sickness_medical", "name_th": "ค่าแว่นตา", "name_en": "Glasses",
        "effective_from": "2020-01-01", "rules": {"amount": {"model": "fixed", "amount_satang": 80_000}}}),
    ("benefits", "POST", f"{B}/catalog/from-templates"): Call(json={"effective_from": "2000-01-01"}),
    ("benefits", "POST", f"{B}/catalog/{{code}}/rules"): Call(json={
        "effective_from": "{today}", "rules": {"amount": {"model": "fixed", "amount_satang": 80_000}}}),
    ("benefits", "PATCH", f"{B}/settings"): Call(json={"reserve_floor_satang": 0}),
    ("benefits", "POST", f"{B}/claims/check"): Call(json=CLAIM),
    ("benefits", "POST", f"{B}/claims"): Call(json={"id": "{new_id}", **CLAIM}),
    ("benefits", "POST", f"{B}/claims/{{claim_id}}/reject"): Call(json={"reason": "เอกสารไม่ครบ"}),
    ("benefits", "POST", f"{B}/claims/{{claim_id}}/cancel"): Call(json={"reason": "ขอยกเลิก"}),
    ("benefits", "POST", f"{B}/claims/{{claim_id}}/documents"): Call(query={"kind": "photo"},
                                                                     files={"file": ("photo.png", PNG, "image/png")}),
    ("benefits", "GET", f"{B}/reports/paid"): Call(query={"year": "2026"}),
    # grants
    ("grants", "POST", f"{G}/grantors"): Call(json={"kind": "codi", "name": "ผู้ให้ทุนใหม่ (authz)"}),
    ("grants", "POST", f"{G}/programs"): Call(json={"grantor": "codi", "name": "โครงการใหม่ (authz)",
                                                    "fiscal_year_be": 2569, "envelope_satang": 100}),
    ("grants", "POST", f"{G}/programs/{{program_id}}/applications"): Call(json={
        "fund_id": "{fund_id}", "title": "ขยายสวัสดิการ", "budget_lines": [{"line": "L1", "description": "กิจกรรม",
                                                                           "amount_satang": 100}]}),
    ("grants", "POST", f"{G}/applications/{{application_id}}/reviews"): Call(json={"score": 80, "recommendation": "approve"}),
    ("grants", "POST", f"{G}/applications/{{application_id}}/decision"): Call(json={"decision": "approve"}),
    ("grants", "POST", f"{G}/applications/{{application_id}}/tranches/{{tranche_id}}/disbursement"): Call(
        json={"disbursed_on": "{today}", "reference": "KTB-0001"}),
    ("grants", "POST", f"{G}/applications/{{application_id}}/reports"): Call(json={"lines": [{"line": "L1", "spent_satang": 100}]}),
    ("grants", "GET", f"{G}/programs/{{program_id}}/matching"): Call(query={"fund_id": "{fund_id}"}),
    ("grants", "POST", f"{G}/webhooks"): Call(json={"url": "http://127.0.0.1:9/hook", "events": ["tranche.disbursed"]}),
    # gateway
    # Signing in is open to all: a password is not checked here (a hash per caller is dear), so the
    # phone is one that cannot be, and the answer a 422 whoever asks.
    ("gateway", "POST", f"{GW}/auth/login"): Call(json={"phone": "not-a-phone", "password": "not-the-password"}),
    ("gateway", "POST", f"{GW}/auth/refresh"): Call(json={"refresh_token": "not-a-refresh-token-0123456789"}),
    ("gateway", "POST", f"{GW}/auth/logout"): Call(json={"refresh_token": "not-a-refresh-token-0123456789"}),
    ("gateway", "POST", f"{GW}/auth/token"): Call(json={"client_id": "cli-nobody", "client_secret": "not-a-secret-0123456789"}),
    ("gateway", "POST", f"{GW}/auth/users"): Call(json={
        "phone": "{phone}", "password": "a-long-password-1", "display_name": "เหรัญญิก", "role": "committee",
        "fund_id": "{fund_id}"}),
    ("gateway", "POST", f"{GW}/auth/clients"): Call(json={"name": "ระบบทุน (authz)", "scopes": ["grants:decide"]}),
    ("gateway", "PATCH", f"{GW}/auth/users/{{user_id}}"): Call(json={"display_name": "กรรมการ (authz)"}),
    # The world's members' PIN: they change their own; everyone else has no account or a wrong PIN.
    ("gateway", "POST", f"{GW}/auth/me/pin"): Call(json={"current_pin": "member-pin-1", "new_pin": "member-pin-2"}),
    ("gateway", "POST", f"{GW}/auth/pin"): Call(json={"pin_ticket": "not-a-pin-ticket-0123456789", "new_pin": "123456"}),
    ("gateway", "POST", f"{GW}/auth/line"): Call(json={"id_token": "not-a-line-id-token"}),
    ("gateway", "POST", f"{GW}/auth/line/link"): Call(json={"id_token": "not-a-line-id-token", "code": "ABCDEFGH"}),
    ("gateway", "POST", f"{GW}/auth/line/link-codes"): Call(json={"fund_id": "{fund_id}", "member_id": "{member_id}"}),
    ("gateway", "POST", f"{GW}/auth/line/unlink"): Call(json={"fund_id": "{fund_id}", "member_id": "{member_id}"}),
    ("gateway", "PUT", f"{GW}/auth/line/preferences"): Call(json={"receipts": True, "claims": True, "arrears": False}),
    ("gateway", "POST", f"{GW}/line/webhook"): Call(json={"events": []}),
    ("gateway", "POST", f"{GW}/line/reminders/arrears"): Call(json={"fund_id": "{fund_id}"}),
    ("gateway", "GET", f"{GW}/dashboard/funds-table"): Call(query={"network_id": "{network_id}"}),
    ("gateway", "POST", "/dashboard/login"): Call(content=b"phone=not-a-phone&password=not-the-password",
                                                  content_type="application/x-www-form-urlencoded"),
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: Any, params: dict[str, str]) -> Any:
    """``template`` with its placeholders filled (a string that is one placeholder, or has some)."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda m: _value(m.group(1), params), template)
    if isinstance(template, list):
        return [fill(item, params) for item in template]
    if isinstance(template, dict):
        return {key: fill(value, params) for key, value in template.items()}
    return template


def _value(name: str, params: dict[str, str]) -> str:
    now = dt.datetime.now(BANGKOK).replace(microsecond=0)
    if name == "new_id":
        return str(uuid.uuid4())
    if name == "today":
        return now.date().isoformat()
    if name == "yesterday":
        return (now.date() - dt.timedelta(days=1)).isoformat()
    if name == "now":
        return now.isoformat()
    return params[name]


def call_of(route: Route) -> Call:
    return CALLS.get((route.app, route.method, route.path), Call())


def url_of(route: Route, params: dict[str, str]) -> str:
    """The route's path with its parameters filled."""
    return _PLACEHOLDER.sub(lambda m: params[m.group(1)], route.path)


def path_params(route: Route) -> list[str]:
    return _PLACEHOLDER.findall(route.path)


#: Placeholders that are not the world's objects.
MADE_HERE = {"new_id", "today", "yesterday", "now"}


def named_objects(route: Route) -> list[str]:
    """The world's objects a call names: in its path, then in its query and body."""
    call = call_of(route)
    found = path_params(route) + _PLACEHOLDER.findall(repr((call.query, call.json)))
    return [name for name in dict.fromkeys(found) if name not in MADE_HERE]
