"""Free text in request bodies (issue 19, point 5): ``SingleLineText`` and ``MultiLineText`` of
``shared.schemas`` refuse control characters with a 422 naming the field, in Thai and English,
and every text field of every closed body is one of them (or is said here to be something else).
No database: these run in milliseconds.
"""

# No ``from __future__ import annotations``: the endpoint below is annotated with a local class.

import importlib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field

from shared.errors import install_error_handlers
from shared.schemas import (
    TEXT_CHECKS,
    ClosedModel,
    MultiLineText,
    OptionalMultiLineText,
    OptionalSingleLineText,
    SingleLineText,
)
from shared.validators import control_character

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("gateway", "services", "shared", "tools")


@pytest.mark.parametrize(
    ("text", "single_line", "multi_line"),
    [
        ("กองทุนสวัสดิการชุมชนตำบลบ้านส้อง", None, None),
        ('=HYPERLINK("http://x","y")', None, None),  # a formula is text; exports write it as text
        ("สม\x07ศรี", "U+0007", "U+0007"),  # BEL
        ("สม\x1bศรี", "U+001B", "U+001B"),  # ESC
        ("\x00", "U+0000", "U+0000"),
        ("a\x08b", "U+0008", "U+0008"),
        ("a\x0bb", "U+000B", "U+000B"),  # vertical tab: not a line break a note needs
        ("a\x0cb", "U+000C", "U+000C"),
        ("a\x1fb", "U+001F", "U+001F"),
        ("a\x7fb", "U+007F", "U+007F"),  # DEL
        ("a\x85b", "U+0085", "U+0085"),  # C1 (NEL)
        ("a\x9fb", "U+009F", "U+009F"),
        ("บรรทัด 1\nบรรทัด 2", "U+000A", None),
        ("บรรทัด 1\r\nบรรทัด 2", "U+000D", None),
        ("ก\tข", "U+0009", None),
        ("ok\nthen\x07", "U+000A", "U+0007"),  # the first one refused is named
        ("\u00a0ก\u200bข", None, None),  # no-break space, zero-width space: not controls
    ],
)
def test_which_control_characters_each_kind_of_text_refuses(text: str, single_line: str | None, multi_line: str | None) -> None:
    assert control_character(text) == single_line
    assert control_character(text, multiline=True) == multi_line


class Body(ClosedModel):
    name: SingleLineText = Field(min_length=1, max_length=10)
    alias: OptionalSingleLineText = Field(default=None, max_length=10)
    note: OptionalMultiLineText = Field(default=None, max_length=20)
    reason: MultiLineText = Field(default="ok", max_length=20)
    tags: list[SingleLineText] = Field(default_factory=list)


@pytest.fixture
async def client() -> Any:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/x")
    async def take(item: Body) -> dict:
        return item.model_dump()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as made:
        yield made


@pytest.mark.parametrize(
    ("body", "field", "char"),
    [
        ({"name": "ก\x07ข"}, "body.name", "U+0007"),
        ({"name": "ก", "alias": "\x1b[31m"}, "body.alias", "U+001B"),
        ({"name": "ก", "note": "ก\x00"}, "body.note", "U+0000"),
        ({"name": "ก", "reason": "ก\x0bข"}, "body.reason", "U+000B"),
        ({"name": "ก", "tags": ["ดี", "ก\x85ข"]}, "body.tags.1", "U+0085"),
        ({"name": "ก\nข"}, "body.name", "U+000A"),
    ],
)
async def test_a_control_character_is_a_422_naming_the_field_in_thai_and_english(client, body, field, char) -> None:
    thai = await client.post("/x", json=body)
    english = await client.post("/x", json=body, headers={"Accept-Language": "en"})
    for response in (thai, english):
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, "text_control_character")]
    assert thai.json()["errors"][0]["message"] == f"มีอักขระควบคุม ({char}) ซึ่งใช้ในช่องนี้ไม่ได้"
    assert english.json()["errors"][0]["message"] == f"Contains a control character ({char}) this field does not take"


async def test_text_types_keep_trimming_lengths_and_what_text_may_hold(client) -> None:
    fine = await client.post("/x", json={"name": "  =1+1  ", "alias": None, "note": "บรรทัด 1\r\nบรรทัด\t2", "tags": ["@a"]})
    assert fine.status_code == 200, fine.text
    assert fine.json() == {"name": "=1+1", "alias": None, "note": "บรรทัด 1\r\nบรรทัด\t2", "reason": "ok", "tags": ["@a"]}
    too_long = await client.post("/x", json={"name": "ก", "alias": "ก" * 11, "note": "ข" * 21})
    assert [(e["field"], e["code"]) for e in too_long.json()["errors"]] == [
        ("body.alias", "string_too_long"), ("body.note", "string_too_long")], "the usual code, optional or not"
    empty = await client.post("/x", json={"name": ""})
    assert [(e["field"], e["code"]) for e in empty.json()["errors"]] == [("body.name", "string_too_short")]


