"""Background workers: a pass of work every few seconds, each worker a process of its own.

``sajja worker NAME`` runs one worker (``sajja worker all`` every one, in one process); ``sajja
run`` starts ``SAJJA_WORKER_REPLICAS`` of each, and deploy/ has a Deployment per worker. Every
worker is safe with any number of replicas: what it takes from a table it claims with a lease
(``shared.lease``), and it holds no database lock across a network call (docs/workers.md).

A worker is one line of :data:`WORKERS`: its name and the function that makes what it needs
(its database, its HTTP clients) and yields its :class:`Job`, closing them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any

from shared import metrics, tracing
from shared.db import Database

log = logging.getLogger("sajja.worker")

#: Every worker, by name: the process whose database it works on, and ``module:function`` of its
#: factory (a function of no arguments returning an async context manager of its Job, or of None
#: when the settings turn it off). Adding a worker is adding a line here.
WORKERS: dict[str, tuple[str, str]] = {
    "payouts": ("benefits", "services.benefits.workers:payouts"),
    "documents": ("benefits", "services.benefits.workers:document_sweep"),
    "grants": ("grants", "services.grants.workers:grants"),
    "erasures": ("members", "services.members.workers:erasures"),
    "pii-reencrypt": ("members", "services.members.workers:pii_reencrypt"),
    "line": ("gateway", "gateway.line.worker:line"),
    "aggregates": ("ledger", "services.ledger.workers:aggregates"),
}
WORKER_NAMES: tuple[str, ...] = tuple(WORKERS)


@dataclass(frozen=True)
class Job:
    """A worker as it runs: a pass every ``interval`` seconds."""

    name: str
    interval: float
    one_pass: Callable[[], Awaitable[Any]]
    #: The outboxes it works through, measured after each pass for the metrics: outbox name ->
    #: (rows waiting, seconds the oldest due row has been due) (docs/observability.md).
    backlog: Callable[[], Awaitable[dict[str, tuple[int, float]]]] | None = None


JobFactory = Callable[[], AbstractAsyncContextManager["Job | None"]]


def factory(name: str) -> JobFactory:
    module, function = WORKERS[name][1].split(":")
    made: JobFactory = getattr(importlib.import_module(module), function)
    return made


async def every(interval: float, one_pass: Callable[[], Awaitable[Any]], *, name: str,
                stopping: asyncio.Event | None = None,
                backlog: Callable[[], Awaitable[dict[str, tuple[int, float]]]] | None = None) -> None:
    """Run ``one_pass``, wait ``interval`` seconds, and again, until cancelled (or until
    ``stopping`` is set: the pass under way finishes first). A pass that fails is logged and the
    next one comes as usual: the worker outlives a bad pass (each pass commits what it finished,
    so nothing is half done). Each pass is a trace of its own and is counted and timed in the
    metrics; ``backlog`` is measured after it (docs/observability.md)."""
    while stopping is None or not stopping.is_set():
        started = time.perf_counter()
        try:
            with tracing.worker_pass(name):
                await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - whatever it was, the next pass may succeed
            log.exception("%s: pass failed", name)
            metrics.WORKER_PASSES.labels(name, "failed").inc()
        else:
            metrics.WORKER_PASSES.labels(name, "ok").inc()
            metrics.WORKER_LAST_SUCCESS.labels(name).set(time.time())
        metrics.WORKER_PASS_SECONDS.labels(name).observe(time.perf_counter() - started)
        if backlog is not None:
            await _measure(name, backlog)
        if stopping is None:
            await asyncio.sleep(interval)
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)


async def _measure(name: str, backlog: Callable[[], Awaitable[dict[str, tuple[int, float]]]]) -> None:
    try:
        found = await backlog()
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - a metric is not worth a worker
        log.warning("%s: could not measure its backlog", name, exc_info=True)
        return
    for outbox, (depth, lag) in found.items():
        metrics.OUTBOX_DEPTH.labels(outbox).set(depth)
        metrics.OUTBOX_LAG.labels(outbox).set(max(lag, 0.0))


def start(interval: float, one_pass: Callable[[], Awaitable[Any]], *, name: str) -> asyncio.Task[None]:
    """:func:`every` as a task of the running loop; stop it with :func:`stop`."""
    return asyncio.create_task(every(interval, one_pass, name=name), name=name)


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel a worker and wait until it has stopped (at shutdown)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run(names: list[str], *, stopping: asyncio.Event | None = None) -> None:
    """Run the named workers in this process until SIGTERM or SIGINT (or ``stopping``): each
    finishes the pass it is in, then its resources are closed. A claim left unfinished by a
    process killed outright is taken over when its lease runs out."""
    from shared.observe import start_process
    from shared.settings import SajjaSettings

    process = WORKERS[names[0]][0] if len(names) == 1 else "workers"
    start_process(process, SajjaSettings(), worker=",".join(names))
    stopping = stopping or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    async with AsyncExitStack() as stack:
        jobs: list[Job] = []
        for name in names:
            job = await stack.enter_async_context(factory(name)())
            if job is None:
                log.info("worker %s is turned off by its settings", name)
            else:
                jobs.append(job)
        log.info("workers running: %s", ", ".join(j.name for j in jobs) or "none")
        await asyncio.gather(*(every(j.interval, j.one_pass, name=j.name, stopping=stopping, backlog=j.backlog)
                               for j in jobs), stopping.wait())


#: An outbox for :func:`outbox_backlog`: its table, the condition of a row waiting in it, and the
#: expression of when the row began to wait. Constants of the code, never input.
Outbox = tuple[str, str, str]
#: The backlog is measured at most this often (seconds), not after every pass of a busy worker.
BACKLOG_SECONDS = 15.0


def outbox_backlog(db: Any, outboxes: dict[str, Outbox]) -> Callable[[], Awaitable[dict[str, tuple[int, float]]]]:
    """A ``Job.backlog`` for ``outboxes`` of ``db``: per outbox, the rows waiting and the age in
    seconds of the oldest of them (the database's clock), in one short read-only query each."""
    from sqlalchemy import text

    queries = {
        name: text(f"SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min({since})), 0) "  # noqa: S608
                   f"FROM {table} WHERE {waiting}")
        for name, (table, waiting, since) in outboxes.items()
    }
    last: dict[str, Any] = {"at": -BACKLOG_SECONDS, "found": {}}

    async def measure() -> dict[str, tuple[int, float]]:
        if time.monotonic() - last["at"] < BACKLOG_SECONDS:
            found_before: dict[str, tuple[int, float]] = last["found"]
            return found_before
        found: dict[str, tuple[int, float]] = {}
        async with db.sessionmaker() as session:
            for name, query in queries.items():
                depth, age = (await session.execute(query)).one()
                found[name] = (int(depth), float(age))
        last.update(at=time.monotonic(), found=found)
        return found

    return measure


def worker_database(settings: Any) -> Database:
    """A worker's pool on its process's database: small, a pass runs a few short transactions at
    a time (``settings``: the process's settings)."""
    return Database.from_url(settings.process_database_url, pool_size=2, max_overflow=2, pooler=settings.db_pooler)


@contextlib.asynccontextmanager
async def closing(*resources: Any) -> AsyncIterator[None]:
    """Close each resource (a ``Database`` or an HTTP client) on the way out, the last made first."""
    try:
        yield
    finally:
        for resource in reversed(resources):
            close = getattr(resource, "dispose", None) or getattr(resource, "aclose", None) or resource.close
            await close()
