"""ETags for what phones poll: a strong validator of the response body, and 304 when it matches."""

from __future__ import annotations

import hashlib

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def if_none_match(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    candidates = {c.strip().removeprefix("W/") for c in header.split(",")}
    return etag in candidates or "*" in candidates


def cached_json(request: Request, model: BaseModel, *, max_age: int = 0, private: bool = True) -> Response:
    """The model as JSON with an ETag; 304 without a body when the caller already has it."""
    body = model.model_dump_json().encode()
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": f"{'private' if private else 'public'}, max-age={max_age}"}
    if if_none_match(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
