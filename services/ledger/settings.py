"""Ledger settings: env prefix ``SAJJA_LEDGER_``, falling back to ``SAJJA_``."""

from typing import ClassVar

from pydantic import Field

from shared.settings import SajjaSettings, service_settings_config


class LedgerSettings(SajjaSettings):
    process_name: ClassVar[str] = "ledger"
    model_config = service_settings_config("ledger")

    #: Where membership facts come from.
    members_url: str = "http://127.0.0.1:8001"
    #: Where the fund's sustainability projection comes from (the annual statements' PDF prints it).
    benefits_url: str = "http://127.0.0.1:8003"
    #: How long the ledger trusts what members said about a member or collector.
    member_facts_ttl_seconds: int = 300
    #: How far ahead of the server a phone's clock may be.
    clock_skew_seconds: int = 300
    batch_max_items: int = 500
    #: Posting calls of one fund under way at once from this process (see deposits/poster.py).
    deposit_calls_in_flight: int = Field(default=2, ge=1, le=8)
    #: The largest single deposit accepted (satang): 100,000 baht.
    deposit_max_satang: int = 10_000_000
    #: How often the ledger brings its aggregates up to date (day totals, arrears due a count); 0
    #: turns the worker off (a read of the aggregates still brings the day totals up to date).
    aggregates_interval_seconds: float = 10.0
