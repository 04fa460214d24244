"""Shared fixtures: a fresh database per test, SMTP sinks, and the machine's services."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.sinks import SmtpSink

REQUIRE_SERVICES = os.environ.get("SENDPOOL_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("SENDPOOL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SENDPOOL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path}/sendpool.db",
        "secret_key": Fernet.generate_key().decode(),
        "poll_interval": 0.02,
        "health_check_interval": 300.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(settings)
    yield rt
    rt.close()


StartSinks = Callable[[int], Awaitable[list[SmtpSink]]]


@pytest.fixture
async def sinks() -> AsyncIterator[StartSinks]:
    started: list[SmtpSink] = []

    async def start(n: int) -> list[SmtpSink]:
        new = [await SmtpSink(f"sink{len(started) + i}").start() for i in range(n)]
        started.extend(new)
        return new

    yield start
    for s in started:
        await s.stop()


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip with the reason printed, unless CI says the service must be there."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and SENDPOOL_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(message)


@pytest.fixture
def pg_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return PG_URL


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL
