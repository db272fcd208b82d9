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
    #: Posting calls under way at once in all of the ledger's replicas together, all funds (0: no
    #: limit); each replica takes its share, at least one (see deposits/poster.py).
    deposit_calls_total: int = Field(default=2, ge=0)
    #: Every replica of the ledger, as ``sajja run`` tells each process (``SAJJA_LEDGER_URL``):
    #: how many there are.
    replica_urls: str = Field(default="", validation_alias="SAJJA_LEDGER_URL")

    @property
    def deposit_calls(self) -> int | None:
        """This replica's share of :attr:`deposit_calls_total`; None for no limit."""
        if not self.deposit_calls_total:
            return None
        from shared.replicas import split_urls

        replicas = max(1, len(split_urls(self.replica_urls))) if self.replica_urls.strip() else 1
        return max(1, self.deposit_calls_total // replicas)
    #: The largest single deposit accepted (satang): 100,000 baht.
    deposit_max_satang: int = 10_000_000
    #: How often the ledger brings its aggregates up to date (day totals, arrears due a count); 0
    #: turns the worker off (a read of the aggregates still brings the day totals up to date). A pass
    #: costs what was queued since the last one: passes close together keep each one short, where
    #: passes far apart take a database core for a long moment while deposits are being posted.
    aggregates_interval_seconds: float = 1.0
