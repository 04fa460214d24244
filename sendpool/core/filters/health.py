"""Status and health filter: disabled and paused servers never send, degraded ones wait for a check.

A paused server (its bounce or complaint rate crossed a threshold) is reported
with the reason and the figures, so the message log says why it waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sendpool.core.filters import FilterResult, Skip, SkipCode, skip
from sendpool.core.servers import DispatchContext, ServerView

CHECK_GRACE = timedelta(seconds=1)


def health_filter(servers: Sequence[ServerView], ctx: DispatchContext) -> FilterResult:
    now = ctx.now
    kept: list[ServerView] = []
    skipped: list[Skip] = []
    for s in servers:
        if s.paused_reason is not None:
            skipped.append(skip(s, SkipCode.SERVER_PAUSED, f"paused: {s.paused_reason}"))
        elif not s.enabled:
            skipped.append(skip(s, SkipCode.DISABLED, "disabled"))
        elif s.degraded:
            reason = "degraded: waiting for a passing health check"
            # A check that is due (or overdue) may pass any moment: look again soon,
            # rather than waiting as if nothing would ever change.
            until = max(s.next_check_at or now, now + CHECK_GRACE)
            skipped.append(skip(s, SkipCode.DEGRADED, reason, until))
        elif s.paused_until is not None and s.paused_until > now:
            reason = f"at capacity on the provider's side until {s.paused_until:%H:%M:%S} UTC"
            skipped.append(skip(s, SkipCode.PAUSED, reason, s.paused_until))
        else:
            kept.append(s)
    return FilterResult(tuple(kept), tuple(skipped))
