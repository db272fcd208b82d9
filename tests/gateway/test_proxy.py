"""Forwarding through the gateway, against an upstream on a real socket.

The upstream here is a small aiohttp server that records what it received and answers as told,
so the test sees exactly what crosses the wire in both directions.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from shared.http1 import BrokenAnswer, Unreachable
from tests.support.apps import gateway_app
from tests.support.helpers import Tokens, free_port, serving


class Upstream:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append({"method": request.method, "path": request.path, "query": request.rel_url.raw_query_string,
                          "headers": {k.lower(): v for k, v in request.headers.items()}, "body": body})
        if request.path.endswith("/slow"):
            await asyncio.sleep(2)
        if request.path.endswith("/problem"):
            return web.Response(status=409, body=b'{"code":"ledger.duplicate","title":"x"}',
                                content_type="application/problem+json")
        if request.path.endswith("/gzip"):
            return web.Response(body=gzip.compress(b'{"ok":true}'), headers={"Content-Encoding": "gzip",
                                                                              "Content-Type": "application/json"})
        if request.path.endswith("/cookie"):
            response = web.json_response({"cookie": request.headers.get("Cookie")})
            response.set_cookie("session", "someone-elses", path="/")
            response.set_cookie("theme", "dark", path="/")
            return response
        if request.path.endswith("/broken"):
            request.transport.close()
            return web.Response()
        return web.json_response({"echo": body.decode(), "path": request.path}, status=201,
                                 headers={"ETag": '"v1"', "X-Upstream": "yes"})


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    up = Upstream()
    async with serving(up.app) as url:
        yield up, url


@pytest.fixture
async def proxied(engines, upstream) -> AsyncIterator[tuple[Any, Any, Upstream]]:
    up, url = upstream
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway_app(engines["gateway"], members_url=url, ledger_url=url, benefits_url=dead, grants_url=url,
                           upstream_timeout_seconds=0.5, max_body_bytes=1000) as (app, client):
        keyring = app.state.keyring
        yield client, Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks()), up


async def test_method_path_query_body_and_headers_are_forwarded(proxied) -> None:
    client, tokens, up = proxied
    headers = {**tokens.headers(), "Idempotency-Key": "k-1", "Accept-Language": "en", "X-Request-ID": "req-42",
               "Content-Type": "application/json"}
    response = await client.post("/v1/ledger/funds/f1/deposits?dry_run=1&x=%E0%B8%81", content=b'{"a":1}', headers=headers)
    assert response.status_code == 201
    assert response.json() == {"echo": '{"a":1}', "path": "/v1/ledger/funds/f1/deposits"}
    assert response.headers["etag"] == '"v1"' and response.headers["x-upstream"] == "yes"
    assert response.headers["x-request-id"] == "req-42"
    seen = up.seen[-1]
    assert seen["method"] == "POST" and seen["query"] == "dry_run=1&x=%E0%B8%81"
    assert seen["headers"]["idempotency-key"] == "k-1"
    assert seen["headers"]["accept-language"] == "en"
    assert seen["headers"]["authorization"] == headers["Authorization"]
    assert seen["headers"]["x-request-id"] == "req-42"
    assert seen["headers"]["x-forwarded-for"] == "203.0.113.7"
    # Framing and connection headers are the gateway's own on its way to the service.
    framed = await client.post("/v1/ledger/funds/f1/deposits", content=b'{"a":2}',
                               headers={**headers, "Trailer": "x-checksum", "TE": "trailers", "Expect": "100-continue",
                                        "Connection": "keep-alive, x-private", "Keep-Alive": "timeout=5"})
    assert framed.status_code == 201 and framed.json()["echo"] == '{"a":2}'
    assert not {"trailer", "te", "expect", "keep-alive"} & set(up.seen[-1]["headers"])


async def test_a_request_id_is_made_when_the_caller_has_none(proxied) -> None:
    client, tokens, up = proxied
    response = await client.get("/v1/members/funds", headers=tokens.headers())
    assert len(response.headers["x-request-id"]) == 32
    assert up.seen[-1]["headers"]["x-request-id"] == response.headers["x-request-id"]
    hostile = await client.get("/v1/members/funds", headers={**tokens.headers(), "X-Request-ID": "a\u0000b" * 100})
    assert hostile.headers["x-request-id"] != "a\u0000b" * 100


async def test_problem_json_comes_back_untouched(proxied) -> None:
    client, tokens, _ = proxied
    response = await client.get("/v1/grants/problem", headers=tokens.headers())
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.content == b'{"code":"ledger.duplicate","title":"x"}'


async def test_compressed_bodies_pass_through_without_recompression(proxied) -> None:
    client, tokens, _ = proxied
    response = await client.get("/v1/members/gzip", headers={**tokens.headers(), "Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.json() == {"ok": True}


async def test_a_refused_connection_is_503(proxied) -> None:
    client, tokens, _ = proxied
    response = await client.get("/v1/benefits/funds/x/catalog", headers={**tokens.headers(), "Accept-Language": "en"})
    assert response.status_code == 503
    assert response.json()["code"] == "upstream.unavailable"
    assert "benefits" in response.json()["detail"]


async def test_a_timeout_is_504(proxied) -> None:
    client, tokens, _ = proxied
    response = await client.get("/v1/members/slow", headers=tokens.headers())
    assert response.status_code == 504
    assert response.json()["code"] == "upstream.timeout"


async def test_a_broken_answer_is_502(proxied) -> None:
    client, tokens, _ = proxied
    response = await client.get("/v1/members/broken", headers=tokens.headers())
    assert response.status_code == 502
    assert response.json()["code"] == "upstream.bad_gateway"


async def test_oversized_bodies_are_refused_before_forwarding(proxied) -> None:
    client, tokens, up = proxied
    before = len(up.seen)
    response = await client.post("/v1/members/funds", content=b"x" * 1001,
                                 headers={**tokens.headers(), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "request.body_too_large"
    assert len(up.seen) == before


async def test_no_token_is_refused_at_the_gateway_without_reaching_the_service(proxied) -> None:
    client, _, up = proxied
    before = len(up.seen)
    response = await client.get("/v1/members/funds")
    assert response.status_code == 401
    assert len(up.seen) == before


async def test_health_names_what_is_not_ready(proxied) -> None:
    client, _, _ = proxied
    response = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    # benefits refuses connections; the others answer /readyz with the fake's 201, not 200.
    assert body["not_ready"] == ["benefits", "grants", "ledger", "members"]
    assert body["services"]["gateway"] == "ok"
    assert body["services"]["benefits"].startswith("unreachable")


async def test_gets_carry_an_etag_and_answer_304_and_every_answer_has_the_server_time(proxied) -> None:
    client, tokens, _ = proxied
    first = await client.get("/v1/members/funds", headers=tokens.headers())
    assert first.status_code == 201  # the fake upstream answers 201 to everything: no ETag for non-200
    assert "x-server-time" in first.headers
    response = await client.get("/v1/members/gzip", headers={**tokens.headers(), "Accept-Encoding": "gzip"})
    etag = response.headers["etag"]
    again = await client.get("/v1/members/gzip", headers={**tokens.headers(), "If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    changed = await client.get("/v1/members/gzip", headers={**tokens.headers(), "If-None-Match": '"something-else"', "Accept-Encoding": "gzip"})
    assert changed.status_code == 200


async def test_a_cookie_set_upstream_is_never_sent_for_another_caller(engines, upstream) -> None:
    """The gateway's client to the services keeps no cookies: one caller's must not ride along
    with the next caller's requests. (Services by name, as in a cluster: cookies for a bare IP
    address would not be kept anyway.)"""
    up, url = upstream
    async with gateway_app(engines["gateway"], ledger_url=url.replace("127.0.0.1", "localhost")) as (app, client):
        keyring = app.state.keyring
        tokens = Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())
        first = await client.get("/v1/ledger/funds/f1/cookie", headers=tokens.headers())
        assert first.status_code == 200 and first.json()["cookie"] is None
        cookies = first.headers.get_list("set-cookie")
        assert len(cookies) == 2, "the caller gets the service's answer whole, repeated headers too"
        assert "session=someone-elses" in cookies[0] and "theme=dark" in cookies[1]
        client.cookies.clear()  # the next caller is someone else, with a browser of their own
        second = await client.get("/v1/ledger/funds/f1/cookie", headers=tokens.headers(sub="someone-else"))
        assert second.status_code == 200 and second.json()["cookie"] is None
        assert "cookie" not in up.seen[-1]["headers"]


async def test_the_forwarding_lane_answers_like_the_rest_of_the_gateway(proxied, monkeypatch) -> None:
    """Forwarded requests skip FastAPI's stack (ForwardingLane) but not its answers: a method
    that is not forwarded is a 405 problem, and a failure nobody handles a 500 problem with the
    request id, in the caller's language."""
    client, tokens, up = proxied
    before = len(up.seen)
    response = await client.request("OPTIONS", "/v1/members/funds", headers=tokens.headers())
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "request.method_not_allowed"
    assert len(up.seen) == before

    app = client._transport.app
    while not hasattr(app, "state"):  # the transport may hold a wrapper of the app
        app = app.app

    async def broken(request: Any, service: str) -> Any:
        raise RuntimeError("forwarder broke")

    monkeypatch.setattr(app.state.forwarder, "forward", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as bare:
        response = await bare.get("/v1/members/funds", headers={**tokens.headers(), "Accept-Language": "en",
                                                                "X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "internal_error" and body["request_id"] == "req-500"


@pytest.mark.parametrize(("failure", "status", "code"), [
    (TimeoutError(), 504, "upstream.timeout"),
    (Unreachable("refused"), 503, "upstream.unavailable"),
    (BrokenAnswer("garbage"), 502, "upstream.bad_gateway"),
])
async def test_the_members_check_fails_as_every_other_gateway_call(failure: Exception, status: int, code: str) -> None:
    """The gateway's own question to the members service maps transport failures like forwarding does."""
    import uuid

    from gateway.members_facts import MembersFacts
    from shared.errors import SajjaError

    class FailingForwarder:
        async def call(self, *args: Any, **kwargs: Any) -> Any:
            raise failure

    class Issuer:
        def gateway_token(self) -> str:
            return "token"

    facts = MembersFacts(FailingForwarder(), Issuer())  # type: ignore[arg-type]
    with pytest.raises(SajjaError) as caught:
        await facts.member_exists(uuid.uuid4(), uuid.uuid4())
    assert (caught.value.status_code, caught.value.code) == (status, code)
