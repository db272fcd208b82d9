"""The national ID key ring at work: rows per key, the start-up check, and the re-encryption that
moves rows from older keys to the current one (docs/national-id-keys.md).

Re-encryption runs in small batches, each its own short transaction: the batch's rows are taken
``FOR NO KEY UPDATE SKIP LOCKED`` (two replicas running it take different rows, and a request
changing a member waits at most one batch), decrypted and encrypted again in memory, written and
committed. Nothing slow happens under the locks, and a process killed mid-batch leaves the batch
rolled back: each row is whole under its old key or its new one, and the next pass goes on. Only
rows under keys older (lower) than the current one move, so during a rolling restart a replica
still on the previous settings never moves rows back to its own, older current key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.models import Member, PiiReencryption
from services.members.pii import PiiKeyError, PiiVault
from shared.audit import audit
from shared.auth import Principal, Role
from shared.db import Database

log = logging.getLogger("sajja.members.pii_keys")

#: Who the worker's audit events name.
WORKER = Principal(subject="svc-members", role=Role.service)


class KeyRingIncomplete(RuntimeError):
    """National IDs are stored under keys the ring lacks: the process refuses to start."""


async def rows_per_key(session: AsyncSession) -> dict[int, int]:
    """How many national IDs each key id encrypts (anonymised members hold none)."""
    rows = await session.execute(
        select(Member.national_id_key_id, func.count())
        .where(Member.national_id_enc.is_not(None))
        .group_by(Member.national_id_key_id)
    )
    # national_id_key_known: a row with a national ID names its key (never None here).
    return {int(key_id): count for key_id, count in rows.all() if key_id is not None}


def key_report(vault: PiiVault, counts: dict[int, int]) -> list[dict[str, Any]]:
    """Each key id in the ring or in the data: its rows, whether the ring has it, whether it is
    current, and whether it is still needed (current, or rows use it)."""
    return [
        {
            "key_id": key_id,
            "rows": counts.get(key_id, 0),
            "in_ring": key_id in vault.key_ids,
            "current": key_id == vault.current_key_id,
            "needed": key_id == vault.current_key_id or counts.get(key_id, 0) > 0,
        }
        for key_id in sorted(vault.key_ids | counts.keys())
    ]


async def check_at_startup(db: Database, vault: PiiVault) -> dict[int, int]:
    """Refuse to start (:class:`KeyRingIncomplete`) when rows use a key the ring lacks; log, for
    each key of the ring, whether it is still needed or may be removed."""
    async with db.sessionmaker() as session:
        counts = await rows_per_key(session)
    missing = {key_id: n for key_id, n in counts.items() if key_id not in vault.key_ids}
    if missing:
        listed = ", ".join(f"key {key_id}: {n} rows" for key_id, n in sorted(missing.items()))
        raise KeyRingIncomplete(
            f"national IDs are stored under keys the ring lacks ({listed}); add them to SAJJA_MEMBERS_PII_KEYS "
            "(key 1 may be SAJJA_MEMBERS_PII_KEY) before starting (docs/national-id-keys.md)"
        )
    for key in key_report(vault, counts):
        if key["current"]:
            log.info("national ID key %s: current, %s rows", key["key_id"], key["rows"])
        elif key["needed"]:
            log.warning("national ID key %s: %s rows still use it; keep it in the ring until they are re-encrypted",
                        key["key_id"], key["rows"])
        else:
            log.info("national ID key %s: no row uses it; it may be removed from the ring", key["key_id"])
    return counts


def _older_keys(vault: PiiVault) -> list[int]:
    """Keys of the ring whose rows move to the current one."""
    return sorted(k for k in vault.key_ids if k < vault.current_key_id)


async def _start(db: Database, vault: PiiVault, actor: Principal) -> bool:
    """True when rows are under older keys; the first to see them opens the re-encryption and
    audits its start (one open re-encryption per target key, whoever else looks at once)."""
    older = _older_keys(vault)
    if not older:
        return False
    async with db.sessionmaker() as session, session.begin():
        waiting = await session.scalar(select(exists().where(
            Member.national_id_enc.is_not(None), Member.national_id_key_id.in_(older))))
        if not waiting:
            return False
        opened = await session.scalar(
            insert(PiiReencryption)
            .values(to_key_id=vault.current_key_id, started_by=actor.subject[:64])
            .on_conflict_do_nothing(index_elements=["to_key_id"], index_where=text("finished_at IS NULL"))
            .returning(PiiReencryption.id)
        )
        if opened is not None:
            counts = await rows_per_key(session)
            await audit(session, actor, "pii.reencrypt_start", object_type="national_id_key",
                        object_id=vault.current_key_id,
                        details={"to_key_id": vault.current_key_id, "rows_by_key": {str(k): n for k, n in counts.items()}})
            log.info("re-encrypting national IDs to key %s: %s", vault.current_key_id, counts)
        return True


async def reencrypt_batch(db: Database, vault: PiiVault, batch: int) -> int:
    """Move up to ``batch`` rows from older keys to the current one, in one short transaction;
    the number moved (0: none left that no one else holds)."""
    older = _older_keys(vault)
    if not older:
        return 0
    table = cast(Table, Member.__table__)  # declarative's Table (typed as any FromClause)
    async with db.sessionmaker() as session, session.begin():
        rows = (await session.execute(
            select(Member.id, Member.national_id_enc, Member.national_id_key_id)
            .where(Member.national_id_enc.is_not(None), Member.national_id_key_id.in_(older))
            .limit(batch)
            .with_for_update(skip_locked=True, key_share=True)
        )).all()
        moved = []
        for member_id, token, key_id in rows:
            assert token is not None and key_id is not None  # the query's filters
            try:
                number = vault.decrypt(token, key_id)
            except PiiKeyError:
                log.error("member %s: its national ID does not decrypt under key %s; left as it is", member_id, key_id)
                continue
            new_key_id, new_token = vault.encrypt(number)
            moved.append({"b_id": member_id, "b_enc": new_token, "b_key": new_key_id})
        if moved:
            # The member's data is the same: ``updated_at`` (and what depends on it) stays.
            await session.execute(
                table.update()
                .where(table.c.id == bindparam("b_id"))
                .values(national_id_enc=bindparam("b_enc"), national_id_key_id=bindparam("b_key"),
                        updated_at=table.c.updated_at),
                moved,
            )
    return len(moved)


async def _finish(db: Database, actor: Principal) -> list[int]:
    """Close (and audit) each open re-encryption whose older rows are all moved; their targets."""
    finished = []
    async with db.sessionmaker() as session, session.begin():
        open_ones = (await session.scalars(
            select(PiiReencryption).where(PiiReencryption.finished_at.is_(None))
            .with_for_update(skip_locked=True)
        )).all()
        for run in open_ones:
            left = await session.scalar(select(exists().where(
                Member.national_id_enc.is_not(None), Member.national_id_key_id < run.to_key_id)))
            if left:
                continue
            run.finished_at = func.clock_timestamp()
            counts = await rows_per_key(session)
            await audit(session, actor, "pii.reencrypt_finish", object_type="national_id_key", object_id=run.to_key_id,
                        details={"to_key_id": run.to_key_id, "rows_by_key": {str(k): n for k, n in counts.items()}})
            log.info("national IDs re-encrypted to key %s", run.to_key_id)
            finished.append(run.to_key_id)
    return finished


@dataclass
class PassResult:
    moved: int
    finished: list[int]


async def reencrypt(db: Database, vault: PiiVault, *, batch: int, actor: Principal = WORKER) -> PassResult:
    """One pass: batches until no row under an older key is left (or every one left is being
    moved by someone else), then the finish of any re-encryption that is done."""
    moved = 0
    if await _start(db, vault, actor):
        while (done := await reencrypt_batch(db, vault, batch)) > 0:
            moved += done
    return PassResult(moved=moved, finished=await _finish(db, actor))


async def status(session: AsyncSession, vault: PiiVault) -> dict[str, Any]:
    """The ring, rows per key, and the latest re-encryption, for a platform admin or the CLI."""
    counts = await rows_per_key(session)
    latest = await session.scalar(select(PiiReencryption).order_by(PiiReencryption.id.desc()).limit(1))
    return {
        "current_key_id": vault.current_key_id,
        "keys": key_report(vault, counts),
        "latest_reencryption": None if latest is None else {
            "to_key_id": latest.to_key_id,
            "started_at": latest.started_at,
            "started_by": latest.started_by,
            "finished_at": latest.finished_at,
        },
    }
