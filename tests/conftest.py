"""Shared fixtures: a fresh database per test, SMTP sinks, and the machine's services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sendpool.config import Settings
from sendpool.runtime import Runtime
from tests.support.cli_env import CliEnv, cli_env
from tests.support.services import PG_URL, REDIS_URL, require_service
from tests.support.settings import make_settings
from tests.support.sinks import StartSinks, sink_starter


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(settings)
    yield rt
    rt.close()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliEnv:
    """Commands run in-process against this test's own database and secret key."""
    return cli_env(monkeypatch, tmp_path)


@pytest.fixture
async def sinks() -> AsyncIterator[StartSinks]:
    async with sink_starter() as start:
        yield start


@pytest.fixture
def pg_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return PG_URL


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL
