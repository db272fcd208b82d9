"""Ledger settings: env prefix ``SAJJA_LEDGER_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from shared.settings import SajjaSettings, service_settings_config


class LedgerSettings(SajjaSettings):
    process_name: ClassVar[str] = "ledger"
    model_config = service_settings_config("ledger")
