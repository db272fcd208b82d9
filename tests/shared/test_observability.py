"""Observability inside one process (docs/observability.md): the route templates the metrics and
access lines are labelled with, the access line of each request and what it never holds (a bearer
token, a national ID), JSON and text lines, the trace a request takes from its caller or starts,
and the spans recorded when tracing is on. Across the real processes: tests/e2e/test_e2e_observability.py."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, generate_latest

from shared import logs, metrics, tracing
from shared.auth import Role
from shared.observe import UNMATCHED, ObserveMiddleware, route_template
from tests.support.factories import make_fund, national_id, person

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the process logs, as written (JSON, access log on), for the test's length."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved = (logs.state.process, logs.state.worker, logs.state.json, logs.state.access)
    out = io.StringIO()
    logs.configure_logging("members", "INFO", "json", True)
    logs._lines.stream = out
    try:
        yield out
    finally:
        logs._lines.flush()
        root.handlers[:], root.level = handlers, level
        logs.state.process, logs.state.worker, logs.state.json, logs.state.access = saved
        logs._lines.stream = __import__("sys").stderr


def _records(out: io.StringIO) -> list[dict[str, Any]]:
    logs._lines.flush()
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def _app(process: str = "members", trust: bool = True) -> FastAPI:
    inner = APIRouter(prefix="/v1/things")

    @inner.get("/funds/{fund_id}/items/{item_id}")
    async def item(fund_id: uuid.UUID, item_id: int) -> dict[str, str]:
        logging.getLogger("sajja.test").info("reading item %s", item_id)
        return {"traceparent": tracing.current_traceparent() or ""}

    outer = APIRouter()
    outer.include_router(inner, prefix="/outer")
    app = FastAPI()
    app.include_router(outer)
    app.add_middleware(ObserveMiddleware, process=process, trust_traceparent=trust)
    return app


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_requests_are_labelled_by_route_template_never_by_path(lines: io.StringIO) -> None:
    fund = str(uuid.uuid4())
    async with _client(_app()) as client:
        assert (await client.get(f"/outer/v1/things/funds/{fund}/items/7")).status_code == 200
        assert (await client.get(f"/outer/v1/things/funds/{fund}/nothing-here")).status_code == 404
        assert (await client.request("BREW", f"/outer/v1/things/funds/{fund}/items/7")).status_code == 405
    access = [r for r in _records(lines) if r["logger"] == "sajja.access"]
    assert [(r["method"], r["route"], r["status"]) for r in access] == [
        ("GET", "/outer/v1/things/funds/{fund_id}/items/{item_id}", 200),
        ("GET", UNMATCHED, 404),
        ("OTHER", "/outer/v1/things/funds/{fund_id}/items/{item_id}", 405),  # a method of the caller's own: bounded
    ]
    assert access[0]["fund_id"] == fund and isinstance(access[0]["duration_ms"], float)
    exposed = generate_latest(REGISTRY).decode()
    assert 'route="/outer/v1/things/funds/{fund_id}/items/{item_id}"' in exposed
    assert fund not in exposed, "a fund is never a label"


def test_the_gateway_labels_what_it_forwards_by_service() -> None:
    scope = {"path": "/v1/ledger/funds/x/deposits"}
    assert route_template(scope, forwards=True) == "/v1/ledger/{path}"
    assert route_template({"path": "/v1/nothing/x"}, forwards=True) == UNMATCHED
    assert route_template(scope) == UNMATCHED, "a service's unmatched path stays unmatched"


async def test_a_service_continues_the_callers_trace_and_passes_it_on(lines: io.StringIO) -> None:
    async with _client(_app()) as client:
        answer = await client.get(f"/outer/v1/things/funds/{uuid.uuid4()}/items/1", headers={"traceparent": PARENT})
    sent = tracing.parse_traceparent(answer.json()["traceparent"])
    assert sent is not None and sent[0] == PARENT_TRACE and sent[1] != "00f067aa0ba902b7", \
        "calls out carry the same trace, with this request's span as their parent"
    records = [r for r in _records(lines) if r["logger"] in ("sajja.test", "sajja.access")]
    assert len(records) == 2
    assert {r["trace_id"] for r in records} == {PARENT_TRACE}, "every line of the request, the access line too"
    assert {r["span_id"] for r in records} == {sent[1]}


async def test_the_gateway_starts_a_trace_of_its_own_whatever_the_caller_sends(lines: io.StringIO) -> None:
    async with _client(_app("gateway", trust=False)) as client:
        first = await client.get(f"/outer/v1/things/funds/{uuid.uuid4()}/items/1", headers={"traceparent": PARENT})
        second = await client.get(f"/outer/v1/things/funds/{uuid.uuid4()}/items/1")
    traces = [tracing.parse_traceparent(r.json()["traceparent"]) for r in (first, second)]
    assert all(traces) and PARENT_TRACE not in {t[0] for t in traces} and traces[0][0] != traces[1][0]


@pytest.mark.parametrize("value", [
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "", "00-xyz",
])
def test_a_malformed_traceparent_is_ignored(value: str) -> None:
    assert tracing.parse_traceparent(value) is None


async def test_spans_are_recorded_as_children_of_the_callers_when_tracing_is_on(lines: io.StringIO) -> None:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("sajja-members", exporter=exporter)
    try:
        async with _client(_app()) as client:
            await client.get(f"/outer/v1/things/funds/{uuid.uuid4()}/items/1", headers={"traceparent": PARENT})
        with tracing.worker_pass("payouts") as pass_trace:
            assert tracing.current_traceparent() == pass_trace.traceparent()
    finally:
        tracing.shutdown_tracing()
    request_span, pass_span = exporter.get_finished_spans()
    assert request_span.name == "GET /outer/v1/things/funds/{fund_id}/items/{item_id}"
    assert f"{request_span.context.trace_id:032x}" == PARENT_TRACE
    assert f"{request_span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert request_span.attributes["http.response.status_code"] == 200
    assert pass_span.name == "worker payouts" and pass_span.parent is None, "a worker's pass starts a trace"
    assert {r["trace_id"] for r in _records(lines) if r["logger"] == "sajja.access"} == {PARENT_TRACE}


async def test_no_line_holds_a_token_or_a_national_id(service_client, tokens, lines: io.StringIO) -> None:
    """The members service's own requests, with a bearer token, a national ID in the body, in the
    query and in the answer, and a careless line that names both: none of it is in the log."""
    members = await service_client("members")  # its app has the middleware, as every service's
    fund = await make_fund(members, tokens)
    number = national_id(424242)
    headers = fund.as_(Role.committee)
    token = headers["Authorization"].split()[1]
    created = await members.post(f"/v1/members/funds/{fund.id}/members", headers=headers, json=person(424242))
    assert created.status_code == 201, created.text
    member = created.json()["id"]
    found = await members.get(f"/v1/members/funds/{fund.id}/members", headers=headers, params={"q": number})
    assert found.status_code == 200 and found.json()["items"]
    whole = await members.get(f"/v1/members/funds/{fund.id}/members/{member}/national-id", headers=headers,
                              params={"purpose": "claim"})
    assert whole.status_code == 200 and whole.json()["national_id"] == number
    refused = await members.get(f"/v1/members/funds/{fund.id}/members", headers={"Authorization": "Bearer not-a-token"},
                                params={"q": number})
    assert refused.status_code == 401
    logging.getLogger("sajja.test").warning("careless: Authorization: Bearer %s for %s (%s)", token, number,
                                            f"{number[0]}-{number[1:5]}-{number[5:10]}-{number[10:12]}-{number[12]}")
    text = lines.getvalue() + "".join(json.dumps(r) for r in _records(lines))
    access = [r for r in _records(lines) if r["logger"] == "sajja.access"]
    assert len(access) == 5, "one access line per request"
    assert token not in text and token.split(".")[1] not in text and "not-a-token" not in text
    assert number not in text and number[1:5] + "-" + number[5:10] not in text
    assert "[redacted]" in text, "the careless line is there, blanked"


def test_text_lines_for_a_terminal(lines: io.StringIO) -> None:
    logs.configure_logging("ledger", "INFO", "text", True)
    logs._lines.stream = lines
    with tracing.worker_pass("aggregates") as trace:
        logging.getLogger("sajja.test").info("a pass")
    logs._lines.flush()
    line = lines.getvalue().splitlines()[-1]
    assert f"trace={trace.trace_id}" in line and " INFO ledger " in line and line.endswith("sajja.test: a pass")


def test_json_is_the_default_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAJJA_LOG_FORMAT", raising=False)
    monkeypatch.delenv("SAJJA_LEDGER_LOG_FORMAT", raising=False)
    monkeypatch.setenv("SAJJA_ENV", "production")
    assert logs.log_format("ledger") == "json"
    monkeypatch.setenv("SAJJA_ENV", "dev")
    assert logs.log_format("ledger") == "text"
    monkeypatch.setenv("SAJJA_LOG_FORMAT", "json")
    assert logs.log_format("ledger") == "json"
    monkeypatch.setenv("SAJJA_LEDGER_LOG_FORMAT", "text")
    assert logs.log_format("ledger") == "text"


def test_the_request_histogram_counts_each_request_once_in_its_bucket() -> None:
    histogram = metrics._RequestHistogram()
    for seconds in (0.001, 0.0025, 0.003, 20.0):
        histogram.observe("ledger", "POST", "/r", 201, seconds)
    [family] = histogram.collect()
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("sajja_http_request_duration_seconds_bucket", "0.0025")] == 2
    assert samples[("sajja_http_request_duration_seconds_bucket", "0.005")] == 3
    assert samples[("sajja_http_request_duration_seconds_bucket", "15.0")] == 3
    assert samples[("sajja_http_request_duration_seconds_bucket", "+Inf")] == 4
    assert samples[("sajja_http_request_duration_seconds_count", None)] == 4


def test_lines_of_a_loop_that_ended_before_writing_them_are_written_by_the_next(lines: io.StringIO) -> None:
    import asyncio

    async def one(text: str) -> None:
        logging.getLogger("sajja.test").info(text)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(one("first"))  # its flush is scheduled, and the loop closes first
    loop.close()
    asyncio.run(one("second"))
    written = [r["msg"] for r in _records(lines) if r["logger"] == "sajja.test"]
    assert written == ["first", "second"]
