"""Fixtures for the API tests: a populated world, copied fresh for each test.

The world is built once per session into a template database; each test
gets its own copy of the file (milliseconds), so tests may change anything.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sendpool.config import Settings
from sendpool.runtime import Runtime
from tests.api.world import World, client_for, seed_world
from tests.conftest import make_settings


@dataclass(frozen=True)
class Template:
    path: Path
    key: str
    ids: dict[str, str]
    tokens: dict[str, str]
    markers: dict[str, list[str]]


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    folder = tmp_path_factory.mktemp("world")
    key = Fernet.generate_key().decode()
    rt = Runtime.open(make_settings(folder, secret_key=key))
    try:
        ids, tokens, markers = seed_world(rt)
    finally:
        rt.close()
    return Template(folder / "sendpool.db", key, ids, tokens, markers)


@pytest.fixture
def world_settings(world_template: Template, tmp_path: Path) -> Settings:
    for suffix in ("", "-wal", "-shm"):
        source = world_template.path.with_name(world_template.path.name + suffix)
        if source.exists():
            shutil.copy(source, tmp_path / source.name)
    return make_settings(tmp_path, secret_key=world_template.key)


@pytest.fixture
async def world(world_template: Template, world_settings: Settings) -> AsyncIterator[World]:
    rt = Runtime.open(world_settings)
    t = world_template
    try:
        async with client_for(rt) as client:
            yield World(rt, client, dict(t.tokens), dict(t.ids), dict(t.markers))
    finally:
        rt.close()
