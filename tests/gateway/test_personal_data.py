"""A member's erasure through every process, and the download of their data (issue 21, points 3 and 4;
docs/personal-data.md).

The gateway in front of the four real services. After an erasure the member's name, phone and
national ID appear in no text or jsonb column of any of the five databases, the books balance with
the same amounts and receipts, and the erasure record shows each step done; a process that is down
is retried and completes later; asking again changes nothing. The download holds the member's data
from every service and nothing of another member's, and is audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text as sql_text

from services.benefits.personal_data import sweep_documents
from services.members.erasures.worker import carry_due
from shared.auth import Role, TokenVerifier
from shared.timeutil import utcnow
from tests.support.apps import ServicesWire, gateway_app
from tests.support.factories import make_books, national_id, person
from tests.support.helpers import AUDIENCE, ISSUER, Tokens

SERVICES = ("members", "ledger", "benefits", "grants")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
FIRST, LAST, PHONE, NID = "บุญเรือนลบ", "ทดสอบลบทิ้ง", "0819990777", national_id(777)
TODAY = dt.date.today()



@pytest.fixture
async def wired(engines, service_client, tokens):
    services = {name: await service_client(name) for name in SERVICES}
    async with gateway_app(engines["gateway"], **{f"{name}_url": f"http://{name}" for name in SERVICES}) as (app, client):
        keyring = app.state.keyring
        trusted = {"keys": tokens.jwks["keys"] + keyring.jwks()["keys"]}
        for service in services.values():
            service._transport.app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=trusted)
        await app.state.forwarder.client.close()
        app.state.forwarder.client = ServicesWire(services)
        yield app, client, services, Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())


class Refused(httpx.AsyncBaseTransport):
    """A process that is down."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)


def worker_http(gateway_app_: Any, services: dict[str, httpx.AsyncClient], signed: Tokens, *, ledger_down: bool = False) -> httpx.AsyncClient:
    """The members service's client, as its worker uses it: its own token, each process an app."""
    mounts = {"http://gateway": httpx.ASGITransport(app=gateway_app_),
              "http://benefits": services["benefits"]._transport,
              "http://ledger": Refused() if ledger_down else services["ledger"]._transport}
    return httpx.AsyncClient(mounts=mounts, headers=signed.service("members"))


URLS = {"gateway": "http://gateway", "ledger": "http://ledger", "benefits": "http://benefits"}


