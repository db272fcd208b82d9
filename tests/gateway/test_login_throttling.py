"""Login throttling that cannot be turned against a member (issue 20, point 3; docs/login-throttling.md):
failures taken atomically before argon2, a growing and capped delay per phone and (gentler) per
address, a device with a valid refresh token not slowed by others, /v1/auth/token throttled before
argon2, and argon2 under bounded concurrency.

Delays are driven by the throttle's clock (``app.state.login_throttle.now``), never by sleeping. The
parallel tests run a gateway on its own database (``sajja_gateway_throttle``), committing for real.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.auth import service
from shared.db import Database
from shared.migrate import migrate
from tests.support.apps import gateway_app
from tests.support.helpers import ADMIN_PASSWORD, ADMIN_PHONE, gateway_settings, login


class Clock:
    """The throttle's clock, moved by hand."""

    def __init__(self) -> None:
        self.at = dt.datetime(2026, 12, 7, 18, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


def _clocked(app: Any) -> Clock:
    clock = Clock()
    app.state.login_throttle.now = clock
    return clock


def _count_argon2(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts argon2 verifications (each is one judged attempt)."""
    calls: list[int] = []
    real = service._check_hash

    def counting(password_hash: str, password: str) -> bool:
        calls.append(1)
        return real(password_hash, password)

    monkeypatch.setattr(service, "_check_hash", counting)
    return calls


def _attempt(client: httpx.AsyncClient, phone: str, password: str = "wrong-password", **extra: Any) -> Any:
    return client.post("/v1/auth/login", json={"phone": phone, "password": password, **extra})


@pytest.fixture(scope="module")
async def committed(pg_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A gateway on its own database, committing for real, for requests that arrive together."""
    from gateway.app import create_app, start_gateway

    url = await migrate("gateway", pg_url, db_name="sajja_gateway_throttle")
    engine = create_async_engine(url, pool_size=20, max_overflow=20)
    app = create_app(gateway_settings())
    app.state.db = Database(engine, pool_size=20)
    owned = await start_gateway(app)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.50", 50000)), base_url="http://gateway", timeout=60
    )
    yield app, client
    await client.aclose()
    for resource in owned:
        await resource.close()
    await app.state.db.dispose()


async def _user(app: Any, phone: str, password: str) -> None:
    """A member-less staff user committed in the committed gateway's database."""
    password_hash = await service.hash_password(password)
    async with app.state.db.sessionmaker() as session, session.begin():
        await session.execute(
            text("INSERT INTO users (id, phone, password_hash, display_name, role, is_active) "
                 "VALUES (:id, :phone, :hash, 'ผู้ทดสอบ', 'platform_admin', true)"),
            {"id": uuid.uuid4(), "phone": phone, "hash": password_hash},
        )


async def test_forty_parallel_wrong_guesses_get_only_the_free_attempts_judged(committed, monkeypatch) -> None:
    """Before: count, argon2 and insert were three steps, and 21 of 40 were judged instead of 5."""
    app, client = committed
    clock = _clocked(app)
    phone = "0820000040"
    await _user(app, phone, "collector-password-1")
    calls = _count_argon2(monkeypatch)
    responses = await asyncio.gather(*(_attempt(client, phone) for _ in range(40)))
    statuses = Counter(r.status_code for r in responses)
    assert len(calls) == app.state.settings.login_phone_free_failures == 5, statuses
    assert statuses == {401: 5, 429: 35}
    for r in responses:
        if r.status_code == 429:
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "auth.too_many_attempts"
            assert int(r.headers["retry-after"]) >= 1
    # The owner is slowed, not locked: after the delay the right password works.
    clock.advance(1)
    assert (await _attempt(client, phone, "collector-password-1")).status_code == 200


async def test_argon2_never_runs_more_than_its_limit_at_once(committed, monkeypatch) -> None:
    app, client = committed
    _clocked(app)
    limit = 2
    service.argon2_gate.configure(limit)
    lock, release = threading.Lock(), threading.Event()
    state = {"active": 0, "peak": 0, "calls": 0}

    def instrumented(password_hash: str, password: str) -> bool:
        with lock:
            state["active"] += 1
            state["calls"] += 1
            state["peak"] = max(state["peak"], state["active"])
        release.wait(10)
        with lock:
            state["active"] -= 1
        return False

    monkeypatch.setattr(service, "_check_hash", instrumented)
    try:
        tasks = [asyncio.create_task(_attempt(client, f"08300000{i:02d}")) for i in range(8)]
        for _ in range(1000):  # until the first turns are taken (not a measure of speed)
            if state["active"] >= limit:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # room for any more to start, were they allowed to
        assert state["active"] == limit
        release.set()
        responses = await asyncio.gather(*tasks)
    finally:
        release.set()
        service.argon2_gate.configure(app.state.settings.argon2_max_concurrency)
    assert [r.status_code for r in responses] == [401] * 8
    assert state["calls"] == 8 and state["peak"] == limit


async def test_a_phone_waits_longer_after_each_failure_up_to_a_cap_and_is_never_locked(engines) -> None:
    async with gateway_app(engines["gateway"], login_phone_max_delay_seconds=8) as (app, client):
        clock = _clocked(app)
        for _ in range(5):
            assert (await _attempt(client, ADMIN_PHONE)).status_code == 401
        waits = []
        for _ in range(6):
            refused = await _attempt(client, ADMIN_PHONE, ADMIN_PASSWORD)
            assert refused.status_code == 429, refused.text
            waits.append(int(refused.headers["retry-after"]))
            clock.advance(waits[-1] - 0.5)
            assert (await _attempt(client, ADMIN_PHONE, ADMIN_PASSWORD)).status_code == 429, "not before the wait"
            clock.advance(0.5)
            assert (await _attempt(client, ADMIN_PHONE)).status_code == 401
        assert waits == [1, 2, 4, 8, 8, 8]
        thai = await _attempt(client, ADMIN_PHONE)
        assert thai.json()["title"] == "พยายามหลายครั้งเกินไป"
        assert thai.json()["detail"] == "เข้าสู่ระบบผิดหลายครั้งเกินไป โปรดลองใหม่ในอีก 8 วินาที"
        english = await client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": "x"},
                                    headers={"Accept-Language": "en"})
        assert english.json()["detail"] == "Too many failed logins; try again in 8 seconds"
        clock.advance(8)
        await login(client)
        # Success resets the count: the next wrong password is judged, not delayed.
        assert (await _attempt(client, ADMIN_PHONE)).status_code == 401


