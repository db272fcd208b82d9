"""Schemathesis hooks for ``tests/support/fuzz.py`` (loaded by the schemathesis process itself).

Every error answer (4xx, 5xx) is meant to be problem+json (shared/errors.py). One that is not is
written to the file named by ``SAJJA_FUZZ_NOTES`` and reported beside the run, without failing it:
the run fails on 5xx answers only, and a check would end an operation's exploration at its first
such answer.
"""

from __future__ import annotations

import json
import os

import schemathesis

_seen: set[tuple[str, int, str]] = set()


@schemathesis.hook
def after_call(context, case, response) -> None:  # noqa: ANN001 - schemathesis' hook signature
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])
    content_type = (content_type[0] if isinstance(content_type, list) else content_type) or ""
    if content_type.split(";")[0].strip() == "application/problem+json":
        return
    operation = f"{case.method.upper()} {case.operation.path}"
    key = (operation, response.status_code, content_type)
    path = os.environ.get("SAJJA_FUZZ_NOTES")
    if key in _seen or not path:
        return
    _seen.add(key)
    with open(path, "a", encoding="utf-8") as notes:
        notes.write(json.dumps({"operation": operation, "status": response.status_code,
                                "content_type": content_type}) + "\n")
