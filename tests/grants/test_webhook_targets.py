"""Webhook targets (issue 19, point 4): https and public addresses only, checked when subscribing and
again at each delivery after resolving the name, the request sent to the address that was checked,
no redirect followed; an allowlist for the tests' own receivers; and a subscription hears only the
events its client may see."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.grants.worker import run_once
from shared.auth import Role
from shared.errors import field_error_message
from shared.outbound import Allowlist, TargetPolicy, is_public
from tests.fakes.webhooks import FakeDns, WebhookReceiver
from tests.support.factories import NAKHON, make_fund, make_grantor
from tests.support.helpers import Tokens

PUBLIC = "93.184.216.34"
EVENTS = ["application.status_changed"]


class Hooks:
    """The grants service with the members service behind it, and a way to make events."""

    def __init__(self, grants: Any, members: Any, tokens: Tokens) -> None:
        self.grants, self.members, self.tokens = grants, members, tokens
        self.app = grants._transport.app

    async def setup(self) -> None:
        """A grantor (CODI), its officer and its grant system's client."""
        self.grantor = await make_grantor(self.grants, self.tokens, "codi")
        self.officer = self.tokens.headers(Role.grant_officer, sub="codi-officer", grantor_id=self.grantor)
        self.client = self.tokens.headers(Role.integration, sub="cli-codi", scope="grants:read", grantor_id=self.grantor)
        self.dns = FakeDns({"hooks.example.org": [PUBLIC]})

    async def use_http(self, http: httpx.AsyncClient) -> None:
        """Deliver with ``http`` (the one it replaces is closed)."""
        await self.app.state.webhook_http.aclose()
        self.app.state.webhook_http = http

    def policy(self, allowed: str = "", *, https_only: bool = True) -> None:
        """The rules of SAJJA_ENV=test (or dev), with this allowlist, over the fake DNS."""
        self.app.state.webhook_targets = TargetPolicy(https_only=https_only, allowlist=Allowlist.parse(allowed), resolve=self.dns)

    async def subscribe(self, url: str, headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
        return await self.grants.post("/v1/grants/webhooks", headers=headers or self.client, json={"url": url, "events": EVENTS, **extra})

    async def program(self) -> dict[str, Any]:
        response = await self.grants.post("/v1/grants/programs", headers=self.officer, json={
            "grantor": "codi", "name": "สนับสนุนกองทุนสวัสดิการชุมชน", "fiscal_year_be": 2569, "envelope_satang": 10_000_000})
        assert response.status_code == 201, response.text
        return response.json()

    async def submitted(self, program: dict[str, Any], fund: Any) -> str:
        """A fund's application submitted: one ``application.status_changed`` event."""
        application = await self.grants.post(f"/v1/grants/programs/{program['id']}/applications", headers=fund.as_(Role.fund_admin), json={
            "fund_id": fund.id, "title": "ขยายสวัสดิการผู้สูงอายุ",
            "budget_lines": [{"line": "L1", "description": "กิจกรรม", "amount_satang": 100_000}]})
        assert application.status_code == 201, application.text
        aid = application.json()["id"]
        assert (await self.grants.post(f"/v1/grants/applications/{aid}/submit", headers=fund.as_(Role.fund_admin))).status_code == 200
        return aid

    async def work(self) -> None:
        state = self.app.state
        await run_once(state.db, state.ledger, state.webhook_http, targets=state.webhook_targets)

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.app.state.db.sessionmaker() as session:
            async with session.begin():
                result = await session.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []

    async def due_now(self) -> None:
        await self.sql("UPDATE webhook_deliveries SET next_attempt_at = NULL WHERE status = 'pending'")

    async def log(self, subscription_id: str) -> list[dict[str, Any]]:
        response = await self.grants.get(f"/v1/grants/webhooks/{subscription_id}/deliveries", headers=self.client)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def hooks(service_client, tokens) -> AsyncIterator[Hooks]:
    members = await service_client("members")
    await service_client("ledger")
    made = Hooks(await service_client("grants"), members, tokens)
    await made.setup()
    yield made
    await made.app.state.webhook_http.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    made = await WebhookReceiver().start()
    yield made
    await made.stop()


@pytest.fixture
async def tls_receiver() -> AsyncIterator[WebhookReceiver]:
    made = await WebhookReceiver(tls_name="hooks.example.org").start()
    yield made
    await made.stop()


# --- Which addresses are public: a row per kind -----------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "public"), [
    ("169.254.169.254", False),   # cloud metadata (link-local)
    ("127.0.0.1", False), ("127.8.9.10", False), ("0.0.0.0", False), ("255.255.255.255", False),
    ("10.1.2.3", False), ("172.16.5.4", False), ("172.31.255.255", False), ("192.168.1.10", False),
    ("100.64.0.1", False),        # carrier-grade NAT
    ("224.0.0.251", False), ("239.255.255.250", False), ("240.0.0.1", False), ("192.0.2.1", False), ("198.18.0.1", False),
    ("::1", False), ("::", False), ("fe80::1", False), ("fd00:ec2::254", False), ("fc00::1", False), ("ff02::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:169.254.169.254", False), ("::ffff:10.0.0.1", False),
    ("64:ff9b::a9fe:a9fe", False), ("2002:a9fe:a9fe::1", False), ("2001:db8::1", False),
    ("93.184.216.34", True), ("8.8.8.8", True), ("172.32.0.1", True), ("100.128.0.1", True),
    ("2606:4700:4700::1111", True), ("::ffff:8.8.8.8", True),
])
def test_only_addresses_on_the_public_internet_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_the_allowlist_holds_hosts_addresses_and_networks_and_refuses_anything_else() -> None:
    allow = Allowlist.parse(" 127.0.0.1, Hooks.Test. ,10.8.0.0/16, [::1] ,")
    assert allow.names("hooks.test") and allow.names("127.0.0.1") and allow.names("10.8.3.4") and allow.names("::1")
    assert not allow.names("127.0.0.2") and not allow.names("other.test")
    assert allow.admits(ipaddress.ip_address("10.8.200.1")) and not allow.admits(ipaddress.ip_address("10.9.0.1"))
    assert Allowlist.parse("") == Allowlist()
    for bad in ("http://hooks.test", "hooks.test:8080", "a b", "10.0.0.0/33"):
        with pytest.raises(ValueError):
            Allowlist.parse(bad)


