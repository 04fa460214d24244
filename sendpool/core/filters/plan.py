"""Plan filter: only servers attached to the message's plan are candidates."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sendpool.core.filters import FilterResult
from sendpool.core.servers import ServerView


def plan_filter(servers: Sequence[ServerView], plan_server_ids: Collection[int]) -> FilterResult:
    """Servers outside the plan are not reported as skipped: they were never candidates."""
    allowed = set(plan_server_ids)
    return FilterResult(kept=tuple(s for s in servers if s.id in allowed))
