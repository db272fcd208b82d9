"""Settings base for every Sajja process.

Each process has one ``BaseSettings`` subclass with its own env prefix (``SAJJA_MEMBERS_``,
``SAJJA_GATEWAY_``...). A field not set under that prefix falls back to the common ``SAJJA_``
prefix, so one ``SAJJA_ENV`` or ``SAJJA_JWT_ISSUER`` serves all five processes while any one of
them can still be configured on its own.

Secrets have development defaults that start with ``dev-``; outside ``SAJJA_ENV=dev`` such a
value is refused at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig

SERVICE_NAMES: tuple[str, ...] = ("members", "ledger", "benefits", "grants")
PROCESS_NAMES: tuple[str, ...] = ("gateway", *SERVICE_NAMES)
#: Port offsets from ``SAJJA_PORT`` (the gateway's port) for each process.
PORT_OFFSETS: dict[str, int] = {name: i for i, name in enumerate(PROCESS_NAMES)}
#: A service's replica n (from 0) listens on its first replica's port + n x this: the next block
#: of five ports above the first (docs/replicas.md).
REPLICA_PORT_STRIDE = len(PROCESS_NAMES)


def replica_count(name: str, environ: Mapping[str, str]) -> int:
    """How many processes of ``name`` ``sajja run`` starts: ``SAJJA_<NAME>_REPLICAS``, else
    ``SAJJA_REPLICAS``, else 1."""
    for key in (f"SAJJA_{name.upper()}_REPLICAS", "SAJJA_REPLICAS"):
        raw = environ.get(key, "").strip()
        if raw:
            try:
                count = int(raw)
            except ValueError:
                raise ValueError(f"{key}={raw!r} is not a whole number") from None
            if not 1 <= count <= 16:
                raise ValueError(f"{key}={count}: between 1 and 16 replicas")
            return count
    return 1

DEV_SECRET_PREFIX = "dev-"
COMMON_PREFIX = "SAJJA_"


def database_url_for(server_url: str, db_name: str) -> str:
    """Point a server URL (any database in its path) at ``db_name``, with the asyncpg driver."""
    parts = urlsplit(server_url)
    scheme = parts.scheme
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, f"/{db_name}", parts.query, parts.fragment))


class SajjaSettings(BaseSettings):
    """Fields every process shares. Subclasses set ``process_name`` and ``env_prefix``."""

    process_name: ClassVar[str] = ""

    model_config = SettingsConfigDict(extra="ignore", env_prefix=COMMON_PREFIX)

    env: Literal["dev", "test", "production"] = "dev"
    #: The PostgreSQL server (``SAJJA_DATABASE_URL``, or ``SAJJA_<PROCESS>_DATABASE_URL`` for a
    #: server of one process's own). The database name in it is replaced by ``db_name``.
    database_url: str = "postgresql+asyncpg://postgres@localhost:5432/postgres"
    #: This process's database on that server; ``sajja_<process>`` when empty.
    db_name: str = ""
    db_pool_size: int = 10
    db_max_overflow: int = 10
    #: ``pgbouncer``: the database URL is a PgBouncer in transaction mode (deploy/README.md, the
    #: connection budget): no prepared statement outlives its transaction (shared/db.py).
    db_pooler: Literal["", "pgbouncer"] = ""

    jwt_issuer: str = "sajja-gateway"
    jwt_audience: str = "sajja"
    jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    #: A verifier replaces its key set with the gateway's JWKS at least this often, and the gateway
    #: reloads its keys as often: a revoked key stops verifying everywhere within twice this
    #: (docs/signing-keys.md).
    jwks_refresh_seconds: float = Field(default=2.0, gt=0)
    #: A token with an unknown ``kid`` fetches the JWKS at once, at most once per this interval.
    jwks_min_refetch_seconds: float = Field(default=1.0, ge=0)
    gateway_url: str = "http://127.0.0.1:8000"
    #: Master secret from which each service's client secret is derived (see ``shared.auth.service_client_secret``).
    service_secret: str = Field(default="dev-service-secret-change-me", repr=False)
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    #: ``json`` (one JSON object per line, for a log collector) or ``text`` (a terminal); empty:
    #: text under ``SAJJA_ENV=dev``, JSON otherwise (docs/observability.md).
    log_format: Literal["json", "text", ""] = ""
    #: One access-log line per request (method, route template, status, duration).
    access_log: bool = True
    #: Port of this process's Prometheus listener (``/metrics``), apart from its API port; 0: none.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Address it listens on: ``0.0.0.0`` in a container, where only Prometheus is let in to it.
    metrics_host: str = "127.0.0.1"
    #: OTLP/HTTP collector spans are exported to (``http://otel-collector:4318``); empty: no spans
    #: are recorded, and only the ``traceparent`` is passed on (docs/observability.md).
    otlp_endpoint: str = ""
    #: Share of new traces recorded, decided where a trace starts (the gateway, a worker's pass).
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    #: Where the services read which subjects' older tokens are refused (docs/accounts.md); empty:
    #: the JWKS URL's sibling ``/.well-known/revocations``.
    revocations_url: str = ""
    #: How often a process reloads that list (the gateway from its database, the services from it).
    revocation_refresh_seconds: float = Field(default=2.0, gt=0)

    def revocations_source(self) -> str:
        return self.revocations_url or self.jwks_url.rsplit("/", 1)[0] + "/revocations"
    #: Run this process's background workers inside the API process too, as one task each (tests
    #: that want them beside an app). Off: ``sajja worker NAME`` runs them as processes of their
    #: own, which is what ``sajja run`` and deploy/ do (docs/workers.md).
    in_process_workers: bool = False
    #: How long a worker's claim on a row lasts (docs/workers.md): longer than any one call it makes
    #: (each has a timeout well below), short enough that a dead replica's rows are soon taken over.
    worker_lease_seconds: float = Field(default=60.0, gt=0)
    #: FastAPI's own OpenTelemetry (spans, metrics, logs for every request) when a provider is
    #: configured. Off by default: left on, FastAPI asks OpenTelemetry for its providers on every
    #: request even when none is set, a cost on every forwarded deposit for nothing.
    telemetry: bool = False

    @property
    def fastapi_telemetry(self) -> TelemetryConfig:
        """``FastAPI(telemetry=...)`` for this setting."""
        return {"tracing": self.telemetry, "metrics": self.telemetry, "logs": self.telemetry}

    secret_fields: ClassVar[tuple[str, ...]] = ("service_secret",)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Own prefix first, then the common ``SAJJA_`` prefix."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("env_prefix") != COMMON_PREFIX:
            sources.append(EnvSettingsSource(settings_cls, env_prefix=COMMON_PREFIX))
        sources += [dotenv_settings, file_secret_settings]
        return tuple(sources)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> SajjaSettings:
        if self.env == "dev":
            return self
        weak = [
            name
            for name in self.secret_fields
            if str(getattr(self, name)).startswith(DEV_SECRET_PREFIX) or len(str(getattr(self, name))) < 16
        ]
        if weak:
            raise ValueError(
                f"refusing to start with development secrets outside SAJJA_ENV=dev: {', '.join(weak)}"
            )
        return self

    @property
    def process_db_name(self) -> str:
        return self.db_name or f"sajja_{self.process_name}"

    @property
    def process_database_url(self) -> str:
        """This process's own database on the configured server."""
        return database_url_for(self.database_url, self.process_db_name)

    def service_urls(self) -> dict[str, list[str]]:
        """Each service this process calls (a ``<service>_url`` setting of its own), with its
        replicas' base URLs: one, unless the setting lists several, comma-separated."""
        from shared.replicas import split_urls

        return {name: split_urls(getattr(self, f"{name}_url")) for name in SERVICE_NAMES if hasattr(self, f"{name}_url")}

    def service_url(self, name: str) -> str:
        """Where this process calls service ``name``: its first replica's URL, which a client made
        with :meth:`service_urls` (``shared.http.make_client(services=...)``) spreads over all."""
        return self.service_urls()[name][0]


def service_settings_config(process: str) -> SettingsConfigDict:
    """The settings config of one process: its own env prefix, unknown variables ignored."""
    return SettingsConfigDict(extra="ignore", env_prefix=f"{COMMON_PREFIX}{process.upper()}_")
