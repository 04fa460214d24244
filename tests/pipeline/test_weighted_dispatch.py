"""Weights and warm-up shares through the real dispatcher and its ledger's shared cursor."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from sendpool.core.servers import ServerView
from sendpool.core.warmup_share import ShareWarmup
from sendpool.pipeline.dispatch import Dispatcher
from sendpool.pipeline.pool import PoolState
from sendpool.store.ledger_memory import MemoryLedger
from tests.support.dispatch_helpers import NOW, job, pool_state

A, B = (ServerView(id=i, name=f"s{i}", sending_limit=100_000) for i in (1, 2))


def plan(servers: list[ServerView], selector: str, weights: dict[int, int]) -> PoolState:
    state = pool_state(servers, {1: [1, 2]})
    rows = dataclasses.replace(state.rows, plan_selector={1: selector}, plan_weights={1: weights})
    return PoolState(rows, state.views, {})


async def split(state: PoolState, batches: int = 10, size: int = 100) -> Counter[int]:
    ledger, got = MemoryLedger(), Counter[int]()
    for _ in range(batches):
        out = await Dispatcher(ledger).assign([job(1) for _ in range(size)], state, NOW)
        got.update(j.server.id for j in out.ready if j.server is not None)
    return got


async def test_a_70_30_plan_deals_exactly_700_300() -> None:
    assert await split(plan([A, B], "smooth_weighted", {1: 70, 2: 30})) == {1: 700, 2: 300}


@pytest.mark.parametrize("selector", ["round_robin", "smooth_weighted"])
async def test_a_server_warming_by_share_gets_its_percent(selector: str) -> None:
    share = ShareWarmup(percent_per_day=0, started_on=NOW.date(), start_percent=20)
    warming = dataclasses.replace(B, warmup_share=share)
    got = await split(plan([A, warming], selector, {}))
    assert got == {1: 800, 2: 200}


async def test_a_round_robin_plan_without_warming_deals_as_ever() -> None:
    assert await split(plan([A, B], "round_robin", {1: 70, 2: 30})) == {1: 500, 2: 500}
