"""One OpenAPI document for the whole API: the gateway's own operations and every service's public ones.

Each service's public document (``/openapi.json``, made by ``shared.contract``) is fetched from it and
cached. Names are unique at their source: a schema, a shared component, a path or an operationId
that two documents define differently is a :class:`ContractClash`, raised with every clash named,
never renamed here (a renaming would make the names front ends generate clients from depend on the
order of the merge). Internal routes are in no service's public document (``/openapi.internal.json``).
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import orjson

from gateway.proxy import TRANSPORT_ERRORS, Forwarder
from shared.contract import DOMAINS, duplicate_operation_ids

CACHE_SECONDS = 60.0


class ContractClash(ValueError):
    """Two documents define one name differently."""


def merge_documents(base: dict[str, Any], others: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    paths = merged.setdefault("paths", {})
    components = merged.setdefault("components", {})
    tags = {t["name"]: t for t in merged.get("tags", [])}
    clashes: list[str] = []
    for service, doc in others.items():
        for kind, entries in doc.get("components", {}).items():
            mine = components.setdefault(kind, {})
            for name, value in entries.items():
                if name in mine and mine[name] != value:
                    clashes.append(f"components.{kind}.{name}: {service}'s differs from one merged before it")
                mine.setdefault(name, value)
        for path, item in doc.get("paths", {}).items():
            if path in paths:
                clashes.append(f"path {path}: in {service}'s document and one merged before it")
                continue
            paths[path] = copy.deepcopy(item)
        for tag in doc.get("tags", []):
            tags.setdefault(tag["name"], tag)
    duplicates = duplicate_operation_ids(merged)
    clashes += [f"operationId {op}: {', '.join(where)}" for op, where in sorted(duplicates.items())]
    if clashes:
        raise ContractClash("the services' OpenAPI documents clash (make names unique where they are "
                            "defined, docs/api-contract.md):\n  " + "\n  ".join(clashes))
    if tags:
        order = {name: i for i, name in enumerate(DOMAINS)}
        merged["tags"] = sorted(tags.values(), key=lambda t: (order.get(t["name"], len(order)), t["name"]))
    return merged


class OpenApiMerger:
    def __init__(self, service_urls: dict[str, str]) -> None:
        self.service_urls = service_urls
        self._cached: dict[str, Any] | None = None
        self._cached_at = 0.0
        self._complete = False

    async def _fetch(self, forwarder: Forwarder, service: str) -> dict[str, Any] | None:
        try:
            answer = await forwarder.call(service, "GET", "/openapi.json")
            document = orjson.loads(answer.body) if answer.status == 200 else None
        except (*TRANSPORT_ERRORS, orjson.JSONDecodeError):
            return None
        return document if isinstance(document, dict) else None

    async def document(self, base: dict[str, Any], forwarder: Forwarder) -> dict[str, Any]:
        fresh = time.monotonic() - self._cached_at < CACHE_SECONDS
        if self._cached is not None and fresh and self._complete:
            return self._cached
        results = await asyncio.gather(*(self._fetch(forwarder, name) for name in self.service_urls))
        docs = {name: doc for name, doc in zip(self.service_urls, results) if doc is not None}
        merged = merge_documents(base, docs)
        missing = sorted(set(self.service_urls) - set(docs))
        if missing:
            merged.setdefault("info", {})["x-sajja-missing-services"] = missing
        self._cached, self._cached_at, self._complete = merged, time.monotonic(), not missing
        return merged
