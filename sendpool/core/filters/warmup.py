"""Warm-up filter: burst sends skip warming servers; low-volume sends prefer them."""

from __future__ import annotations

from collections.abc import Sequence

from sendpool.core.filters import FilterResult, SkipCode, skip
from sendpool.core.servers import DispatchContext, SendClass, ServerView


def warmup_filter(servers: Sequence[ServerView], ctx: DispatchContext) -> FilterResult:
    """Runs after the quota filter, so every warming server seen here still has room."""
    warming = [s for s in servers if s.is_warming(ctx.now)]
    if not warming:
        return FilterResult(tuple(servers))
    if ctx.send_class is SendClass.BURST:
        kept = tuple(s for s in servers if not s.is_warming(ctx.now))
        skipped = tuple(
            skip(s, SkipCode.WARMING_BURST, "warming: skipped for burst send") for s in warming
        )
        return FilterResult(kept, skipped)
    others = tuple(
        skip(s, SkipCode.PREFER_WARMING, "low-volume send: warming servers with room go first")
        for s in servers
        if not s.is_warming(ctx.now)
    )
    return FilterResult(tuple(warming), others)
