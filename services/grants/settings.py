"""Grants settings: env prefix ``SAJJA_GRANTS_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from shared.settings import SajjaSettings, service_settings_config


class GrantsSettings(SajjaSettings):
    process_name: ClassVar[str] = "grants"
    model_config = service_settings_config("grants")
