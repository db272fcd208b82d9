"""Lean routes: FastAPI routes whose requests skip FastAPI's per-request machinery.

A deposit is the request phones make thousands of times an evening. FastAPI's work per request
for it (solving the dependencies, reading the body as JSON and then validating the objects,
encoding the answer) is a large part of the ledger's CPU per deposit, and most of it is general
machinery this one shape of request does not need.

A :class:`LeanRoute` keeps the endpoint as it is declared, so the OpenAPI document, the path,
the status code, the tags and the middlewares are FastAPI's as for any route, and only the call
differs. It supports what hot endpoints need, and refuses anything else when the app is built:

- path parameters typed ``uuid.UUID``;
- one body parameter, a pydantic model;
- the ``Request``;
- the caller, ``CurrentPrincipal``;
- a dependency (a service's access check) whose own parameters are among these: path ids and the
  caller, solved as FastAPI solves it (in the order declared, its id refused before it is called).

A valid JSON body is parsed and validated in one pass by pydantic-core (cheaper than
``json.loads`` then validation, which makes every object twice); a body read as FastAPI reads it
(by its content type: strict, so no type is no JSON) takes FastAPI's way whenever that pass refuses it.
Errors come in FastAPI's order and shape, so the problem+json is the same (a test compares the
two on the same endpoint): a body that is not JSON first, then the caller (a bad token is a 401)
and the dependencies (an access check's 403), then invalid path parameters and body together as
one ``RequestValidationError``. The endpoint returns
a ``Response``, or a pydantic model that is sent with the route's status code, encoded by
pydantic itself.
"""

from __future__ import annotations

import email.message
import inspect
import json
import typing
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Strict, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shared.auth import CurrentPrincipal, current_principal

_UUID = TypeAdapter(uuid.UUID)


_MISSING = object()


#: Types whose strict validation takes the same values from JSON as from ``json.loads``' output.
_JSON_NATIVE = (int, float, bool, str)


def _strict_beyond_json(model: type[BaseModel], seen: set[type] | None = None) -> str | None:
    """A field of ``model`` (or of a model inside it) that is strict and not a JSON-native type:
    pydantic-core's JSON mode takes a string for a strict UUID or date, its Python mode does not,
    so the one-pass body parsing would accept what FastAPI refuses."""
    seen = seen if seen is not None else set()
    if model in seen:
        return None
    seen.add(model)
    if model.model_config.get("strict"):
        return f"{model.__name__} (strict model)"
    for name, field in model.model_fields.items():
        strict = any(isinstance(m, Strict) and m.strict for m in field.metadata)
        if strict and field.annotation not in _JSON_NATIVE:
            return f"{model.__name__}.{name}"
        pending = [field.annotation]
        while pending:
            hint = pending.pop()
            if isinstance(hint, type) and issubclass(hint, BaseModel) and (found := _strict_beyond_json(hint, seen)):
                return found
            pending.extend(typing.get_args(hint))
    return None


def _json_content(content_type: str | None, strict: bool) -> bool:
    """Whether FastAPI would read the body as JSON: an ``application/json`` or ``+json`` type, or
    none at all when the route is not strict about it."""
    if not content_type:  # FastAPI: a missing or empty type
        return not strict
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _fastapi_json(raw: bytes) -> Any:
    """The body as FastAPI reads JSON: invalid JSON is a validation error (raised before the
    caller is known, as FastAPI does), an unreadable body (not UTF-8, say) a 400."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from None
    except ValueError:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from None


class _Check(typing.NamedTuple):
    """A dependency a lean route calls: its function, its path ids, and its caller's parameter."""

    call: Callable[..., Coroutine[Any, Any, Any]]
    path_names: list[str]
    principal_name: str | None


def _check(hint: Any, path: str) -> _Check | None:
    """The dependency an ``Annotated[..., Depends(f)]`` declares, if a lean route can call it."""
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    depends = [m for m in typing.get_args(hint)[1:] if isinstance(m, params.Depends)]
    if len(depends) != 1 or depends[0].dependency is None:
        return None
    call = depends[0].dependency
    if not inspect.iscoroutinefunction(call):
        raise TypeError(f"LeanRoute {path}: the dependency {call.__name__} must be async")
    hints = typing.get_type_hints(call, include_extras=True)
    path_names: list[str] = []
    principal_name = None
    for name in inspect.signature(call).parameters:
        if hints.get(name) is uuid.UUID and f"{{{name}}}" in path:
            path_names.append(name)
        elif hints.get(name) == CurrentPrincipal:
            principal_name = name
        else:
            raise TypeError(f"LeanRoute {path}: the dependency {call.__name__} takes {name!r}: only path ids and the caller")
    return _Check(call, path_names, principal_name)


