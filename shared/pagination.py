"""Cursor pagination: opaque cursors that carry the sort key of the last item seen."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Query

from shared.errors import SajjaError, register_messages

register_messages(
    {
        "request.cursor_invalid": {
            "th": ("cursor ไม่ถูกต้อง", "ค่า cursor ไม่ถูกต้องหรือหมดอายุ โปรดเริ่มจากหน้าแรก"),
            "en": ("Invalid cursor", "The cursor is invalid; start again from the first page"),
        }
    }
)

MAX_PAGE_SIZE = 500

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([str(k) for k in key])).decode().rstrip("=")


def decode_cursor(cursor: str | None, parts: int) -> list[str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError):
        raise SajjaError("request.cursor_invalid", status_code=400) from None
    if not isinstance(key, list) or len(key) != parts or not all(isinstance(k, str) for k in key):
        raise SajjaError("request.cursor_invalid", status_code=400)
    return key


T = TypeVar("T")


def after_key(cursor: str | None, *parsers: Callable[[str], Any]) -> tuple[Any, ...] | None:
    """The sort key a cursor carries, each part parsed (``uuid.UUID``, ``int``, ...); None without
    a cursor, 400 ``request.cursor_invalid`` when it does not parse."""
    key = decode_cursor(cursor, len(parsers))
    if key is None:
        return None
    try:
        return tuple(parse(part) for parse, part in zip(parsers, key, strict=True))
    except ValueError:
        raise SajjaError("request.cursor_invalid", status_code=400) from None


def split_page(rows: Sequence[T], limit: int, key: Callable[[T], tuple[Any, ...]]) -> tuple[list[T], str | None]:
    """Rows fetched with ``limit + 1``: the page, and the cursor after its last row when there is more."""
    page = list(rows[:limit])
    return page, encode_cursor(*key(page[-1])) if len(rows) > limit else None
