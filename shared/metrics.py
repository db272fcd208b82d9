"""Prometheus metrics of a Sajja process, and the listener that serves them (docs/observability.md).

Every process (the five API processes and every ``sajja worker``) serves ``/metrics`` on a port of
its own, ``SAJJA_METRICS_PORT`` (0, the default: no listener), never on its API port: nothing that
routes the public API (the ingress, the gateway's forwarding) reaches it, so phones cannot read it;
in Kubernetes only Prometheus's namespace is let in to it (deploy/k8s/networkpolicy.yaml).

Labels are bounded: a route's template (never the raw path), the method among the HTTP methods
(else ``OTHER``), the status code; a worker's or an outbox's name. Never a fund, member or user.
"""

from __future__ import annotations

import logging
import weakref
from bisect import bisect_left as _bisect
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from prometheus_client.registry import Collector

log = logging.getLogger("sajja.metrics")

#: Seconds; around what a deposit takes (a few ms) up to the forwarding timeout.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)

PROCESS_INFO = Gauge("sajja_process_info", "1 for the process: which one it is.", ["process", "worker"])

DEPOSITS_POSTED = Counter("sajja_deposits_posted", "Deposits the ledger posted (new ones; a replayed duplicate is not counted).")
CLAIMS_PAID = Counter("sajja_claims_paid", "Benefit claims the payout worker saw paid by the ledger.")
PAYOUTS_FAILED = Counter(
    "sajja_payouts_failed",
    "Payout attempts that did not pay: the ledger unreachable or refusing (retried), or held by the reserve floor.",
    ["reason"],
)
WEBHOOKS_FAILED = Counter(
    "sajja_webhook_deliveries_failed", "Webhook delivery attempts that failed (retried), and deliveries given up.", ["final"],
)
LINE_PUSHES_FAILED = Counter(
    "sajja_line_pushes_failed", "LINE push and reply attempts that failed (retried), and messages given up.", ["final"],
)
ROLL_CHANGES_FAILED = Counter(
    "sajja_roll_changes_failed",
    "Passes of the ledger's aggregates worker whose ask of the members service for the funds whose rolls changed "
    "failed (the watermark stays, the pass goes on, the next pass asks again).",
)

WORKER_PASSES = Counter("sajja_worker_passes", "Worker passes, by outcome.", ["worker", "outcome"])
WORKER_PASS_SECONDS = Histogram("sajja_worker_pass_duration_seconds", "How long a worker's pass took.", ["worker"],
                                buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0))
WORKER_LAST_SUCCESS = Gauge("sajja_worker_last_success_timestamp_seconds",
                            "When a pass of the worker last finished without failing (Unix time).", ["worker"])
OUTBOX_DEPTH = Gauge("sajja_outbox_depth", "Rows of an outbox waiting for a worker (due now or later).", ["outbox"])
OUTBOX_LAG = Gauge("sajja_outbox_lag_seconds",
                   "How long the oldest row of an outbox that is due has been due (0 when none is).", ["outbox"])

# Every label value of the money and delivery counters from the start, at 0: a rate over a
# counter that appears only at its first failure would miss that failure.
for _reason in ("unreachable", "refused", "held"):
    PAYOUTS_FAILED.labels(_reason)
for _final in ("true", "false"):
    WEBHOOKS_FAILED.labels(_final)
    LINE_PUSHES_FAILED.labels(_final)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

class _RequestHistogram(Collector):
    """``sajja_http_request_duration_seconds``: requests by process, method, route template and
    status, with their latency in :data:`LATENCY_BUCKETS`.

    Kept as plain lists of counts rather than with ``prometheus_client.Histogram``, whose
    ``observe`` takes a lock per bucket and per sum: a request is observed on the event loop's
    thread (the only writer) with a bisection and three additions, and the scrape, on the
    listener's thread, reads the lists as they are (a scrape may see a request in ``_count``
    before its bucket: a difference of one request, gone at the next scrape)."""

    name = "sajja_http_request_duration_seconds"

    def __init__(self) -> None:
        #: (process, method, route, status) -> [count per bucket (not cumulative)..., +Inf, sum]
        self.series: dict[tuple[str, str, str, int], list[float]] = {}

    def observe(self, process: str, method: str, route: str, status: int, seconds: float) -> None:
        key = (process, method, route, status)
        counts = self.series.get(key)
        if counts is None:
            counts = self.series[key] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
        counts[_bisect(LATENCY_BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            self.name, "Requests served, by route template, method and status, and how long each took.",
            labels=["process", "method", "route", "status"])
        for (process, method, route, status), counts in list(self.series.items()):
            counts = list(counts)
            running, buckets = 0.0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts[:-1]):
                running += count
                buckets.append((floatToGoString(bound), running))  # type: ignore[no-untyped-call]  # prometheus_client's, unannotated
            family.add_metric([process, method, route, str(status)], buckets, counts[-1])
        yield family

    def describe(self) -> Iterable[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, "", labels=["process", "method", "route", "status"])


HTTP_REQUESTS = _RequestHistogram()
REGISTRY.register(HTTP_REQUESTS)
observe_request = HTTP_REQUESTS.observe


class _Pools(Collector):
    """Connection pools of this process's databases, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.pools: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self.names: dict[int, str] = {}

    def watch(self, name: str, pool: Any) -> None:
        self.pools[id(pool)] = pool
        self.names[id(pool)] = name

    def collect(self) -> Iterable[GaugeMetricFamily]:
        in_use = GaugeMetricFamily("sajja_db_pool_connections_in_use", "Connections lent out now.", labels=["pool"])
        idle = GaugeMetricFamily("sajja_db_pool_connections_idle", "Open connections waiting in the pool.", labels=["pool"])
        capacity = GaugeMetricFamily("sajja_db_pool_capacity", "Most connections the pool opens (size + overflow).",
                                     labels=["pool"])
        totals: dict[str, list[float]] = {}
        for key, pool in list(self.pools.items()):
            name = self.names.get(key, "main")
            try:
                used, waiting = float(pool.checkedout()), float(pool.checkedin())
                most = float(pool.size() + max(getattr(pool, "_max_overflow", 0), 0))
            except Exception:  # noqa: BLE001 - a pool being disposed
                continue
            sums = totals.setdefault(name, [0.0, 0.0, 0.0])
            sums[0] += used
            sums[1] += waiting
            sums[2] += most
        for name, (used, waiting, most) in totals.items():
            in_use.add_metric([name], used)
            idle.add_metric([name], waiting)
            capacity.add_metric([name], most)
        yield in_use
        yield idle
        yield capacity


POOLS = _Pools()
REGISTRY.register(POOLS)


def watch_pool(name: str, engine: Any) -> None:
    """Report the pool of an SQLAlchemy engine (sync or async) as ``pool=name``."""
    pool = getattr(getattr(engine, "sync_engine", engine), "pool", None)
    if pool is not None and hasattr(pool, "checkedout"):
        POOLS.watch(name, pool)


class _Listener:
    port: int | None = None


_listener = _Listener()


def serve_metrics(port: int, host: str = "127.0.0.1") -> int | None:
    """Serve ``/metrics`` on ``host:port`` from a thread of this process, once per process; 0: none.
    A port already taken (a second uvicorn worker of one ``sajja serve``) is logged, not fatal."""
    if not port or _listener.port is not None:
        return _listener.port
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics: cannot listen on %s:%d (%s); this process's metrics are not served", host, port, exc)
        return None
    _listener.port = port
    log.info("metrics on http://%s:%d/metrics", host, port)
    return port


def mark_process(process: str, worker: str = "") -> None:
    PROCESS_INFO.labels(process, worker).set(1)
