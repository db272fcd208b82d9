"""Members settings: env prefix ``SAJJA_MEMBERS_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from pydantic import Field

from shared.settings import SajjaSettings, service_settings_config


class MembersSettings(SajjaSettings):
    process_name: ClassVar[str] = "members"
    model_config = service_settings_config("members")

    #: Encrypts national ID numbers at rest (PDPA).
    pii_key: str = Field(default="dev-members-pii-key-change-me", repr=False)
    #: Keys the hash used to look national ID numbers up without decrypting them.
    pii_hash_key: str = Field(default="dev-members-pii-hash-key-change-me", repr=False)
    #: Version of the consent text a member agrees to at registration.
    consent_version: str = "2026-01"
    import_max_rows: int = 20_000
    import_max_bytes: int = 20 * 1024 * 1024

    secret_fields: ClassVar[tuple[str, ...]] = ("service_secret", "pii_key", "pii_hash_key")
