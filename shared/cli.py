"""The ``sajja`` command.

    sajja run                 PostgreSQL (embedded unless SAJJA_DATABASE_URL), migrations, all five processes
    sajja serve NAME          one process (gateway, members, ledger, benefits, grants) under uvicorn
    sajja worker NAME ...     background workers as a process (payouts, documents, grants, erasures,
                              pii-reencrypt, line; ``all``: every one), until SIGTERM
    sajja migrate [NAME ...]  create and migrate databases on SAJJA_DATABASE_URL, then exit
    sajja wait-schema NAME    wait until NAME's database is at this release's revision (init containers)
    sajja pii-keys status     the national ID key ring: rows per key id, the latest re-encryption
    sajja pii-keys reencrypt  move every national ID under an older key to the current one, then exit
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from typing import Any

from shared.settings import PORT_OFFSETS, PROCESS_NAMES
from shared.worker import WORKER_NAMES

APPS = {
    "gateway": "gateway.app:create_app",
    "members": "services.members.app:create_app",
    "ledger": "services.ledger.app:create_app",
    "benefits": "services.benefits.app:create_app",
    "grants": "services.grants.app:create_app",
}


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening address other processes may bind too (``SO_REUSEPORT``): the kernel hands each
    new connection to one of them, so replicas of the gateway share one port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve(name: str, host: str, port: int | None, workers: int, reuse_port: bool = False) -> int:
    import uvicorn

    from shared.http import SERVER_KEEP_ALIVE_SECONDS

    if port is None:
        port = int(os.environ.get(f"SAJJA_{name.upper()}_PORT", int(os.environ.get("SAJJA_PORT", "8000")) + PORT_OFFSETS[name]))
    options: dict[str, Any] = dict(
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_keep_alive=SERVER_KEEP_ALIVE_SECONDS,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("SAJJA_FORWARDED_ALLOW_IPS", "127.0.0.1"),
        timeout_graceful_shutdown=10,
    )
    if not reuse_port:
        uvicorn.run(APPS[name], **options)
        return 0
    if workers != 1:
        raise SystemExit("sajja serve: --reuse-port runs one worker per process; start more processes instead")
    uvicorn.Server(uvicorn.Config(APPS[name], **options)).run(sockets=[reuse_port_socket(host, port)])
    return 0


def run_workers(names: list[str]) -> int:
    from shared import worker

    asyncio.run(worker.run(list(worker.WORKER_NAMES) if "all" in names else names))
    return 0


def migrate_all(names: list[str]) -> int:
    from shared.migrate import migrate

    # Behind a transaction pooler the processes' URL is the pooler's; migrations (DDL, CREATE
    # DATABASE) go to the server itself: SAJJA_MIGRATE_DATABASE_URL (deploy/README.md).
    url = os.environ.get("SAJJA_MIGRATE_DATABASE_URL") or os.environ.get("SAJJA_DATABASE_URL")
    if not url:
        print("sajja migrate: set SAJJA_DATABASE_URL to the PostgreSQL server", file=sys.stderr)
        return 2

    async def _run() -> None:
        for name in names or PROCESS_NAMES:
            own = (os.environ.get(f"SAJJA_{name.upper()}_MIGRATE_DATABASE_URL")
                   or os.environ.get(f"SAJJA_{name.upper()}_DATABASE_URL"))
            await migrate(name, own or url)
            print(f"migrated sajja_{name}")

    asyncio.run(_run())
    return 0



def wait_schema(name: str, timeout: float, interval: float = 2.0) -> int:
    """Until the process's database is at this code's head revision (or a later release's):
    the init container of every Deployment, so no pod of a release serves before its migrations
    have run (docs/migrations.md). Exit 1 after ``timeout`` seconds."""
    import time
    from typing import ClassVar

    from shared.migrate import code_head, redact, schema_ready
    from shared.settings import SajjaSettings, service_settings_config

    class Database(SajjaSettings):  # only where the database is: no secret is needed to wait
        process_name: ClassVar[str] = name
        model_config = service_settings_config(name)
        secret_fields: ClassVar[tuple[str, ...]] = ()

    settings = Database()
    url, head = settings.process_database_url, code_head(name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            ready, current = asyncio.run(schema_ready(name, url, settings.db_pooler))
        except (OSError, Exception) as error:  # noqa: BLE001 - the database not up yet: wait as for a revision
            ready, current = False, f"unreachable ({type(error).__name__})"
        if ready:
            print(f"sajja wait-schema: {name} at {current} (this release's head: {head})")
            return 0
        if time.monotonic() >= deadline:
            print(f"sajja wait-schema: {name} at {current} on {redact(url)} after {timeout:.0f} s, not {head}",
                  file=sys.stderr)
            return 1
        print(f"sajja wait-schema: {name} at {current}, waiting for {head}", flush=True)
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sajja", description="Sajja community welfare fund backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start PostgreSQL and all five processes")
    p_serve = sub.add_parser("serve", help="run one process")
    p_serve.add_argument("name", choices=PROCESS_NAMES)
    p_serve.add_argument("--host", default=os.environ.get("SAJJA_HOST", "127.0.0.1"))
    p_serve.add_argument("--port", type=int, default=None)
    p_serve.add_argument("--workers", type=int, default=int(os.environ.get("SAJJA_WORKERS", "1")))
    p_worker = sub.add_parser("worker", help="run background workers as a process (docs/workers.md)")
    p_worker.add_argument("names", nargs="+", metavar="NAME", choices=(*WORKER_NAMES, "all"))
    p_serve.add_argument("--reuse-port", action="store_true",
                         help="share the port with other processes (SO_REUSEPORT): replicas of the gateway")
    p_migrate = sub.add_parser("migrate", help="create and migrate databases, then exit")
    p_migrate.add_argument("names", nargs="*", metavar="NAME")
    p_wait = sub.add_parser("wait-schema", help="wait until a process's database is at this release's revision")
    p_wait.add_argument("name", choices=PROCESS_NAMES)
    p_wait.add_argument("--timeout", type=float, default=float(os.environ.get("SAJJA_WAIT_SCHEMA_SECONDS", "900")))
    p_keys = sub.add_parser("pii-keys", help="the members service's national ID key ring (docs/national-id-keys.md)")
    p_keys.add_argument("action", choices=("status", "reencrypt"))
    p_keys.add_argument("--batch", type=int, default=None, help="rows per transaction (SAJJA_MEMBERS_PII_REENCRYPT_BATCH)")
    args = parser.parse_args(argv)
    if args.command == "migrate" and set(args.names) - set(PROCESS_NAMES):
        parser.error(f"unknown process; choose from {', '.join(PROCESS_NAMES)}")
    if args.command == "run":
        from shared.supervisor import run_all

        return run_all()
    if args.command == "serve":
        return serve(args.name, args.host, args.port, args.workers, args.reuse_port)
    if args.command == "worker":
        return run_workers(args.names)
    if args.command == "wait-schema":
        return wait_schema(args.name, args.timeout)
    if args.command == "pii-keys":
        from services.members.pii_keys.cli import run

        return asyncio.run(run(args.action, args.batch))
    return migrate_all(args.names)


if __name__ == "__main__":
    sys.exit(main())
