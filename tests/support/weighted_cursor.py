"""Workers dealing a smooth weighted plan through a real ledger's shared cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hypothesis import strategies as st

from sendpool.core.selectors import DealItem, DealRequest
from sendpool.core.selectors.smooth_weighted import SmoothWeighted
from sendpool.core.servers import ServerView
from sendpool.pipeline.ports import QuotaLedger

WEIGHTS = st.lists(st.integers(1, 1000), min_size=1, max_size=8)
# Per worker (1 to 8 of them), the sizes of the blocks it takes in turn.
WORKERS = st.lists(st.lists(st.integers(1, 40), min_size=1, max_size=6), min_size=1, max_size=8)


async def deal_through(
    ledger: QuotaLedger, plan_id: int, weights: Sequence[int], workers: Sequence[Sequence[int]]
) -> list[int]:
    """Every worker at once: advance the plan's cursor, deal its block; the sequence by position."""
    servers = [ServerView(i + 1, f"s{i}") for i in range(len(weights))]
    named = {s.id: w for s, w in zip(servers, weights, strict=True)}
    by_position: dict[int, int] = {}

    async def worker(blocks: Sequence[int]) -> None:
        for size in blocks:
            start = await ledger.advance_cursor(plan_id, size)
            request = DealRequest(start, [DealItem("example.com")] * size, named)
            for k, s in enumerate(SmoothWeighted().deal(servers, request)):
                assert start + k not in by_position  # the cursor never hands a position twice
                by_position[start + k] = s.id - 1
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(b) for b in workers))
    total = sum(sum(b) for b in workers)
    return [by_position[k] for k in range(total)]  # KeyError: a position was skipped


def within_one(weights: Sequence[int], dealt: Sequence[int]) -> bool:
    """|count_i(k) - k * w_i / W| <= 1 for every prefix k, in integers."""
    total = sum(weights)
    counts = [0] * len(weights)
    for k, i in enumerate(dealt, 1):
        counts[i] += 1
        if any(abs(c * total - k * w) > total for c, w in zip(counts, weights, strict=True)):
            return False
    return True
