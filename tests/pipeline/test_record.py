"""The recorder applies the consequence table: the batch it builds and what it tells the pool."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from sendpool.core.outcomes import Outcome, OutcomeKind, Stage, accepted
from sendpool.core.retry import RetryPolicy
from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.prepare import Job
from sendpool.pipeline.record import OutcomeRecorder
from tests.support.dispatch_helpers import NOW, job
from tests.support.pool_rows import MemoryCatalog, pool_rows, server_row

RETRY = RetryPolicy(base_seconds=60, max_delay_seconds=3600, max_age_seconds=86400)


async def setup() -> tuple[OutcomeRecorder, PoolCache, Job]:
    pool = PoolCache(MemoryCatalog(pool_rows([server_row(7, "relay-a")], {1: [7]})))
    state = await pool.get(NOW)
    j = job(1)
    j.server, j.windows = state.views[7], state.views[7].windows(NOW)
    recorder = OutcomeRecorder(pool, retry=RETRY, health_interval=300, rng=random.Random(1))
    return recorder, pool, j


async def test_accepted_message_is_sent_by_its_server() -> None:
    recorder, _pool, j = await setup()
    recorder.outcome(j, accepted("remote-1"), NOW)
    batch, releases = recorder.take()
    (u,) = batch.updates
    assert (u.status, u.server_id, u.attempts, u.sent_at, u.remote_id) == (
        "sent",
        7,
        1,
        NOW,
        "remote-1",
    )
    assert batch.activity == {7: NOW} and not releases
    assert recorder.counters.sent_by_server == {"relay-a": 1}


async def test_server_failure_gives_the_unit_back_and_degrades_the_server_once() -> None:
    recorder, pool, j = await setup()
    refused = Outcome(OutcomeKind.SERVER_FAILURE, Stage.CONNECT, None, None, "refused")
    recorder.outcome(j, refused, NOW)
    recorder.outcome(j, refused, NOW)
    batch, releases = recorder.take()
    assert releases == {(7, j.windows): 2}
    assert [u.status for u in batch.updates] == ["queued", "queued"]
    assert all(u.server_id is None and u.attempts == 0 for u in batch.updates)
    assert len(batch.health) == 1 and batch.health[0].health == "degraded"
    assert not batch.activity  # the server took no part
    assert (await pool.get(NOW)).views[7].degraded


async def test_throttled_server_is_paused_until_the_provider_said() -> None:
    recorder, pool, j = await setup()
    slow = Outcome(OutcomeKind.THROTTLED, Stage.API, 429, None, "slow down", retry_after=20)
    recorder.outcome(j, slow, NOW)
    batch, releases = recorder.take()
    until = NOW + timedelta(seconds=20)
    assert batch.paused == {7: until} and releases == {(7, j.windows): 1}
    assert (await pool.get(NOW)).views[7].paused_until == until
    assert not batch.health


async def test_transient_failure_is_deferred_on_the_same_unit() -> None:
    recorder, _pool, j = await setup()
    recorder.outcome(j, Outcome(OutcomeKind.TRANSIENT, Stage.RCPT, 451, None, "later"), NOW)
    batch, releases = recorder.take()
    (u,) = batch.updates
    assert u.status == "deferred" and u.due_at > NOW and u.attempts == 1
    assert not releases and not batch.suppressions and not batch.events


@pytest.mark.parametrize(
    ("outcome", "suppressed", "event"),
    [
        (
            Outcome(OutcomeKind.PERMANENT, Stage.RCPT, 550, "5.1.1", "no such user"),
            1,
            "hard_bounce",
        ),
        (Outcome(OutcomeKind.PERMANENT, Stage.DATA, 554, "5.6.0", "refused"), 0, "rejected"),
    ],
)
async def test_permanent_failure_is_recorded_against_the_server(
    outcome: Outcome, suppressed: int, event: str
) -> None:
    recorder, _pool, j = await setup()
    recorder.outcome(j, outcome, NOW)
    batch, _ = recorder.take()
    assert [u.status for u in batch.updates] == ["failed"]
    assert len(batch.suppressions) == suppressed
    if suppressed:
        s = batch.suppressions[0]
        assert (s.customer_id, s.email, s.server_id) == (1, j.row.recipient, 7)
    (e,) = batch.events
    assert (e.server_id, e.message_id, e.kind) == (7, j.row.id, event)


async def test_take_starts_a_new_batch() -> None:
    recorder, _pool, j = await setup()
    recorder.outcome(j, accepted(), NOW)
    first, _ = recorder.take()
    second, releases = recorder.take()
    assert first and not second and not releases
