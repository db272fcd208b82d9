"""Maker-checker (docs/maker-checker.md): administration expenses and reversals of an entry or a
deposit are proposed by one person of the fund and posted only when another confirms them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.auth import Role
from shared.errors import render_message
from tests.support.factories import NOW, Books, make_books

DAY = NOW.date().isoformat()


@pytest.fixture
async def books(service_client, tokens) -> Books:
    books = await make_books(service_client, tokens)
    # Income enough for an administration cap of 20,000 satang (20% of 100,000), in the bank.
    gift = {"id": str(uuid.uuid4()), "source": "donors", "amount_satang": 100_000, "received_on": DAY}
    assert (await books.post("/co-funding", gift)).status_code == 201
    return books


def expense(amount: int = 1_500, memo: str = "ค่าเครื่องเขียน", **extra: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "amount_satang": amount, "paid_on": DAY, "memo": memo, **extra}


def reversal(reason: str = "บันทึกผิด") -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "reason": reason}


async def books_now(books: Books) -> dict[str, Any]:
    """What would show that money moved: balances by account code, movements and journal entries."""
    accounts = {a["code"]: a["balance_satang"] for a in (await books.get("/trial-balance")).json()["accounts"]}
    async with books.ledger._transport.app.state.db.sessionmaker() as session:
        counts = (await session.execute(text(
            "SELECT (SELECT count(*) FROM movements WHERE fund_id = :f), (SELECT count(*) FROM journal_entries WHERE fund_id = :f)"),
            {"f": books.id})).one()
    return {"accounts": accounts, "movements": counts[0], "entries": counts[1]}


def confirm(books: Books, proposal_id: str, headers: dict[str, str] | None = None) -> Any:
    return books.post(f"/proposals/{proposal_id}/confirm", None, headers or books.checker)


def withdraw(books: Books, proposal_id: str, headers: dict[str, str] | None = None) -> Any:
    return books.post(f"/proposals/{proposal_id}/withdraw", None, headers or books.committee)


async def test_one_person_cannot_both_propose_and_confirm(books: Books) -> None:
    before = await books_now(books)
    body = expense(memo="ค่าถ่ายเอกสารรายงานประจำปี")
    proposed = await books.post("/expenses/administration", body)
    assert proposed.status_code == 202, proposed.text
    assert proposed.headers["location"] == f"{books.base}/proposals/{body['id']}"
    made = proposed.json()
    assert (made["id"], made["kind"], made["status"], made["amount_satang"]) == (body["id"], "admin_expense", "proposed", 1_500)
    assert made["reason"] == body["memo"] and made["request"] == {**body, "paid_from": "bank"} and made["movement"] is None
    assert made["proposed_role"] == "committee" and made["decided_by"] is None
    # Proposing moved no money.
    assert await books_now(books) == before
    # The proposer may not confirm it, in whatever role their token names.
    maker = books.fund._subjects[Role.committee]
    for headers in (books.committee, books.fund.as_(Role.fund_admin, sub=maker)):
        own = await confirm(books, body["id"], headers)
        assert own.status_code == 403 and own.json()["code"] == "proposal.confirm_own", own.text
    assert await books_now(books) == before
    assert (await books.get(f"/proposals/{body['id']}")).json()["status"] == "proposed"
    # Another committee member confirms: the money moves once, as the old route posted it.
    confirmed = await confirm(books, body["id"])
    assert confirmed.status_code == 200 and "idempotency-replayed" not in confirmed.headers, confirmed.text
    done = confirmed.json()
    assert (done["status"], done["decided_by"], done["decided_role"]) == ("confirmed", books.checker_id, "committee")
    movement = done["movement"]
    assert (movement["id"], movement["kind"], movement["amount_satang"], movement["reference"]) == (
        body["id"], "admin_expense", 1_500, body["memo"])
    after = await books_now(books)
    assert after["accounts"]["5900"] == 1_500 and after["accounts"]["1020"] == before["accounts"]["1020"] - 1_500
    assert (after["movements"], after["entries"]) == (before["movements"] + 1, before["entries"] + 1)
    async with books.ledger._transport.app.state.db.sessionmaker() as session:
        entry = (await session.execute(text("SELECT memo, created_by FROM journal_entries WHERE fund_id = :f AND id = :e"),
                                       {"f": books.id, "e": uuid.UUID(movement["entry_id"])})).one()
    assert tuple(entry) == (body["memo"], books.checker_id), "the reason is kept in the entry, posted by the checker"


async def test_only_the_funds_own_committee_and_fund_admins_propose_confirm_and_withdraw(books: Books, tokens) -> None:
    path = "/expenses/administration"
    for headers, status, code in (
        (tokens.headers(Role.platform_admin), 403, "proposal.persons_of_the_fund_only"),
        (tokens.headers(Role.service, sub="svc-benefits"), 403, "proposal.persons_of_the_fund_only"),
        (tokens.headers(Role.committee, fund_id=uuid.uuid4()), 403, "auth.out_of_scope"),
        (books.collector_headers, 403, "auth.forbidden"),
        (books.fund.as_(Role.member, member_id=books.member_ids[0]), 403, "auth.forbidden"),
    ):
        refused = await books.post(path, expense(), headers)
        assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    by_admin = await books.post(path, expense(), books.admin)  # a fund admin proposes, a committee member confirms
    assert by_admin.status_code == 202 and by_admin.json()["proposed_role"] == "fund_admin"
    pending = by_admin.json()["id"]
    for action in ("confirm", "withdraw"):
        refused = await books.post(f"/proposals/{pending}/{action}", None, tokens.headers(Role.platform_admin))
        assert refused.status_code == 403 and refused.json()["code"] == "proposal.persons_of_the_fund_only"
    # Platform admins still read the fund's proposals; a member does not.
    listed = await books.get("/proposals", tokens.headers(Role.platform_admin))
    assert listed.status_code == 200 and [p["id"] for p in listed.json()["items"]] == [pending]
    assert (await books.get("/proposals", books.fund.as_(Role.member, member_id=books.member_ids[0]))).status_code == 403
    assert (await confirm(books, pending, books.committee)).status_code == 200


async def test_a_withdrawn_proposal_cannot_be_confirmed_nor_a_confirmed_one_withdrawn(books: Books) -> None:
    gift = (await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 5_000,
                                             "received_on": DAY})).json()
    before = await books_now(books)
    proposed = (await books.post(f"/entries/{gift['entry_id']}/reverse", reversal())).json()
    assert (proposed["kind"], proposed["reverses_entry_id"], proposed["amount_satang"]) == ("entry_reversal", gift["entry_id"], 5_000)
    # Another bookkeeper of the fund withdraws it (the proposer could too); again is the same answer.
    withdrawn = await withdraw(books, proposed["id"], books.admin)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["decided_role"] == "fund_admin" and withdrawn.json()["movement"] is None
    again = await withdraw(books, proposed["id"])
    assert again.status_code == 200 and again.headers["idempotency-replayed"] == "true" and again.json() == withdrawn.json()
    refused = await confirm(books, proposed["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "proposal.withdrawn"
    assert await books_now(books) == before
    # Its proposer withdraws their own; a confirmed proposal is never withdrawn.
    own = (await books.post(f"/entries/{gift['entry_id']}/reverse", reversal())).json()
    assert (await withdraw(books, own["id"])).json()["decided_by"] == own["proposed_by"]
    posted = (await books.post(f"/entries/{gift['entry_id']}/reverse", reversal())).json()
    assert (await confirm(books, posted["id"])).status_code == 200
    late = await withdraw(books, posted["id"])
    assert late.status_code == 409 and late.json()["code"] == "proposal.already_confirmed"
    assert (await books.get(f"/proposals/{posted['id']}")).json()["status"] == "confirmed"
    missing = await withdraw(books, str(uuid.uuid4()))
    assert missing.status_code == 404 and missing.json()["code"] == "proposal.not_found"
    assert (await confirm(books, str(uuid.uuid4()))).json()["code"] == "proposal.not_found"


async def test_confirming_twice_posts_once(books: Books) -> None:
    body = expense(2_000)
    proposed = (await books.post("/expenses/administration", body)).json()
    first = await confirm(books, proposed["id"])
    assert first.status_code == 200
    after_first = await books_now(books)
    for headers in (books.checker, books.admin):  # the same checker again, or another person of the fund
        again = await confirm(books, proposed["id"], headers)
        assert again.status_code == 200 and again.headers["idempotency-replayed"] == "true"
        assert again.json() == first.json()
    assert await books_now(books) == after_first
    assert after_first["accounts"]["5900"] == 2_000
    # Proposing it again (a lost answer) is the proposal as it stands: confirmed.
    replay = await books.post("/expenses/administration", body)
    assert replay.status_code == 200 and replay.headers["idempotency-replayed"] == "true" and replay.json() == first.json()
    assert await books_now(books) == after_first


async def test_the_same_id_is_the_same_proposal(books: Books) -> None:
    body = expense(1_000)
    first = await books.post("/expenses/administration", body)
    assert first.status_code == 202
    again = await books.post("/expenses/administration", body)
    assert again.status_code == 200 and again.headers["idempotency-replayed"] == "true" and again.json() == first.json()
    other = await books.post("/expenses/administration", {**body, "amount_satang": 1_001})
    assert other.status_code == 409 and other.json()["code"] == "idempotency.key_reused"
    deposit = (await books.post("/deposits", books.deposit(amount=300), books.collector_headers)).json()
    as_reversal = await books.post(f"/deposits/{deposit['id']}/reverse", {"id": body["id"], "reason": body["memo"]})
    assert as_reversal.status_code == 409 and as_reversal.json()["code"] == "idempotency.key_reused"
    by_another = await books.post("/expenses/administration", body, books.checker)
    assert by_another.status_code == 409 and by_another.json()["code"] == "proposal.id_taken"
    # The id of a movement already posted is not a proposal's.
    gift = {"id": str(uuid.uuid4()), "source": "donors", "amount_satang": 100, "received_on": DAY}
    assert (await books.post("/co-funding", gift)).status_code == 201
    taken = await books.post("/expenses/administration", expense(100, id=gift["id"]))
    assert taken.status_code == 409 and taken.json()["code"] == "movement.id_taken"
    listed = (await books.get("/proposals")).json()["items"]
    assert [p["id"] for p in listed] == [body["id"]]


async def test_the_cap_is_judged_at_confirm_and_a_refusal_leaves_nothing_half_written(books: Books) -> None:
    first = (await books.post("/expenses/administration", expense(15_000))).json()
    second = (await books.post("/expenses/administration", expense(5_001, memo="ค่าเดินทาง"))).json()
    assert (first["status"], second["status"]) == ("proposed", "proposed"), "each fits the cap alone"
    assert (await confirm(books, first["id"])).status_code == 200
    before = await books_now(books)
    over = await confirm(books, second["id"])
    assert over.status_code == 422 and over.json()["code"] == "expense.admin_cap_exceeded" and "5000" in over.json()["detail"]
    assert await books_now(books) == before
    still = (await books.get(f"/proposals/{second['id']}")).json()
    assert (still["status"], still["decided_by"], still["decided_at"], still["movement"]) == ("proposed", None, None, None)
    # It waits: with a higher cap the same proposal is confirmed.
    await books.ledger.patch(f"{books.base}/rules", json={"admin_cap_bp": 3000}, headers=books.admin)
    assert (await confirm(books, second["id"])).status_code == 200
    assert (await books_now(books))["accounts"]["5900"] == 20_001
    # Balances too are judged again: cash the fund no longer has is refused at confirm.
    handed = await books.post("/deposits", books.deposit(amount=3_000), books.collector_headers)
    assert handed.status_code == 201
    assert (await books.post("/handovers", {"id": str(uuid.uuid4()), "collector_id": books.collector,
                                            "amount_satang": 3_000, "handed_over_on": DAY})).status_code == 201
    cash = [(await books.post("/expenses/administration", expense(2_000, paid_from="fund_cash"))).json() for _ in range(2)]
    assert (await confirm(books, cash[0]["id"])).status_code == 200
    short = await confirm(books, cash[1]["id"])
    assert short.status_code == 422 and short.json()["code"] == "entry.balance_would_go_negative"
    assert (await books.get(f"/proposals/{cash[1]['id']}")).json()["status"] == "proposed"


async def test_already_reversed_is_judged_at_confirm(books: Books) -> None:
    gift = (await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 7_000,
                                             "received_on": DAY})).json()
    twice = [(await books.post(f"/entries/{gift['entry_id']}/reverse", reversal(), headers)).json()
             for headers in (books.committee, books.admin)]
    assert [p["status"] for p in twice] == ["proposed", "proposed"]
    assert (await confirm(books, twice[0]["id"])).status_code == 200
    before = await books_now(books)
    refused = await confirm(books, twice[1]["id"], books.committee)
    assert refused.status_code == 409 and refused.json()["code"] == "entry.already_reversed"
    assert await books_now(books) == before and (await books.get(f"/proposals/{twice[1]['id']}")).json()["status"] == "proposed"
    # A deposit the same way; and now that it is reversed, a new proposal is refused at once.
    deposit = (await books.post("/deposits", books.deposit(amount=400), books.collector_headers)).json()
    both = [(await books.post(f"/deposits/{deposit['id']}/reverse", reversal())).json() for _ in range(2)]
    assert both[0]["reverses_deposit_id"] == deposit["id"] and both[0]["amount_satang"] == 400
    assert (await confirm(books, both[0]["id"])).status_code == 200
    late = await confirm(books, both[1]["id"])
    assert late.status_code == 409 and late.json()["code"] == "deposit.already_reversed"
    assert str(deposit["receipt_no"]) in late.json()["detail"]
    fresh = await books.post(f"/deposits/{deposit['id']}/reverse", reversal())
    assert fresh.status_code == 409 and fresh.json()["code"] == "deposit.already_reversed"
    # What waits is listed by status; pages follow the newest first.
    waiting = (await books.get("/proposals", status="proposed")).json()
    assert [p["id"] for p in waiting["items"]] == [both[1]["id"], twice[1]["id"]] and waiting["next_cursor"] is None
    page = (await books.get("/proposals", limit=1, kind="deposit_reversal")).json()
    assert [p["id"] for p in page["items"]] == [both[1]["id"]] and page["next_cursor"]
    rest = (await books.get("/proposals", limit=1, kind="deposit_reversal", cursor=page["next_cursor"])).json()
    assert [p["id"] for p in rest["items"]] == [both[0]["id"]] and rest["next_cursor"] is None


async def test_the_database_keeps_a_proposal_decided_once_and_by_another(books: Books) -> None:
    proposed = (await books.post("/expenses/administration", expense())).json()
    confirmed = (await books.post("/expenses/administration", expense())).json()
    assert (await confirm(books, confirmed["id"])).status_code == 200
    async with books.ledger._transport.app.state.db.sessionmaker() as session:
        for statement, match in (
            ("UPDATE money_proposals SET status = 'withdrawn', entry_id = NULL, result = NULL WHERE fund_id = :f AND id = :c",
             "is confirmed already"),
            ("DELETE FROM money_proposals WHERE fund_id = :f AND id = :p", "DELETE"),
            ("UPDATE money_proposals SET amount_satang = 1 WHERE fund_id = :f AND id = :p", "only the decision"),
            ("UPDATE money_proposals SET status = 'confirmed', decided_by = proposed_by, decided_at = now(),"
             " entry_id = gen_random_uuid(), result = '{}' WHERE fund_id = :f AND id = :p", "ck_money_proposals_status_consistent"),
            ("TRUNCATE money_proposals", "append-only"),
            # An erasure may blank the reason and drop the body's free text, and carry nothing else with it.
            ("UPDATE money_proposals SET reason = '-', body = body - 'reason', amount_satang = 1 WHERE fund_id = :f AND id = :p",
             "only the decision"),
            ("UPDATE money_proposals SET reason = '-', body = body - 'reason' || '{\"amount_satang\": 1}'"
             " WHERE fund_id = :f AND id = :p", "only the decision"),
            ("UPDATE money_proposals SET reason = 'x' WHERE fund_id = :f AND id = :c", "is confirmed already"),
        ):
            with pytest.raises(DBAPIError, match=match):
                async with session.begin_nested():
                    await session.execute(text(statement), {"f": books.id, "p": uuid.UUID(proposed["id"]),
                                                            "c": uuid.UUID(confirmed["id"])})
        await session.rollback()


@pytest.mark.parametrize("lang", ["th", "en"])
async def test_the_new_codes_speak_thai_and_english(books: Books, tokens, lang: str) -> None:
    headers = {"Accept-Language": "en"} if lang == "en" else {}

    def as_(who: dict[str, str]) -> dict[str, str]:
        return {**who, **headers}

    withdrawn = (await books.post("/expenses/administration", expense())).json()["id"]
    await withdraw(books, withdrawn)
    confirmed = (await books.post("/expenses/administration", expense())).json()["id"]
    await confirm(books, confirmed)
    answers = {
        "proposal.confirm_own": await confirm(books, withdrawn, as_(books.committee)),
        "proposal.withdrawn": await confirm(books, withdrawn, as_(books.checker)),
        "proposal.already_confirmed": await withdraw(books, confirmed, as_(books.checker)),
        "proposal.not_found": await withdraw(books, str(uuid.uuid4()), as_(books.checker)),
        "proposal.id_taken": await books.post("/expenses/administration", {"id": withdrawn, "amount_satang": 1, "paid_on": DAY,
                                                                          "memo": "x"}, as_(books.checker)),
        "proposal.persons_of_the_fund_only": await books.post("/expenses/administration", expense(),
                                                              as_(tokens.headers(Role.platform_admin))),
    }
    for code, answer in answers.items():
        problem = answer.json()
        assert problem["code"] == code and answer.headers["content-language"] == lang, answer.text
        title, detail = render_message(code, lang, {"id": withdrawn if code != "proposal.already_confirmed" else confirmed})
        assert (problem["title"], problem["detail"]) == (title, detail)
        thai = any("\u0e00" <= ch <= "\u0e7f" for ch in problem["title"] + problem["detail"])
        assert thai is (lang == "th"), problem
