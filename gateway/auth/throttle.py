"""Login throttling: a delay that grows with failures up to a cap, per key, taken atomically before
argon2 runs; and argon2 itself under bounded concurrency (docs/login-throttling.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import text

from gateway.settings import GatewaySettings
from shared.db import Database

T = TypeVar("T")

#: One claim in this many also removes expired rows.
PRUNE_EVERY = 100


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Rule:
    """How one kind of key is slowed: ``free`` failures cost nothing, then the delay starts at 1 s
    and grows by ``growth`` per failure up to ``cap`` seconds."""

    kind: str
    free: int
    cap: float
    growth: float

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap, self.growth ** min(failures - self.free, 60))


def _new_failures() -> str:
    return "CASE WHEN t.last_failure_at <= CAST(:since AS timestamptz) THEN 1 ELSE t.failures + 1 END"


def _delay_sql(failures: str) -> str:
    return (f"CASE WHEN ({failures}) < :free THEN 0 ELSE LEAST(CAST(:cap AS float8), "
            f"power(CAST(:growth AS float8), LEAST(({failures}) - :free, 60))) END")


_INSERT = """INSERT INTO login_throttle AS t (kind, key, failures, last_failure_at, next_allowed_at)
VALUES (:kind, :key, 1, CAST(:now AS timestamptz), CAST(:now AS timestamptz) + make_interval(secs => CAST(:first_delay AS float8)))
ON CONFLICT (kind, key) DO UPDATE SET
  failures = {failures},
  last_failure_at = CAST(:now AS timestamptz),
  next_allowed_at = {next_allowed}
"""

#: Take a turn: counted as a failure before it is judged, granted only when the key is not waiting.
_CLAIM = text(
    _INSERT.format(
        failures=_new_failures(),
        next_allowed=f"CAST(:now AS timestamptz) + make_interval(secs => {_delay_sql(_new_failures())})",
    )
    + "WHERE t.next_allowed_at <= CAST(:now AS timestamptz)\nRETURNING t.failures"
)

#: Count a judged failure (a key that is only checked, not claimed: an address).
_FAIL = text(
    _INSERT.format(
        failures=_new_failures(),
        next_allowed=("GREATEST(t.next_allowed_at, CAST(:now AS timestamptz) + "
                      f"make_interval(secs => {_delay_sql(_new_failures())}))"),
    )
)

_WAIT_UNTIL = text(
    "SELECT next_allowed_at, last_failure_at FROM login_throttle WHERE kind = :kind AND key = :key"
)
_RESET = text("DELETE FROM login_throttle WHERE kind = :kind AND key = :key")
#: Rows whose last failure is older than the window count as absent; some are removed now and then.
_PRUNE = text("DELETE FROM login_throttle WHERE ctid IN "
              "(SELECT ctid FROM login_throttle WHERE last_failure_at <= CAST(:since AS timestamptz) LIMIT 500)")


@dataclass(slots=True)
class Throttle:
    """The gateway's login throttle; ``now`` is the clock (tests replace it)."""

    db: Database
    settings: GatewaySettings
    now: Callable[[], dt.datetime] = utcnow
    phone: Rule = field(init=False)
    device: Rule = field(init=False)
    address: Rule = field(init=False)
    client: Rule = field(init=False)
    token_address: Rule = field(init=False)
    _claims: int = 0

    def __post_init__(self) -> None:
        s = self.settings
        self.phone = Rule("phone", s.login_phone_free_failures, s.login_phone_max_delay_seconds, 2.0)
        self.device = Rule("device", s.login_phone_free_failures, s.login_phone_max_delay_seconds, 2.0)
        self.address = Rule("address", s.login_address_free_failures, s.login_address_max_delay_seconds, 1.25)
        self.client = Rule("client", s.token_client_free_failures, s.token_client_max_delay_seconds, 2.0)
        self.token_address = Rule(
            "token_address", s.login_address_free_failures, s.login_address_max_delay_seconds, 1.25
        )

    def _params(self, rule: Rule, key: str, now: dt.datetime) -> dict[str, Any]:
        return {
            "kind": rule.kind, "key": key[:160], "now": now, "first_delay": rule.delay(1),
            "since": now - dt.timedelta(seconds=self.settings.login_failure_window_seconds),
            "free": rule.free, "cap": float(rule.cap), "growth": rule.growth,
        }

    async def _retry_after(self, rule: Rule, key: str, now: dt.datetime) -> int:
        async with self.db.autocommit() as conn:
            row = (await conn.execute(_WAIT_UNTIL, {"kind": rule.kind, "key": key[:160]})).first()
        if row is None:
            return 0
        since = now - dt.timedelta(seconds=self.settings.login_failure_window_seconds)
        if row.last_failure_at <= since or row.next_allowed_at <= now:
            return 0
        return max(1, math.ceil((row.next_allowed_at - now).total_seconds()))

    async def claim(self, rule: Rule, key: str) -> int:
        """Take this key's turn, counted as a failure until :meth:`reset`. 0: granted; otherwise the
        seconds to wait (nothing is counted)."""
        now = self.now()
        params = self._params(rule, key, now)
        async with self.db.autocommit() as conn:
            granted = (await conn.execute(_CLAIM, params)).first()
            self._claims += 1
            if self._claims % PRUNE_EVERY == 0:  # changes no answer: such rows count as absent
                await conn.execute(_PRUNE, {"since": params["since"]})
        if granted is not None:
            return 0
        return max(1, await self._retry_after(rule, key, now))

    async def check(self, rule: Rule, key: str) -> int:
        """0 when this key may be tried now; otherwise the seconds to wait. Counts nothing."""
        return await self._retry_after(rule, key, self.now())

    async def fail(self, rule: Rule, key: str) -> None:
        """Count one judged failure of a key that is checked rather than claimed."""
        async with self.db.autocommit() as conn:
            await conn.execute(_FAIL, self._params(rule, key, self.now()))

    async def reset(self, rule: Rule, key: str) -> None:
        async with self.db.autocommit() as conn:
            await conn.execute(_RESET, {"kind": rule.kind, "key": key[:160]})


class Argon2Gate:
    """Runs argon2 in a thread, at most ``limit`` at once in this process: a burst of logins waits
    for a turn instead of running many memory-hard computations together."""

    def __init__(self, limit: int = 4) -> None:
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def configure(self, limit: int) -> None:
        if limit != self.limit:
            self.limit, self._semaphore = limit, None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.limit), loop
        async with self._semaphore:
            return await asyncio.to_thread(fn, *args)


#: The process's gate; ``start_gateway`` sets its size from ``argon2_max_concurrency``.
argon2_gate = Argon2Gate()
