"""Grants settings: env prefix ``SAJJA_GRANTS_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from shared.settings import SajjaSettings, service_settings_config


class GrantsSettings(SajjaSettings):
    process_name: ClassVar[str] = "grants"
    model_config = service_settings_config("grants")

    members_url: str = "http://127.0.0.1:8001"
    ledger_url: str = "http://127.0.0.1:8002"
    #: How often the worker posts disbursements to ledgers and delivers webhooks; 0 turns it off.
    worker_interval_seconds: float = 2.0
