"""Smooth weighted rotation through the Redis ledger's cursor: any workers, one exact sequence."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import HealthCheck, given, settings

from sendpool.store.ledger_redis import Recounted, RedisLedger
from tests.support.services import PrivateRedis
from tests.support.weighted_cursor import WEIGHTS, WORKERS, deal_through, within_one

pytestmark = [pytest.mark.services, pytest.mark.slow]
PLANS = itertools.count(1)  # a fresh cursor for each example


async def no_usage(now: object, reset_at: object) -> Recounted:
    return Recounted({}, {})


async def _deal(url: str, plan_id: int, weights: list[int], workers: list[list[int]]) -> list[int]:
    ledger = RedisLedger.open(url, no_usage, prefix="swrr")
    try:
        return await deal_through(ledger, plan_id, weights, workers)
    finally:
        ledger.close()


@given(weights=WEIGHTS, workers=WORKERS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_redis_cursor_deals_every_prefix_within_one(
    redis_server: PrivateRedis, weights: list[int], workers: list[list[int]]
) -> None:
    dealt = asyncio.run(_deal(redis_server.url, next(PLANS), weights, workers))
    assert within_one(weights, dealt)
