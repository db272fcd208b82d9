"""One OpenAPI document for the whole API: the gateway's own operations and every service's.

Each service's document is fetched from it and cached. Schemas that two services name alike but
define differently are renamed ``<service>_<Name>`` in the later one, with its references.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import orjson

from gateway.proxy import TRANSPORT_ERRORS, Forwarder

CACHE_SECONDS = 60.0


def merge_documents(base: dict[str, Any], others: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    paths = merged.setdefault("paths", {})
    schemas = merged.setdefault("components", {}).setdefault("schemas", {})
    tags = {t["name"]: t for t in merged.get("tags", [])}
    for service, doc in others.items():
        doc_schemas = doc.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service}_{name}"
            for name, schema in doc_schemas.items()
            if name in schemas and schemas[name] != schema
        }
        text = json.dumps(doc)
        for old, new in renames.items():
            text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
        doc = json.loads(text)
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = schema
        for path, item in doc.get("paths", {}).items():
            paths[path] = item
            for operation in item.values():
                if isinstance(operation, dict):
                    operation.setdefault("tags", [service])
        for tag in doc.get("tags", []):
            tags.setdefault(tag["name"], tag)
        for name, scheme in doc.get("components", {}).get("securitySchemes", {}).items():
            merged["components"].setdefault("securitySchemes", {})[name] = scheme
    if tags:
        merged["tags"] = list(tags.values())
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
