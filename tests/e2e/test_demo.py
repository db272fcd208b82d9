"""``make demo`` (tools/demo.py): the plan it makes from the source documents' figures, and the whole demo loaded into
the real system through the public API, after which the source table of ten funds is recomputed
through the API and compared with ``tools/data/source_facts.json`` row by row."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from pydantic import ValidationError
from pypdf import PdfReader

from gateway.dashboard import thai
from services.members.roll_file import read_roll
from services.members.schemas import MemberFields
from services.members.thai import normalize_national_id
from shared.timeutil import bangkok_today
from tools import demo

FACTS = demo.load_facts()
SEED_ROWS = FACTS["funds_table"]["rows"]


def test_each_population_gives_the_sources_coverage_with_the_sources_members() -> None:
    plans = demo.plan_funds(FACTS, 1.0)
    assert [p.name for p in plans] == [row[1] for row in SEED_ROWS]
    for plan, (_, _, _, founded_be, accumulated, members, pct) in zip(plans, SEED_ROWS, strict=True):
        assert plan.members == members and plan.founded_on.year + 543 == founded_be
        assert plan.accumulated_satang == (None if accumulated is None else int(Decimal(accumulated) * 100))
        if pct is None:
            assert plan.population is None, "no percentage, no population (Nong Muang spans several tambons)"
        else:
            assert demo.coverage_pct(members, plan.population) == pct
    assert next(p for p in plans if p.tambon == "บ้านส้อง").population == FACTS["ban_song"]["tambon_population"]
    assert demo.population_for(1, 12.5) == 8 and demo.coverage_pct(1, 16) == 6.3, "half up, as the members service rounds"
    scaled = demo.plan_funds(FACTS, 0.01)
    assert [p.members for p in scaled][:3] == [14, 15, 25] and min(p.members for p in scaled) >= 1
    assert next(p for p in scaled if p.tambon == "บ้านส้อง").members >= 12, "enough people for every kind of claim"


def test_the_rolls_are_valid_and_nobody_is_in_two_funds() -> None:
    seen: set[str] = set()
    for fund_no in (1, 9, 10):
        persons = demo.people(fund_no, 600, dt.date(2010, 5, 1), dt.date(2018, 12, 31), 17)
        ids = {normalize_national_id(p.national_id) for p in persons}
        assert len(ids) == 600 and not ids & seen
        seen |= ids
        rows = read_roll(demo.roll_csv(persons), filename="roll.csv", content_type="text/csv", max_rows=20_000)
        assert len(rows) == 600
        for row in rows:
            try:
                fields = MemberFields.model_validate({k: v for k, v in row.values.items() if v != ""})
            except ValidationError as exc:  # pragma: no cover - the message is the point
                raise AssertionError(f"line {row.line}: {exc}") from None
            assert fields.joined_on <= dt.date(2018, 12, 31)


def test_a_years_contributions_add_up_to_the_sources_figure() -> None:
    total = int(Decimal(FACTS["ban_song"]["income_sources_2019"]["members"]) * 100)
    full = demo.yearly_contributions(total, 4_118)
    assert sum(full) == total and len(full) == 4_118
    assert Counter(full).most_common(2)[0][0] in (36_500, 24_000) and 0 < min(full) and max(full) == 36_500
    few = demo.yearly_contributions(total, 41)
    assert sum(few) == total and max(few) - min(few) <= 1


def test_the_loader_needs_a_password_a_sane_scale_and_a_running_system(capsys) -> None:
    assert demo.main(["--url", "http://127.0.0.1:9", "--password", ""]) == 2
    assert "SAJJA_DEMO_PASSWORD" in capsys.readouterr().err
    assert demo.main(["--url", "http://127.0.0.1:9"]) == 1, "the development login by default, and nothing listening"
    assert "make run" in capsys.readouterr().err
    assert demo.main(["--url", "http://127.0.0.1:9", "--password", "x", "--scale", "2"]) == 2
    assert demo.main(["--url", "http://127.0.0.1:9", "--password", "x", "--user-password", "short"]) == 2


# --- The whole demo, through the API of the real system ------------------------------------------------------


def _pdf_text(body: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    return re.sub(r"[\x00-\x09\x0b-\x1f]", "", text)


@pytest.mark.e2e
def test_make_demo_reproduces_the_source_table_through_the_api(tmp_path: Path) -> None:
    from gateway.dashboard.pdf import find_thai_font
    from gateway.settings import DEV_ADMIN_PASSWORD as ADMIN_PASSWORD
    from gateway.settings import DEV_ADMIN_PHONE as ADMIN_PHONE
    from tests.support.system import running_system

    # As on a new machine: `make run` with nothing set gives the documented development login,
    # which `make demo` uses by default.
    with running_system(tmp_path / "home", bootstrap=False) as system:
        assert any(ADMIN_PASSWORD in line for line in system.lines), system.lines[-20:]
        assert demo.main(["--url", system.url, "--password", "not-the-password"]) == 1
        started = time.perf_counter()
        loader = demo.Demo(url=system.url, phone=ADMIN_PHONE, password=ADMIN_PASSWORD, user_password="demo-password-1",
                           say=lambda line: print(line, flush=True))
        loaded = loader.run()
        summary = loader.summary()
        print(summary, f"\nloaded in {time.perf_counter() - started:.1f} s", flush=True)
        assert f"Dashboard: {system.url}/dashboard" in summary

        with httpx.Client(base_url=system.url, timeout=60) as client:
            token = client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD}).json()["access_token"]
            admin = {"Authorization": f"Bearer {token}"}

            # Point 6: the table of ten funds, recomputed through the API, row by row.
            table = client.get("/v1/dashboard/funds-table", headers=admin)
            assert table.status_code == 200, table.text
            rows = {row["name"]: row for row in table.json()["rows"]}
            assert len(rows) == len(SEED_ROWS) == 10
            for _, name, province, founded_be, accumulated, members, pct in SEED_ROWS:
                row = rows[name]
                got_baht = None if row["accumulated_baht"] is None else Decimal(row["accumulated_baht"])
                want_baht = None if accumulated is None else Decimal(accumulated)
                assert (row["province"], row["founded_year_be"], got_baht, row["members"], row["coverage_pct"]) == (
                    province, founded_be, want_baht, members, pct), name

            national = client.get("/v1/dashboard/national", headers=admin).json()
            assert national["members"]["active"] == sum(row[5] for row in SEED_ROWS)
            assert national["accumulated_satang"] == sum(int(Decimal(row[4]) * 100) for row in SEED_ROWS if row[4])
            assert national["funds"] == {"count": 10, "with_books": 6, "founded_year_be_first": 2549, "founded_year_be_last": 2554}

            # Ban Song's 2019 income by source (the Ban Song case study), from the ledger the demo filled.
            ban_song = next(f for f in loaded.funds if f.tambon == "บ้านส้อง")
            committee = {"Authorization": "Bearer " + client.post("/v1/auth/login", json={
                "phone": loaded.users["committee_a"].phone, "password": "demo-password-1"}).json()["access_token"]}
            year_2019 = client.get(f"/v1/dashboard/funds/{ban_song.id}", params={"from": "2019-01-01", "to": "2019-12-31"},
                                   headers=committee).json()
            legs = FACTS["ban_song"]["income_sources_2019"]
            assert {s["source"]: s["amount_satang"] for s in year_2019["income_by_source"]["sources"]} == {
                "members": int(legs["members"]) * 100, "local_government": int(legs["local_government"]) * 100,
                "codi": int(legs["codi"]) * 100, "donors": int(legs["network_and_donors"]) * 100}
            assert year_2019["deposits_by_month"]["amount_satang"] == int(legs["members"]) * 100

            # Issue 28: Ban Song's projection starts from the books it has and from its 2019 income mix
            # (not from last year's few members' daily deposits, nor from the opening balance of 2018).
            projection = client.get(f"/v1/benefits/funds/{ban_song.id}/projection", headers=committee)
            assert projection.status_code == 200, projection.text
            body = projection.json()
            holdings = client.get(f"/v1/ledger/funds/{ban_song.id}/reports/holdings", headers=committee).json()
            assert body["starting"]["reserve_satang"] == holdings["fund_cash_satang"] + holdings["bank_satang"]
            assert body["assumptions"]["income_years"] == [2019] and body["first_year"] == bangkok_today().year + 1
            assert body["starting"]["co_funding_per_year_satang"] == {
                "codi": int(legs["codi"]) * 100, "donors": int(legs["network_and_donors"]) * 100,
                "local_government": int(legs["local_government"]) * 100}
            first = body["path"][0]
            income = first["contributions_satang"]["expected"] + first["co_funding_satang"]["expected"]
            assert abs(first["contributions_satang"]["expected"] / income * 100 - 41.41) < 0.5, first

            # A year of collectors' deposits, some still in their hands; members behind the plan.
            today = loader.today  # Bangkok's, as the demo dated its claims (the machine's is UTC)
            last_year = client.get(f"/v1/dashboard/funds/{ban_song.id}", headers=committee, params={
                "from": (today - dt.timedelta(days=365)).isoformat(), "to": today.isoformat()}).json()
            with_deposits = [m for m in last_year["deposits_by_month"]["months"] if m["deposits"]]
            assert len(with_deposits) >= 12 and last_year["deposits_by_month"]["deposits"] > 1_500
            assert last_year["holdings"]["collectors_cash_satang"] > 0
            assert last_year["arrears"]["members"] > 0
            assert {c["category"] for c in last_year["benefits_paid"]["by_category"]} == {"elderly", "education", "sickness_medical"}

            # Claims in every state.
            claims = client.get(f"/v1/benefits/funds/{ban_song.id}/claims", headers=committee, params={"limit": 50}).json()["items"]
            assert Counter(c["status"] for c in claims) == Counter(
                {"paid": 3, "submitted": 1, "under_review": 1, "rejected": 1, "cancelled": 1, "approved": 1})
            assert next(c for c in claims if c["status"] == "approved")["payout_status"] == "held"

            # Nakhon Si Thammarat's grants: Chawang awarded 55,000 in two tranches, the first received.
            chawang = next(f for f in loaded.funds if f.tambon == "ฉวาง")
            grants = client.get(f"/v1/dashboard/funds/{chawang.id}", headers=admin).json()["grants"]
            assert (grants["applications"], grants["awarded_satang"], grants["received_satang"]) == (2, 5_500_000, 3_000_000)
            programs = {p["name"]: p for p in client.get("/v1/grants/programs", headers=admin).json()["items"]}
            split = FACTS["nakhon_si_thammarat_2008"]["split"]
            assert sorted(p["envelope_satang"] for p in programs.values()) == sorted(
                int(split[k]) * 100 for k in ("issue_based_province_baht", "target_areas_province_baht"))

            # Downloads from the real data.
            roll = client.get(f"/v1/dashboard/funds/{ban_song.id}/exports/members.xlsx", headers=committee)
            assert roll.status_code == 200
            assert load_workbook(io.BytesIO(roll.content)).active.max_row == 3 + ban_song.members
            funds_csv = client.get("/v1/dashboard/exports/funds.csv", headers=admin).content.decode("utf-8-sig")
            assert "กองทุนสวัสดิการชุมชนตำบลท่างาม,สิงห์บุรี,2551,11252304.57,1524,36.0" in funds_csv
            deposit_id = loaded.deposit_ids[-1]
            deposit = client.get(f"/v1/ledger/funds/{ban_song.id}/deposits/{deposit_id}", headers=committee).json()
            saver = deposit["member_id"]
            statement = client.get(f"/v1/dashboard/funds/{ban_song.id}/members/{saver}/exports/statement.csv", headers=committee)
            lines = statement.content.decode("utf-8-sig").strip().split("\r\n")
            balance = client.get(f"/v1/ledger/funds/{ban_song.id}/members/{saver}/balance", headers=committee).json()
            assert len(lines) == 4 + balance["deposits"] > 300, "three heading lines, the header, every deposit"
            assert lines[-1].endswith("," + thai.baht_plain(balance["contributed_satang"])), "the running balance ends at the balance"
            if find_thai_font() is not None:
                receipt = client.get(f"/v1/dashboard/funds/{ban_song.id}/deposits/{deposit_id}/receipt.pdf", headers=committee)
                assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
                text = _pdf_text(receipt.content)
                assert f"เลขที่ใบเสร็จ {deposit['receipt_no']}" in text and "ผู้รับเงิน อาสาสมัคร หมู่" in text
                report = client.get(f"/v1/dashboard/funds/{ban_song.id}/reports/monthly.pdf", headers=committee)
                assert report.status_code == 200
                assert ban_song.name in _pdf_text(report.content) and "14,328,280.76" in _pdf_text(report.content)

        # Loading again changes nothing and says why.
        again = demo.main(["--url", system.url])  # `make demo` as is: the development login
        assert again == demo.EXIT_ALREADY_LOADED
        with httpx.Client(base_url=system.url, timeout=60) as client:
            funds = client.get("/v1/members/funds", headers=admin, params={"limit": 500}).json()["items"]
            assert len(funds) == 10
