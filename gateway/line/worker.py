"""The LINE notifier as a process of its own (``sajja worker line``; docs/workers.md): the
services' feeds read into the outbox, and the outbox sent to LINE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


from gateway.auth.service import TokenIssuer
from gateway.keys import KeyRing
from gateway.line.client import LineClient
from gateway.line.notifier import Notifier
from gateway.settings import GatewaySettings
from shared.db import Database
from shared.http import make_client
from shared.logs import configure_logging
from shared.worker import Job, closing, outbox_backlog


@asynccontextmanager
async def line() -> AsyncIterator[Job | None]:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    if settings.line_worker_interval_seconds <= 0 or not (
            settings.line_messaging_channel_secret and settings.line_messaging_access_token):
        yield None
        return
    db = Database.from_url(settings.process_database_url, pool_size=settings.line_feed_concurrency + 1, max_overflow=2, pooler=settings.db_pooler)
    # Calls to a service's first URL go to any of its replicas (shared/replicas.py); LINE's own
    # address goes through untouched.
    http = make_client(timeout=10, services=settings.service_urls())
    async with closing(db, http):
        # The worker signs its own service tokens for the feeds, with the gateway's current key.
        keyring = KeyRing(settings.key_secret, reload_interval=settings.jwks_refresh_seconds,
                          publish_seconds=settings.key_publish_seconds, token_lifetime=settings.access_token_ttl_seconds)
        await keyring.ensure_current(db)
        issuer = TokenIssuer(settings=settings, keyring=keyring)
        # The feeds are asked of each service at its first URL; the client's transport spreads them.
        first = {name: settings.service_url(name) for name in settings.service_urls()}
        notifier = Notifier(db, LineClient(settings, http), issuer, http, first,
                            lease_seconds=settings.worker_lease_seconds)

        async def one_pass() -> None:
            await keyring.refresh_if_stale(db)
            await notifier.one_pass(settings.line_push_per_pass, funds=settings.line_feeds_per_pass,
                                    concurrency=settings.line_feed_concurrency)

        yield Job("line", settings.line_worker_interval_seconds, one_pass,
                  backlog=outbox_backlog(db, {"line": ("line_outbox", "status = 'pending'", "created_at")}))
