"""Background workers: a pass of work every few seconds, in the process that owns the data
(benefits' payouts, grants' ledger postings and webhooks, the gateway's LINE notices)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("sajja.worker")


async def every(interval: float, one_pass: Callable[[], Awaitable[Any]], *, name: str) -> None:
    """Run ``one_pass``, wait ``interval`` seconds, and again, until cancelled. A pass that fails
    is logged and the next one comes as usual: the worker outlives a bad pass (each pass commits
    what it finished, so nothing is half done)."""
    while True:
        try:
            await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - whatever it was, the next pass may succeed
            log.exception("%s: pass failed", name)
        await asyncio.sleep(interval)


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