async def test_an_address_with_many_failures_only_delays_a_new_phone_a_little(engines) -> None:
    """Before: fifty failures from one address locked everyone behind it out for 15 minutes."""
    async with gateway_app(engines["gateway"], login_address_free_failures=3,
                           login_address_max_delay_seconds=5) as (app, client):
        clock = _clocked(app)
        failed, waits = 0, []
        for i in range(200):
            if failed == 60:
                break
            r = await _attempt(client, f"0840000{i:03d}")
            if r.status_code == 429:
                waits.append(int(r.headers["retry-after"]))
                clock.advance(waits[-1])
            else:
                assert r.status_code == 401
                failed += 1
        assert failed == 60 and max(waits) <= 5
        # A phone with no failure of its own, from the same address, right after the last failure.
        first = await _attempt(client, ADMIN_PHONE, ADMIN_PASSWORD)
        assert first.status_code == 429 and 1 <= int(first.headers["retry-after"]) <= 5
        clock.advance(int(first.headers["retry-after"]))
        await login(client)


async def test_a_device_with_a_valid_refresh_token_logs_in_while_others_fail_on_its_phone(engines) -> None:
    async with gateway_app(engines["gateway"]) as (app, client):
        clock = _clocked(app)
        device = await login(client)
        admin = {"Authorization": f"Bearer {device['access_token']}"}
        other = await client.post("/v1/auth/users", headers=admin, json={
            "phone": "0850000001", "password": "another-admin-1", "display_name": "อีกคน", "role": "platform_admin"})
        assert other.status_code == 201, other.text
        others_token = (await login(client, "0850000001", "another-admin-1"))["refresh_token"]
        for _ in range(30):  # attackers guessing at the collector's phone
            assert (await _attempt(client, ADMIN_PHONE)).status_code in (401, 429)
        assert (await _attempt(client, ADMIN_PHONE, ADMIN_PASSWORD)).status_code == 429
        # The collector's own phone proves itself with its refresh token and gets in.
        proved = await _attempt(client, ADMIN_PHONE, ADMIN_PASSWORD, refresh_token=device["refresh_token"])
        assert proved.status_code == 200, proved.text
        # Refreshing is never slowed by login failures.
        refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": device["refresh_token"]})
        assert refreshed.status_code == 200
        # Another user's token, a spent one or a made-up one proves nothing.
        for token in (others_token, device["refresh_token"], "not-a-token-0123456789"):
            assert (await _attempt(client, ADMIN_PHONE, ADMIN_PASSWORD, refresh_token=token)).status_code == 429
        # The device is slowed by its own failures only.
        current = refreshed.json()["refresh_token"]
        for _ in range(5):
            assert (await _attempt(client, ADMIN_PHONE, refresh_token=current)).status_code == 401
        assert (await _attempt(client, ADMIN_PHONE, ADMIN_PASSWORD, refresh_token=current)).status_code == 429
        clock.advance(1)
        assert (await _attempt(client, ADMIN_PHONE, ADMIN_PASSWORD, refresh_token=current)).status_code == 200


