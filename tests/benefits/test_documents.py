"""Claim documents behind the blob store (docs/documents.md), on both backends: a local directory
and an S3-compatible store (moto's server, a process of its own speaking S3 over HTTP).

Encrypted at rest with a data key per document wrapped by a KEK of the ring; a rolled-back upload
leaves an orphan that the sweep deletes after the grace; a quota per claim; erasure (the wrapped
key at once, the object with the sweep); key rotation with old KEKs still opening and a rewrap."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from services.benefits.documents import attach, object_key_of, rewrap, sweep_erased, sweep_orphans
from services.benefits.envelope import MAGIC, DecryptionError, KeyRing
from services.benefits.models import ClaimDocument
from services.benefits.storage import LocalBlobStore, S3BlobStore
from shared.timeutil import utcnow
from tests.fakes.s3 import ACCESS_KEY, REGION, SECRET_KEY, make_bucket, s3_server
from tests.support.apps import TEST_DOCUMENT_KEY, document_store
from tests.support.claims import PDF, PNG, ClaimDesk, claim_desk

SECOND_KEY = "test-document-key-two-0123456789"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Any]:
    """A fresh, empty blob store of each backend."""
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "documents")
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"sajja-{uuid.uuid4().hex[:12]}"
    await make_bucket(endpoint, bucket)
    store = S3BlobStore(bucket=bucket, endpoint_url=endpoint, region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                        prefix="documents/")
    yield store
    await store.close()


@pytest.fixture
async def welfare(service_client, tokens) -> ClaimDesk:
    return await claim_desk(service_client, tokens)


def use(welfare: ClaimDesk, blobs: Any, keys: dict[int, str] | None = None, **limits: Any) -> Any:
    store = document_store(blobs=blobs, keys=keys, **limits)
    welfare.app().state.documents = store
    return store


async def open_claim(welfare: ClaimDesk) -> str:
    return await welfare.open_claim()


async def keys_in(blobs: Any) -> list[str]:
    return [info.key async for info in blobs.list("claims/")]


async def row(welfare: ClaimDesk, document_id: str) -> ClaimDocument:
    async with welfare.app().state.db.sessionmaker() as session:
        return (await session.scalars(select(ClaimDocument).where(ClaimDocument.id == uuid.UUID(document_id)))).one()


async def test_documents_are_encrypted_at_rest_and_read_back(welfare: ClaimDesk, blobs: Any) -> None:
    use(welfare, blobs)
    cid = await open_claim(welfare)
    uploaded = await welfare.upload(cid, "medical_certificate", PDF)
    assert uploaded.status_code == 201, uploaded.text
    document = await row(welfare, uploaded.json()["id"])
    assert document.object_key == object_key_of(welfare.fund.id, uuid.UUID(cid), document.id)
    assert document.key_id == 1 and len(document.wrapped_key) == 12 + 32 + 16
    stored = await blobs.get(document.object_key)
    assert stored.startswith(MAGIC) and PDF not in stored and PDF[9:30] not in stored, "only ciphertext in the store"
    download = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{document.id}", headers=welfare.committee)
    assert download.status_code == 200 and download.content == PDF

    # An object changed in the store, or another document's object put in its place, does not open.
    other = await welfare.upload(cid, "id_card", PNG)
    other_row = await row(welfare, other.json()["id"])
    await blobs.put(document.object_key, await blobs.get(other_row.object_key))
    moved = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{document.id}", headers=welfare.committee)
    assert moved.status_code == 500 and moved.headers["content-type"].startswith("application/problem+json")
    await blobs.put(document.object_key, stored[:-1] + bytes([stored[-1] ^ 1]))
    tampered = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{document.id}", headers=welfare.committee)
    assert tampered.status_code == 500


async def test_a_rolled_back_upload_leaves_no_object_once_swept(welfare: ClaimDesk, blobs: Any) -> None:
    store = use(welfare, blobs)
    cid = await open_claim(welfare)
    kept = await welfare.upload(cid, "id_card", PNG)
    assert kept.status_code == 201
    db = welfare.app().state.db
    async with db.sessionmaker() as session:  # a savepoint of the test's transaction: rolled back
        lost = await attach(session=session, store=store, fund_id=welfare.fund.id, claim_id=uuid.UUID(cid), kind="id_card",
                            filename="x.png", data=PNG, by="someone")
        await session.rollback()
    assert len(await keys_in(blobs)) == 2, "the rolled-back upload's object is there until the sweep"
    assert await sweep_orphans(db, store) == 0, "younger than the grace: it may be a transaction still going"
    assert await sweep_orphans(db, store, now=utcnow() + store.orphan_grace + dt.timedelta(minutes=1)) == 1
    remaining = await keys_in(blobs)
    assert remaining == [(await row(welfare, kept.json()["id"])).object_key]
    assert lost.object_key not in remaining
    download = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{kept.json()['id']}", headers=welfare.committee)
    assert download.content == PNG


async def test_a_claim_has_a_quota_of_documents_in_count_and_bytes(welfare: ClaimDesk, blobs: Any) -> None:
    use(welfare, blobs, max_count_per_claim=2, max_bytes_per_claim=len(PNG) + len(PDF) + 10)
    cid = await open_claim(welfare)
    assert (await welfare.upload(cid, "id_card", PNG)).status_code == 201
    too_big = await welfare.upload(cid, "medical_certificate", PDF + b"x" * 20)
    assert too_big.status_code == 409 and too_big.headers["content-type"].startswith("application/problem+json")
    assert too_big.json()["code"] == "document.quota_exceeded"
    assert (await welfare.upload(cid, "medical_certificate", PDF)).status_code == 201
    third = await welfare.upload(cid, "id_card", PNG, headers={**welfare.committee, "Accept-Language": "en"})
    assert third.status_code == 409 and third.json()["code"] == "document.quota_exceeded"
    assert "at most 2 documents" in third.json()["detail"]
    assert len(await keys_in(blobs)) == 2, "a refused upload leaves no object"


async def test_erasure_drops_the_key_at_once_and_the_object_with_the_sweep(welfare: ClaimDesk, blobs: Any) -> None:
    store = use(welfare, blobs)
    cid = await open_claim(welfare)
    uploaded = await welfare.upload(cid, "id_card", PNG)
    erased = await welfare.benefits.post(
        f"/v1/benefits/internal/funds/{welfare.fund.id}/members/{welfare.member_id}/erase", headers=welfare.tokens.service("members"))
    assert erased.status_code == 200 and erased.json()["erased"]["documents"] == 1, erased.text
    document = await row(welfare, uploaded.json()["id"])
    assert document.wrapped_key is None, "the object no longer opens, in any copy of the store"
    gone = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{document.id}", headers=welfare.committee)
    assert gone.status_code == 410
    assert await keys_in(blobs) == [document.object_key]
    assert await sweep_erased(welfare.app().state.db, store) == 1
    assert await keys_in(blobs) == []
    assert await sweep_orphans(welfare.app().state.db, store, now=utcnow() + dt.timedelta(days=1)) == 0


async def test_keys_rotate_old_keks_still_open_and_rewrap_moves_documents_to_the_current(welfare: ClaimDesk, blobs: Any) -> None:
    use(welfare, blobs)
    cid = await open_claim(welfare)
    old = (await welfare.upload(cid, "id_card", PNG)).json()["id"]
    url = f"{welfare.base}/claims/{cid}/documents/{old}"

    rotated = use(welfare, blobs, keys={1: TEST_DOCUMENT_KEY, 2: SECOND_KEY})
    assert rotated.keys.current == 2
    assert (await welfare.benefits.get(url, headers=welfare.committee)).content == PNG, "key 1 still opens its documents"
    new = (await welfare.upload(cid, "medical_certificate", PDF)).json()["id"]
    assert (await row(welfare, new)).key_id == 2
    before = (await row(welfare, old)).object_key
    stored = await blobs.get(before)

    assert await rewrap(welfare.app().state.db, rotated) == 1
    assert await rewrap(welfare.app().state.db, rotated) == 0
    assert (await row(welfare, old)).key_id == 2
    assert await blobs.get(before) == stored, "rewrapping changes the row, not the object"

    use(welfare, blobs, keys={2: SECOND_KEY})  # key 1 retired
    for document_id, data in ((old, PNG), (new, PDF)):
        answer = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{document_id}", headers=welfare.committee)
        assert answer.status_code == 200 and answer.content == data


def test_a_wrapped_key_opens_only_for_its_object_and_its_kek() -> None:
    ring = KeyRing({1: TEST_DOCUMENT_KEY})
    sealed, key_id, wrapped = ring.seal(b"%PDF-1.4 hello", "claims/a/b/c")
    assert ring.open(sealed, key_id, wrapped, "claims/a/b/c") == b"%PDF-1.4 hello"
    with pytest.raises(DecryptionError):
        ring.open(sealed, key_id, wrapped, "claims/a/b/other")
    with pytest.raises(DecryptionError):
        KeyRing({1: SECOND_KEY}).open(sealed, key_id, wrapped, "claims/a/b/c")
    with pytest.raises(DecryptionError):
        KeyRing({2: SECOND_KEY}).open(sealed, key_id, wrapped, "claims/a/b/c")


async def test_documents_from_before_encryption_still_read_and_erase(welfare: ClaimDesk, tmp_path) -> None:
    """Rows written by the previous release (no object key, plaintext by checksum) during and after a
    rolling upgrade: read from ``ab/abcdef...`` and deleted when no other live row shares the file."""
    import hashlib

    blobs = LocalBlobStore(tmp_path / "documents")
    store = use(welfare, blobs)
    cid = await open_claim(welfare)
    fund = uuid.UUID(welfare.fund.id)
    digest = hashlib.sha256(PNG).hexdigest()
    await blobs.put(f"{digest[:2]}/{digest}", PNG)
    ids = []
    async with welfare.app().state.db.sessionmaker() as session:
        for _ in range(2):
            document = ClaimDocument(fund_id=fund, claim_id=uuid.UUID(cid), id=uuid.uuid4(), kind="id_card", is_medical=False,
                                     filename="old.png", content_type="image/png", size_bytes=len(PNG), sha256=digest, uploaded_by="old")
            session.add(document)
            ids.append(document.id)
        await session.commit()
    answer = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{ids[0]}", headers=welfare.committee)
    assert answer.status_code == 200 and answer.content == PNG
    async with welfare.app().state.db.sessionmaker() as session:
        (await session.get(ClaimDocument, (fund, uuid.UUID(cid), ids[0]))).erased_at = utcnow()
        await session.commit()
    assert await sweep_erased(welfare.app().state.db, store) == 1
    assert (tmp_path / "documents" / digest[:2] / digest).exists(), "the other row still uses the file"
    async with welfare.app().state.db.sessionmaker() as session:
        (await session.get(ClaimDocument, (fund, uuid.UUID(cid), ids[1]))).erased_at = utcnow()
        await session.commit()
    assert await sweep_erased(welfare.app().state.db, store) == 1
    assert not (tmp_path / "documents" / digest[:2] / digest).exists()
