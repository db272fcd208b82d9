"""Benefits settings: env prefix ``SAJJA_BENEFITS_``, falling back to ``SAJJA_``."""

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from shared.settings import DEV_SECRET_PREFIX, SajjaSettings, service_settings_config

#: Key 1 of the documents' key ring in development when none is set.
DEV_DOCUMENT_KEY = "dev-benefits-document-key-change-me"


class BenefitsSettings(SajjaSettings):
    process_name: ClassVar[str] = "benefits"
    model_config = service_settings_config("benefits")

    members_url: str = "http://127.0.0.1:8001"
    ledger_url: str = "http://127.0.0.1:8002"
    #: Where claim documents' (encrypted) objects are kept: ``local`` (``documents_dir``) or ``s3``
    #: (any S3-compatible store: ``documents_s3_*``). docs/documents.md.
    documents_backend: Literal["local", "s3"] = "local"
    documents_dir: str = ".sajja/documents"
    documents_s3_endpoint: str = ""
    documents_s3_bucket: str = "sajja-documents"
    documents_s3_region: str = "us-east-1"
    documents_s3_prefix: str = ""
    documents_s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    #: Empty: the store's usual credential chain (environment, web identity, instance role).
    documents_s3_access_key: str = Field(default="", repr=False)
    documents_s3_secret_key: str = Field(default="", repr=False)
    #: Key-encryption key 1 of the documents' key ring (16+ characters outside development).
    document_key: str = Field(default="", repr=False)
    #: More KEKs, ``id:key,id:key`` (ids 1-32767); the highest id, or ``document_key_current``,
    #: wraps new documents' data keys, and the documents worker rewraps older ones.
    document_keys: str = Field(default="", repr=False)
    document_key_current: int = Field(default=0, ge=0)
    document_max_bytes: int = 10 * 1024 * 1024
    #: A claim's documents that are not erased: at most this many, of at most this many bytes in all.
    document_max_count_per_claim: int = Field(default=20, ge=1)
    document_max_bytes_per_claim: int = Field(default=50 * 1024 * 1024, ge=1)
    #: An object that no document row names is deleted once it is older than this (an upload whose
    #: transaction rolled back); far longer than any request's transaction.
    document_orphan_grace_seconds: float = Field(default=3600.0, gt=0)
    #: How often the payout worker looks for approved claims to pay; 0 turns it off.
    payout_interval_seconds: float = 2.0
    payout_batch: int = 50
    #: How often the documents worker deletes erased documents' objects and orphans and rewraps
    #: data keys under older KEKs; 0 turns it off.
    document_sweep_interval_seconds: float = 30.0

    def document_key_ring(self) -> dict[int, str]:
        """``document_keys`` plus ``document_key`` as key 1; in development with none, a dev key 1."""
        from services.members.pii import parse_key_ring

        try:
            ring = parse_key_ring(self.document_keys) if self.document_keys.strip() else {}
        except ValueError as error:
            raise ValueError(str(error).replace("SAJJA_MEMBERS_PII_KEYS", "SAJJA_BENEFITS_DOCUMENT_KEYS")) from None
        if self.document_key:
            if ring.get(1, self.document_key) != self.document_key:
                raise ValueError("SAJJA_BENEFITS_DOCUMENT_KEY and key 1 of SAJJA_BENEFITS_DOCUMENT_KEYS differ")
            ring.setdefault(1, self.document_key)
        if not ring and self.env == "dev":
            ring[1] = DEV_DOCUMENT_KEY
        return dict(sorted(ring.items()))

    @model_validator(mode="after")
    def _check_document_keys(self) -> "BenefitsSettings":
        ring = self.document_key_ring()
        if self.document_key_current and self.document_key_current not in ring:
            raise ValueError(f"SAJJA_BENEFITS_DOCUMENT_KEY_CURRENT={self.document_key_current}: the ring has keys {sorted(ring)} only")
        if self.env != "dev" and (not ring or any(k.startswith(DEV_SECRET_PREFIX) or len(k) < 16 for k in ring.values())):
            raise ValueError("refusing to start with development secrets outside SAJJA_ENV=dev: document_key")
        return self
