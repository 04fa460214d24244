"""The dispatcher and hand-over with per server x provider group limits.

A server's rate to a group is spent for that group's mail only, with the reason
"gmail: rate 2/s reached" and a wait until the next slot, spread at the group's
pace; an engaged back-off scales that rate; a group's connections are slots of
their own on each worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from datetime import timedelta

from sendpool.core.backoff import BackoffState
from sendpool.core.providers import GroupLimits, ProviderGroup
from sendpool.core.servers import ServerView
from sendpool.pipeline.dispatch import Dispatcher
from sendpool.pipeline.handover import Handover
from sendpool.pipeline.pool import PoolCache, PoolState
from sendpool.pipeline.prepare import Job
from sendpool.store.ledger_memory import MemoryLedger
from sendpool.store.records import PoolRows
from tests.support.dispatch_helpers import NOW, job, pool_state
from tests.support.pool_rows import pool_rows, server_row


def limited(
    state: PoolState, limits: dict[tuple[int, str], GroupLimits], **rows: object
) -> PoolState:
    new = dataclasses.replace(state.rows, provider_limits=limits, **rows)  # type: ignore[arg-type]
    return PoolState(new, state.views, state.specs)


def jobs(n: int, group: str | None) -> list[Job]:
    out = [job(1) for _ in range(n)]
    for j in out:
        j.group = group
    return out


def two_servers() -> PoolState:
    pool = [ServerView(id=i, name=f"s{i}", sending_limit=1000) for i in (1, 2)]
    return pool_state(pool, {1: [1, 2]})


def test_a_spent_group_rate_holds_that_group_only_with_its_reason_and_pace() -> None:
    state = limited(
        two_servers(),
        {(1, "gmail"): GroupLimits(2.0, 2), (2, "gmail"): GroupLimits(4.0, 4)},
    )
    batch = jobs(10, "gmail") + jobs(10, None)
    out = asyncio.run(Dispatcher(MemoryLedger()).assign(batch, state, NOW))
    ready = [j for j in out.ready if j.group == "gmail"]
    assert len(ready) == 6 and len([j for j in out.ready if j.group is None]) == 10
    assert {j.server.id for j in ready if j.server} == {1, 2}
    reasons = {w.reason for w in out.waiting}
    assert reasons == {"waiting: s1: gmail: rate 2/s reached; s2: gmail: rate 4/s reached"}
    untils = [w.until for w in out.waiting]
    assert untils[0] > NOW
    gaps = {round((b - a).total_seconds(), 4) for a, b in zip(untils, untils[1:], strict=False)}
    assert gaps == {round(1 / 6, 4)}  # the two servers take gmail at 6 a second together


def test_a_back_off_scales_the_group_rate_and_its_burst() -> None:
    hold = NOW + timedelta(minutes=30)
    backoff = BackoffState(1, "gmail", 0.5, NOW, hold, 0.1, timedelta(minutes=5), None, "r", "x")
    pool = [ServerView(id=1, name="s1", sending_limit=1000)]
    state = limited(
        pool_state(pool, {1: [1]}),
        {(1, "gmail"): GroupLimits(4.0, 4)},
        backoffs={(1, "gmail"): backoff},
    )
    out = asyncio.run(Dispatcher(MemoryLedger()).assign(jobs(6, "gmail"), state, NOW))
    assert len(out.ready) == 2
    assert all(w.reason.startswith("waiting: s1: gmail: rate 2/s reached") for w in out.waiting)


def test_a_back_off_limits_a_group_without_a_configured_rate() -> None:
    hold = NOW + timedelta(minutes=30)
    backoff = BackoffState(1, "yahoo", 0.5, NOW, hold, 0.1, timedelta(minutes=5), 8.0, "r", "x")
    pool = [ServerView(id=1, name="s1", sending_limit=1000)]
    state = limited(pool_state(pool, {1: [1]}), {}, backoffs={(1, "yahoo"): backoff})
    out = asyncio.run(Dispatcher(MemoryLedger()).assign(jobs(10, "yahoo"), state, NOW))
    assert len(out.ready) == 1  # half of the 8/s it was sending at, one at a time
    times = [w.until for w in out.waiting]
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {0.25} and "yahoo: rate 4/s reached" in out.waiting[0].reason


def test_the_pool_gives_each_domain_its_group() -> None:
    class Mx:
        asked: list[str] = []

        def hosts(self, domain: str) -> tuple[str, ...] | None:
            self.asked.append(domain)
            return {"hosted.example": ("aspmx.l.google.com",)}.get(domain)

    rows = dataclasses.replace(
        two_servers().rows, provider_groups=(ProviderGroup("corp", frozenset({"corp.example"})),)
    )
    mx = Mx()
    state = PoolState(rows, {}, {}, mx)
    assert [state.group_of(d) for d in ("gmail.com", "corp.example", "hosted.example")] == [
        "gmail",
        "corp",
        "gmail",
    ]
    assert state.group_of("unknown.example") is None
    assert mx.asked == ["hosted.example", "unknown.example"]  # never for a domain by name
    assert PoolState(rows, {}, {}).group_of("hosted.example") is None  # MX lookups off


class _Catalog:
    def __init__(self, rows: PoolRows) -> None:
        self.rows = rows

    async def pool(self, now: object) -> PoolRows:
        return self.rows


async def test_a_group_connection_limit_is_a_slot_per_server_and_group() -> None:
    rows = dataclasses.replace(
        pool_rows([server_row(1, "s1")], {1: [1]}),
        provider_limits={(1, "gmail"): GroupLimits(max_connections=1)},
    )
    cache = PoolCache(_Catalog(rows))  # type: ignore[arg-type]
    state = await cache.get(NOW)

    async def mark(ids: object, at: object) -> None:
        return None

    handover = Handover(cache, mark, clock=lambda: NOW, lease_seconds=60)
    gmail, other, later = jobs(1, "gmail") + jobs(1, None) + jobs(1, "gmail")
    for j in (gmail, other, later):
        j.server = state.views[1]
    assert await handover.enter(gmail, 4) is None
    assert await handover.enter(other, 4) is None  # another group is not held up
    waiting = asyncio.ensure_future(handover.enter(later, 4))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # gmail's one connection is taken
    handover.leave(gmail)
    assert await asyncio.wait_for(waiting, 1.0) is None
    handover.leave(later)
    handover.leave(other)
    # A job sent back while waiting gives its group slot back.
    handover.close()
    assert await handover.enter(gmail, 4) == "the worker is stopping"
    assert not handover._group_held
