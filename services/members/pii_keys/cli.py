"""``sajja pii-keys status`` and ``sajja pii-keys reencrypt``: the operator's view of the national
ID key ring, and the re-encryption run to the end by hand, with the members settings of the
environment (docs/national-id-keys.md)."""

from __future__ import annotations

import getpass
import json

from services.members.pii_keys import service
from shared.auth import Principal, Role
from shared.db import Database


async def run(action: str, batch: int | None = None) -> int:
    """Print the ring's status as JSON (``status``), or re-encrypt every row under an older key
    and print what moved (``reencrypt``); 1 when rows use a key the ring lacks."""
    from services.members.app import make_vault
    from services.members.settings import MembersSettings

    settings = MembersSettings()
    vault = make_vault(settings)
    db = Database.from_url(settings.process_database_url, pool_size=2, max_overflow=0, pooler=settings.db_pooler)
    try:
        if action == "reencrypt":
            # Audited as the operator's account on this machine (no Sajja token here).
            actor = Principal(subject=f"cli:{getpass.getuser()}"[:64], role=Role.service)
            result = await service.reencrypt(db, vault, batch=batch or settings.pii_reencrypt_batch, actor=actor)
            print(json.dumps({"moved": result.moved, "finished_to_key_ids": result.finished}))
        async with db.sessionmaker() as session:
            report = await service.status(session, vault)
        print(json.dumps(report, default=str, indent=2))
        return 1 if any(not key["in_ring"] for key in report["keys"]) else 0
    finally:
        await db.dispose()
