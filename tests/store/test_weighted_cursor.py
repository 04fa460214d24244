"""Smooth weighted rotation through the SQL ledger's cursor: any workers, one exact sequence.

Run on SQLite here and on PostgreSQL by tests/scale/test_store_on_postgres.py.
"""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import HealthCheck, given, settings

from sendpool.runtime import Runtime
from sendpool.store.ledger_sql import SqlLedger
from tests.support.weighted_cursor import WEIGHTS, WORKERS, deal_through, within_one

PLANS = itertools.count(1)  # a fresh cursor for each example


@given(weights=WEIGHTS, workers=WORKERS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_sql_cursor_deals_every_prefix_within_one(
    runtime: Runtime, weights: list[int], workers: list[list[int]]
) -> None:
    ledger = SqlLedger(runtime.db)
    dealt = asyncio.run(deal_through(ledger, next(PLANS), weights, workers))
    assert within_one(weights, dealt)
