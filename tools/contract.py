"""The public API document's snapshot (``contract/openapi.json``) and its breaking changes.

``python -m tools.contract`` (``make contract``) builds the public document as the gateway serves
it, from the five apps without starting them (``public_document``: the gateway's own operations
merged with each service's public ones, by the gateway's own merge), compares it with the committed
snapshot and writes the snapshot again. It refuses, writing nothing, when the change breaks clients
(:func:`breaking_changes`) and ``CHANGELOG.md``'s top section does not name each change's
operationId or ``Schema.field``. ``--check`` only compares, and fails on any difference.

A breaking change is one a client generated from the snapshot could trip over: an operation
removed or renamed (its operationId), a parameter or request field removed, newly required, or
narrowed (a type, a value of an enum, a tighter limit), a request body newly required, a response
field removed, no longer always there, or widened (a type the client does not expect, ``null``).
Anything else (new operations, new optional request fields, new response fields) is additive.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "contract" / "openapi.json"
CHANGELOG = ROOT / "CHANGELOG.md"
REFRESH_COMMAND = "make contract"

_PLACEHOLDER = "contract-placeholder-0123456789abcdef"


def _settings(cls: Any, **extra: Any) -> Any:
    secrets = {name: f"{_PLACEHOLDER}-{name}" for name in cls.secret_fields}
    return cls(env="test", **secrets, **extra)


def service_apps() -> dict[str, Any]:
    """The four services' apps, not started (nothing but their routes is used)."""
    from services.benefits.app import create_app as benefits
    from services.benefits.settings import BenefitsSettings
    from services.grants.app import create_app as grants
    from services.grants.settings import GrantsSettings
    from services.ledger.app import create_app as ledger
    from services.ledger.settings import LedgerSettings
    from services.members.app import create_app as members
    from services.members.settings import MembersSettings

    return {
        "members": members(_settings(MembersSettings, pii_key=f"{_PLACEHOLDER}-pii")),
        "ledger": ledger(_settings(LedgerSettings)),
        "benefits": benefits(_settings(BenefitsSettings, document_key=f"{_PLACEHOLDER}-documents")),
        "grants": grants(_settings(GrantsSettings)),
    }


def gateway_app() -> Any:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    return create_app(_settings(GatewaySettings))


def public_document() -> dict[str, Any]:
    """The gateway's ``/openapi.json`` as it is when every service answers."""
    from gateway.openapi import merge_documents
    from shared.contract import build_document

    gateway = gateway_app()
    return merge_documents(build_document(gateway), {name: app.openapi() for name, app in service_apps().items()})


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


# --- Breaking changes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One change between two documents: what it is, and the names that identify it in a changelog."""

    message: str
    subjects: tuple[str, ...]

    def noted_in(self, text: str) -> bool:
        return any(re.search(rf"(?<![\w.]){re.escape(s)}(?![\w])", text) for s in self.subjects)


_METHODS = ("get", "put", "post", "patch", "delete")
_LIMITS_NARROWER = {"maxLength": "lower", "maxItems": "lower", "maximum": "lower", "exclusiveMaximum": "lower",
                    "minLength": "higher", "minItems": "higher", "minimum": "higher", "exclusiveMinimum": "higher"}


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, item in document.get("paths", {}).items()
            for method, op in item.items() if method in _METHODS}


class _Schemas:
    def __init__(self, document: dict[str, Any]) -> None:
        self.schemas = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: Any, owner: str) -> tuple[dict[str, Any], str]:
        """The schema behind a ``$ref`` (and the component's name, which owns its fields)."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema, owner, seen = self.schemas.get(name, {}), name, seen + 1
        return (schema if isinstance(schema, dict) else {}), owner


def _types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema allows (``None``: it does not say, so anything)."""
    if "type" in schema:
        t = schema["type"]
        return set(t) if isinstance(t, list) else {t}
    if "const" in schema:
        return {type(schema["const"]).__name__}
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        found: set[str] = set()
        for option in options:
            sub = _types(option) if "$ref" not in option else {"object"}
            if sub is None:
                return None
            found |= sub
        return found
    if "$ref" in schema:
        return {"object"}
    return None


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return schema.get("anyOf") or schema.get("oneOf") or [schema]


