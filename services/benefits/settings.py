"""Benefits settings: env prefix ``SAJJA_BENEFITS_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from shared.settings import SajjaSettings, service_settings_config


class BenefitsSettings(SajjaSettings):
    process_name: ClassVar[str] = "benefits"
    model_config = service_settings_config("benefits")

    members_url: str = "http://127.0.0.1:8001"
    ledger_url: str = "http://127.0.0.1:8002"
    #: Where claim documents are kept, by checksum, outside the database.
    documents_dir: str = ".sajja/documents"
    document_max_bytes: int = 10 * 1024 * 1024
    #: How often the payout worker looks for approved claims to pay; 0 turns it off.
    payout_interval_seconds: float = 2.0
    payout_batch: int = 50
    #: How often erased documents' files are removed from disk; 0 turns it off.
    document_sweep_interval_seconds: float = 30.0
