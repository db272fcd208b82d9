"""Every route of the five processes, read from their apps: the rows of the matrix.

The four services' routes (public and ``/internal``) and the gateway's own (``/v1/auth``,
``/v1/dashboard``, LINE, the health and key routes, and the web pages under ``/dashboard``). The
gateway forwards ``/v1/<service>/...`` to the services, so those are the services' rows (called on
the service, and through the gateway for a sample).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import NamedTuple

from fastapi.routing import APIRoute, iter_route_contexts

APPS = {
    "members": "services.members.app",
    "ledger": "services.ledger.app",
    "benefits": "services.benefits.app",
    "grants": "services.grants.app",
    "gateway": "gateway.app",
}


class Route(NamedTuple):
    app: str
    method: str
    path: str

    @property
    def is_web_page(self) -> bool:
        """A cookie-signed web page of the gateway's dashboard (not its ``/v1/dashboard`` API)."""
        return self.app == "gateway" and (self.path == "/dashboard" or self.path.startswith("/dashboard/"))

    @property
    def id(self) -> str:
        return f"{self.app} {self.method} {self.path}"


@cache
def app_routes(name: str) -> tuple[Route, ...]:
    """The API routes an app serves (through its included routers), each method its own row."""
    app = importlib.import_module(APPS[name]).create_app()
    found = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            found.extend(Route(name, method, context.path) for method in sorted(context.methods))
    return tuple(found)


def all_routes() -> tuple[Route, ...]:
    return tuple(route for name in APPS for route in app_routes(name))
