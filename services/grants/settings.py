"""Grants settings: env prefix ``SAJJA_GRANTS_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from pydantic import field_validator

from shared.outbound import Allowlist
from shared.settings import SajjaSettings, service_settings_config


class GrantsSettings(SajjaSettings):
    process_name: ClassVar[str] = "grants"
    model_config = service_settings_config("grants")

    members_url: str = "http://127.0.0.1:8001"
    ledger_url: str = "http://127.0.0.1:8002"
    #: How often the worker posts disbursements to ledgers and delivers webhooks; 0 turns it off.
    worker_interval_seconds: float = 2.0
    #: Webhook receivers let through although inside a network (and over http): comma-separated
    #: host names, addresses and networks (``127.0.0.1, hooks.test, 10.8.0.0/16``). For development
    #: and tests; empty in production, where every target must be public and https (docs/webhooks.md).
    webhook_allowed_hosts: str = ""

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _allowlist_parses(cls, value: str) -> str:
        Allowlist.parse(value)
        return value