def test_the_setting_is_read_and_checked_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.grants.settings import GrantsSettings

    monkeypatch.setenv("SAJJA_GRANTS_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1, hooks.test")
    assert GrantsSettings().webhook_allowed_hosts == "127.0.0.1, hooks.test"
    monkeypatch.setenv("SAJJA_GRANTS_WEBHOOK_ALLOWED_HOSTS", "http://hooks.test")
    with pytest.raises(ValueError, match="webhook_allowed_hosts"):
        GrantsSettings()


# --- Subscribing ------------------------------------------------------------------------------------------------------------------

INSIDE = [
    "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://127.0.0.1:8002/v1/ledger/funds",
    "https://10.0.0.5/hooks", "https://172.16.5.4/hooks", "https://192.168.1.10/hooks", "https://100.64.0.1/hooks",
    "https://[::1]:8002/hooks", "https://[fe80::a9fe:a9fe]/hooks", "https://[fd00::5]/hooks", "https://[::ffff:127.0.0.1]/hooks",
    "https://224.0.0.251/hooks", "https://0.0.0.0:8002/hooks",
    "https://inside.example.org/hooks",   # one of its addresses is private: any one refuses
]


async def test_subscribing_to_a_target_inside_or_over_http_is_a_422_on_url_and_writes_nothing(hooks: Hooks) -> None:
    hooks.dns.table["inside.example.org"] = [PUBLIC, "10.0.0.7"]
    hooks.policy()

    async def refused(url: str, code: str) -> None:
        response = await hooks.subscribe(url)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == "request.validation_failed", body
        assert body["errors"] == [{"field": "body.url", "code": code, "message": field_error_message(code, "th", "")}], body

    for url in INSIDE:
        await refused(url, "url_not_public")
    # What was found accepted before: metadata and a Sajja service over plain http.
    for url in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8002/v1/ledger/funds", "http://hooks.example.org/hooks"):
        await refused(url, "url_not_https")
    await refused("https://nowhere.example.org/hooks", "url_unresolvable")
    english = await hooks.grants.post("/v1/grants/webhooks", headers={**hooks.client, "Accept-Language": "en"},
                                      json={"url": "https://192.168.1.10/hooks", "events": EVENTS})
    assert english.json()["errors"][0]["message"].startswith("The address points inside a network")

    # A name that the system's own resolver answers with a loopback address.
    hooks.app.state.webhook_targets = TargetPolicy()
    await refused("https://localhost:8002/hooks", "url_not_public")

    # In development plain http is let through, the address rule still holds.
    hooks.policy(https_only=False)
    for url in [u.replace("https://", "http://") for u in INSIDE]:
        await refused(url, "url_not_public")
    assert (await hooks.subscribe("http://hooks.example.org/hooks")).status_code == 201

    hooks.policy()
    accepted = await hooks.subscribe("https://hooks.example.org/hooks")
    assert accepted.status_code == 201, accepted.text
    assert [row[0] for row in await hooks.sql("SELECT url FROM webhook_subscriptions ORDER BY created_at")] == [
        "http://hooks.example.org/hooks", "https://hooks.example.org/hooks"], "nothing of a refused subscription is kept"


