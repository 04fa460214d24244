"""Four `sendpool worker` processes on PostgreSQL and Redis share one pool with daily caps."""

from __future__ import annotations

import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from sendpool.core.windows import day_window
from sendpool.runtime import Runtime
from sendpool.store.tables import Message
from tests.support.live_process import free_port
from tests.support.scenario import make_campaign, pool_of_sinks
from tests.support.threaded_sink import threaded_sinks
from tests.support.workers import (
    make_ledger_whole,
    noon_zone,
    wait_until_settled,
    worker_env,
    workers,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

N = 6000
CAPS = [1500, 1500, 600]


@pytest.fixture
def backend() -> str:
    return "postgresql+redis"


def test_four_workers_fill_each_cap_exactly_and_queue_the_rest(
    runtime: Runtime, tmp_path: Path
) -> None:
    tz = noon_zone(datetime.now(UTC))
    metrics_port = free_port()
    with threaded_sinks(3) as sinks:
        pool_of_sinks(runtime, sinks, limits=CAPS, timezone=tz)
        _, uid = make_campaign(runtime, N)
        make_ledger_whole(runtime)
        env = worker_env(runtime.settings)
        with workers(env, tmp_path) as pool:
            pool.start(1, "--metrics-port", str(metrics_port))
            pool.start(3)
            report = wait_until_settled(runtime, uid, pool, timeout=300)
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as r:
                metrics = r.read().decode()
        counts = [s.count for s in sinks]
        ids: Counter[str] = Counter()
        for s in sinks:
            ids.update(s.handler.message_ids)

    # Each cap is exact, at the sinks and in the log.
    assert counts == CAPS
    assert report.by_server == {s.name: cap for s, cap in zip(sinks, CAPS, strict=True)}
    # Nothing lost, nothing doubled: one delivery per Message-ID, each one logged as sent.
    assert len(ids) == sum(CAPS) and set(ids.values()) == {1}
    rows = runtime.db.transaction(
        lambda c: c.execute(
            select(Message.status, Message.message_id, Message.due_at, Message.last_error)
        ).all()
    )
    assert {r.message_id for r in rows if r.status == "sent"} == set(ids)
    # The rest wait for tomorrow's window, with the reason; none failed.
    assert report.by_status == {"sent": sum(CAPS), "queued": N - sum(CAPS)}
    assert report.waiting == N - sum(CAPS)
    tomorrow = day_window(datetime.now(UTC), tz).end
    waiting = [r for r in rows if r.status == "queued"]
    assert {r.due_at for r in waiting} == {tomorrow}
    for r in waiting:
        assert r.last_error.startswith("waiting: ")
        assert all(
            f"{s.name}: daily cap {cap}/{cap} used" in r.last_error
            for s, cap in zip(sinks, CAPS, strict=True)
        )
    # The equal servers came out equal.
    assert abs(counts[0] - counts[1]) <= 0.01 * counts[0]
    # Write-backs took their row locks in one order: PostgreSQL never had to break a deadlock.
    deadlocks = runtime.db.transaction(
        lambda c: c.execute(
            text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()
    )
    assert deadlocks == 0
    # Every process reports what it sent; this one is one of four.
    assert "sendpool_messages_total{" in metrics, metrics[-2000:]
