"""The verifier's key set (docs/signing-keys.md): replaced whole by each JWKS it fetches, refreshed
on a schedule and on an unknown kid (rate-limited), cached tokens of a key that left dropped."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from shared.auth import TokenVerifier
from shared.errors import Unauthenticated
from tests.support.helpers import AUDIENCE, ISSUER, TEST_KEY_SECRET, Tokens


def _other_tokens() -> Tokens:
    from gateway.keys import _fernet, new_key_pair

    key = new_key_pair(TEST_KEY_SECRET)
    pem = _fernet(TEST_KEY_SECRET).decrypt(key.private_key_encrypted.encode()).decode()
    return Tokens(pem=pem, kid=key.kid, jwks={"keys": [key.public_jwk]})


def _both(a: Tokens, b: Tokens) -> dict[str, Any]:
    return {"keys": a.jwks["keys"] + b.jwks["keys"]}


class Source:
    """A JWKS that the test changes, counting fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks, self.fetches = jwks, 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        return self.jwks


async def _refused(verifier: TokenVerifier, token: str) -> bool:
    try:
        await verifier.verify(token)
    except Unauthenticated:
        return True
    return False


async def test_a_key_left_the_set_no_longer_verifies_nor_do_the_tokens_cached_for_it(tokens: Tokens) -> None:
    other = _other_tokens()
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=_both(tokens, other))
    kept, dropped = tokens.mint(), other.mint()
    await verifier.verify(kept)
    await verifier.verify(dropped)
    verifier.set_jwks(tokens.jwks)
    assert await _refused(verifier, dropped), "cached, but signed by a key no longer published"
    assert (await verifier.verify(kept)).role == "platform_admin"


async def test_the_scheduled_refresh_replaces_the_key_set(tokens: Tokens) -> None:
    other = _other_tokens()
    source = Source(_both(tokens, other))
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_loader=source, refresh_interval=0.05)
    token = other.mint()
    await verifier.verify(token)
    source.jwks = tokens.jwks
    deadline = time.monotonic() + 5
    while not await _refused(verifier, token):
        assert time.monotonic() < deadline, "still trusted after the key left the JWKS"
        await asyncio.sleep(0.02)
    await verifier.verify(tokens.mint())


async def test_an_unknown_kid_fetches_at_once_and_then_at_most_once_per_interval(tokens: Tokens) -> None:
    other = _other_tokens()
    source = Source(tokens.jwks)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_loader=source, refetch_interval=3600,
                             refresh_interval=3600)
    await verifier.verify(tokens.mint())
    assert source.fetches == 1, "the first token fetches the set"
    for _ in range(5):
        assert await _refused(verifier, other.mint())
    assert source.fetches == 1, "made-up kids do not fetch again within the interval"

    source = Source(tokens.jwks)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_loader=source, refetch_interval=0,
                             refresh_interval=3600)
    await verifier.verify(tokens.mint())
    source.jwks = _both(tokens, other)
    await verifier.verify(other.mint())
    assert source.fetches == 2, "a key published since is learnt on its first token"


async def test_the_jwks_is_asked_with_its_etag_and_a_failed_refresh_keeps_the_keys(tokens: Tokens) -> None:
    asked: list[str | None] = []
    state = {"down": False}

    def answer(request: httpx.Request) -> httpx.Response:
        if state["down"]:
            return httpx.Response(503)
        asked.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return httpx.Response(200, json=tokens.jwks, headers={"ETag": '"v1"'})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://gateway/.well-known/jwks.json",
                                 http_client=http, refresh_interval=0.01)
        token = tokens.mint()
        await verifier.verify(token)
        await asyncio.sleep(0.02)
        await verifier.verify(token)
        assert asked == [None, '"v1"'], "the second fetch is conditional"
        state["down"] = True
        await asyncio.sleep(0.02)
        assert (await verifier.verify(tokens.mint())).role == "platform_admin", "a gateway restart logs nobody out"


@pytest.mark.parametrize("jwks", [{"keys": "nope"}, ["not", "a", "dict"]])
async def test_a_malformed_jwks_is_not_a_key_set(tokens: Tokens, jwks: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=jwks))) as http:
        verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://gateway/jwks", http_client=http)
        assert await _refused(verifier, tokens.mint())
