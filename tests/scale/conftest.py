"""The scale tests run on the machine's PostgreSQL and on a private redis-server.

``settings`` (and so the shared ``runtime`` fixture) points at a fresh
PostgreSQL database per test; a module that also wants the Redis ledger
overrides ``backend`` with both params.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sendpool.config import Settings
from tests.support.services import PgDatabases, PrivateRedis, private_redis
from tests.support.settings import make_settings


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.close()


@pytest.fixture
def pg_database(pg_databases: PgDatabases) -> Iterator[str]:
    url = pg_databases.create()
    yield url
    pg_databases.drop(url)


@pytest.fixture(scope="session")
def shared_private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_server(shared_private_redis: PrivateRedis) -> PrivateRedis:
    """The session's private Redis, emptied for this test."""
    client = redis.Redis.from_url(shared_private_redis.url)
    try:
        client.flushall()
    finally:
        client.close()
    return shared_private_redis


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(
    tmp_path: Path, backend: str, pg_database: str, request: pytest.FixtureRequest
) -> Settings:
    overrides: dict[str, object] = {"database_url": pg_database}
    if backend == "postgresql+redis":
        overrides["redis_url"] = request.getfixturevalue("redis_server").url
    return make_settings(tmp_path, **overrides)
