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
    #: Where the erasure worker reaches the ledger and benefits (the gateway: ``gateway_url``).
    ledger_url: str = "http://127.0.0.1:8002"
    benefits_url: str = "http://127.0.0.1:8003"
    #: How often the erasure worker carries erasures to the other processes; 0 turns it off.
    erasure_interval_seconds: float = 5.0
    erasure_batch: int = 20

    def erasure_urls(self) -> dict[str, str]:
        """Each process an erasure is carried to, by its base URL."""
        return {"gateway": self.gateway_url, "ledger": self.ledger_url, "benefits": self.benefits_url}

    secret_fields: ClassVar[tuple[str, ...]] = ("service_secret", "pii_key", "pii_hash_key")
