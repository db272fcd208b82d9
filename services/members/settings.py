"""Members settings: env prefix ``SAJJA_MEMBERS_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from shared.settings import SajjaSettings, service_settings_config


class MembersSettings(SajjaSettings):
    process_name: ClassVar[str] = "members"
    model_config = service_settings_config("members")
