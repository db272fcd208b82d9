"""Dependencies shared by the ledger's rooms."""

from __future__ import annotations

from fastapi import Request

from services.ledger.deposits.poster import DepositPoster
from services.ledger.settings import LedgerSettings
from shared.benefits_client import BenefitsClient
from shared.members_client import MembersDirectory


def directory(request: Request) -> MembersDirectory:
    made: MembersDirectory = request.app.state.directory
    return made


def benefits(request: Request) -> BenefitsClient:
    made: BenefitsClient = request.app.state.benefits
    return made


def settings(request: Request) -> LedgerSettings:
    made: LedgerSettings = request.app.state.settings
    return made


def poster(request: Request) -> DepositPoster:
    """The process's deposit poster, made on first use for the app's database."""
    state = request.app.state
    made: DepositPoster | None = getattr(state, "poster", None)
    if made is None or made.database is not state.db:
        made = state.poster = DepositPoster(
            state.db, max_items=state.settings.batch_max_items, in_flight=state.settings.deposit_calls_in_flight,
            calls=state.settings.deposit_calls,
        )
    return made
