"""A collector's day, end to end through the gateway with real processes and a fake LINE:
log in, download the round, record deposits offline, sync the batch twice (the second time every
item is a duplicate), see the day's total, hand the cash over, and the member sees the receipt in
LINE and asks for their balance in the chat."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import httpx
import pytest

from services.members.thai import national_id_check_digit
from tests.fakes.line import FakeLine
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem

pytestmark = pytest.mark.e2e


def _login(client: httpx.Client, phone: str, password: str) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _wait_for(check, timeout: float = 20.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_a_collectors_day(shared_system: RunningSystem, shared_line: FakeLine) -> None:
    system, line = shared_system, shared_line  # LINE set up, its worker passing every 0.3 s (tests/e2e/conftest.py)
    with httpx.Client(base_url=system.url, timeout=15) as client:
        admin = _login(client, ADMIN_PHONE, ADMIN_PASSWORD)
        fund = client.post("/v1/members/funds", headers=admin, json={
            "name": "กองทุนสวัสดิการชุมชนตำบลท่างาม", "province": "สิงห์บุรี", "district": "อินทร์บุรี", "subdistrict": "ท่างาม",
            "founded_on": "2008-03-01", "population": 4233}).json()
        fid = fund["id"]
        client.post("/v1/auth/users", headers=admin, json={"phone": "0870000001", "password": "committee-pass-1",
                                                          "display_name": "เหรัญญิก", "role": "committee", "fund_id": fid})
        committee = _login(client, "0870000001", "committee-pass-1")
        members = []
        for i in range(3):
            first12 = f"3600100{i:05d}"
            created = client.post(f"/v1/members/funds/{fid}/members", headers=committee, json={
                "national_id": first12 + str(national_id_check_digit(first12)), "first_name": f"สมาชิก{i}", "last_name": "ท่างาม",
                "birth_date": "1965-01-01", "sex": "หญิง", "village": 2, "house_no": str(i), "joined_on": "2015-01-01", "consent_given": True})
            assert created.status_code == 201, created.text
            members.append(created.json()["id"])
        collector_user = client.post("/v1/auth/users", headers=admin, json={
            "phone": "0870000002", "password": "246810", "display_name": "อาสาเก็บเงิน", "role": "collector", "fund_id": fid}).json()
        assert client.post(f"/v1/members/funds/{fid}/collectors", headers=committee,
                           json={"user_id": collector_user["id"], "display_name": "อาสาเก็บเงิน", "villages": [2]}).status_code == 201

        # The member links LINE with a code from the committee.
        code = client.post("/v1/auth/line/link-codes", headers=committee, json={"fund_id": fid, "member_id": members[0]})
        assert code.status_code == 201 and code.json()["qr_svg"].startswith("<svg")
        linked = client.post("/v1/auth/line/link", json={"id_token": line.id_token("U-member-0"), "code": code.json()["code"]})
        assert linked.status_code == 200, linked.text

        # 1. The collector logs in and downloads the round (then polls it: 304, nothing re-sent).
        collector = _login(client, "0870000002", "246810")
        round_page = client.get(f"/v1/members/funds/{fid}/collectors/me/round", headers=collector)
        assert round_page.status_code == 200 and {m["id"] for m in round_page.json()["items"]} == set(members)
        assert round_page.headers["x-server-time"]
        again = client.get(f"/v1/members/funds/{fid}/collectors/me/round", headers={**collector, "If-None-Match": round_page.headers["etag"]})
        assert again.status_code == 304 and again.content == b""

        # 2. Deposits recorded offline through the evening, then synced in one batch, twice.
        evening = dt.datetime.now(dt.UTC).replace(microsecond=0)
        offline = [{"id": str(uuid.uuid4()), "member_id": members[i % 3], "amount_satang": 100 * (1 + i % 3),
                    "collected_at": (evening - dt.timedelta(minutes=30 - i)).isoformat()} for i in range(6)]
        first = client.post(f"/v1/ledger/funds/{fid}/deposits/batch", headers=collector, json={"deposits": offline})
        assert first.status_code == 200, first.text
        assert (first.json()["created"], first.json()["duplicates"], first.json()["rejected"]) == (6, 0, 0)
        second = client.post(f"/v1/ledger/funds/{fid}/deposits/batch", headers={**collector, "Accept-Encoding": "gzip"},
                             json={"deposits": offline})
        assert (second.json()["created"], second.json()["duplicates"]) == (0, 6)
        assert [r["receipt_no"] for r in second.json()["results"]] == [r["receipt_no"] for r in first.json()["results"]]

        # 3. The day's total, as the collector sees it.
        today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
        day = client.get(f"/v1/ledger/funds/{fid}/reports/collections", headers=collector, params={"date": today}).json()
        collected = sum(d["amount_satang"] for d in offline)
        assert day[0]["collected_satang"] == collected and day[0]["cash_in_hand_satang"] == collected

        # 4. The cash goes to the treasurer: nothing left in hand, no difference.
        handed = client.post(f"/v1/ledger/funds/{fid}/handovers", headers=committee, json={
            "id": str(uuid.uuid4()), "collector_id": collector_user["id"], "amount_satang": collected, "handed_over_on": today})
        assert handed.status_code == 201, handed.text
        day = client.get(f"/v1/ledger/funds/{fid}/reports/collections", headers=committee,
                         params={"date": today, "collector_id": collector_user["id"]}).json()
        assert (day[0]["difference_satang"], day[0]["cash_in_hand_satang"]) == (0, 0)

        # 5. The member sees the receipts in LINE: one message for the day's deposits.
        texts = _wait_for(lambda: line.texts_to("U-member-0"))
        mine = [d for d in offline if d["member_id"] == members[0]]
        assert len(texts) == 1 and f"{len(mine)} รายการ" in texts[0], texts
        assert f"รวม {sum(d['amount_satang'] for d in mine) // 100} บาท" in texts[0]

        # ...and asks for the balance in the chat.
        body, signature = line.webhook([line.text_event("U-member-0", "ยอดเงิน")])
        assert client.post("/v1/line/webhook", content=body, headers={"X-Line-Signature": signature}).status_code == 200
        reply = _wait_for(lambda: line.replies)
        assert f"{sum(d['amount_satang'] for d in mine) // 100} บาท" in reply[0]["messages"][0]["text"]

        # Arrears reminders go only to members who asked for them.
        member_token = client.post("/v1/auth/line", json={"id_token": line.id_token("U-member-0")}).json()["access_token"]
        assert client.put("/v1/auth/line/preferences", headers={"Authorization": f"Bearer {member_token}"},
                          json={"receipts": True, "claims": True, "arrears": True}).status_code == 200
        assert client.post(f"/v1/ledger/funds/{fid}/plans", headers=committee, json={
            "name": "สัจจะวันละบาท", "period": "day", "amount_satang": 100, "effective_from": "2015-01-01"}).status_code == 201
        reminded = client.post("/v1/line/reminders/arrears", headers=committee, json={"fund_id": fid})
        assert reminded.status_code == 200 and reminded.json()["queued"] == 1, reminded.text
        reminder = _wait_for(lambda: [t for t in line.texts_to("U-member-0") if "ค้างส่ง" in t])
        assert "งวด" in reminder[0]
        assert client.post("/v1/line/reminders/arrears", headers=collector, json={"fund_id": fid}).status_code == 403

        # Phones get compressed answers when a body is big enough to be worth it.
        zipped = httpx.get(f"{system.url}/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip" and "/v1/ledger/funds/{fund_id}/deposits/batch" in zipped.json()["paths"]