async def test_the_allowlist_lets_the_tests_local_receiver_through(hooks: Hooks, receiver: WebhookReceiver) -> None:
    assert hooks.app.state.webhook_targets.allowlist == Allowlist.parse("127.0.0.1"), "the test settings' allowlist"
    hooks.policy()
    refused = await hooks.subscribe(receiver.url())
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "url_not_https"
    hooks.policy(https_only=False)
    assert (await hooks.subscribe(receiver.url())).json()["errors"][0]["code"] == "url_not_public"

    hooks.policy("127.0.0.1")
    subscribed = await hooks.subscribe(receiver.url())
    assert subscribed.status_code == 201, subscribed.text
    receiver.secret = subscribed.json()["secret"]
    fund = await make_fund(hooks.members, hooks.tokens, name="กองทุนสวัสดิการชุมชนตำบลฉวาง", **NAKHON)
    await hooks.submitted(await hooks.program(), fund)
    await hooks.work()
    assert [e["data"]["to"] for e in receiver.seen] == ["submitted"] and receiver.bad_signatures == 0
    assert [(d["status"], d["last_status_code"]) for d in await hooks.log(subscribed.json()["id"])] == [("delivered", 204)]


# --- Delivering -------------------------------------------------------------------------------------------------------------------


async def test_a_name_that_later_points_inside_is_refused_at_delivery_without_its_answer(
    hooks: Hooks, tls_receiver: WebhookReceiver
) -> None:
    receiver = tls_receiver
    hooks.policy()
    await hooks.use_http(httpx.AsyncClient(verify=receiver.client_ssl()))
    url = receiver.url("hooks.example.org")
    subscribed = await hooks.subscribe(url)
    assert subscribed.status_code == 201, subscribed.text
    sid, receiver.secret = subscribed.json()["id"], subscribed.json()["secret"]
    fund = await make_fund(hooks.members, hooks.tokens, name="กองทุนสวัสดิการชุมชนตำบลฉวาง", **NAKHON)
    await hooks.submitted(await hooks.program(), fund)

    # The name now answers 127.0.0.1, where the receiver listens and would answer.
    hooks.dns.table["hooks.example.org"] = ["127.0.0.1"]
    await hooks.work()
    [delivery] = await hooks.log(sid)
    assert (delivery["status"], delivery["last_status_code"], delivery["attempts"]) == ("failed", None, 1), delivery
    assert delivery["last_error"] == "target refused: not a public address"
    assert receiver.hosts == [] and receiver.server_names == [], "nothing reached the address inside"

    # Let through (the address is allowlisted, the name is not, so https still holds): the request
    # goes to the address that was checked, never resolved again (no real DNS knows this name),
    # with the name in Host and as the TLS server name the certificate was verified against.
    hooks.policy("127.0.0.1")
    receiver.answer(500)
    redo = await hooks.grants.post(f"/v1/grants/webhooks/deliveries/{delivery['id']}/redeliver", headers=hooks.client)
    assert redo.status_code == 200
    await hooks.work()
    [delivery] = await hooks.log(sid)
    assert (delivery["status"], delivery["last_status_code"], delivery["last_error"]) == ("pending", 500, None), delivery
    assert receiver.hosts == [f"hooks.example.org:{receiver.port}"] and receiver.server_names == ["hooks.example.org"]
    assert hooks.dns.asked.count("hooks.example.org") == 3, "resolved at subscribing and at each delivery"

    # Refused again: the earlier answer is not kept beside a refusal.
    hooks.policy()
    await hooks.due_now()
    await hooks.work()
    [delivery] = await hooks.log(sid)
    assert (delivery["status"], delivery["last_status_code"]) == ("failed", None), delivery
    assert len(receiver.hosts) == 1

    hooks.policy("127.0.0.1")
    receiver.answer(204)
    await hooks.grants.post(f"/v1/grants/webhooks/deliveries/{delivery['id']}/redeliver", headers=hooks.client)
    await hooks.work()
    [delivery] = await hooks.log(sid)
    assert (delivery["status"], delivery["last_status_code"]) == ("delivered", 204) and receiver.bad_signatures == 0


