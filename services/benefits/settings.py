"""Benefits settings: env prefix ``SAJJA_BENEFITS_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from shared.settings import SajjaSettings, service_settings_config


class BenefitsSettings(SajjaSettings):
    process_name: ClassVar[str] = "benefits"
    model_config = service_settings_config("benefits")
