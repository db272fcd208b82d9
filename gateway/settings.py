"""Gateway settings: env prefix ``SAJJA_GATEWAY_``, falling back to ``SAJJA_``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from shared.settings import DEV_SECRET_PREFIX, SajjaSettings, service_settings_config

#: The first platform admin of a development system (``SAJJA_ENV=dev``, which listens on loopback
#: only by default) when no bootstrap login is set: documented in the README so that a newcomer
#: and ``make demo`` can sign in without reading logs. Refused outside development.
DEV_ADMIN_PHONE = "0800000000"
DEV_ADMIN_PASSWORD = f"{DEV_SECRET_PREFIX}sajja-admin"


class GatewaySettings(SajjaSettings):
    process_name: ClassVar[str] = "gateway"
    model_config = service_settings_config("gateway")

    #: Each service's base URL; several, separated by commas, for its replicas (docs/replicas.md).
    members_url: str = "http://127.0.0.1:8001"
    ledger_url: str = "http://127.0.0.1:8002"
    benefits_url: str = "http://127.0.0.1:8003"
    grants_url: str = "http://127.0.0.1:8004"

    #: Encrypts the private signing keys at rest in the gateway's database.
    key_secret: str = Field(default="dev-gateway-key-secret-change-me", repr=False)
    access_token_ttl_seconds: int = 600
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    #: A spent refresh token presented again within this many seconds is treated as a retry
    #: after a lost response, not as theft.
    refresh_reuse_grace_seconds: int = 30
    #: How long a rotated-out signing key stays in the JWKS (longer than any access token lives).
    key_retire_after_seconds: int = 3600
    #: A signing key signs only once it has been in the JWKS this long, so that every verifier
    #: (refreshing every ``jwks_refresh_seconds``, through a gateway as far behind) knows it
    #: (docs/signing-keys.md).
    key_publish_seconds: float = Field(default=10.0, ge=0)

    #: Login throttling (docs/login-throttling.md): a delay that grows with failures up to a cap,
    #: never a lock. A key's count starts again this long after its last failure.
    login_failure_window_seconds: int = 900
    #: Per phone (and per device proving itself with a refresh token): failures without delay,
    #: then 1 s doubling up to the cap.
    login_phone_free_failures: int = Field(default=5, ge=1)
    login_phone_max_delay_seconds: int = Field(default=300, ge=1)
    #: Per address (logins, and /v1/auth/token separately): grows by a quarter per failure from 1 s,
    #: capped low: a carrier NAT shares one address.
    login_address_free_failures: int = Field(default=20, ge=1)
    login_address_max_delay_seconds: int = Field(default=30, ge=1)
    #: Per client id on /v1/auth/token (with the address, for a registered client).
    token_client_free_failures: int = Field(default=5, ge=1)
    token_client_max_delay_seconds: int = Field(default=60, ge=1)
    #: argon2 hashes and verifications running at once in this process; more wait their turn.
    argon2_max_concurrency: int = Field(default=4, ge=1)

    #: The gateway reloads which subjects' older tokens are refused this often (docs/accounts.md).
    revocation_refresh_seconds: float = Field(default=1.0, gt=0)
    #: A rotated API client's old secret keeps working this long.
    client_secret_grace_seconds: int = Field(default=24 * 3600, ge=0)
    #: How long the ticket a temporary PIN gives stays valid for choosing a new PIN.
    pin_ticket_ttl_seconds: int = Field(default=600, ge=1)

    bootstrap_admin_phone: str = ""
    bootstrap_admin_password: str = Field(default="", repr=False)

    @model_validator(mode="after")
    def _refuse_development_admin_password(self) -> GatewaySettings:
        if self.env != "dev" and self.bootstrap_admin_password.startswith(DEV_SECRET_PREFIX):
            raise ValueError("refusing a development bootstrap admin password outside SAJJA_ENV=dev")
        return self

    upstream_timeout_seconds: float = 15.0
    upstream_connect_timeout_seconds: float = 3.0
    upstream_max_connections: int = 200
    #: Larger body limit for uploads (member roll imports, claim documents).
    upload_max_bytes: int = 20 * 1024 * 1024

    #: LINE. Every address comes from here, so tests point them at a local fake. Empty channel
    #: settings turn the LINE endpoints off (503 problem).
    line_api_base: str = "https://api.line.me"
    line_jwks_url: str = "https://api.line.me/oauth2/v2.1/certs"
    line_issuer: str = "https://access.line.me"
    line_login_channel_id: str = ""
    line_login_channel_secret: str = Field(default="", repr=False)
    line_messaging_channel_secret: str = Field(default="", repr=False)
    line_messaging_access_token: str = Field(default="", repr=False)
    line_link_code_ttl_seconds: int = 900
    #: How often the notifier reads the services' feeds and sends what is queued; 0 turns it off.
    line_worker_interval_seconds: float = 2.0
    #: Pushes sent per pass at most (LINE allows 2,000 a second; a pass keeps well below).
    line_push_per_pass: int = 200
    #: Feed cursors (a fund and a feed) a LINE worker claims per pass, and how many feeds it reads at once.
    line_feeds_per_pass: int = Field(default=100, ge=1)
    line_feed_concurrency: int = Field(default=8, ge=1)

    secret_fields: ClassVar[tuple[str, ...]] = ("service_secret", "key_secret")
