"""Dependencies shared by the benefits service's rooms."""

from __future__ import annotations

from fastapi import Request

from services.benefits.documents import DocumentStore
from shared.ledger_client import LedgerClient
from shared.members_client import MembersDirectory


def directory(request: Request) -> MembersDirectory:
    return request.app.state.directory


def ledger(request: Request) -> LedgerClient:
    return request.app.state.ledger


def store(request: Request) -> DocumentStore:
    return request.app.state.documents

