"""``GET /v1/members/internal/roll-changes``: the funds whose rolls changed since an instant, from
``members.updated_at`` as the trigger of revision 0007 stamps it on every write path (the ORM, the
roll import, SQL by hand), and ``roll_departures`` for a member moved out or deleted."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text

from shared.auth import Role
from tests.support.factories import make_fund, person, roll_csv, roll_row

ROUTE = "/v1/members/internal/roll-changes"


async def _changes(members: Any, tokens: Any, since: dt.datetime) -> tuple[dt.datetime, dict[str, dt.datetime]]:
    answer = await members.get(ROUTE, params={"since": since.isoformat()}, headers=tokens.service("ledger"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return dt.datetime.fromisoformat(body["as_of"]), {f["fund_id"]: dt.datetime.fromisoformat(f["changed_at"]) for f in body["funds"]}


async def _clock(conn: Any) -> dt.datetime:
    return (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()


async def test_every_write_of_a_roll_is_a_change_of_its_fund(service_client, tokens) -> None:
    members = await service_client("members")
    conn = members._transport.app.state.db.bind
    a = await make_fund(members, tokens)
    b = await make_fund(members, tokens, name="กองทุนสวัสดิการชุมชนตำบลทดสอบ", subdistrict="ทดสอบ")
    one = (await a.register(person(810))).json()["id"]
    await b.register(person(820))

    # Registered through the API: both funds, each at its latest change.
    start = await _clock(conn)
    as_of, changed = await _changes(members, tokens, start - dt.timedelta(minutes=5))
    assert {a.id, b.id} <= set(changed) and as_of >= max(changed.values())
    # Nothing since: nothing listed.
    _, changed = await _changes(members, tokens, await _clock(conn))
    assert a.id not in changed and b.id not in changed

    async def changed_since(write: str, **params: Any) -> dict[str, dt.datetime]:
        since = await _clock(conn)
        await conn.execute(text(write), params)
        return (await _changes(members, tokens, since))[1]

    member = {"m": uuid.UUID(one)}
    # SQL by hand, no updated_at in the statement: status, since when, joining date, anonymised.
    for write in ("UPDATE members SET status = 'suspended' WHERE id = :m",
                  "UPDATE members SET status_since = status_since - 1 WHERE id = :m",
                  "UPDATE members SET joined_on = joined_on - 1 WHERE id = :m",
                  "UPDATE members SET anonymised_at = now() WHERE id = :m"):
        assert set(await changed_since(write, **member)) == {a.id}, write
    # Not a fact of the roll: the stamp is as the writer left it (the re-encryption keeps it on purpose).
    assert await changed_since("UPDATE members SET phone = '0899999999', updated_at = updated_at WHERE id = :m", **member) == {}
    # Moved to fund b: both rolls changed, a's through roll_departures.
    moved = await changed_since("UPDATE members SET fund_id = :b, member_no = 999 WHERE id = :m", b=uuid.UUID(b.id), **member)
    assert set(moved) == {a.id, b.id}
    # Deleted (its history first): fund b's roll changed.
    await conn.execute(text("DELETE FROM member_status_changes WHERE member_id = :m"), member)
    assert set(await changed_since("DELETE FROM members WHERE id = :m", **member)) == {b.id}

    # The roll imported in bulk: stamped at its write, though the import names no stamp.
    since = await _clock(conn)
    imported = await members.post(f"/v1/members/funds/{a.id}/members/import", params={"consent_attested": "true"},
                                  content=roll_csv([roll_row(830), roll_row(831)]).encode(),
                                  headers={**a.committee, "Content-Type": "text/csv"})
    assert imported.status_code == 200 and imported.json()["created"] == 2, imported.text
    as_of, changed = await _changes(members, tokens, since)
    assert set(changed) == {a.id} and since < changed[a.id] <= as_of


async def test_only_the_ledger_and_platform_admins_ask(service_client, tokens) -> None:
    members = await service_client("members")
    since = {"since": dt.date.today().isoformat()}
    assert (await members.get(ROUTE, params=since, headers=tokens.service("ledger"))).status_code == 200
    assert (await members.get(ROUTE, params=since, headers=tokens.headers(Role.platform_admin))).status_code == 200
    for name in ("benefits", "grants", "gateway"):
        assert (await members.get(ROUTE, params=since, headers=tokens.service(name))).status_code == 403
    assert (await members.get(ROUTE, headers=tokens.service("ledger"))).status_code == 422
