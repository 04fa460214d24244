"""Browsers for sign-in tests: each from its own client address, on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import update

from sendpool.http.app import create_app
from sendpool.http.context import utc_now
from sendpool.runtime import Runtime
from sendpool.services.access import admins
from sendpool.store.tables import AdminUser, table
from tests.support.admin_world import PASSWORD, Web


def fast_hashing(monkeypatch: pytest.MonkeyPatch, rt: Runtime) -> None:
    """Cheap argon2 for tests that sign in dozens of times (the timing test keeps the real one).

    Every admin's password becomes PASSWORD, hashed cheaply; the dummy hash is
    swapped too, so both paths still cost one (cheap) verification.
    """
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    dummy = cheap.hash("sendpool: no such admin")
    monkeypatch.setattr(admins, "_hasher", cheap)
    monkeypatch.setattr(admins, "_dummy_hash", lambda: dummy)
    new_hash = cheap.hash(PASSWORD)
    rt.db.transaction(lambda c: c.execute(update(table(AdminUser)).values(password_hash=new_hash)))


@dataclass
class Clock:
    """The time every request of these browsers sees; starts at the real time."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@asynccontextmanager
async def browsers(rt: Runtime, ids: dict[str, str], clock: Clock) -> AsyncIterator[Browsers]:
    app = create_app(rt)
    app.dependency_overrides[utc_now] = lambda: clock.now
    made: list[httpx.AsyncClient] = []
    try:
        yield Browsers(app, rt, ids, made)
    finally:
        for client in made:
            await client.aclose()


@dataclass
class Browsers:
    app: FastAPI
    rt: Runtime
    ids: dict[str, str]
    made: list[httpx.AsyncClient]

    def at(self, address: str, user_agent: str = "test-browser/1.0") -> Web:
        """A new browser (its own cookies) whose requests come from ``address``."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        client = httpx.AsyncClient(
            transport=transport,
            base_url="http://sendpool.test",
            headers={"user-agent": user_agent},
        )
        self.made.append(client)
        return Web(self.rt, client, self.ids)
