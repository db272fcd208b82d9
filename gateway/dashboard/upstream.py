"""The services as the dashboard calls them: with the caller's own token, so each service applies
its own authorization, over the forwarder's pooled client.

A service's problem (403, 404, 422 ...) is raised as :class:`UpstreamProblem` and reaches the
caller as the service wrote it; transport failures become the gateway's 502/503/504 problems,
as for forwarded requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from gateway.proxy import TRANSPORT_ERRORS, Forwarder, bad_gateway, upstream_failure
from shared.errors import (
    PROBLEM_MEDIA_TYPE,
    SajjaError,
    render_message,
    request_language,
)

log = logging.getLogger("sajja.dashboard")

#: How many funds a roll-up works on at once (each fund is several calls).
FUNDS_AT_ONCE = 8
PAGE_SIZE = 500


class UpstreamProblem(Exception):
    """A service refused or failed a call; its answer goes back to the caller unchanged."""

    def __init__(self, service: str, status: int, body: bytes, headers: dict[str, str]) -> None:
        super().__init__(f"{service} answered {status}")
        self.service = service
        self.status = status
        self.body = body
        self.headers = headers

    def problem(self) -> dict[str, Any]:
        try:
            parsed = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def response(self) -> Response:
        kept = {k: v for k, v in self.headers.items() if k.lower() in ("content-language", "www-authenticate", "retry-after")}
        return Response(self.body, status_code=self.status, media_type=PROBLEM_MEDIA_TYPE, headers=kept)


class Upstream:
    """Calls to the services on behalf of one request's caller."""

    def __init__(self, request: Request, token: str, *, lang: str | None = None) -> None:
        """``lang`` fixes the language of labels and problems (the web pages are Thai); by default
        it is the caller's ``Accept-Language``."""
        self.forwarder: Forwarder = request.app.state.forwarder
        self.lang = lang or request_language(request)
        self.headers = {
            "Authorization": f"Bearer {token}",
            "X-Request-ID": getattr(request.state, "request_id", ""),
            "Accept-Encoding": "identity",
            "Accept-Language": lang or request.headers.get("accept-language") or "th",
        }

    async def get(self, service: str, path: str, params: dict[str, Any] | None = None, *,
                  missing_ok: bool = False, timeout: float | None = None) -> Any:
        """The JSON a service answers; with ``missing_ok`` a 404 is None."""
        return await self._call(service, "GET", path, params, missing_ok=missing_ok, timeout=timeout)

    async def post(self, service: str, path: str, body: Any, *, timeout: float | None = None) -> Any:
        """The JSON a service answers to a read too large for a query string."""
        return await self._call(service, "POST", path, None, body=orjson.dumps(body), timeout=timeout)

    async def _call(self, service: str, method: str, path: str, params: dict[str, Any] | None, *,
                    body: bytes = b"", missing_ok: bool = False, timeout: float | None = None) -> Any:
        # A list is a repeated parameter (``?source=a&source=b``).
        query = {k: [str(x) for x in v] if isinstance(v, list | tuple) else str(v)
                 for k, v in (params or {}).items() if v is not None}
        headers = {**self.headers, "Content-Type": "application/json"} if body else self.headers
        try:
            answer = await self.forwarder.call(service, method, path, params=query, headers=headers, body=body,
                                               timeout=timeout)
        except TRANSPORT_ERRORS as exc:
            raise upstream_failure(exc, service) from None
        if answer.status == 200:
            try:
                return orjson.loads(answer.body)
            except orjson.JSONDecodeError:
                raise bad_gateway(service) from None
        if answer.status == 404 and missing_ok:
            return None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in answer.headers}
        if "json" not in headers.get("content-type", ""):
            log.warning("%s answered %s without a problem body for %s", service, answer.status, path)
            raise bad_gateway(service)
        raise UpstreamProblem(service, answer.status, answer.body, headers)

    async def pages(self, service: str, path: str, params: dict[str, Any] | None = None,
                    *, items: str = "items", limit: int | None = None) -> list[Any]:
        """Every item of a cursor-paged list (``limit`` caps how many are fetched)."""
        found: list[Any] = []
        cursor: str | None = None
        while True:
            page = await self.get(service, path, {**(params or {}), "limit": PAGE_SIZE, "cursor": cursor})
            found += page[items]
            cursor = page.get("next_cursor")
            if not cursor or (limit is not None and len(found) >= limit):
                return found if limit is None else found[:limit]


async def bounded(calls: list[Callable[[], Coroutine[Any, Any, Any]]], at_once: int = FUNDS_AT_ONCE) -> list[Any]:
    """Run the calls concurrently, at most ``at_once`` at a time; answers in the order of the calls."""
    gate = asyncio.Semaphore(at_once)

    async def one(call: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        async with gate:
            return await call()

    return await gather_all(*(one(call) for call in calls))


async def gather_all(*calls: Coroutine[Any, Any, Any]) -> list[Any]:
    """Await every call (none is left running), then raise the first failure in call order."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


def problem_text(error: Exception, lang: str = "th") -> tuple[int, str, str]:
    """(status, title, detail) of a problem, for a page that explains it."""
    if isinstance(error, UpstreamProblem):
        problem = error.problem()
        return error.status, str(problem.get("title") or error.status), str(problem.get("detail") or "")
    if isinstance(error, SajjaError):
        title, detail = render_message(error.code, lang, error.params)
        return error.status_code, title, detail
    title, detail = render_message("internal_error", lang, {"request_id": "-"})
    return 500, title, detail


class DashboardRoute(APIRoute):
    """A route whose upstream problems are answered as the service wrote them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except UpstreamProblem as problem:
                return problem.response()

        return route