async def test_client_credentials_are_throttled_before_argon2(engines, monkeypatch) -> None:
    """Before: every request with any client id ran argon2."""
    async with gateway_app(engines["gateway"]) as (app, client):
        clock = _clocked(app)
        calls = _count_argon2(monkeypatch)
        stranger = f"cli-{uuid.uuid4().hex[:16]}"
        responses = [await client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": stranger, "client_secret": "guess"}) for _ in range(15)]
        assert [r.status_code for r in responses] == [401] * 5 + [429] * 10
        assert len(calls) == 5
        refused = responses[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "auth.client_too_many_attempts"
        assert refused.json()["detail"] == "ขอโทเคนด้วยข้อมูลไคลเอนต์ผิดหลายครั้งเกินไป โปรดลองใหม่ในอีก 1 วินาที"
        assert refused.headers["retry-after"] == "1"
        english = await client.post("/v1/auth/token", headers={"Accept-Language": "en"}, data={
            "grant_type": "client_credentials", "client_id": stranger, "client_secret": "guess"})
        assert english.json()["detail"] == "Too many failed token requests; try again in 1 seconds"
        clock.advance(1)
        assert (await client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": stranger, "client_secret": "guess"})).status_code == 401

        # A registered grant system is not slowed by a stranger hammering its id from elsewhere.
        admin = {"Authorization": f"Bearer {(await login(client))['access_token']}"}
        created = (await client.post("/v1/auth/clients", headers=admin, json={"name": "ระบบทุน", "scopes": []})).json()
        for _ in range(10):
            await client.post("/v1/auth/token", data={
                "grant_type": "client_credentials", "client_id": created["client_id"], "client_secret": "guess"})
        own = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("198.51.100.9", 40000)),
                                base_url="http://gateway")
        async with own:
            ok = await own.post("/v1/auth/token", data={"grant_type": "client_credentials",
                                                        "client_id": created["client_id"],
                                                        "client_secret": created["client_secret"]})
        assert ok.status_code == 200, ok.text


async def test_random_client_ids_from_one_address_are_throttled_per_address(engines, monkeypatch) -> None:
    async with gateway_app(engines["gateway"], login_address_free_failures=3) as (app, client):
        _clocked(app)
        calls = _count_argon2(monkeypatch)
        statuses = [(await client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": f"cli-{uuid.uuid4().hex[:16]}",
            "client_secret": "guess"})).status_code for _ in range(10)]
        assert statuses == [401] * 3 + [429] * 7
        assert len(calls) == 3
        # Logins from that address keep their own count.
        await login(client)


async def test_rows_older_than_the_window_are_pruned_without_changing_an_answer(engines, monkeypatch) -> None:
    from gateway.auth import throttle as throttle_module

    monkeypatch.setattr(throttle_module, "PRUNE_EVERY", 3)
    async with gateway_app(engines["gateway"]) as (app, client):
        clock = _clocked(app)
        for i in range(3):
            await _attempt(client, f"0860000{i:03d}")
        clock.advance(app.state.settings.login_failure_window_seconds + 1)
        for i in range(3, 6):
            assert (await _attempt(client, f"0860000{i:03d}")).status_code == 401
        async with app.state.db.sessionmaker() as session:
            keys = set((await session.execute(text("SELECT key FROM login_throttle WHERE kind = 'phone'"))).scalars())
        assert keys == {f"0860000{i:03d}" for i in range(3, 6)}
