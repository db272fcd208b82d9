"""The public document's snapshot (``contract/openapi.json``, ``tools/contract.py``): it is the
live document, and a breaking change to it is named in CHANGELOG.md's top section
(docs/api-contract.md); what counts as breaking, and what is additive."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tools import contract


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return contract.public_document()


def test_the_snapshot_is_the_live_document(document: dict[str, Any]) -> None:
    snapshot = json.loads(contract.SNAPSHOT.read_text(encoding="utf-8"))
    changelog = contract.CHANGELOG.read_text(encoding="utf-8")
    assert snapshot == document, contract.describe_difference(snapshot, document, changelog)
    assert contract.SNAPSHOT.read_text(encoding="utf-8") == contract.dumps(document), f"run `{contract.REFRESH_COMMAND}`"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=contract.ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def test_breaking_changes_to_the_snapshot_are_in_the_changelog() -> None:
    """The snapshot against its version before it last changed (or before the uncommitted change):
    each breaking change is named in CHANGELOG.md's top section."""
    relative = contract.SNAPSHOT.relative_to(contract.ROOT).as_posix()
    current = contract.SNAPSHOT.read_text(encoding="utf-8")
    at_head = _git("show", f"HEAD:{relative}")
    if at_head is None:
        pytest.skip("not a git checkout with the snapshot committed")
    if at_head != current:
        previous = at_head
    else:
        last = (_git("log", "-n", "1", "--format=%H", "--", relative) or "").strip()
        previous = _git("show", f"{last}^1:{relative}") if last else None
    if previous is None:
        pytest.skip("the snapshot has no earlier version")
    changes = contract.breaking_changes(json.loads(previous), json.loads(current))
    missing = contract.unnoted(changes, contract.CHANGELOG.read_text(encoding="utf-8"))
    assert not missing, "breaking changes the top section of CHANGELOG.md does not name:\n" + "\n".join(c.message for c in missing)


# --- What counts as breaking --------------------------------------------------------------------------------

def _doc(body: dict[str, Any], answer: dict[str, Any], extra_ops: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"paths": {"/v1/ledger/x": {"post": {
        "operationId": "ledger_x",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/XIn"}}}},
        "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/XOut"}}}}}}},
        **(extra_ops or {})},
        "components": {"schemas": {"XIn": body, "XOut": answer}}}


BODY = {"type": "object", "additionalProperties": False, "required": ["amount_satang"],
        "properties": {"amount_satang": {"type": "integer", "maximum": 100}, "memo": {"type": "string"},
                       "kind": {"type": "string", "enum": ["cash", "bank"]}}}
ANSWER = {"type": "object", "required": ["id", "receipt_no"],
          "properties": {"id": {"type": "string"}, "receipt_no": {"type": "integer"}}}


def _with(schema: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return json.loads(json.dumps({**schema, **changes}))


@pytest.mark.parametrize(("new", "subject"), [
    (_doc(_with(BODY, required=["amount_satang", "memo"]), ANSWER), "XIn.memo"),
    (_doc(_with(BODY, properties={**BODY["properties"], "amount_satang": {"type": "string"}}), ANSWER), "XIn.amount_satang"),
    (_doc(_with(BODY, properties={**BODY["properties"], "amount_satang": {"type": "integer", "maximum": 50}}), ANSWER),
     "XIn.amount_satang"),
    (_doc(_with(BODY, properties={**BODY["properties"], "kind": {"type": "string", "enum": ["cash"]}}), ANSWER), "XIn.kind"),
    (_doc(BODY, _with(ANSWER, properties={"id": {"type": "string"}})), "XOut.receipt_no"),
    (_doc(BODY, _with(ANSWER, properties={**ANSWER["properties"], "id": {"type": ["string", "null"]}})), "XOut.id"),
    ({"paths": {}, "components": {"schemas": {}}}, "ledger_x"),
])
def test_breaking_changes_are_found(new: dict[str, Any], subject: str) -> None:
    changes = contract.breaking_changes(_doc(BODY, ANSWER), new)
    assert changes and any(subject in c.subjects for c in changes), [c.message for c in changes]
    assert all(c.noted_in(f"## 0.2\n- {' '.join(c.subjects)}\n") for c in changes)
    assert contract.unnoted(changes, f"## 0.2\n- nothing\n## 0.1\n- {subject}\n")


def test_additive_changes_are_not_breaking() -> None:
    wider = _with(BODY, properties={**BODY["properties"], "note": {"type": "string"},
                                    "amount_satang": {"type": "integer", "maximum": 1000},
                                    "kind": {"type": "string", "enum": ["cash", "bank", "transfer"]}})
    more = _with(ANSWER, properties={**ANSWER["properties"], "posted_at": {"type": "string"}})
    new = _doc(wider, more, {"/v1/ledger/y": {"get": {"operationId": "ledger_y", "responses": {}}}})
    assert contract.breaking_changes(_doc(BODY, ANSWER), new) == []
    message = contract.describe_difference(_doc(BODY, ANSWER), new, "")
    assert "additively" in message and contract.REFRESH_COMMAND in message
