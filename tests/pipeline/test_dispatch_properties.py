"""Properties of the dispatcher the workers use, over random pools and batches."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendpool.core.quota import Denial, Grant
from sendpool.core.servers import SendClass, ServerView
from sendpool.core.warmup import WarmupSchedule
from sendpool.pipeline.dispatch import Dispatcher
from sendpool.store.ledger_memory import MemoryLedger
from tests.support.dispatch_helpers import NOW, job, pool_state

CLASSES = st.sampled_from([SendClass.LOW_VOLUME, SendClass.BURST])


@st.composite
def servers(draw: st.DrawFn, max_servers: int = 5) -> list[ServerView]:
    n = draw(st.integers(1, max_servers))
    out = []
    for i in range(1, n + 1):
        warm = draw(st.booleans())
        out.append(
            ServerView(
                id=i,
                name=f"s{i}",
                enabled=draw(st.booleans()) or i == 1,
                sending_limit=draw(st.integers(0, 60)),
                hourly_limit=draw(st.none() | st.integers(0, 40)),
                warmup=WarmupSchedule(draw(st.integers(0, 30)), 50.0, 1000, date(2026, 11, 27))
                if warm
                else None,
            )
        )
    return out


async def dispatch_all(
    pool_servers: list[ServerView],
    plans: dict[int, list[int]],
    batches: list[tuple[int, SendClass, int]],
    workers: int = 1,
) -> tuple[list[tuple[int, int, SendClass, int]], int, int, set[SendClass]]:
    """Dispatch every batch with ``workers`` dispatchers racing on one ledger."""
    ledger = MemoryLedger()
    state = pool_state(pool_servers, plans)
    dispatchers = [Dispatcher(ledger) for _ in range(workers)]
    picks: list[tuple[int, int, SendClass, int]] = []
    waiting = 0
    total = 0
    waited: set[SendClass] = set()

    async def one(k: int, plan: int, cls: SendClass, size: int) -> None:
        nonlocal waiting, total
        jobs = [job(plan, cls) for _ in range(size)]
        total += size
        out = await dispatchers[k % workers].assign(jobs, state, NOW)
        for j in out.ready:
            assert j.server is not None
            picks.append((j.row.id, j.server.id, cls, plan))
        waiting += len(out.waiting)
        waited.update(w.job.send_class for w in out.waiting)

    await asyncio.gather(*(one(k, p, c, n) for k, (p, c, n) in enumerate(batches)))
    return picks, waiting, total, waited


BATCHES = st.lists(st.tuples(st.just(1), CLASSES, st.integers(1, 40)), min_size=1, max_size=8)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(pool=servers(), batches=BATCHES, workers=st.integers(1, 3))
def test_caps_are_never_exceeded_and_nothing_is_lost(
    pool: list[ServerView], batches: list[tuple[int, SendClass, int]], workers: int
) -> None:
    plans = {1: [s.id for s in pool]}
    picks, waiting, total, _ = asyncio.run(dispatch_all(pool, plans, batches, workers))
    assert len(picks) + waiting == total
    used = Counter(server for _, server, _, _ in picks)
    for s in pool:
        caps = s.caps(NOW)
        assert used[s.id] <= caps.daily
        if caps.hourly is not None:
            assert used[s.id] <= caps.hourly
        if not s.enabled:
            assert used[s.id] == 0


@settings(max_examples=150, deadline=None)
@given(pool=servers(), batches=BATCHES)
def test_a_message_waits_only_when_no_eligible_server_has_room(
    pool: list[ServerView], batches: list[tuple[int, SendClass, int]]
) -> None:
    plans = {1: [s.id for s in pool]}
    picks, _, _, waited = asyncio.run(dispatch_all(pool, plans, batches))
    used = Counter(server for _, server, _, _ in picks)
    for s in pool:
        if not waited or not s.enabled or s.sending_limit == 0:
            continue
        if waited == {SendClass.BURST} and s.is_warming(NOW):
            continue  # burst sends may not use it, so its room does not count
        caps = s.caps(NOW)
        full = used[s.id] >= caps.daily or (caps.hourly is not None and used[s.id] >= caps.hourly)
        assert full, f"{s.name} had room while messages waited"


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(2, 6),
    sizes=st.lists(st.integers(1, 97), min_size=1, max_size=12),
    workers=st.integers(1, 4),
)
def test_equal_servers_never_differ_by_more_than_one(
    n: int, sizes: list[int], workers: int
) -> None:
    pool = [ServerView(id=i, name=f"s{i}", sending_limit=100_000) for i in range(1, n + 1)]
    batches = [(1, SendClass.BURST, size) for size in sizes]
    picks, waiting, total, _ = asyncio.run(
        dispatch_all(pool, {1: list(range(1, n + 1))}, batches, workers)
    )
    assert waiting == 0 and len(picks) == total
    counts = Counter(server for _, server, _, _ in picks)
    assert max(counts.values()) - min(counts[s.id] for s in pool) <= 1


@settings(max_examples=150, deadline=None)
@given(pool=servers(), batches=BATCHES)
def test_burst_sends_never_go_to_warming_servers(
    pool: list[ServerView], batches: list[tuple[int, SendClass, int]]
) -> None:
    picks, _, _, _ = asyncio.run(dispatch_all(pool, {1: [s.id for s in pool]}, batches))
    warming = {s.id for s in pool if s.is_warming(NOW)}
    assert not [p for p in picks if p[2] is SendClass.BURST and p[1] in warming]


@settings(max_examples=150, deadline=None)
@given(
    pool=servers(max_servers=6),
    membership=st.lists(st.sets(st.integers(1, 6), max_size=6), min_size=1, max_size=3),
    batches=st.lists(st.tuples(st.integers(1, 3), CLASSES, st.integers(1, 30)), max_size=8),
)
def test_a_plan_never_uses_a_server_not_attached_to_it(
    pool: list[ServerView], membership: list[set[int]], batches: list[tuple[int, SendClass, int]]
) -> None:
    ids = {s.id for s in pool}
    plans = {p: sorted(m & ids) for p, m in enumerate(membership, start=1)}
    batches = [(p, c, n) for p, c, n in batches if p in plans]
    picks, waiting, total, _ = asyncio.run(dispatch_all(pool, plans, batches, workers=2))
    assert len(picks) + waiting == total
    for _, server, _, plan in picks:
        assert server in plans[plan]


def test_a_message_without_a_plan_waits_with_a_reason() -> None:
    state = pool_state([ServerView(id=1, name="s1", sending_limit=10)], {1: [1]})
    out = asyncio.run(Dispatcher(MemoryLedger()).assign([job(None), job(7)], state, NOW))
    assert not out.ready and len(out.waiting) == 2
    assert "no plan" in out.waiting[0].reason


class _DownLedger(MemoryLedger):
    async def reserve(self, *args: object, **kwargs: object) -> Grant:
        return Grant(0, Denial.UNAVAILABLE, 0.5)


def test_an_unavailable_ledger_makes_the_whole_batch_wait() -> None:
    pool = [ServerView(id=i, name=f"s{i}", sending_limit=100) for i in (1, 2, 3)]
    state = pool_state(pool, {1: [1, 2, 3]})
    out = asyncio.run(Dispatcher(_DownLedger()).assign([job(1) for _ in range(9)], state, NOW))
    assert not out.ready and len(out.waiting) == 9
    assert {w.reason for w in out.waiting} == {"waiting: the quota ledger is unavailable"}
    assert {(w.until - NOW).total_seconds() for w in out.waiting} == {0.5}


def test_rate_limited_jobs_come_back_at_the_pace_the_servers_can_take() -> None:
    # Two servers at 10/s and 30/s: whatever they cannot take now waits in a queue
    # that drains at 40 a second, rather than all returning at the same instant.
    pool = [
        ServerView(id=1, name="s1", sending_limit=1000, rate_per_second=10.0),
        ServerView(id=2, name="s2", sending_limit=1000, rate_per_second=30.0),
    ]
    state = pool_state(pool, {1: [1, 2]})
    out = asyncio.run(Dispatcher(MemoryLedger()).assign([job(1) for _ in range(100)], state, NOW))
    assert out.ready and len(out.ready) + len(out.waiting) == 100
    untils = [w.until for w in out.waiting]
    assert untils == sorted(untils) and untils[0] > NOW
    gaps = {round((b - a).total_seconds(), 6) for a, b in zip(untils, untils[1:], strict=False)}
    assert gaps == {0.025}
    assert all("rate" in w.reason for w in out.waiting)