class _Differ:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = _Schemas(old), _Schemas(new)
        self.changes: dict[str, Change] = {}

    def add(self, message: str, *subjects: str) -> None:
        self.changes.setdefault(message, Change(message, tuple(s for s in subjects if s)))

    def schema(self, old: Any, new: Any, *, request: bool, where: str, op: str, seen: set[tuple[str, str]]) -> None:
        """Changes of one schema that break a client sending it (``request``) or reading it."""
        old_owner = old["$ref"].rsplit("/", 1)[-1] if isinstance(old, dict) and "$ref" in old else ""
        new_owner = new["$ref"].rsplit("/", 1)[-1] if isinstance(new, dict) and "$ref" in new else ""
        key = (old_owner or where, new_owner or where)
        if (old_owner or new_owner) and key in seen:
            return
        seen = seen | {key}
        old_s, owner = self.old.resolve(old, where.split(".")[0])
        new_s, _ = self.new.resolve(new, owner)
        if old_owner:
            where = old_owner
        old_t, new_t = _types(old_s), _types(new_s)
        if old_t is not None and new_t is not None:
            if request and not old_t <= new_t:
                self.add(f"{where}: takes {sorted(old_t)}, now only {sorted(new_t)}", op, where)
            if not request and not new_t <= old_t:
                self.add(f"{where}: was {sorted(old_t)}, now may be {sorted(new_t)}", op, where)
        elif old_t is None and new_t is not None and request:
            self.add(f"{where}: now only {sorted(new_t)}", op, where)
        old_enum = {v for o in _options(old_s) for v in o.get("enum", [])}
        new_enum = {v for o in _options(new_s) for v in o.get("enum", [])}
        if old_enum or new_enum:
            if request and old_enum and new_enum and not old_enum <= new_enum:
                self.add(f"{where}: no longer takes {sorted(old_enum - new_enum)}", op, where)
            if not request and new_enum and old_enum and not new_enum <= old_enum:
                self.add(f"{where}: may now be {sorted(new_enum - old_enum)}", op, where)
        if request:
            for option_old, option_new in zip(_options(old_s), _options(new_s)):
                for limit, way in _LIMITS_NARROWER.items():
                    a, b = option_old.get(limit), option_new.get(limit)
                    if isinstance(b, (int, float)) and (a is None or (b < a if way == "lower" else b > a)):
                        self.add(f"{where}: {limit} {a} -> {b}", op, where)
                if option_new.get("pattern") not in (None, option_old.get("pattern")):
                    self.add(f"{where}: pattern now {option_new['pattern']}", op, where)
        old_props, new_props = old_s.get("properties", {}), new_s.get("properties", {})
        old_req, new_req = set(old_s.get("required", [])), set(new_s.get("required", []))
        for name, old_p in old_props.items():
            field = f"{where}.{name}"
            if name not in new_props:
                if request and new_s.get("additionalProperties") is not False:
                    continue  # an open body still takes it
                self.add(f"{field}: removed", op, field)
                continue
            if not request and name in old_req and name not in new_req:
                self.add(f"{field}: no longer always in the answer", op, field)
            self.schema(old_p, new_props[name], request=request, where=field, op=op, seen=seen)
        if request:
            for name in sorted(new_req - old_req):
                self.add(f"{where}.{name}: newly required", op, f"{where}.{name}")
        if "items" in old_s and "items" in new_s:
            self.schema(old_s["items"], new_s["items"], request=request, where=f"{where}[]", op=op, seen=seen)
        for option_old in _options(old_s) if len(_options(old_s)) > 1 else []:
            for option_new in _options(new_s):
                if "$ref" in option_old and option_old.get("$ref") == option_new.get("$ref"):
                    self.schema(option_old, option_new, request=request, where=where, op=op, seen=seen)

    def operation(self, method: str, path: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        op = old.get("operationId", f"{method.upper()} {path}")
        if new.get("operationId") != old.get("operationId"):
            self.add(f"{op} ({method.upper()} {path}): operationId now {new.get('operationId')}", op)
        old_params = {(p["in"], p["name"]): p for p in old.get("parameters", [])}
        new_params = {(p["in"], p["name"]): p for p in new.get("parameters", [])}
        for key, p in old_params.items():
            if key not in new_params:
                self.add(f"{op}: parameter {key[1]} ({key[0]}) removed", op)
            else:
                self.schema(p.get("schema", {}), new_params[key].get("schema", {}), request=True,
                            where=f"{op}.{key[1]}", op=op, seen=set())
        for key, p in new_params.items():
            if p.get("required") and not old_params.get(key, {}).get("required"):
                self.add(f"{op}: parameter {key[1]} ({key[0]}) newly required", op)
        old_body, new_body = old.get("requestBody"), new.get("requestBody")
        if new_body and new_body.get("required") and not (old_body or {}).get("required"):
            self.add(f"{op}: request body newly required", op)
        if old_body and new_body:
            for media, content in old_body.get("content", {}).items():
                if media not in new_body.get("content", {}):
                    self.add(f"{op}: no longer takes {media}", op)
                    continue
                self.schema(content.get("schema", {}), new_body["content"][media].get("schema", {}), request=True,
                            where=f"{op}.body", op=op, seen=set())
        elif old_body and not new_body:
            self.add(f"{op}: takes no body any more", op)
        for status, answer in old.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            new_answer = new.get("responses", {}).get(status)
            if new_answer is None:
                self.add(f"{op}: no longer answers {status}", op)
                continue
            for media, content in answer.get("content", {}).items():
                new_content = new_answer.get("content", {}).get(media)
                if new_content is None:
                    self.add(f"{op}: {status} no longer {media}", op)
                    continue
                self.schema(content.get("schema", {}), new_content.get("schema", {}), request=False,
                            where=f"{op}.{status}", op=op, seen=set())


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """What in ``new`` breaks a client generated from ``old``."""
    differ = _Differ(old, new)
    old_ops, new_ops = _operations(old), _operations(new)
    for (method, path), op in old_ops.items():
        if (method, path) not in new_ops:
            name = op.get("operationId", "")
            differ.add(f"{name} ({method.upper()} {path}): removed", name)
        else:
            differ.operation(method, path, op, new_ops[(method, path)])
    return list(differ.changes.values())


def changelog_top_section(text: str) -> str:
    """The changelog's newest section: from its first ``## `` heading to the next."""
    sections = re.split(r"(?m)^## ", text)
    return sections[1] if len(sections) > 1 else ""


def unnoted(changes: list[Change], changelog: str) -> list[Change]:
    top = changelog_top_section(changelog)
    return [c for c in changes if not c.noted_in(top)]


def describe_difference(snapshot: dict[str, Any], live: dict[str, Any], changelog: str) -> str:
    """Why the live document is not the snapshot, and what to do (for the test's failure)."""
    changes = breaking_changes(snapshot, live)
    if not changes:
        return (f"The public API document changed (additively) and contract/openapi.json is out of date: "
                f"run `{REFRESH_COMMAND}` and commit the snapshot with the change.")
    missing = unnoted(changes, changelog)
    lines = [f"The public API document has {len(changes)} breaking change(s) against contract/openapi.json:"]
    lines += [f"  - {c.message}" for c in changes]
    if missing:
        lines.append("Front ends generated from the snapshot would break. If this is intended, name each one's "
                     "operationId or Schema.field in the top section of CHANGELOG.md (these are not: "
                     + ", ".join(sorted({c.subjects[0] for c in missing if c.subjects})) + f"), then run `{REFRESH_COMMAND}`.")
    else:
        lines.append(f"They are noted in CHANGELOG.md: run `{REFRESH_COMMAND}` and commit the snapshot with the change.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.contract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare the live document with the snapshot")
    args = parser.parse_args(argv)
    live = public_document()
    changelog = CHANGELOG.read_text(encoding="utf-8") if CHANGELOG.exists() else ""
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8")) if SNAPSHOT.exists() else None
    if snapshot == live:
        print("contract/openapi.json is up to date")
        return 0
    if args.check:
        print(describe_difference(snapshot or {}, live, changelog), file=sys.stderr)
        return 1
    if snapshot is not None:
        missing = unnoted(breaking_changes(snapshot, live), changelog)
        if missing:
            print(describe_difference(snapshot, live, changelog), file=sys.stderr)
            print("contract/openapi.json is left as it was.", file=sys.stderr)
            return 1
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(dumps(live), encoding="utf-8")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}: {len(_operations(live))} operations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
