"""Logging: one line per record, JSON (``SAJJA_LOG_FORMAT=json``, deploy/) or text for a terminal.

Every line carries what joins it to others: the process (and the worker, in a worker process), the
request id, the trace id and span id (docs/observability.md), and the fund where the request names
one. The access log (one line per request: method, route template, status, duration) is written by
``shared.observe`` through :func:`access_line`, without a ``LogRecord``: it is on the path of every
deposit.

What a line never holds: a bearer token or a national ID number. The access line is made only of
the route's template (never the raw path or the query), so neither can reach it; every other
line's message and traceback pass through :func:`scrub`, which blanks anything shaped like a token
(``Bearer ...``, a JWT) or a 13-digit number.

Lines written from the event loop are gathered and written together once per turn of the loop (one
``write`` for all the requests that finished in that turn, never held past it); a line from any
other thread is written at once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import datetime
import logging
import os
import re
import sys
import time
import traceback
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
#: A fund a piece of work is about, where the code knows it outside a request (a worker's row).
fund_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("fund_id", default=None)

#: Bearer tokens, JWTs and 13-digit numbers (a Thai national ID), wherever they are in a message.
_SECRETS = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
    r"|eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"
    r"|(?<!\d)\d{13}(?!\d)"
    r"|(?<!\d)\d-\d{4}-\d{5}-\d{2}-\d(?!\d)"
)


def scrub(text: str) -> str:
    """``text`` with tokens and national ID numbers blanked."""
    return _SECRETS.sub("[redacted]", text)


class _Lines:
    """Where every line goes: fd 2, one write per turn of the event loop."""

    def __init__(self) -> None:
        self.stream: Any = sys.stderr
        self.pending: list[bytes] = []
        #: The loop a flush is scheduled on (a loop closed before running it is replaced).
        self.scheduled: asyncio.AbstractEventLoop | None = None

    def write(self, line: bytes) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another thread, or no loop: at once
            self._out(line)
            return
        self.pending.append(line)
        if self.scheduled is not loop:
            self.scheduled = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = None
        if self.pending:
            pending, self.pending = self.pending, []
            self._out(b"".join(pending))

    def _out(self, data: bytes) -> None:
        stream = self.stream
        try:
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                stream.flush()
                buffer.write(data)
                buffer.flush()
            else:  # a text stream (pytest's capture)
                stream.write(data.decode("utf-8", "replace"))
                stream.flush()
        except (OSError, ValueError):  # a closed stream at exit
            pass


_lines = _Lines()
atexit.register(_lines.flush)


class _State:
    """How this process logs, set by :func:`configure_logging`."""

    process = "-"
    worker: str | None = None
    json = False
    #: The access log is on and INFO passes the level.
    access = False


state = _State()


_second: tuple[int, str] = (-1, "")


def _now_iso(created: float) -> str:
    """``2026-01-31T12:00:00.123Z`` (UTC), the second's part made once per second."""
    global _second
    whole = int(created)
    second = _second
    if second[0] != whole:
        second = _second = (whole, datetime.datetime.fromtimestamp(whole, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{second[1]}.{int((created - whole) * 1000):03d}Z"


def context_fields() -> dict[str, Any]:
    """The request id, trace, span and fund of the work under way (as much as is known)."""
    from shared.tracing import trace_var  # noqa: PLC0415 - shared.tracing imports this module

    fields: dict[str, Any] = {}
    request_id = request_id_var.get()
    if request_id != "-":
        fields["request_id"] = request_id
    trace = trace_var.get()
    if trace is not None:
        fields["trace_id"] = trace.trace_id
        fields["span_id"] = trace.span_id
    fund = fund_id_var.get() or (trace.fund_id() if trace is not None else None)
    if fund:
        fields["fund_id"] = fund
    return fields


class JsonFormatter(logging.Formatter):
    """A JSON object per line: time, level, process, worker, logger, message and the context."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _now_iso(record.created), "level": record.levelname, "process": state.process,
        }
        if state.worker:
            line["worker"] = state.worker
        line["logger"] = record.name
        line["msg"] = scrub(record.getMessage())
        line.update(context_fields())
        if record.exc_info:
            line["exc"] = scrub("".join(traceback.format_exception(*record.exc_info)))
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    """For a terminal: time, level, process, request id, trace id, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        fields = context_fields()
        who = f"{state.process}/{state.worker}" if state.worker else state.process
        text = (f"{_now_iso(record.created)} {record.levelname} {who} rid={fields.get('request_id', '-')} "
                f"trace={fields.get('trace_id', '-')} {record.name}: {scrub(record.getMessage())}")
        if record.exc_info:
            text += "\n" + scrub("".join(traceback.format_exception(*record.exc_info))).rstrip()
        return text


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            _lines.write((self.format(record) + "\n").encode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - logging never breaks the caller
            self.handleError(record)


def log_format(process: str, fmt: str | None = None) -> str:
    """``json`` or ``text``: ``fmt``, else ``SAJJA_<PROCESS>_LOG_FORMAT``, ``SAJJA_LOG_FORMAT``, else
    text under ``SAJJA_ENV=dev`` (a terminal) and JSON anywhere else."""
    for value in (fmt, os.environ.get(f"SAJJA_{process.upper()}_LOG_FORMAT"), os.environ.get("SAJJA_LOG_FORMAT")):
        if value and value.strip().lower() in ("json", "text"):
            return value.strip().lower()
    return "text" if os.environ.get("SAJJA_ENV", "dev") == "dev" else "json"


def access_log_on(process: str) -> bool:
    """``SAJJA_ACCESS_LOG`` (``SAJJA_<PROCESS>_ACCESS_LOG``): one line per request, on by default."""
    for key in (f"SAJJA_{process.upper()}_ACCESS_LOG", "SAJJA_ACCESS_LOG"):
        value = os.environ.get(key, "").strip().lower()
        if value:
            return value not in ("0", "false", "no", "off")
    return True


def set_worker(name: str | None) -> None:
    """This process runs the named workers (``sajja worker NAME``): every line says which."""
    state.worker = name


def configure_logging(process: str, level: str = "INFO", fmt: str | None = None,
                      access: bool | None = None) -> None:
    """Every record of the process to stderr, one line each, as :func:`log_format` says."""
    handler = _Handler()
    state.process = process
    state.json = log_format(process, fmt) == "json"
    handler.setFormatter(JsonFormatter() if state.json else TextFormatter())
    _lines.stream = sys.stderr
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log is off (shared.cli); Sajja writes its own (shared.observe). Keep its errors.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx says every call it makes at INFO, its URL and query included: the access lines of the
    # process called, and the caller's trace, say it better.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    access = access_log_on(process) if access is None else access
    state.access = access and logging.getLogger("sajja.access").isEnabledFor(logging.INFO)


def access_line(method: str, route: str, status: int, duration: float, trace: Any) -> None:
    """One request's line: method, route template, status, duration (ms), and the context."""
    if state.json:
        line: dict[str, Any] = {
            "ts": _now_iso(time.time()), "level": "INFO", "process": state.process, "logger": "sajja.access",
            "msg": "request", "method": method, "route": route, "status": status,
            "duration_ms": int(duration * 1_000_000) / 1000,
        }
        request_id = request_id_var.get()
        if request_id != "-":
            line["request_id"] = request_id
        if trace is not None:
            line["trace_id"] = trace.trace_id
            line["span_id"] = trace.span_id
            if fund := trace.fund_id():
                line["fund_id"] = fund
        _lines.write(orjson.dumps(line) + b"\n")
    else:
        trace_id = trace.trace_id if trace is not None else "-"
        _lines.write((f"{_now_iso(time.time())} INFO {state.process} rid={request_id_var.get()} trace={trace_id} "
                      f"sajja.access: {method} {route} {status} {duration * 1000:.1f}ms\n").encode())
