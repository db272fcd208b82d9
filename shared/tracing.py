"""Traces: a W3C ``traceparent`` from the gateway to the services, between services and into the
workers' calls, and OpenTelemetry spans exported over OTLP when ``SAJJA_OTLP_ENDPOINT`` is set.

Two layers (docs/observability.md):

- **Propagation, always.** Every request and every worker pass has a :class:`Trace` (a trace id
  and its own span id) in :data:`trace_var`: taken from the caller's ``traceparent`` where the
  caller is trusted (a service called by the gateway or another service), new otherwise (the
  gateway: phones do not choose Sajja's trace ids, nor whether a trace is sampled). Every call
  out (``shared.http`` clients, the gateway's forwarding and its own calls) carries
  ``traceparent: 00-<trace id>-<this span's id>-<flags>``, and every log line the trace id. This
  costs a random number and a string per request, and imports nothing of OpenTelemetry.
- **Spans, when turned on.** With an endpoint (or an exporter given by a test), the OpenTelemetry
  SDK is set up once per process: a server span per request (named by method and route template),
  a span per worker pass, each the child of the caller's span, batched and exported over OTLP/HTTP.
  Sampling is decided where a trace starts (``SAJJA_TRACE_SAMPLE_RATIO``) and followed downstream.

Workers: a pass starts a trace of its own (its span is a root), and the calls it makes carry it, so
a payout is one trace from the payout worker through the ledger. The pass is not linked to the
request that queued the work: that would need the ``traceparent`` stored on every outbox row.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import re
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("sajja.tracing")

_FUNDS = "/funds/"


class Trace:
    """The trace of the work under way: ids as lowercase hex, flags, and its span when recorded."""

    __slots__ = ("trace_id", "span_id", "flags", "span", "scope")

    def __init__(self, trace_id: str, span_id: str, flags: str, span: Any = None, scope: Any = None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.span = span
        #: The ASGI scope of a request (its route and fund are read from it only when a line is written).
        self.scope = scope

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def fund_id(self) -> str | None:
        """The fund the request's path names, if any (``fund_id`` among its path parameters, or
        the segment after ``/funds/`` of a path the gateway forwards)."""
        scope = self.scope
        if scope is None:
            return None
        params = scope.get("path_params")
        if params and (fund := params.get("fund_id")) is not None:
            return str(fund)
        path = scope.get("path", "")
        at = path.find(_FUNDS)
        if at < 0:
            return None
        fund = path[at + len(_FUNDS):].split("/", 1)[0]
        return fund if len(fund) == 36 and fund.count("-") == 4 else None


trace_var: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("sajja_trace", default=None)

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_getrandbits = random.getrandbits


def parse_traceparent(value: str) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags) of a well-formed version-00 ``traceparent``, else None."""
    found = _TRACEPARENT.fullmatch(value)
    if found is None:
        return None
    trace_id, span_id, flags = found.groups()
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, flags


def new_trace_id() -> str:
    return "%032x" % (_getrandbits(128) or 1)


def new_span_id() -> str:
    return "%016x" % (_getrandbits(64) or 1)


class _Spans:
    """The OpenTelemetry tracer, when this process records spans."""

    tracer: Any = None
    provider: Any = None


spans = _Spans()


def enabled() -> bool:
    return spans.tracer is not None


def configure_tracing(service_name: str, *, endpoint: str = "", sample_ratio: float = 1.0,
                      exporter: Any = None) -> None:
    """Record spans and export them: over OTLP/HTTP to ``endpoint`` (``SAJJA_OTLP_ENDPOINT``, e.g.
    ``http://otel-collector:4318``), or to ``exporter`` at once (tests). Neither: nothing is set up."""
    if not endpoint and exporter is None:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    shutdown_tracing()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}),
                              sampler=ParentBased(TraceIdRatioBased(sample_ratio)))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = endpoint.rstrip("/")
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=url if url.endswith("/v1/traces") else url + "/v1/traces")))
    spans.provider = provider
    spans.tracer = provider.get_tracer("sajja")
    log.info("tracing: spans of %s exported to %s", service_name, endpoint or type(exporter).__name__)


def shutdown_tracing() -> None:
    """Export what is left and stop recording (the process's end; tests)."""
    provider, spans.provider, spans.tracer = spans.provider, None, None
    if provider is not None:
        provider.shutdown()


def _start_span(name: str, parent: tuple[str, str, str] | None, kind: Any) -> Trace:
    from opentelemetry import trace as otel
    from opentelemetry.context import Context

    context = Context()
    if parent is not None:
        remote = otel.SpanContext(trace_id=int(parent[0], 16), span_id=int(parent[1], 16), is_remote=True,
                                  trace_flags=otel.TraceFlags(int(parent[2], 16)))
        context = otel.set_span_in_context(otel.NonRecordingSpan(remote), context)
    span = spans.tracer.start_span(name, context=context, kind=kind)
    found = span.get_span_context()
    return Trace("%032x" % found.trace_id, "%016x" % found.span_id, "01" if found.trace_flags.sampled else "00", span)


def begin_request(method: str, traceparent: str | None, scope: Any) -> Trace:
    """The trace of a request: the caller's (``traceparent``, when given) or a new one; a server
    span when spans are recorded."""
    parent = parse_traceparent(traceparent) if traceparent else None
    if spans.tracer is None:
        if parent is None:
            return Trace(new_trace_id(), new_span_id(), "00", None, scope)
        return Trace(parent[0], new_span_id(), parent[2], None, scope)
    from opentelemetry.trace import SpanKind

    trace = _start_span(method, parent, SpanKind.SERVER)
    trace.scope = scope
    return trace


def end_request(trace: Trace, method: str, route: str, status: int) -> None:
    """Name the request's span by its route template, give it its status, and end it."""
    span = trace.span
    if span is None:
        return
    span.update_name(f"{method} {route}")
    span.set_attribute("http.request.method", method)
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))
    span.end()


@contextlib.contextmanager
def worker_pass(name: str) -> Iterator[Trace]:
    """A worker's pass as a trace of its own (a root span ``worker <name>`` when recorded); the
    calls it makes carry it."""
    if spans.tracer is None:
        trace = Trace(new_trace_id(), new_span_id(), "00")
    else:
        from opentelemetry.trace import SpanKind

        trace = _start_span(f"worker {name}", None, SpanKind.INTERNAL)
    token = trace_var.set(trace)
    try:
        yield trace
    except BaseException as exc:
        if trace.span is not None:
            from opentelemetry.trace import Status, StatusCode

            trace.span.record_exception(exc)
            trace.span.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        trace_var.reset(token)
        if trace.span is not None:
            trace.span.end()


def current_traceparent() -> str | None:
    """The ``traceparent`` a call made now carries: this trace, this span as the parent."""
    trace = trace_var.get()
    return None if trace is None else f"00-{trace.trace_id}-{trace.span_id}-{trace.flags}"