def _path_ids(request: Request, names: list[str], into: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
    """The path ids as FastAPI validates them; False, with the errors added, when one is not an id."""
    valid = True
    for name in names:
        try:
            into[name] = _UUID.validate_python(request.path_params[name])
        except ValidationError as exc:
            errors += [{**e, "loc": ("path", name)} for e in exc.errors(include_url=False)]
            valid = False
    return valid


class LeanRoute(APIRoute):
    """An ``APIRoute`` called by a plain handler; see the module's docstring."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if options.get("max_body_size") is not None:
            raise TypeError(f"LeanRoute {path}: body limits are the app's (BodyLimitMiddleware)")
        super().__init__(path, endpoint, **options)
        handler = self.get_route_handler()

        # Without FastAPI's per-route wrapper (two exit stacks for dependencies with yield, which
        # a lean route has none of, and a second exception handler): what the handler raises is
        # turned into problem+json by the app's exception middleware, with the same handlers.
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handler(Request(scope, receive, send))
            await response(scope, receive, send)

        self.app = app

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"LeanRoute {self.path}: the endpoint must be async")
        hints = typing.get_type_hints(endpoint, include_extras=True)
        path_names: list[str] = []
        body: tuple[str, type[BaseModel]] | None = None
        request_name = None
        #: The caller and the dependencies, in the order FastAPI solves them (as declared).
        dependencies: list[tuple[str, _Check | None]] = []
        for name in inspect.signature(endpoint).parameters:
            hint = hints.get(name)
            if hint is uuid.UUID and f"{{{name}}}" in self.path:
                path_names.append(name)
            elif hint is Request:
                request_name = name
            elif hint == CurrentPrincipal:
                dependencies.append((name, None))
            elif (check := _check(hint, self.path)) is not None:
                dependencies.append((name, check))
            elif body is None and isinstance(hint, type) and issubclass(hint, BaseModel):
                if found := _strict_beyond_json(hint):
                    raise TypeError(f"LeanRoute {self.path}: {found} is strict beyond JSON's own types"
                                    " (one-pass JSON validation would take strings FastAPI refuses)")
                body = (name, hint)
            else:
                raise TypeError(f"LeanRoute {self.path}: parameter {name!r} ({hint!r}) is not supported")
        status_code = self.status_code or 200
        strict = self.strict_content_type
        strict = bool(strict.value if isinstance(strict, DefaultPlaceholder) else strict)

        async def handler(request: Request) -> Response:
            kwargs: dict[str, Any] = {}
            data: Any = _MISSING
            parsed: Any = _MISSING
            if body is not None:
                raw = await request.body()
                if raw and not _json_content(request.headers.get("content-type"), strict):
                    data = raw  # validated as it is, and refused, as FastAPI does
                elif raw:
                    try:
                        # The usual case, a valid body: parsed and validated in one pass by
                        # pydantic-core, with no Python objects made in between.
                        # Anything it refuses takes FastAPI's way, so errors (their order, kinds
                        # and locations) are FastAPI's.
                        parsed = body[1].model_validate_json(raw)
                    except ValidationError:
                        data = _fastapi_json(raw)
            errors: list[dict[str, Any]] = []
            for name, check in dependencies:
                if check is None:
                    kwargs[name] = await current_principal(request)
                    continue
                args: dict[str, Any] = {}
                if check.principal_name is not None:
                    args[check.principal_name] = await current_principal(request)
                if _path_ids(request, check.path_names, args, errors):
                    kwargs[name] = await check.call(**args)
            _path_ids(request, path_names, kwargs, errors)
            if body is not None:
                name, model = body
                if parsed is not _MISSING:
                    kwargs[name] = parsed
                elif data is _MISSING:
                    errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
                else:
                    try:
                        kwargs[name] = model.model_validate(data, from_attributes=True)
                    except ValidationError as exc:
                        errors += [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            if errors:
                raise RequestValidationError(errors)
            if request_name is not None:
                kwargs[request_name] = request
            result = await endpoint(**kwargs)
            if isinstance(result, Response):
                return result
            if isinstance(result, BaseModel):
                return Response(result.model_dump_json(), status_code=status_code, media_type="application/json")
            raise TypeError(f"LeanRoute {self.path}: the endpoint returned {type(result).__name__}")

        return handler
