"""ASGI middleware every process uses: request ids, request body limits, and strings no service
takes (NUL, lone surrogates) refused before any route sees them.

All are plain ASGI (no ``BaseHTTPMiddleware``) because they sit on the path of every deposit.
"""

from __future__ import annotations

import datetime
import email.message
import functools
import json
import re
import uuid
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware, GZipResponder, IdentityResponder
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

import shared.schemas  # noqa: F401 - registers the text errors' Thai and English wording
from shared.errors import PROBLEM_MEDIA_TYPE, field_errors, preferred_language, problem_body
from shared.logs import request_id_var
from shared.validators import printable, unencodable_character, unencodable_strings

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


class RequestIdMiddleware:
    """Takes a well-formed ``X-Request-ID`` from the caller or makes one; echoes it back.

    ``server_time``: also ``X-Server-Time`` on every response (the gateway's, see
    :class:`ServerTimeMiddleware`), added in the same pass over the answer's headers rather than by
    a layer of its own: one wrapper less on the path of every deposit."""

    def __init__(self, app: Any, server_time: bool = False) -> None:
        self.app = app
        self.server_time = server_time

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                if self.server_time:
                    headers.append((b"x-server-time", _server_time()))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An HTTPException, so FastAPI's body parsing passes it through to the problem handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=str(limit))
        self.limit = limit


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: Any, max_bytes: int, overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: Larger limits for given path suffixes (uploads), e.g. ``{"/import": 20 MiB}``.
        self.overrides = overrides or {}

    def _limit_for(self, path: str) -> int:
        for suffix, limit in self.overrides.items():
            if path.endswith(suffix):
                return limit
        return self.max_bytes

    async def _reject(self, scope: dict[str, Any], send: Any, limit: int) -> None:
        lang = preferred_language(_header(scope, b"accept-language"))
        request_id = scope.get("state", {}).get("request_id")
        body = orjson.dumps(
            problem_body("request.body_too_large", 413, lang, {"limit": limit}, request_id=request_id)
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"content-language", lang.encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._reject(scope, send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, send, limit)


def _server_time() -> bytes:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").encode()


class ServerTimeMiddleware:
    """``X-Server-Time`` on every response: phones with wrong clocks can correct themselves.

    The gateway has it from ``RequestIdMiddleware(server_time=True)``, the same header in one pass."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_time(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-server-time", _server_time())]
            await send(message)

        await self.app(scope, receive, send_with_time)


class SmallFirstGZipMiddleware(GZipMiddleware):
    """Starlette's ``GZipMiddleware``, except that an answer whose ``Content-Length`` is under
    ``minimum_size`` (a deposit's receipt, a problem+json) goes out as it is without its
    machinery: it would leave such an answer untouched anyway, having parsed the request's and
    the answer's headers and made a responder for it. Anything else (larger, of no length,
    streamed) takes Starlette's way unchanged, the responder made when the answer starts."""

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        onward: Any = None

        async def send_small_first(message: MutableMapping[str, Any]) -> None:
            nonlocal onward
            if onward is None:
                if message["type"] == "http.response.start" and _small(message, self.minimum_size):
                    onward = send
                else:
                    accepts = "gzip" in (_header(scope, b"accept-encoding") or "")
                    responder = (GZipResponder(self.app, self.minimum_size, compresslevel=self.compresslevel,
                                               thread_minimum_size=self.thread_minimum_size,
                                               exclude_content_types=self.exclude_content_types)
                                 if accepts else
                                 IdentityResponder(self.app, self.minimum_size,
                                                   exclude_content_types=self.exclude_content_types))
                    responder.send = send
                    onward = responder.send_with_compression
            await onward(message)

        await self.app(scope, receive, send_small_first)


def _small(start: Mapping[str, Any], minimum_size: int) -> bool:
    """Whether a response's start declares a body shorter than ``minimum_size``."""
    for key, value in start.get("headers", ()):
        if key.lower() == b"content-length":
            return value.isdigit() and int(value) < minimum_size
    return False


#: A JSON body that may hold NUL or a lone surrogate: the escapes ``\u0000`` and ``\uD800`` to ``\uDFFF``,
#: or a surrogate written as (invalid) UTF-8 bytes, which ``json.loads`` takes. Only a body this finds
#: is decoded and walked; a false alarm (an escaped backslash before ``u0000``) costs only that walk.
_SUSPECT_JSON = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])|\xed[\xa0-\xbf]")
#: In a query string or a form, NUL arrives only as ``%00``: Starlette decodes them as UTF-8 with
#: replacement, so no surrogate can come out of them.
_SUSPECT_FORM = b"%00"


