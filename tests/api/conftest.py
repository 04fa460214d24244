"""Fixtures for the API tests: a populated world, copied fresh for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sendpool.config import Settings
from sendpool.runtime import Runtime
from tests.support.world import World, client_for
from tests.support.world_template import Template, build_world_template, copy_database


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_world_template(tmp_path_factory.mktemp("world"))


@pytest.fixture
def world_settings(world_template: Template, tmp_path: Path) -> Settings:
    return copy_database(world_template.path, world_template.key, tmp_path)


@pytest.fixture
async def world(world_template: Template, world_settings: Settings) -> AsyncIterator[World]:
    rt = Runtime.open(world_settings)
    t = world_template
    try:
        async with client_for(rt) as client:
            yield World(rt, client, dict(t.tokens), dict(t.ids), dict(t.markers))
    finally:
        rt.close()
