"""Observability of the real processes (``sajja run``, JSON logs, metrics listeners, spans exported
over OTLP to a collector this test runs; docs/observability.md):

- one deposit through the gateway is one trace: the gateway's, the ledger's and the members
  service's access lines carry the same trace id, and their spans, exported over OTLP, are one
  tree (the ledger's span a child of the gateway's);
- every process, API or worker, serves ``/metrics`` on its own metrics port and not on its API
  port; after traffic, the Grafana dashboard and the alert rules of deploy/ read only metrics
  the processes expose;
- no line any process wrote holds the bearer tokens or the national IDs the requests carried.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shared.worker import WORKER_NAMES
from shared.settings import PROCESS_NAMES
from tests.support.factories import E2E_FUND, national_id
from tests.support.promql import alert_expressions, dashboard_expressions, exposed_names, metric_names
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem, running_system

pytestmark = pytest.mark.e2e

REQUEST_ID = "e2e-observability-deposit"
NATIONAL_ID = national_id(7700)


class _Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: keeps every span it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()


class _Receive(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append({"service": service, "name": span.name, "trace_id": span.trace_id.hex(),
                                  "span_id": span.span_id.hex(), "parent": span.parent_span_id.hex()})
        with self.server.lock:
            self.server.spans.extend(found)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@dataclass
class Observed:
    system: RunningSystem
    collector: _Collector
    metrics_base: int
    tokens: list[str] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[tuple[str, dict[str, Any]]]:
        """Each JSON line a process wrote, with the name the supervisor gave that process."""
        found = []
        for line in list(self.system.lines):
            name, sep, rest = line.partition(" | ")
            if sep and rest.startswith("{"):
                try:
                    found.append((name.strip(), json.loads(rest)))
                except ValueError:
                    continue
        return found


def _login(client: httpx.Client, phone: str, password: str) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _until(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    collector = _Collector()
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    children = len(PROCESS_NAMES) + len(WORKER_NAMES)
    env = {
        "SAJJA_LOG_FORMAT": "json", "SAJJA_LOG_LEVEL": "INFO",
        "SAJJA_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
    }
    try:
        with running_system(tmp_path_factory.mktemp("observability"), extra_env=env, metrics_ports=children) as system, \
                httpx.Client(base_url=system.url, timeout=20) as client:
            metrics_base = system.metrics_base
            seen = Observed(system, collector, metrics_base)
            admin = _login(client, ADMIN_PHONE, ADMIN_PASSWORD)
            fund = client.post("/v1/members/funds", headers=admin, json=E2E_FUND)
            assert fund.status_code == 201, fund.text
            fid = fund.json()["id"]
            member = client.post(f"/v1/members/funds/{fid}/members", headers=admin, json={
                "national_id": NATIONAL_ID, "first_name": "สมใจ", "last_name": "ตามรอย", "birth_date": "1970-01-01",
                "sex": "หญิง", "village": 1, "house_no": "1", "joined_on": "2015-01-01", "consent_given": True})
            assert member.status_code == 201, member.text
            found = client.get(f"/v1/members/funds/{fid}/members", headers=admin, params={"q": NATIONAL_ID})
            assert found.status_code == 200 and found.json()["items"]
            user = client.post("/v1/auth/users", headers=admin, json={
                "phone": "0872222222", "password": "collector-pass", "display_name": "อาสา", "role": "collector",
                "fund_id": fid})
            assert user.status_code == 201, user.text
            assert client.post(f"/v1/members/funds/{fid}/collectors", headers=admin,
                               json={"user_id": user.json()["id"], "display_name": "อาสา"}).status_code == 201
            collector_headers = _login(client, "0872222222", "collector-pass")
            seen.tokens = [h["Authorization"].split()[1] for h in (admin, collector_headers)]
            # The fund's first deposit: the ledger asks the members service about the fund and member.
            deposit = client.post(f"/v1/ledger/funds/{fid}/deposits", headers={**collector_headers, "X-Request-ID": REQUEST_ID},
                                  json={"id": str(uuid.uuid4()), "member_id": member.json()["id"], "amount_satang": 3000,
                                        "collected_at": dt.datetime.now(dt.UTC).isoformat()})
            assert deposit.status_code == 201, deposit.text
            assert client.get("/metrics", headers=admin).status_code == 404, "the gateway's API port serves no metrics"
            assert httpx.get(system.service_url("ledger") + "/metrics").status_code == 404
            urls = [f"http://127.0.0.1:{metrics_base + i}/metrics" for i in range(children)]

            last: dict[str, str | None] = {}

            def scraped() -> dict[str, str] | None:
                # Every listener answers, and the workers that run have made a pass and measured
                # their outboxes (the LINE worker runs none without a LINE channel).
                pages = {url: _page(url) for url in urls}
                last.update(pages)
                every = "".join(p for p in pages.values() if p)
                done = all(pages.values()) and "sajja_worker_passes_total{" in every and "sajja_outbox_lag_seconds{" in every
                return pages if done else None  # type: ignore[return-value]

            try:
                seen.pages = _until(scraped, "every process's metrics", timeout=120)
            except AssertionError:
                missing = [url for url, page in last.items() if not page]
                raise AssertionError(f"metrics not all there; no answer from {missing}; "
                                     f"outbox measured: {'sajja_outbox_lag_seconds{' in ''.join(p or '' for p in last.values())}\n"
                                     + "\n".join(system.lines[-80:])) from None
            yield seen
    finally:
        collector.shutdown()
        collector.server_close()


def _page(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def test_one_deposit_is_one_trace_across_the_gateway_the_ledger_and_members(observed: Observed) -> None:
    lines = observed.lines()
    gateway = [r for name, r in lines if name == "gateway" and r.get("request_id") == REQUEST_ID
               and r["logger"] == "sajja.access" and r["route"] == "/v1/ledger/{path}"]
    # (The services' own calls to the gateway on its behalf, a service token, carry the request id
    # too, each in a trace of its own: the gateway starts one for every request it takes.)
    assert len(gateway) == 1, [r for name, r in lines if name == "gateway" and r.get("request_id") == REQUEST_ID]
    access = gateway[0]
    assert (access["method"], access["route"], access["status"]) == ("POST", "/v1/ledger/{path}", 201)
    trace_id = access["trace_id"]
    by_process = {}
    for name, record in lines:
        if record.get("trace_id") == trace_id and record["logger"] == "sajja.access":
            by_process.setdefault(name, []).append((record["method"], record["route"]))
    assert ("POST", "/v1/ledger/funds/{fund_id}/deposits") in by_process["ledger"]
    assert by_process.get("members"), "the ledger's calls to the members service carry the trace"
    assert all(route.startswith("/v1/members/internal/") for _, route in by_process["members"])

    def spans() -> list[dict[str, Any]] | None:
        with observed.collector.lock:
            mine = [s for s in observed.collector.spans if s["trace_id"] == trace_id]
        return mine if {"sajja-gateway", "sajja-ledger", "sajja-members"} <= {s["service"] for s in mine} else None

    exported = _until(spans, "the deposit's spans at the collector")
    by_id = {s["span_id"]: s for s in exported}
    [root] = [s for s in exported if s["service"] == "sajja-gateway"]
    assert root["name"] == "POST /v1/ledger/{path}" and root["parent"] == ""
    [ledger] = [s for s in exported if s["service"] == "sajja-ledger"]
    assert ledger["name"] == "POST /v1/ledger/funds/{fund_id}/deposits" and ledger["parent"] == root["span_id"]
    for span in exported:
        if span["service"] == "sajja-members":
            assert by_id[span["parent"]] is ledger
    assert access["span_id"] == root["span_id"], "the log line names the span"


def test_every_process_serves_metrics_on_its_own_port(observed: Observed) -> None:
    assert len(observed.pages) == len(PROCESS_NAMES) + len(WORKER_NAMES)
    processes = {}
    for url, page in observed.pages.items():
        info = [line for line in page.splitlines() if line.startswith("sajja_process_info{")]
        assert len(info) == 1, url
        processes[url] = info[0]
    assert sum('worker=""' in line for line in processes.values()) == len(PROCESS_NAMES)
    for name in WORKER_NAMES:
        assert sum(f'worker="{name}"' in line for line in processes.values()) == 1, name
    ledger = next(page for page in observed.pages.values() if 'sajja_process_info{process="ledger",worker=""}' in page)
    assert 'route="/v1/ledger/funds/{fund_id}/deposits"' in ledger and "sajja_deposits_posted_total 1.0" in ledger
    assert 'sajja_db_pool_connections_in_use{pool="main"}' in ledger
    gateway = next(page for page in observed.pages.values() if 'sajja_process_info{process="gateway",worker=""}' in page)
    assert 'route="/v1/ledger/{path}"' in gateway
    for page in observed.pages.values():
        assert NATIONAL_ID not in page and "/funds/" + "" not in page.replace("/funds/{", ""), "never a raw path"


def test_the_dashboard_and_the_alert_rules_read_only_metrics_that_exist(observed: Observed) -> None:
    exposed = set().union(*(exposed_names(page) for page in observed.pages.values()))
    for source, expressions in (("dashboard", dashboard_expressions()), ("alert rules", alert_expressions())):
        used = set().union(*(metric_names(e) for e in expressions))
        assert used, source
        assert used <= exposed, f"{source} read metrics no process exposes: {sorted(used - exposed)}"


def test_no_line_holds_a_token_or_a_national_id(observed: Observed) -> None:
    output = observed.system.output()
    assert observed.tokens and all(token not in output for token in observed.tokens)
    assert all(token.split(".")[1] not in output for token in observed.tokens)
    assert NATIONAL_ID not in output
    lines = observed.lines()
    assert lines and all(record.get("process") for _, record in lines), "every line is JSON with its process"
