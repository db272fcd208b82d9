"""Where claim documents' bytes are kept: a local directory (the default, and what ``make run``
uses) or any S3-compatible object store (``SAJJA_BENEFITS_DOCUMENTS_BACKEND=s3``).

Both are a :class:`BlobStore`: put, get, delete and list objects by key. What they hold is
already encrypted (services/benefits/envelope.py); neither knows a document from any other bytes.

The S3 store speaks to the store with aiobotocore: botocore's request signing (SigV4), retries and
error model, which every S3-compatible store (MinIO, Ceph RGW, Cloudflare R2, Wasabi, AWS) is
tested against by its makers, on aiohttp, so a document's upload or download waits on the event
loop rather than holding a thread. It is kept by aio-libs in step with botocore's releases.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class BlobNotFound(Exception):
    """No object under that key."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    modified_at: dt.datetime


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    def list(self, prefix: str, *, start_after: str = "") -> AsyncIterator[BlobInfo]: ...
    async def close(self) -> None: ...


def _fsync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class LocalBlobStore:
    """Files under ``root/<key>``. A file is on disk for good before its row can be committed:
    written to a temporary name, flushed, renamed into place and its directory flushed, so a crash
    leaves either no file or the whole file. The disk work runs in a thread, never on the event
    loop that serves every other request."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        target = (self.root / key).resolve()
        if self.root.resolve() not in target.parents:
            raise ValueError(f"object key outside the store: {key!r}")
        return target

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        made: list[Path] = []
        parent = target.parent
        while not parent.exists():
            made.append(parent)
            parent = parent.parent
        target.parent.mkdir(parents=True, exist_ok=True)
        for directory in reversed(made):  # each new directory in its parent
            _fsync_directory(directory.parent)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_directory(target.parent)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def list(self, prefix: str, *, start_after: str = "") -> AsyncIterator[BlobInfo]:
        """Objects whose key starts with ``prefix``, in key order, after ``start_after``."""

        def walk() -> list[BlobInfo]:
            found = []
            base = self.root / prefix if prefix.endswith("/") else self.root
            if not base.exists():
                return []
            for path in base.rglob("*"):
                if not path.is_file() or path.name.endswith(".tmp"):
                    continue
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and key > start_after:
                    found.append(BlobInfo(key, dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)))
            return sorted(found, key=lambda info: info.key)

        for info in await asyncio.to_thread(walk):
            yield info

    async def close(self) -> None:
        return None


class S3BlobStore:
    """Objects in one bucket of an S3-compatible store, under ``prefix``. The client is made on
    first use, in the loop that uses it, and closed by :meth:`close`."""

    def __init__(self, *, bucket: str, endpoint_url: str | None = None, region: str = "us-east-1",
                 access_key: str | None = None, secret_key: str | None = None, prefix: str = "",
                 addressing_style: str = "path") -> None:
        self.bucket, self.endpoint_url, self.region = bucket, endpoint_url or None, region
        self.access_key, self.secret_key = access_key or None, secret_key or None
        self.prefix, self.addressing_style = prefix, addressing_style
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def client(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    from aiobotocore.config import AioConfig
                    from aiobotocore.session import get_session

                    stack = AsyncExitStack()
                    self._client = await stack.enter_async_context(get_session().create_client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                        aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                        config=AioConfig(s3={"addressing_style": self.addressing_style},
                                         retries={"max_attempts": 3, "mode": "standard"},
                                         connect_timeout=5, read_timeout=30)))
                    self._stack = stack
        return self._client

    async def put(self, key: str, data: bytes) -> None:
        client = await self.client()
        await client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data,
                                ContentType="application/octet-stream")

    async def get(self, key: str) -> bytes:
        client = await self.client()
        try:
            answer = await client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except client.exceptions.NoSuchKey:
            raise BlobNotFound(key) from None
        async with answer["Body"] as body:
            return await body.read()

    async def delete(self, key: str) -> None:
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    async def list(self, prefix: str, *, start_after: str = "") -> AsyncIterator[BlobInfo]:
        client = await self.client()
        paginator = client.get_paginator("list_objects_v2")
        arguments = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            arguments["StartAfter"] = self.prefix + start_after
        async for page in paginator.paginate(**arguments):
            for item in page.get("Contents", []):
                yield BlobInfo(item["Key"][len(self.prefix):], item["LastModified"])

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._client = self._stack, None, None
            await stack.aclose()
