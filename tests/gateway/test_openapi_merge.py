"""The gateway's merge of the services' OpenAPI documents (``gateway/openapi.py``): a name two
documents define differently fails the merge, naming it, instead of being renamed."""

from __future__ import annotations

import pytest

from gateway.openapi import ContractClash, merge_documents


def test_the_merge_fails_on_a_clash_instead_of_renaming() -> None:
    base = {"openapi": "3.1.0", "paths": {"/v1/auth/me": {"get": {"operationId": "auth_me"}}},
            "components": {"schemas": {"Feed": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    same = {"paths": {"/v1/ledger/x": {"get": {"operationId": "ledger_x"}}},
            "components": {"schemas": {"Feed": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    assert set(merge_documents(base, {"ledger": same})["paths"]) == {"/v1/auth/me", "/v1/ledger/x"}
    other = {"paths": {"/v1/benefits/y": {"get": {"operationId": "benefits_y"}}},
             "components": {"schemas": {"Feed": {"type": "object", "properties": {"b": {"type": "integer"}}}}}}
    with pytest.raises(ContractClash, match="components.schemas.Feed"):
        merge_documents(base, {"benefits": other})
    with pytest.raises(ContractClash, match="operationId auth_me"):
        merge_documents(base, {"ledger": {"paths": {"/v1/ledger/me": {"get": {"operationId": "auth_me"}}}}})
    with pytest.raises(ContractClash, match="path /v1/auth/me"):
        merge_documents(base, {"ledger": {"paths": {"/v1/auth/me": {"get": {"operationId": "ledger_me"}}}}})