async def texts_holding(db: Any, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text, varchar or jsonb column of the database holding a needle."""
    found = []
    async with db.sessionmaker() as session:
        columns = (await session.execute(sql_text(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND data_type IN ('text', 'character varying', 'jsonb', 'ARRAY', 'character')"))).all()
        for table, column in columns:
            for needle in needles:
                hit = await session.scalar(sql_text(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE :pattern'), {"pattern": f"%{needle}%"})
                if hit:
                    found.append((table, column, needle))
    return found


async def a_member_with_everything(wired: Any, service_client: Any, tokens: Tokens) -> dict[str, Any]:
    """A member with a gateway user, a LINE link and a queued message, deposits (one reversed, its reason
    naming them), a claim naming them with an ID card: and another member of the fund."""
    app, gateway, services, signed = wired
    books = await make_books(service_client, tokens, members_count=1)
    fund = books.fund
    made = await fund.register(person(777, first_name=FIRST, last_name=LAST, phone=PHONE, national_id=NID))
    assert made.status_code == 201, made.text
    member_id = made.json()["id"]
    books.member_ids.append(member_id)
    platform = signed.headers(Role.platform_admin, sub="platform-admin-1")
    user = await gateway.post("/v1/auth/users", headers=platform, json={
        "phone": PHONE, "password": "member-pass-1234", "display_name": f"{FIRST} {LAST}", "role": "member",
        "fund_id": fund.id, "member_id": member_id})
    assert user.status_code == 201, user.text
    async with app.state.db.sessionmaker() as session, session.begin():
        await session.execute(sql_text(
            "INSERT INTO line_links (line_user_id, user_id, fund_id, member_id, notify_receipts, notify_claims, notify_arrears, linked_at)"
            " VALUES ('U-erase-me', :user, :fund, :member, true, true, false, now())"),
            {"user": user.json()["id"], "fund": fund.id, "member": member_id})
        await session.execute(sql_text(
            "INSERT INTO line_outbox (id, kind, line_user_id, messages, status, attempts, created_at)"
            " VALUES (:id, 'push', 'U-erase-me', CAST(:messages AS jsonb), 'pending', 0, now())"),
            {"id": str(uuid.uuid4()), "messages": orjson.dumps([{"type": "text", "text": f"คุณ{FIRST} ได้รับใบเสร็จ"}]).decode()})
    receipts = []
    for member in (0, 1, 1):
        posted = await books.post("/deposits", books.deposit(member=member, amount=500, collector_id=books.collector))
        assert posted.status_code in (200, 201), posted.text
        receipts.append(posted.json())
    undone = await books.post_confirmed(f"/deposits/{receipts[2]['id']}/reverse",
                                        {"id": str(uuid.uuid4()), "reason": f"ฝากซ้ำ {FIRST} {LAST} โทร {PHONE}"})
    assert undone.status_code == 200, undone.text
    benefits = services["benefits"]
    welfare = f"/v1/benefits/funds/{fund.id}"
    assert (await benefits.post(f"{welfare}/catalog/from-templates", json={"effective_from": "2000-01-01"},
                                headers=books.admin)).status_code == 201
    claim = await benefits.post(f"{welfare}/claims", headers=books.committee, json={
        "member_id": member_id, "benefit_code": "education", "event_date": (TODAY - dt.timedelta(days=10)).isoformat(),
        "details": f"บุตรของ{FIRST} {LAST} ติดต่อ {PHONE}"})
    assert claim.status_code == 201, claim.text
    document = await benefits.post(f"{welfare}/claims/{claim.json()['id']}/documents", params={"kind": "id_card"},
                                   headers=books.committee, files={"file": (f"{FIRST}-{NID}.png", PNG, "image/png")})
    assert document.status_code == 201, document.text
    return {"books": books, "fund": fund, "member_id": member_id, "other_id": books.member_ids[0],
            "claim": claim.json(), "document": document.json()}


async def test_an_erasure_reaches_every_process_keeps_the_books_and_is_retried_until_done(wired, service_client, tokens) -> None:
    app, gateway, services, signed = wired
    world = await a_member_with_everything(wired, service_client, tokens)
    books, fund, member_id = world["books"], world["fund"], world["member_id"]
    databases = {"gateway": app.state.db, **{name: services[name]._transport.app.state.db for name in SERVICES}}
    needles = [FIRST, LAST, PHONE, NID]
    before = {name: await texts_holding(db, needles) for name, db in databases.items()}
    assert before["gateway"] and before["ledger"] and before["benefits"] and before["members"], before
    balance = (await books.get("/trial-balance")).json()
    statement = (await books.get(f"/members/{member_id}/statement")).json()

    members = services["members"]
    base = f"/v1/members/funds/{fund.id}/members/{member_id}"
    admin = fund.as_(Role.fund_admin)
    assert (await members.post(f"{base}/status", headers=fund.committee,
                               json={"status": "resigned", "effective_on": TODAY.isoformat(), "reason": f"ย้ายไปอยู่กับ{LAST}"})).status_code == 200
    assert (await members.get(f"{base}/erasure", headers=admin)).json() is None
    done = await members.post(f"{base}/anonymise", headers=admin, json={"reason": "สมาชิกขอลบข้อมูล"})
    assert done.status_code == 200, done.text
    record = (await members.get(f"{base}/erasure", headers=admin)).json()
    assert record["steps"]["members"]["status"] == "done" and record["completed"] is False
    assert {name: step["status"] for name, step in record["steps"].items() if name != "members"} == {
        "gateway": "pending", "ledger": "pending", "benefits": "pending"}

    # The ledger is down: the gateway and benefits are done, the ledger's step waits with its error.
    members_db = members._transport.app.state.db
    async with worker_http(app, services, signed, ledger_down=True) as http:
        assert await carry_due(members_db, http, URLS) == 1
        assert await carry_due(members_db, http, URLS) == 0, "not due again before its backoff"
    record = (await members.get(f"{base}/erasure", headers=admin)).json()
    steps = record["steps"]
    assert steps["gateway"]["status"] == "done" and steps["benefits"]["status"] == "done"
    assert steps["ledger"] == {**steps["ledger"], "status": "pending", "attempts": 1, "last_error": "unreachable: ConnectError"}
    assert steps["gateway"]["erased"] == {"users": 1, "line_links": 1, "line_link_codes": 0, "line_messages": 1,
                                          "login_throttle": 0}
    assert steps["benefits"]["erased"] == {"claim_texts": 1, "claim_event_notes": 0, "documents": 1}
    assert record["completed"] is False
    # Later, the ledger is back.
    async with worker_http(app, services, signed) as http:
        assert await carry_due(members_db, http, URLS, now=utcnow() + dt.timedelta(hours=2)) == 1
    record = (await members.get(f"{base}/erasure", headers=admin)).json()
    assert record["completed"] is True and all(step["status"] == "done" for step in record["steps"].values())
    assert record["steps"]["ledger"]["erased"] == {"entry_memos": 1, "proposal_reasons": 1}
    assert record["steps"]["ledger"]["attempts"] == 2

    # The objects go with the sweep (outside the erase's transaction); the wrapped key already went.
    store = services["benefits"]._transport.app.state.documents
    keys = [info.key async for info in store.blobs.list("claims/")]
    assert [k for k in keys if k.endswith(world["document"]["id"])], "the object stays until the sweep"
    assert await sweep_documents(services["benefits"]._transport.app.state.db, store) == 1
    assert not [info.key async for info in store.blobs.list("claims/") if info.key.endswith(world["document"]["id"])]

    after = {name: await texts_holding(db, needles) for name, db in databases.items()}
    assert after == {name: [] for name in databases}, after
    # The books: the same balances, amounts and receipts; the member's identity gone from them.
    assert (await books.get("/trial-balance")).json() == balance
    kept = (await books.get(f"/members/{member_id}/statement")).json()
    assert [(line["amount_satang"], line["receipt_no"]) for line in kept["lines"]] == [
        (line["amount_satang"], line["receipt_no"]) for line in statement["lines"]]
    # The user can no longer sign in; asking again changes nothing.
    assert (await gateway.post("/v1/auth/login", json={"phone": PHONE, "password": "member-pass-1234"})).status_code == 401
    again = await members.post(f"{base}/anonymise", headers=admin, json={"reason": "ขออีกครั้ง"})
    assert again.status_code == 200
    assert (await members.get(f"{base}/erasure", headers=admin)).json() == record
    async with worker_http(app, services, signed) as http:
        assert await carry_due(members_db, http, URLS, now=utcnow() + dt.timedelta(days=1)) == 0
        for name, url in {"gateway": f"http://gateway/v1/internal/funds/{fund.id}/members/{member_id}/erase",
                          "ledger": f"http://ledger/v1/ledger/internal/funds/{fund.id}/members/{member_id}/erase",
                          "benefits": f"http://benefits/v1/benefits/internal/funds/{fund.id}/members/{member_id}/erase"}.items():
            repeat = await http.post(url)
            assert repeat.status_code == 200 and not any(repeat.json()["erased"].values()), (name, repeat.text)
    # Another fund's admin is told there is no such member.
    other_admin = tokens.headers(Role.fund_admin, fund_id=str(uuid.uuid4()), sub="fund-admin-b")
    assert (await members.get(f"{base}/erasure", headers=other_admin)).status_code == 404
    # The claim's amount and status stay; its document is kept as erased.
    claim = (await services["benefits"].get(f"/v1/benefits/funds/{fund.id}/claims/{world['claim']['id']}",
                                            headers=books.committee)).json()
    assert claim["amount_satang"] == world["claim"]["amount_satang"] and claim["details"] is None
    assert [d["filename"] for d in claim["documents"]] == ["erased"]
    download = await services["benefits"].get(
        f"/v1/benefits/funds/{fund.id}/claims/{world['claim']['id']}/documents/{world['document']['id']}", headers=books.committee)
    assert download.status_code == 410 and download.json()["code"] == "document.erased"


async def test_a_member_downloads_everything_sajja_holds_about_them_and_nothing_of_another(wired, service_client, tokens) -> None:
    app, gateway, services, signed = wired
    world = await a_member_with_everything(wired, service_client, tokens)
    fund, member_id = world["fund"], world["member_id"]
    me = signed.headers(Role.member, sub="member-a", fund_id=fund.id, member_id=member_id)
    answer = await gateway.get("/v1/me/data", headers=me)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith("attachment")
    data = answer.json()
    assert data["members"]["member"]["first_name"] == FIRST and data["members"]["member"]["phone"] == PHONE
    # The national ID masked (the whole number has its own audited route); the ID card's file name,
    # which the member gave, is theirs too.
    assert NID not in orjson.dumps(data["members"]).decode() and data["members"]["member"]["national_id_masked"].endswith(NID[-1])
    assert [s["status"] for s in data["members"]["status_history"]] == ["active"]
    assert [line["receipt_no"] for line in data["ledger"]["statement"] if line["receipt_no"]] and all(
        line["amount_satang"] for line in data["ledger"]["statement"])
    assert data["ledger"]["deposits"] == 2 and data["ledger"]["balance_satang"] == 500  # one of the two reversed
    assert [c["id"] for c in data["benefits"]["claims"]] == [world["claim"]["id"]]
    assert data["benefits"]["claims"][0]["documents"][0]["kind"] == "id_card"
    assert [link["line_user_id"] for link in data["gateway"]["line_links"]] == ["U-erase-me"]
    assert data["gateway"]["users"][0]["phone"] == PHONE and len(data["gateway"]["line_messages"]) == 1
    for secret in ("password_hash", "token", "secret", "pin_ticket"):
        assert secret not in answer.text
    other = (await services["members"].get(f"/v1/members/funds/{fund.id}/members/{world['other_id']}",
                                           headers=fund.committee)).json()
    assert other["last_name"] not in answer.text and other["phone"] not in answer.text and world["other_id"] not in answer.text

    # The fund's admin, on the member's behalf: the same document. Others are refused.
    admin = signed.headers(Role.fund_admin, sub="fund-admin-a", fund_id=fund.id)
    path = f"/v1/dashboard/funds/{fund.id}/members/{member_id}/data.json"
    by_admin = await gateway.get(path, headers=admin)
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["members"] == data["members"]
    other_admin = signed.headers(Role.fund_admin, sub="fund-admin-b", fund_id=str(uuid.uuid4()))
    assert (await gateway.get(path, headers=other_admin)).status_code == 404
    assert (await gateway.get(path, headers=signed.headers(Role.committee, sub="c-a", fund_id=fund.id))).status_code == 403
    nobody = f"/v1/dashboard/funds/{fund.id}/members/{uuid.uuid4()}/data.json"
    assert (await gateway.get(nobody, headers=admin)).status_code == 404
    async with app.state.db.sessionmaker() as session:
        events = (await session.execute(sql_text(
            "SELECT actor, action, object_id, details FROM audit_events WHERE action = 'member.data_export' ORDER BY id"))).all()
    assert [(e.actor, e.object_id, e.details) for e in events] == [
        ("member-a", member_id, {"for": "self"}),
        ("fund-admin-a", member_id, {"for": "member"})]
