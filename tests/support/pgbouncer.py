"""Debian's PgBouncer in transaction mode in front of an embedded PostgreSQL, for the tests and the
bench (``make test`` and ``make bench`` install it: tools/system_packages.sh pooler).

``pgbouncer_in_front(pg)``: PgBouncer on a free local port, reaching the server over its Unix
socket, every database on it by name (``*``), clients trusted (as the embedded server trusts
them); yields ``(url, admin)``: a server URL for SQLAlchemy with asyncpg, and a function running a
command on PgBouncer's admin console (``SHOW POOLS``) with the server's psql. Run as the embedded
server's own unprivileged user when started as root (PgBouncer refuses to run as root)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from shared.embedded_pg import EmbeddedPostgres
from tests.support.helpers import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return Path(PGBOUNCER).is_file()


@contextlib.contextmanager
def pgbouncer_in_front(pg: EmbeddedPostgres, *, pool_size: int = 20, max_client_conn: int = 400) -> Iterator[tuple[str, Callable[[str], str]]]:
    port = free_port()
    socket_dir = pg.socket_dir
    owner = os.stat(socket_dir).st_uid
    home = Path(tempfile.mkdtemp(prefix="sajja-pgbouncer-"))
    (home / "userlist.txt").write_text('"postgres" ""\n')
    (home / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={socket_dir} port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home / 'userlist.txt'}
admin_users = postgres
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = {max_client_conn}
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = {home / 'pgbouncer.log'}
""")
    argv = [PGBOUNCER, str(home / "pgbouncer.ini")]
    if os.geteuid() == 0:
        user = pwd.getpwuid(owner).pw_name
        os.chown(home, owner, -1)
        for path in home.iterdir():
            os.chown(path, owner, -1)
        argv[1:1] = ["-u", user]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        if process.poll() is not None:
            log = (home / "pgbouncer.log").read_text() if (home / "pgbouncer.log").exists() else ""
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {process.stderr.read().decode() if process.stderr else ''}{log}")

        def admin(command: str) -> str:
            psql = Path(pg.bin_path) / "psql"
            return subprocess.run([str(psql), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "pgbouncer",
                                   "-A", "-F", "|", "-c", command], capture_output=True, text=True, check=True).stdout

        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres", admin
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)
