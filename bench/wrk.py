"""Phones at the evening peak, driven by wrk from outside the bench's own process.

The bench's load generator is Python and closed-loop: each worker sends its next request the
moment an answer comes. Phones are not like that: a collector takes a member's money, taps, and
the next deposit leaves a while later. wrk (C, one event loop per thread, cheap on the cores it
shares with the system) with a Lua script does that: each connection is a phone that posts one
deposit, waits for its answer, pauses about ``pause_ms`` (``delay()``, spread evenly from 3/4 to
5/4 of it so that phones do not move in step), and posts the next. Every deposit has a fresh
version-4 id made in Lua, a member of the fund at random, and the token and id of one of the
fund's collectors at random (each collector logs in on its own). wrk's latency is from sending
a request to its whole answer; pauses are not in it.

``done()`` prints one JSON line: requests answered, errors by kind (``status`` is an answer
other than 2xx/3xx), and the latency percentiles wrk recorded.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The Lua script; ``%(targets)s`` is a Lua table of {path, auth, collector} and ``%(members)s``
#: a Lua table of member ids.
SCRIPT = r"""
local targets = %(targets)s
local members = %(members)s
local pause = %(pause_ms)d
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919 + math.floor(os.clock() * 1000000))
  for i = 1, 10 do math.random() end
end

local function uuid4()
  local r = math.random
  return string.format("%%04x%%04x-%%04x-%%04x-%%04x-%%04x%%04x%%04x", r(0, 65535), r(0, 65535), r(0, 65535),
    16384 + r(0, 4095), 32768 + r(0, 16383), r(0, 65535), r(0, 65535), r(0, 65535))
end

local DEPOSIT = '{"id":"%%s","member_id":"%%s","amount_satang":%(amount)d,"collected_at":"%%s","collector_id":"%%s"}'

function request()
  local t = targets[math.random(#targets)]
  local body = string.format(DEPOSIT, uuid4(), members[math.random(#members)], os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ"),
    t.collector)
  return wrk.format("POST", t.path, {["Authorization"] = t.auth, ["Content-Type"] = "application/json"}, body)
end

function delay()
  return math.random(math.floor(pause * 3 / 4), math.floor(pause * 5 / 4))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\nWRK-JSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"p999_us":%%d,"mean_us":%%.1f,"max_us":%%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
"""


def _lua_string(value: str) -> str:
    if any(c in value for c in '"\\\n\r'):
        raise ValueError(f"not a plain value: {value!r}")
    return f'"{value}"'


@dataclass(frozen=True)
class Phones:
    """Who posts: the fund's deposits path, the collectors' ``(bearer token, collector id)``, its members."""

    path: str
    collectors: list[tuple[str, str]]
    members: list[str]


def script(phones: Phones, *, pause_ms: int, amount_satang: int) -> str:
    targets = "{" + ", ".join(
        f"{{path = {_lua_string(phones.path)}, auth = {_lua_string('Bearer ' + token)}, collector = {_lua_string(cid)}}}"
        for token, cid in phones.collectors) + "}"
    members = "{" + ", ".join(_lua_string(m) for m in phones.members) + "}"
    return SCRIPT % {"targets": targets, "members": members, "pause_ms": pause_ms, "amount": amount_satang}


def wrk_binary() -> str | None:
    return shutil.which("wrk")


@dataclass
class WrkRun:
    connections: int
    seconds: float
    requests: int
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    cores: dict[str, float]

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def ok(self) -> int:
        """Answered 2xx or 3xx (a deposit's 201)."""
        return self.requests - self.errors["status"]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    def figures(self) -> dict[str, Any]:
        return {"deposits_per_s": round(self.rps, 1), "requests": self.requests, "errors": self.errors,
                "p50_ms": self.p50_ms, "p90_ms": self.p90_ms, "p99_ms": self.p99_ms, "p999_ms": self.p999_ms,
                "mean_ms": self.mean_ms, "max_ms": self.max_ms, "seconds": self.seconds, "cores": self.cores}


def run(url: str, lua: str, *, connections: int, seconds: float, threads: int, workdir: Path, cpu: Any = None,
        timeout_s: int = 10) -> WrkRun:
    """wrk against ``url`` (its scheme, host and port; the script names the paths) for ``seconds``."""
    binary = wrk_binary()
    if binary is None:
        raise FileNotFoundError("wrk is not installed (make bench installs it on Debian as root:"
                                " sh tools/system_packages.sh bench)")
    path = workdir / "phones.lua"
    path.write_text(lua, encoding="utf-8")
    command = [binary, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"--timeout={timeout_s}s",
               "-s", str(path), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    if cpu is not None:
        cpu.start()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    cores = dict(cpu.stop()) if cpu is not None else {}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / (time.perf_counter() - started)
    cores["wrk"] = round(used, 2)
    if "other" in cores:  # the machine's busy time counted wrk as someone else's
        cores["other"] = round(max(0.0, cores["other"] - used), 2)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK-JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    raw = json.loads(line.removeprefix("WRK-JSON "))
    return WrkRun(
        connections=connections, seconds=raw["duration_us"] / 1e6, requests=raw["requests"],
        errors={k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
        p50_ms=raw["p50_us"] / 1000, p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        p999_ms=raw["p999_us"] / 1000, mean_ms=round(raw["mean_us"] / 1000, 2), max_ms=raw["max_us"] / 1000, cores=cores,
    )
