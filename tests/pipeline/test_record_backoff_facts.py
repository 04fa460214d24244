"""The recorder hands adaptive back-off its facts: 4xx replies by provider group, sends per group."""

from __future__ import annotations

import random

from sendpool.core.backoff_rules import Deferral
from sendpool.core.outcomes import Outcome, OutcomeKind, Stage, accepted
from sendpool.core.retry import RetryPolicy
from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.prepare import Job
from sendpool.pipeline.record import OutcomeRecorder
from sendpool.store.records import RecordBatch
from tests.support.dispatch_helpers import NOW, job
from tests.support.pool_rows import MemoryCatalog, pool_rows, server_row

RETRY = RetryPolicy(base_seconds=60, max_delay_seconds=3600, max_age_seconds=86400)
RATE = "Our system has detected an unusual rate of unsolicited mail"


async def setup() -> tuple[OutcomeRecorder, PoolCache]:
    pool = PoolCache(MemoryCatalog(pool_rows([server_row(7, "relay-a")], {1: [7]})))
    recorder = OutcomeRecorder(pool, retry=RETRY, health_interval=300, rng=random.Random(1))
    return recorder, pool


async def to(pool: PoolCache, i: int, group: str | None) -> Job:
    state = await pool.get(NOW)
    j = job(i)
    j.group = group
    j.server, j.windows = state.views[7], state.views[7].windows(NOW)
    return j


async def test_deferrals_and_sends_of_a_group_are_collected() -> None:
    recorder, pool = await setup()
    deferred = Outcome(OutcomeKind.TRANSIENT, Stage.RCPT, 421, "4.7.28", RATE)
    refused = Outcome(OutcomeKind.PERMANENT, Stage.RCPT, 550, "5.1.1", "no such user")
    recorder.outcome(await to(pool, 1, "gmail"), deferred, NOW)
    recorder.outcome(await to(pool, 2, "gmail"), accepted("r2"), NOW)
    recorder.outcome(await to(pool, 3, "gmail"), accepted("r3"), NOW)
    recorder.outcome(await to(pool, 4, "gmail"), refused, NOW)  # not a deferral
    recorder.outcome(await to(pool, 5, None), deferred, NOW)  # no group: no rule to judge it
    recorder.outcome(await to(pool, 6, None), accepted("r6"), NOW)
    batch, _ = recorder.take()
    assert batch.deferrals == [Deferral(7, "gmail", 421, "4.7.28", RATE, NOW)]
    assert batch.group_sent == {(7, "gmail"): 2}


async def test_a_batch_that_could_not_be_written_keeps_its_facts() -> None:
    recorder, pool = await setup()
    recorder.outcome(await to(pool, 1, "gmail"), accepted("r1"), NOW)
    failed, _ = recorder.take()
    recorder.outcome(await to(pool, 2, "gmail"), accepted("r2"), NOW)
    recorder.restore(failed)
    batch, _ = recorder.take()
    assert batch.group_sent == {(7, "gmail"): 2}


def test_facts_alone_make_a_batch_worth_writing() -> None:
    assert RecordBatch(group_sent={(7, "gmail"): 1})
    assert RecordBatch(deferrals=[Deferral(7, "gmail", 421, None, "", NOW)])
    assert not RecordBatch()
