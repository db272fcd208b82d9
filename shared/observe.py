"""What every request leaves behind: its latency in the metrics, its access-log line, its trace.

:class:`ObserveMiddleware` is plain ASGI (no ``BaseHTTPMiddleware``): it sits on the path of every
deposit. Per request it takes the time twice, sets one context variable, and after the answer
reads the route's template from the scope, observes one histogram series (looked up once per
series, ``shared.metrics``) and writes one access line (``shared.logs``). With spans off
(``SAJJA_OTLP_ENDPOINT`` unset) tracing adds a random number and a string (``shared.tracing``).

:func:`start_process` sets up a process's logs, metrics listener and tracing from its settings.
"""

from __future__ import annotations

import time
from typing import Any

from shared import logs, metrics, tracing
from shared.settings import SERVICE_NAMES

_perf = time.perf_counter
_FORWARDED = {name: f"/v1/{name}/{{path}}" for name in SERVICE_NAMES}
UNMATCHED = "<unmatched>"


def route_template(scope: dict[str, Any], forwards: bool = False) -> str:
    """The template of the route that took the request (``/v1/ledger/funds/{fund_id}/deposits``),
    never the raw path; ``/v1/<service>/{path}`` for what the gateway forwards; ``<unmatched>``."""
    fastapi_scope = scope.get("fastapi")
    if fastapi_scope:
        context = fastapi_scope.get("effective_route_context")
        if context is not None and (path := getattr(context, "path_format", None)):
            return str(path)
    route = scope.get("route")
    if route is not None:
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if path:
            return str(path)
    path = scope.get("path", "")
    if forwards and path.startswith("/v1/"):
        template = _FORWARDED.get(path.split("/", 3)[2] if path.count("/") >= 3 else "")
        if template is not None:
            return template
    return UNMATCHED


class ObserveMiddleware:
    """Latency histogram, access line and trace of each HTTP request (see the module).

    ``trust_traceparent``: take the caller's ``traceparent`` (services, which only the gateway and
    other services reach); the gateway starts a trace of its own for every request from outside."""

    def __init__(self, app: Any, process: str, trust_traceparent: bool = True) -> None:
        self.app = app
        self.process = process
        self.trust = trust_traceparent
        self.forwards = process == "gateway"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = _perf()
        parent = None
        if self.trust:
            for key, value in scope["headers"]:
                if key == b"traceparent":
                    parent = value.decode("latin-1")
                    break
        method = scope["method"]
        trace = tracing.begin_request(method, parent, scope)
        token = tracing.trace_var.set(trace)
        status = 500

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            duration = _perf() - start
            route = route_template(scope, self.forwards)
            if method not in metrics.METHODS:
                method = "OTHER"
            metrics.observe_request(self.process, method, route, status, duration)
            if logs.state.access:
                logs.access_line(method, route, status, duration, trace)
            if trace.span is not None:
                tracing.end_request(trace, method, route, status)
            tracing.trace_var.reset(token)


def start_process(process: str, settings: Any, *, worker: str = "") -> None:
    """A process's logs (format, level, access log), its metrics listener and its tracing, from
    its settings (``shared.settings.SajjaSettings``)."""
    logs.set_worker(worker or None)
    logs.configure_logging(process, settings.log_level, settings.log_format or None, settings.access_log)
    metrics.mark_process(process, worker)
    metrics.serve_metrics(settings.metrics_port, settings.metrics_host)
    if settings.otlp_endpoint and not tracing.enabled():
        tracing.configure_tracing(f"sajja-{worker or process}", endpoint=settings.otlp_endpoint,
                                  sample_ratio=settings.trace_sample_ratio)
