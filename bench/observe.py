"""``python -m bench.observe``: the CPU per request of ``shared.observe.ObserveMiddleware``.

An ASGI app that answers at once is called in a loop, in one process with no network, bare and
behind the middleware: with the access log off, with it on (lines written to /dev/null, as JSON),
and with spans recorded (an exporter that drops them). What it prints is the difference per
request, the middleware's own cost; it is not part of ``make bench`` and asserts nothing.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from typing import Any

from shared import logs, tracing
from shared.observe import ObserveMiddleware

ROUTE = "/v1/ledger/funds/{fund_id}/deposits"
SCOPE_PATH = "/v1/ledger/funds/8d0a4f37-98e1-4f4a-9f2a-0e7d0f5b1f6e/deposits"


class _Route:
    path_format = ROUTE


_ROUTE = _Route()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scope["route"] = _ROUTE  # as the router sets it
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": SCOPE_PATH, "headers": [
        (b"host", b"ledger"), (b"authorization", b"Bearer x"), (b"content-type", b"application/json"),
        (b"x-request-id", b"abc"), (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ]}


async def _loop(target: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.process_time()
    for _ in range(n):
        await target(_scope(), receive, send)
        if _ % 1000 == 0:
            await asyncio.sleep(0)  # let the log lines be written, as a server's loop would
    return (time.process_time() - started) / n


class _Drop:
    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


def main(n: int = 200_000) -> None:
    os.environ["SAJJA_LOG_FORMAT"] = "json"
    devnull = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    sys.stderr, real_stderr = devnull, sys.stderr
    results: dict[str, float] = {}
    try:
        observed = ObserveMiddleware(app, process="ledger")
        runs = [("bare app", app, False, False), ("middleware, no access log", observed, False, False),
                ("middleware, JSON access log", observed, True, False),
                ("middleware, JSON access log, spans recorded", observed, True, True)]
        for _ in range(2):  # the second round is the one kept (warm)
            for label, target, access, spans in runs:
                logs.configure_logging("ledger", "INFO", "json", access)
                tracing.shutdown_tracing()
                if spans:
                    tracing.configure_tracing("sajja-ledger", exporter=_Drop())
                results[label] = asyncio.run(_loop(target, n))
        tracing.shutdown_tracing()
    finally:
        sys.stderr = real_stderr
        devnull.close()
    bare = results["bare app"]
    out = io.StringIO()
    print(f"CPU per request, {n} requests, Python {sys.version.split()[0]}:", file=out)
    for label, seconds in results.items():
        extra = "" if label == "bare app" else f"  (+{(seconds - bare) * 1e6:.1f} us)"
        print(f"  {label:<45} {seconds * 1e6:7.1f} us{extra}", file=out)
    print(out.getvalue(), end="")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
