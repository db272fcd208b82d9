"""Issue 19, point 1 at the gateway: grant officers and grant systems act for one grantor, and a
client may be narrowed to some of its programs; the access token says which (docs/grantors.md)."""

from __future__ import annotations

import uuid

from jose import jwt

from tests.support.helpers import login


async def test_officers_and_clients_carry_their_grantor_in_the_token(gateway) -> None:
    _, client = gateway
    admin = {"Authorization": f"Bearer {(await login(client))['access_token']}"}
    grantor, program = str(uuid.uuid4()), str(uuid.uuid4())
    officer = {"phone": "0830001901", "password": "grant-officer-pass", "display_name": "เจ้าหน้าที่ พอช.", "role": "grant_officer"}
    unnamed = await client.post("/v1/auth/users", headers=admin, json=officer)
    assert unnamed.status_code == 422 and unnamed.json()["code"] == "user.scope_invalid", "an officer acts for a grantor"
    made = await client.post("/v1/auth/users", headers=admin, json={**officer, "grantor_id": grantor})
    assert made.status_code == 201 and made.json()["grantor_id"] == grantor, made.text
    signed_in = await login(client, "0830001901", "grant-officer-pass")
    assert jwt.get_unverified_claims(signed_in["access_token"])["grantor_id"] == grantor
    me = (await client.get("/v1/auth/me", headers={"Authorization": f"Bearer {signed_in['access_token']}"})).json()
    assert (me["grantor_id"], me["program_ids"]) == (grantor, None)

    narrowed = await client.post("/v1/auth/clients", headers=admin, json={
        "name": "ระบบทุน พอช.", "scopes": ["grants:disburse"], "grantor_id": grantor, "program_ids": [program]})
    assert narrowed.status_code == 201, narrowed.text
    cred = narrowed.json()
    assert (cred["grantor_id"], cred["program_ids"]) == (grantor, [program])
    token = (await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": cred["client_id"],
                                                       "client_secret": cred["client_secret"]})).json()["access_token"]
    claims = jwt.get_unverified_claims(token)
    assert (claims["grantor_id"], claims["program_ids"], claims["scope"]) == (grantor, [program], "grants:disburse")
    whole = await client.post("/v1/auth/clients", headers=admin, json={"name": "ระบบทุน พอช. ทั้งหมด", "scopes": ["grants:read"],
                                                                      "grantor_id": grantor})
    token = (await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": whole.json()["client_id"],
                                                       "client_secret": whole.json()["client_secret"]})).json()["access_token"]
    claims = jwt.get_unverified_claims(token)
    assert claims["grantor_id"] == grantor and "program_ids" not in claims