def _json_type(content_type: str | None) -> bool:
    """Whether a body of this type is read as JSON (FastAPI reads a body with no type as JSON too)."""
    if not content_type:
        return True
    return _json_media_type(content_type)


@functools.lru_cache(maxsize=256)
def _json_media_type(content_type: str) -> bool:
    """``_json_type`` of a given header, remembered: every POST asks it (phones send a handful of
    distinct values), and parsing the header as ``email`` does costs more than the rest of the
    check."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class InputHygieneMiddleware:
    """Refuses a request any string of which holds NUL or a lone surrogate: a 422 problem+json
    naming each one (``errors[]``: ``path.<name>``, ``query.<name>``, ``body.<where>``), in the
    caller's language, before any route, dependency or database sees it (so nothing is written).

    One place for every string a process takes, whatever its type says: a path parameter, a query
    parameter, any string of a JSON body (keys too) or of a form. PostgreSQL text cannot hold NUL
    and a lone surrogate cannot be written as UTF-8, so without this either one reaching a query
    is a 500. Checked like a body that is not JSON, before the caller is known: it is about how
    the request is written, not about who sends it. Cheap for the usual request: the path is a
    string search, a query string or form a byte search, and a JSON body is decoded and walked only
    when a byte search finds an escape or bytes that could be one of these (``_SUSPECT_JSON``).
    Multipart bodies are files and pass as they are (an imported roll is validated row by row with
    the same types as a body)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors: list[dict[str, Any]] = []
        if unencodable_character(scope["path"]):
            errors += self._path_errors(scope)
        query = scope.get("query_string", b"")
        if _SUSPECT_FORM in query:
            errors += self._form_errors(query, "query")
        content_type = _header(scope, b"content-type")
        form = content_type is not None and content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
        if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS") or not (form or _json_type(content_type)):
            if errors:
                await self._refuse(scope, send, errors)
            else:
                await self.app(scope, receive, send)
            return
        body, messages = await self._read(receive)
        if form and _SUSPECT_FORM in body:
            errors += self._form_errors(body, "body")
        elif not form and _SUSPECT_JSON.search(body):
            errors += self._json_errors(body)
        if errors:
            await self._refuse(scope, send, errors)
            return
        replay = iter(messages)

        async def replayed() -> dict[str, Any]:
            message = next(replay, None)
            return message if message is not None else await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    async def _read(receive: Any) -> tuple[bytes, list[dict[str, Any]]]:
        """The whole body, and the messages it came in, to give the app as they came."""
        messages, chunks = [], []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks), messages

    @staticmethod
    def _path_errors(scope: dict[str, Any]) -> list[dict[str, Any]]:
        """The path parameter holding the bad character, named as the route whose template the
        path matches names it (only on this rare path: each template compiled and tried)."""
        app = scope.get("app")
        routes = getattr(app, "routes", ())
        for template in [c.path for c in iter_route_contexts(routes) if c.path is not None] if routes else []:
            found = compile_path(template)[0].match(scope["path"])
            for name, value in (found.groupdict() if found else {}).items():
                if bad := unencodable_character(value):
                    return [_error(("path", printable(name)), *bad)]
        return [_error(("path",), *unencodable_character(scope["path"]))]  # type: ignore[misc]

    @staticmethod
    def _form_errors(raw: bytes, where: str) -> list[dict[str, Any]]:
        errors = []
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            if bad := unencodable_character(name) or unencodable_character(value):
                errors.append(_error((where, printable(name)), *bad))
        return errors

    @staticmethod
    def _json_errors(raw: bytes) -> list[dict[str, Any]]:
        try:
            document = json.loads(raw)
        except ValueError:
            return []  # not JSON: the route refuses it as FastAPI does
        return [_error(("body", *loc), code, char) for loc, code, char in unencodable_strings(document)]

    async def _refuse(self, scope: dict[str, Any], send: Any, errors: list[dict[str, Any]]) -> None:
        lang = preferred_language(_header(scope, b"accept-language"))
        request_id = scope.get("state", {}).get("request_id")
        fields = field_errors(errors, lang)
        body = orjson.dumps(problem_body("request.validation_failed", 422, lang, {"count": len(fields)},
                                         request_id=request_id, errors=fields))
        await send({"type": "http.response.start", "status": 422, "headers": [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
            (b"content-language", lang.encode())]})
        await send({"type": "http.response.body", "body": body})


def _error(loc: tuple[str | int, ...], code: str, char: str) -> dict[str, Any]:
    """A pydantic-shaped error, for ``field_errors``."""
    return {"type": code, "loc": loc, "msg": f"Contains {char}, which no text may hold", "ctx": {"char": char}}
