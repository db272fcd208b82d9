"""One request of the matrix: a route, called by a principal on fund A's objects (or B's, or on
ids of nothing), on the route's own process or through the gateway, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.authz.calls import call_of, fill, url_of
from tests.authz.principals import BY_KEY
from tests.authz.routes import Route
from tests.authz.world import World

#: What a refusal answers: the statuses, and what the matrix calls each.
REFUSALS = {401: "401", 403: "403", 404: "404"}


@dataclass
class Answer:
    status: int
    content_type: str
    code: str | None
    location: str
    #: Rows each database's tables gained, changed or lost (written requests only).
    written: dict[str, dict[str, int]]
    text: str

    @property
    def outcome(self) -> str:
        """``allow``, ``401``, ``403``, ``404``, or ``login`` (a web page's way to the login form)."""
        if self.status in (302, 303) and self.location.startswith("/dashboard/login"):
            return "login"
        return REFUSALS.get(self.status, "allow")

    @property
    def is_problem(self) -> bool:
        return self.content_type == "application/problem+json" and bool(self.code)

    def __str__(self) -> str:
        return f"{self.status} {self.code or ''} {self.content_type} {self.text[:300]!r}"


async def ask(world: World, route: Route, principal: str, params: dict[str, str] | None = None, *,
              through_gateway: bool = False) -> Answer:
    """``principal`` calls ``route`` with ``params`` (fund A's objects unless given). A request that
    is not a GET runs in a savepoint rolled back after it, and says what it wrote."""
    params = params if params is not None else world.params("A")
    call = call_of(route)
    client = world.system.clients["gateway" if through_gateway or route.is_web_page else route.app]
    headers: dict[str, str] = {"Accept-Language": "en"}
    if route.is_web_page:
        token = world.token(principal)
        if token:
            headers["Cookie"] = f"sajja_access={token}"
    else:
        headers.update(world.headers(principal))
    request: dict[str, Any] = {"params": fill(call.query, params)}
    if call.json is not None:
        request["json"] = fill(call.json, params)
    if call.content is not None:
        request["content"] = call.content
        headers["Content-Type"] = call.content_type or "application/octet-stream"
    if call.files is not None:
        request["files"] = call.files
    build = client.build_request(route.method, url_of(route, params), headers=headers, **request)
    written: dict[str, dict[str, int]] = {}
    if route.method == "GET":
        response = await client.send(build)
    else:
        async with world.system.isolated() as written:
            response = await client.send(build)
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    code = None
    if content_type.endswith("json"):
        try:
            body = response.json()
            code = body.get("code") if isinstance(body, dict) else None
        except ValueError:
            pass
    return Answer(status=response.status_code, content_type=content_type, code=code,
                  location=response.headers.get("location", ""), written=written, text=response.text)


__all__ = ["BY_KEY", "Answer", "ask"]
