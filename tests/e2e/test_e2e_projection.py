"""The 20-year sustainability projection shown by the real processes (issue 28 point 4): a fund
registered through the gateway, its page on the web dashboard and its annual statements PDF both
show the projection the benefits service computes (the ledger asking it with its own service
token, the dashboard with the committee member's)."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import time
import uuid

import httpx
import pytest
from pypdf import PdfReader

from shared import projection_view as view
from tests.support.factories import E2E_FUND, person
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem

pytestmark = pytest.mark.e2e


def _bearer(client: httpx.Client, phone: str, password: str) -> dict[str, str]:
    answer = client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_the_dashboard_and_the_statements_pdf_show_a_real_funds_projection(shared_system: RunningSystem) -> None:
    with httpx.Client(base_url=shared_system.url, timeout=60) as client:
        admin = _bearer(client, ADMIN_PHONE, ADMIN_PASSWORD)
        fund = client.post("/v1/members/funds", json=E2E_FUND, headers=admin)
        assert fund.status_code == 201, fund.text
        fund_id = fund.json()["id"]
        users = {}
        for phone, role in (("0871230001", "committee"), ("0871230002", "collector")):
            made = client.post("/v1/auth/users", headers=admin, json={
                "phone": phone, "password": f"{role}-pass-1", "display_name": role, "role": role, "fund_id": fund_id})
            assert made.status_code == 201, made.text
            users[role] = made.json()["id"]
        committee = _bearer(client, "0871230001", "committee-pass-1")
        collector_id = users["collector"]
        assert client.post(f"/v1/members/funds/{fund_id}/collectors", headers=committee,
                           json={"user_id": collector_id, "display_name": "อาสา"}).status_code == 201
        collector = _bearer(client, "0871230002", "collector-pass-1")
        members = []
        for n in range(6):
            registered = client.post(f"/v1/members/funds/{fund_id}/members", headers=committee,
                                     json=person(7100 + n, birth_date=f"{1950 + 6 * n}-05-01"))
            assert registered.status_code == 201, registered.text
            members.append(registered.json()["id"])
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        for member in members:
            deposit = {"id": str(uuid.uuid4()), "member_id": member, "amount_satang": 36_500, "collected_at": now}
            assert client.post(f"/v1/ledger/funds/{fund_id}/deposits", headers=collector, json=deposit).status_code == 201
        today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date()
        co_funded = client.post(f"/v1/ledger/funds/{fund_id}/co-funding", headers=committee, json={
            "id": str(uuid.uuid4()), "source": "codi", "amount_satang": 5_000_000, "received_on": today.isoformat()})
        assert co_funded.status_code == 201, co_funded.text

        asked = client.get(f"/v1/benefits/funds/{fund_id}/projection", headers=committee)
        assert asked.status_code == 200, asked.text
        p = asked.json()
        assert len(p["path"]) == 20 and p["starting"]["members"] == 6

        # The web dashboard: the committee member signs in with the form and opens the fund's page.
        signed_in = client.post("/dashboard/login", data={"phone": "0871230001", "password": "committee-pass-1",
                                                          "next": f"/dashboard/funds/{fund_id}"})
        assert signed_in.status_code == 200, signed_in.text
        page = client.get(f"/dashboard/funds/{fund_id}")
        assert page.status_code == 200, page.text
        section = html.unescape(page.text.split('id="projection"')[1].split("</section>")[0])
        assert 'id="projection-unavailable"' not in section, section[:2000]
        for expected in (view.text("title"), '<polygon class="band"', '<polyline class="expected"', '<line class="floor"',
                         view.under_floor_words(p), view.mortality_words(p),
                         f">{p['path'][-1]['year'] + 543}<"):
            assert expected in section, expected
        client.cookies.clear()

        # The annual statements PDF: its last page is the same projection.
        pdf = client.get(f"/v1/ledger/funds/{fund_id}/statements/{today.year}", params={"format": "pdf"}, headers=committee)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf", pdf.text
        last = re.sub(r"[\x00-\x09\x0b-\x1f]", "", PdfReader(io.BytesIO(pdf.content)).pages[-1].extract_text())
        assert view.text("title") in last and view.text("unavailable") not in last, last
        assert f"ปี พ.ศ. {p['path'][0]['year'] + 543}–{p['path'][-1]['year'] + 543}" in last
        assert "สมาชิก 6 คน" in last and "ฐานอัตราการเสียชีวิต" in last
