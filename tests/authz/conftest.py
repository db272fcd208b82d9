"""The authorization matrix's fixtures: the five processes and the world, once for the package
(rolled back when its tests are done)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.authz.harness import running_system
from tests.authz.world import World, build_world


@pytest.fixture(scope="package")
async def world(engines: dict[str, AsyncEngine], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with running_system(engines, tmp_path_factory.mktemp("authz-documents")) as system:
        yield await build_world(system)
