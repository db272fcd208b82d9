"""Members settings: env prefix ``SAJJA_MEMBERS_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from pydantic import Field, model_validator

from services.members.pii import parse_key_ring
from shared.settings import DEV_SECRET_PREFIX, SajjaSettings, service_settings_config

#: Key 1 in development when no key is set: the single key's old default, so data a developer
#: wrote before the key ring stays readable.
DEV_PII_KEY = "dev-members-pii-key-change-me"


class MembersSettings(SajjaSettings):
    process_name: ClassVar[str] = "members"
    model_config = service_settings_config("members")

    #: Encrypts national ID numbers at rest (PDPA): key 1 of the key ring. Kept so deployments
    #: from before the ring (and their data) work unchanged; may be left unset once no row uses
    #: key 1 (docs/national-id-keys.md).
    pii_key: str = Field(default="", repr=False)
    #: The key ring, ``id:key,id:key`` (ids 1 to 32767); ``pii_key`` adds key 1 when the ring has
    #: no key 1 of its own.
    pii_keys: str = Field(default="", repr=False)
    #: Which key of the ring encrypts new national IDs; 0: the highest id.
    pii_key_current: int = Field(default=0, ge=0)
    #: Keys the hash used to look national ID numbers up without decrypting them (one key: a
    #: look-up must find every row with one hash; docs/national-id-keys.md).
    pii_hash_key: str = Field(default="dev-members-pii-hash-key-change-me", repr=False)
    #: The re-encryption worker's pause between passes (each pass moves every row under an older
    #: key to the current one, in batches); 0: no worker (``sajja pii-keys reencrypt`` by hand).
    pii_reencrypt_interval_seconds: float = Field(default=30.0, ge=0)
    #: Rows per re-encryption transaction: each batch's rows are locked only while it runs.
    pii_reencrypt_batch: int = Field(default=200, ge=1, le=5000)
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
        return {"gateway": self.gateway_url, "ledger": self.service_url("ledger"), "benefits": self.service_url("benefits")}

    # ``pii_key`` is checked with the whole ring (``_refuse_default_secrets`` below): it may be unset.
    secret_fields: ClassVar[tuple[str, ...]] = ("service_secret", "pii_hash_key")

    def pii_key_ring(self) -> dict[int, str]:
        """The key ring: ``pii_keys``, and ``pii_key`` as key 1 unless the ring has its own (two
        different keys 1 are refused); in development with no key at all, the old default as key 1."""
        ring = parse_key_ring(self.pii_keys) if self.pii_keys.strip() else {}
        if self.pii_key:
            if ring.get(1, self.pii_key) != self.pii_key:
                raise ValueError("SAJJA_MEMBERS_PII_KEY and key 1 of SAJJA_MEMBERS_PII_KEYS differ: give key 1 once")
            ring.setdefault(1, self.pii_key)
        if not ring and self.env == "dev":
            ring[1] = DEV_PII_KEY
        return dict(sorted(ring.items()))

    @property
    def pii_current_key_id(self) -> int:
        ring = self.pii_key_ring()
        return self.pii_key_current or max(ring)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> "MembersSettings":
        """The common check, with the national ID key ring in ``pii_key``'s place: it must parse,
        hold the current key and, outside development, hold no key that is short or ``dev-``."""
        ring = self.pii_key_ring()
        if ring and self.pii_current_key_id not in ring:
            raise ValueError(
                f"SAJJA_MEMBERS_PII_KEY_CURRENT={self.pii_key_current}: the key ring has keys {sorted(ring)} only"
            )
        if self.env == "dev":
            return self

        def weak(value: str) -> bool:
            return value.startswith(DEV_SECRET_PREFIX) or len(value) < 16

        named = []
        if weak(self.service_secret):
            named.append("service_secret")
        if not ring or any(weak(key) for key in ring.values()):
            named.append("pii_key")
        if weak(self.pii_hash_key):
            named.append("pii_hash_key")
        if named:
            raise ValueError(f"refusing to start with development secrets outside SAJJA_ENV=dev: {', '.join(named)}")
        return self