# --- Every text field of every closed body is free text of one kind, or says what else it is -------------

#: Text fields that are not free text, and why a control character cannot reach a file or a page.
NOT_FREE_TEXT = {
    "LoginRequest.phone": "normalized to the digits of a Thai phone number",
    "LoginRequest.password": "a secret: hashed and compared, never stored or shown",
    "RefreshRequest.refresh_token": "a token: looked up, never shown",
    "ClientCredentialsRequest.client_id": "looked up, never stored",
    "ClientCredentialsRequest.client_secret": "a secret: compared with a hash",
    "ClientCredentialsRequest.scope": "compared with the scopes the client was granted",
    "CreateUserRequest.phone": "normalized to the digits of a Thai phone number",
    "CreateUserRequest.password": "a secret: hashed, never shown",
    "LoginRequest.refresh_token": "a token: looked up, never shown",
    "OwnPinChange.current_pin": "a secret: compared with a hash",
    "OwnPinChange.new_pin": "a secret: hashed, never shown",
    "TicketPinChange.pin_ticket": "a one-time ticket: its hash looked up, never stored",
    "TicketPinChange.new_pin": "a secret: hashed, never shown",
    "LineLogin.id_token": "a LINE token: verified, never stored",
    "LineLogin.nonce": "compared with the nonce the login started with",
    "LineLinkIn.code": "a link code: looked up, never stored",
    "MemberFields.national_id": "normalized to 13 digits with a valid check digit",
    "MemberFields.phone": "normalized to the digits of a Thai phone number",
    "MemberUpdate.phone": "normalized to the digits of a Thai phone number",
    "BeneficiaryIn.phone": "normalized to the digits of a Thai phone number",
    "CollectorCreate.phone": "normalized to the digits of a Thai phone number",
}


def _closed_bodies() -> list[type[ClosedModel]]:
    """Every closed body the processes define: each module that names ClosedModel, imported."""
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "ClosedModel" in path.read_text(encoding="utf-8"):
                importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    found, todo = [], [ClosedModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.split(".")[0] in SOURCE_FOLDERS:
                found.append(sub)
    return found


def _checked(metadata: list[Any]) -> bool:
    """A text check of shared.schemas, or a pattern (which says exactly what the field holds)."""
    return any(m in TEXT_CHECKS or getattr(m, "pattern", None) for m in metadata)


def unchecked_text(annotation: Any, checked: bool = False) -> bool:
    """Whether ``annotation`` holds a ``str`` that no text type or pattern checks."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return unchecked_text(base, checked or _checked(metadata))
    if annotation is str:
        return not checked
    if get_origin(annotation) is Literal:
        return False
    return any(unchecked_text(arg, checked) for arg in get_args(annotation))


@pytest.mark.parametrize(
    ("annotation", "metadata", "unchecked"),
    [
        (str, [], True),
        (str | None, [], True),
        (list[str], [], True),
        (dict[str, int], [], True),
        (str, list(get_args(SingleLineText)[1:]), False),
        (str | None, list(get_args(OptionalMultiLineText)[1:]), False),
        (list[SingleLineText], [], False),
        (SingleLineText | None, [], False),
        (str, [Field(pattern=r"^\d{2}$").metadata[0]], False),
        (Literal["a", "b"], [], False),
        (int | None, [], False),
    ],
)
def test_the_scan_tells_checked_text_from_unchecked(annotation: Any, metadata: list[Any], unchecked: bool) -> None:
    assert unchecked_text(annotation, _checked(metadata)) is unchecked


def test_every_text_field_of_a_request_body_refuses_control_characters() -> None:
    bodies = _closed_bodies()
    assert {"MemberFields", "FundCreate", "ExpenseIn", "ClaimIn", "ApplicationCreate", "CreateUserRequest"} <= {
        b.__name__ for b in bodies}
    unchecked = []
    for body in bodies:
        own = body.__dict__.get("__annotations__", {})
        for name, field in body.model_fields.items():
            key = f"{body.__name__}.{name}"
            if name in own and key not in NOT_FREE_TEXT and unchecked_text(field.annotation, _checked(field.metadata)):
                unchecked.append(f"{body.__module__}.{key}")
    assert unchecked == [], (
        "free text in a request body is SingleLineText or MultiLineText (or their Optional forms) from "
        "shared.schemas, or has a pattern; a field that is not free text goes in NOT_FREE_TEXT with why")
    stale = [key for key in NOT_FREE_TEXT if not any(
        f"{b.__name__}.{n}" == key for b in bodies for n in b.model_fields)]
    assert stale == [], "NOT_FREE_TEXT names a field no body has"
