"""Forged and misused tokens are refused by the gateway and by a service called directly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable

import pytest
from jose import jwt

from shared.auth import Role
from tests.support.helpers import Tokens, login


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict, claims: dict) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _hs256_with_public_key(tokens: Tokens, claims: dict) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the published public key."""
    from jose import jwk

    public_pem = jwk.construct(tokens.jwks["keys"][0], "ES256").public_key().to_pem()
    header = {"alg": "HS256", "typ": "JWT", "kid": tokens.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tampered(tokens: Tokens) -> str:
    token = tokens.mint(Role.member, fund_id=uuid.uuid4(), member_id=uuid.uuid4())
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "platform_admin"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _unknown_kid(tokens: Tokens) -> str:
    from gateway.keys import _fernet, new_key_pair

    other = new_key_pair("another-secret-for-an-attacker-key")
    pem = _fernet("another-secret-for-an-attacker-key").decrypt(other.private_key_encrypted.encode()).decode()
    return jwt.encode(tokens.claims(), pem, algorithm="ES256", headers={"kid": "attacker-kid"})


def _right_kid_wrong_key(tokens: Tokens) -> str:
    from gateway.keys import _fernet, new_key_pair

    other = new_key_pair("another-secret-for-an-attacker-key")
    pem = _fernet("another-secret-for-an-attacker-key").decrypt(other.private_key_encrypted.encode()).decode()
    return jwt.encode(tokens.claims(), pem, algorithm="ES256", headers={"kid": tokens.kid})


ATTACKS: dict[str, Callable[[Tokens], str]] = {
    "alg_none": lambda t: _unsigned({"alg": "none", "typ": "JWT", "kid": t.kid}, t.claims()),
    "hs256_signed_with_public_key": lambda t: _hs256_with_public_key(t, t.claims()),
    "wrong_audience": lambda t: t.mint(aud="someone-else"),
    "wrong_issuer": lambda t: t.mint(iss="https://evil.example"),
    "expired": lambda t: t.mint(exp=int(time.time()) - 10, iat=int(time.time()) - 700, nbf=int(time.time()) - 700),
    "unknown_kid": _unknown_kid,
    "known_kid_other_key": _right_kid_wrong_key,
    "tampered_payload": _tampered,
    "not_an_access_token": lambda t: t.mint(typ="refresh"),
    "no_expiry": lambda t: t.mint(exp=None),
    "garbage": lambda t: "not.a.jwt",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_a_service_called_directly_refuses(attack: str, service_client, tokens: Tokens) -> None:
    members = await service_client("members")
    token = ATTACKS[attack](tokens)
    response = await members.get("/v1/members/funds", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, (attack, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in ("auth.unauthenticated", "auth.token_expired")
    # The genuine token still works, so the refusal is about the attack, not the setup.
    assert (await members.get("/v1/members/funds", headers=tokens.headers())).status_code == 200


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_the_gateway_refuses(attack: str, gateway) -> None:
    app, client = gateway
    keyring = app.state.keyring
    gateway_tokens = Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())
    token = ATTACKS[attack](gateway_tokens)
    for path in ("/v1/auth/me", "/v1/members/funds"):
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (attack, path, response.text)
        assert response.json()["code"] in ("auth.unauthenticated", "auth.token_expired")
    assert (await client.get("/v1/auth/me", headers=gateway_tokens.headers())).status_code == 200


async def test_a_refresh_token_is_not_an_access_token(gateway, service_client) -> None:
    _, client = gateway
    pair = await login(client)
    as_access = {"Authorization": f"Bearer {pair['refresh_token']}"}
    assert (await client.get("/v1/auth/me", headers=as_access)).status_code == 401
    assert (await client.get("/v1/members/funds", headers=as_access)).status_code == 401
    members = await service_client("members")
    assert (await members.get("/v1/members/funds", headers=as_access)).status_code == 401


async def test_missing_or_malformed_authorization_header(service_client) -> None:
    members = await service_client("members")
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        response = await members.get("/v1/members/funds", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="sajja"'
