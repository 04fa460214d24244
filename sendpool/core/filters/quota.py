"""Quota filter: a server whose day or hour window is used up waits for the next window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sendpool.core.filters import FilterResult, Skip, SkipCode, skip
from sendpool.core.servers import DispatchContext, ServerView, Usage
from sendpool.core.windows import format_reset


def cap_skip(server: ServerView, used: Usage, now: datetime, *, hourly: bool = False) -> Skip:
    """The reason a full window gives, in the same words wherever it is found full."""
    caps = server.caps(now)
    w = server.windows(now)
    if hourly:
        reason = (
            f"hourly cap {used.hour_used}/{caps.hourly} used, "
            f"resets {format_reset(w.hour.end, server.timezone)}"
        )
        return skip(server, SkipCode.HOURLY_CAP, reason, w.hour.end)
    code = SkipCode.WARMUP_CAP if caps.daily_from_warmup else SkipCode.DAILY_CAP
    label = "warm-up cap" if caps.daily_from_warmup else "daily cap"
    reason = (
        f"{label} {used.day_used}/{caps.daily} used, "
        f"resets {format_reset(w.day.end, server.timezone)}"
    )
    return skip(server, code, reason, w.day.end)


def quota_filter(servers: Sequence[ServerView], ctx: DispatchContext) -> FilterResult:
    kept: list[ServerView] = []
    skipped: list[Skip] = []
    for s in servers:
        caps = s.caps(ctx.now)
        used = ctx.usage_of(s.id)
        if s.sending_limit <= 0:
            skipped.append(skip(s, SkipCode.ZERO_LIMIT, "sending limit is 0: sends nothing"))
        elif used.day_used >= caps.daily:
            skipped.append(cap_skip(s, used, ctx.now))
        elif caps.hourly is not None and used.hour_used >= caps.hourly:
            skipped.append(cap_skip(s, used, ctx.now, hourly=True))
        else:
            kept.append(s)
    return FilterResult(tuple(kept), tuple(skipped))
