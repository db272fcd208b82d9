"""LINE at the gateway: ID tokens verified by LINE's rules, account linking with one-time codes,
the signed webhook handled once per event, and pushes with retry keys, against a fake LINE."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jose import jwt
from sqlalchemy import select, update

from gateway.line import service
from gateway.models import LineLinkCode, LineOutbox
from shared.auth import Principal, Role
from tests.fakes.line import CHANNEL_ID, FakeLine
from tests.support.apps import gateway_app


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    fake = FakeLine()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def gw(engines, line: FakeLine) -> AsyncIterator[tuple[Any, Any]]:
    async with gateway_app(engines["gateway"], line_worker_interval_seconds=0, **line.settings()) as pair:
        yield pair


FUND = uuid.uuid4()


async def _code(app: Any, member_id: uuid.UUID, ttl: int = 900) -> str:
    committee = Principal(subject="committee-1", role=Role.committee, fund_id=FUND)
    async with app.state.db.sessionmaker() as session:
        async with session.begin():
            code, _ = await service.issue_code(session, committee, FUND, member_id, ttl)
    return code


async def test_a_member_links_with_a_code_and_then_signs_in_with_line(gw, line: FakeLine) -> None:
    app, client = gw
    member_id = uuid.uuid4()
    code = await _code(app, member_id)
    unlinked = await client.post("/v1/auth/line", json={"id_token": line.id_token("U-somsri")})
    assert unlinked.status_code == 404 and unlinked.json()["code"] == "line.not_linked"
    linked = await client.post("/v1/auth/line/link", json={"id_token": line.id_token("U-somsri", nonce="n1"), "nonce": "n1", "code": code.lower()})
    assert linked.status_code == 200, linked.text
    claims = jwt.get_unverified_claims(linked.json()["access_token"])
    assert (claims["role"], claims["member_id"], claims["fund_id"]) == ("member", str(member_id), str(FUND))
    again = await client.post("/v1/auth/line/link", json={"id_token": line.id_token("U-somsri"), "code": code})
    assert again.status_code == 422 and again.json()["code"] == "line.code_invalid", "a code works once"
    signed_in = await client.post("/v1/auth/line", json={"id_token": line.id_token("U-somsri", alg="HS256")})
    assert signed_in.status_code == 200
    assert jwt.get_unverified_claims(signed_in.json()["access_token"])["sub"] == claims["sub"]
    # Another LINE account cannot take the membership while it is linked...
    thief = await client.post("/v1/auth/line/link", json={"id_token": line.id_token("U-other"), "code": await _code(app, member_id)})
    assert thief.status_code == 409 and thief.json()["code"] == "line.already_linked"
    # ...but after unlinking (by the member) a new code links again.
    me = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    assert (await client.post("/v1/auth/line/unlink", json={"fund_id": str(FUND), "member_id": str(member_id)}, headers=me)).status_code == 204
    assert (await client.post("/v1/auth/line", json={"id_token": line.id_token("U-somsri")})).status_code == 404
    relinked = await client.post("/v1/auth/line/link", json={"id_token": line.id_token("U-new-phone"), "code": await _code(app, member_id)})
    assert relinked.status_code == 200


async def test_an_expired_code_does_not_link(gw, line: FakeLine) -> None:
    app, client = gw
    code = await _code(app, uuid.uuid4())
    async with app.state.db.sessionmaker() as session:
        async with session.begin():
            await session.execute(update(LineLinkCode).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    response = await client.post("/v1/auth/line/link", json={"id_token": line.id_token("U-late"), "code": code})
    assert response.status_code == 422 and response.json()["code"] == "line.code_invalid"


@pytest.mark.parametrize(
    "attack",
    ["wrong_audience", "wrong_issuer", "expired", "nonce_mismatch", "alg_none", "unknown_kid", "other_key", "hs256_wrong_secret", "tampered"],
)
async def test_line_id_tokens_are_verified_by_lines_rules(gw, line: FakeLine, attack: str) -> None:
    app, client = gw
    code = await _code(app, uuid.uuid4())
    now = int(time.time())
    token = {
        "wrong_audience": lambda: line.id_token("U1", aud="9999"),
        "wrong_issuer": lambda: line.id_token("U1", iss="https://evil.example"),
        "expired": lambda: line.id_token("U1", exp=now - 5, iat=now - 100),
        "nonce_mismatch": lambda: line.id_token("U1", nonce="other"),
        "alg_none": lambda: "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + line.id_token("U1").split(".")[1] + ".",
        "unknown_kid": lambda: jwt.encode({"iss": "https://access.line.me", "sub": "U1", "aud": CHANNEL_ID, "exp": now + 60},
                                          line.pem, algorithm="ES256", headers={"kid": "nope"}),
        "other_key": lambda: jwt.encode({"iss": "https://access.line.me", "sub": "U1", "aud": CHANNEL_ID, "exp": now + 60},
                                        FakeLine().pem, algorithm="ES256", headers={"kid": line.kid}),
        "hs256_wrong_secret": lambda: jwt.encode({"iss": "https://access.line.me", "sub": "U1", "aud": CHANNEL_ID, "exp": now + 60},
                                                 "guessed-secret", algorithm="HS256"),
        "tampered": lambda: _tamper(line.id_token("U1")),
    }[attack]()
    response = await client.post("/v1/auth/line/link", json={"id_token": token, "nonce": "expected", "code": code}
                                 if attack == "nonce_mismatch" else {"id_token": token, "code": code})
    assert response.status_code == 401, (attack, response.text)
    assert response.json()["code"] == "line.id_token_invalid"
    ok = await client.post("/v1/auth/line/link", json={"id_token": line.id_token("U1"), "code": code})
    assert ok.status_code == 200, "the code was not spent by the refused attempt"


def _tamper(token: str) -> str:
    import base64
    import json

    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "U-someone-else"
    return f"{head}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{sig}"


async def test_the_webhook_checks_signatures_and_handles_each_event_once(gw, line: FakeLine) -> None:
    app, client = gw
    event = line.text_event("U-stranger", "ยอดเงิน")
    body, signature = line.webhook([event])
    forged = await client.post("/v1/line/webhook", content=body, headers={"X-Line-Signature": "AAAA" + signature[4:]})
    assert forged.status_code == 401 and forged.json()["code"] == "line.signature_invalid"
    unsigned = await client.post("/v1/line/webhook", content=body)
    assert unsigned.status_code == 401
    for _ in range(2):  # LINE redelivers
        assert (await client.post("/v1/line/webhook", content=body, headers={"X-Line-Signature": signature})).status_code == 200
    await app.state.notifier.send_due(10)
    assert len(line.replies) == 1, "one reply for one event, however often it arrives"
    assert "ยังไม่ได้ผูก" in line.replies[0]["messages"][0]["text"]


async def test_linking_from_the_chat_with_a_code(gw, line: FakeLine) -> None:
    app, client = gw
    member_id = uuid.uuid4()
    code = await _code(app, member_id)
    body, signature = line.webhook([line.text_event("U-chat", f"ผูกบัญชี {code}")])
    assert (await client.post("/v1/line/webhook", content=body, headers={"X-Line-Signature": signature})).status_code == 200
    await app.state.notifier.send_due(10)
    assert "เรียบร้อย" in line.replies[-1]["messages"][0]["text"]
    assert (await client.post("/v1/auth/line", json={"id_token": line.id_token("U-chat")})).status_code == 200
    # A LINE user id written in the message is never trusted: only the signed source counts.
    body, signature = line.webhook([line.text_event("U-intruder", f"ผูกบัญชี {code}")])
    await client.post("/v1/line/webhook", content=body, headers={"X-Line-Signature": signature})
    assert (await client.post("/v1/auth/line", json={"id_token": line.id_token("U-intruder")})).status_code == 404


async def test_pushes_use_retry_keys_and_wait_out_rate_limits(gw, line: FakeLine) -> None:
    app, _ = gw
    async with app.state.db.sessionmaker() as session:
        async with session.begin():
            await service.queue_push(session, "U-push", "ได้รับเงินสัจจะ 30 บาท", "receipts:test:1")
            await service.queue_push(session, "U-push", "ได้รับเงินสัจจะ 30 บาท", "receipts:test:1")  # the same news twice
    line.throttle_next = 1
    await app.state.notifier.send_due(10)
    assert line.pushes == []
    async with app.state.db.sessionmaker() as session:
        message = await session.scalar(select(LineOutbox).where(LineOutbox.dedupe_key == "receipts:test:1"))
        assert message.status == "pending" and message.last_error == "LINE answered 429"
    async with app.state.db.sessionmaker() as session:
        async with session.begin():
            await session.execute(update(LineOutbox).values(next_attempt_at=None))
    await app.state.notifier.send_due(10)
    assert line.texts_to("U-push") == ["ได้รับเงินสัจจะ 30 บาท"]
    # An answer lost after LINE accepted it: the retry carries the same key and LINE says 409.
    async with app.state.db.sessionmaker() as session:
        async with session.begin():
            await session.execute(update(LineOutbox).values(status="pending", next_attempt_at=None))
    await app.state.notifier.send_due(10)
    assert line.texts_to("U-push") == ["ได้รับเงินสัจจะ 30 บาท"]
    async with app.state.db.sessionmaker() as session:
        assert (await session.scalar(select(LineOutbox.status).where(LineOutbox.dedupe_key == "receipts:test:1"))) == "sent"


async def test_line_is_off_until_configured(engines) -> None:
    async with gateway_app(engines["gateway"], line_worker_interval_seconds=0) as (_, client):
        response = await client.post("/v1/auth/line", json={"id_token": "x" * 20})
        assert response.status_code == 503 and response.json()["code"] == "line.not_configured"
        assert (await client.post("/v1/line/webhook", content=b"{}")).status_code == 503
