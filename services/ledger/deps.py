"""Dependencies shared by the ledger's rooms."""

from __future__ import annotations

from fastapi import Request

from services.ledger.settings import LedgerSettings
from shared.errors import preferred_language
from shared.members_client import MembersDirectory


def directory(request: Request) -> MembersDirectory:
    return request.app.state.directory


def settings(request: Request) -> LedgerSettings:
    return request.app.state.settings


def lang(request: Request) -> str:
    return preferred_language(request.headers.get("accept-language"))
