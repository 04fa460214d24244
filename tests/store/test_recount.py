"""A ledger rebuilt from the rows charges each attempt to the server that made it, when it can.

A row names only its last server. Attempts in a row on that server (a retry
on the same server, as after a take-over) are charged to it alone; an attempt
made on another server before is charged to every server, which costs some
capacity and never a cap.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sendpool.core.states import MessageStatus
from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.store.records import MessageUpdate, RecordBatch
from sendpool.store.recount import recount_sync
from sendpool.store.tables import SendingServer
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.settings import make_settings


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    with Runtime.open(make_settings(tmp_path)) as runtime:
        apply(
            runtime,
            {
                "servers": [smtp_server("a", 1), smtp_server("b", 2), smtp_server("c", 3)],
                "plans": [{"name": "P", "servers": ["a", "b", "c"]}],
                "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
            },
        )
        make_campaign(runtime, 4)
        yield runtime


def mid_day() -> datetime:
    """Now, but not in the last seconds of a UTC day: the test's day window must hold still."""
    now = datetime.now(UTC)
    left = windows_at(now).day.seconds_left(now)
    if left < 10:
        time.sleep(left + 0.1)
        now = datetime.now(UTC)
    return now


def servers(rt: Runtime) -> dict[str, int]:
    rows = rt.db.transaction(lambda c: c.execute(select(SendingServer.name, SendingServer.id)))
    return {name: int(sid) for name, sid in rows}


def used(rt: Runtime, now: datetime) -> dict[str, int]:
    counted = rt.db.transaction(recount_sync, now, now - timedelta(minutes=5))
    assert counted is not None
    return {name: counted[sid][1].day_used for name, sid in servers(rt).items()}


async def attempt(rt: Runtime, now: datetime, server: int, status: MessageStatus) -> list[int]:
    """Claim every due message and write back one attempt of each on ``server``."""
    claimed = await rt.queue.claim("w", 100, now, now + timedelta(seconds=30))
    batch = RecordBatch()
    for m in claimed:
        sent = now if status is MessageStatus.SENT else None
        batch.updates.append(MessageUpdate(m.id, status, now, m.attempts + 1, server, sent))
    await rt.queue.record("w", batch, now)
    return [m.id for m in claimed]


async def test_retries_on_one_server_are_charged_there_only(rt: Runtime) -> None:
    now = mid_day()
    a = servers(rt)["a"]
    await attempt(rt, now, a, MessageStatus.QUEUED)  # deferred, due again at once
    await attempt(rt, now + timedelta(seconds=1), a, MessageStatus.SENT)
    assert used(rt, now + timedelta(seconds=2)) == {"a": 8, "b": 0, "c": 0}


async def test_an_attempt_on_another_server_is_charged_everywhere(rt: Runtime) -> None:
    now = mid_day()
    ids = servers(rt)
    await attempt(rt, now, ids["a"], MessageStatus.QUEUED)
    await attempt(rt, now + timedelta(seconds=1), ids["b"], MessageStatus.SENT)
    # b sent all 4; the 4 earlier attempts on a are known only as "elsewhere".
    assert used(rt, now + timedelta(seconds=2)) == {"a": 4, "b": 8, "c": 4}