async def test_a_redirect_from_the_receiver_fails_the_delivery_and_is_not_followed(hooks: Hooks, receiver: WebhookReceiver) -> None:
    # Even with a client that would follow redirects, the worker does not.
    await hooks.use_http(httpx.AsyncClient(follow_redirects=True))
    subscribed = await hooks.subscribe(receiver.url())
    assert subscribed.status_code == 201, subscribed.text
    receiver.secret = subscribed.json()["secret"]
    receiver.answer(307, redirect_to=receiver.url(path="/elsewhere"))
    fund = await make_fund(hooks.members, hooks.tokens, name="กองทุนสวัสดิการชุมชนตำบลฉวาง", **NAKHON)
    await hooks.submitted(await hooks.program(), fund)
    await hooks.work()
    [delivery] = await hooks.log(subscribed.json()["id"])
    assert (delivery["status"], delivery["last_status_code"], delivery["last_error"]) == ("pending", 307, "redirect not followed")
    assert len(receiver.seen) == 1 and receiver.elsewhere_hits == 0


# --- What a subscription hears ----------------------------------------------------------------------------------------------------


async def test_a_subscription_without_a_program_hears_only_what_its_client_may_see(hooks: Hooks) -> None:
    fund_a = await make_fund(hooks.members, hooks.tokens, name="กองทุนสวัสดิการชุมชนตำบลฉวาง", **NAKHON)
    fund_b = await make_fund(hooks.members, hooks.tokens, name="กองทุนสวัสดิการชุมชนตำบลไม้เรียง", **NAKHON)
    url = "https://hooks.example.org/hooks"
    # A grant system's client bound to fund A (its token says so), one bound to nothing, and an officer.
    bound = hooks.tokens.headers(Role.integration, sub="cli-fund-a", fund_id=fund_a.id, scope="grants:read", grantor_id=hooks.grantor)
    hooks.policy()
    subscriptions: dict[str, str] = {}
    for who, headers in (("bound", bound), ("client", hooks.client), ("officer", hooks.officer)):
        response = await hooks.subscribe(url, headers)
        assert response.status_code == 201, response.text
        subscriptions[who] = response.json()["id"]
    one, two = await hooks.program(), await hooks.program()
    await hooks.submitted(one, fund_a)
    await hooks.submitted(two, fund_b)

    heard = {who: sorted(row[0] for row in await hooks.sql(
        "SELECT payload->'data'->>'fund_id' FROM webhook_deliveries WHERE subscription_id = :s", s=uuid.UUID(sid)))
        for who, sid in subscriptions.items()}
    assert heard == {"bound": [fund_a.id], "client": sorted([fund_a.id, fund_b.id]), "officer": sorted([fund_a.id, fund_b.id])}

    # A program no one can see (none such) is not subscribed to.
    missing = await hooks.subscribe(url, hooks.client, program_id=str(uuid.uuid4()))
    assert missing.status_code == 404 and missing.json()["code"] == "program.not_found"

    # Held again at delivery: a subscription whose owner is not known (made before owners were
    # kept) is sent nothing, and the attempt says why without reaching the target.
    client = uuid.UUID(subscriptions["client"])
    await hooks.sql("UPDATE webhook_subscriptions SET owner_role = NULL WHERE id = :s", s=client)
    await hooks.sql("UPDATE webhook_deliveries SET status = 'delivered' WHERE subscription_id <> :s", s=client)
    asked = len(hooks.dns.asked)
    await hooks.work()
    rows = await hooks.sql("SELECT status, last_status_code, last_error FROM webhook_deliveries WHERE subscription_id = :s",
                           s=uuid.UUID(subscriptions["client"]))
    assert len(rows) == 2 and {tuple(r) for r in rows} == {("failed", None, "not visible to the subscription's owner")}
    assert len(hooks.dns.asked) == asked, "not even resolved"
