"""The dispatcher: narrow the pool for one send, then hand the survivors to rotation.

Plan -> SMTPUTF8 -> status/health -> quota -> warm-up, in that order
(docs/design.md §1.2). The result keeps every reason a server was left out,
and, when nothing is left, the earliest time something may come back, so a
message waits instead of failing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sendpool.core.filters import Skip
from sendpool.core.filters.health import health_filter
from sendpool.core.filters.plan import plan_filter
from sendpool.core.filters.quota import quota_filter
from sendpool.core.filters.smtputf8 import smtputf8_filter
from sendpool.core.filters.warmup import warmup_filter
from sendpool.core.servers import DispatchContext, ServerView


@dataclass(frozen=True, slots=True)
class Selection:
    """Candidates in their stable rotation order, and why the others were left out."""

    candidates: tuple[ServerView, ...]
    skipped: tuple[Skip, ...]
    retry_at: datetime | None

    @property
    def empty(self) -> bool:
        return not self.candidates

    def explain(self) -> str:
        """One line for a message that has to wait: why nothing could take it."""
        if not self.skipped:
            return "no sending server is attached to this plan"
        return "; ".join(f"{s.server_name}: {s.reason}" for s in self.skipped)


def select(
    servers: Sequence[ServerView],
    plan_server_ids: Collection[int],
    ctx: DispatchContext,
) -> Selection:
    """Every filter sees only what the one before it kept."""
    stage = plan_filter(servers, plan_server_ids)
    skipped: list[Skip] = list(stage.skipped)
    # SMTPUTF8 first: a server that cannot take the message at all is no candidate,
    # and the warm-up preference must choose among the servers that can.
    for step in (smtputf8_filter, health_filter, quota_filter, warmup_filter):
        stage = step(stage.kept, ctx)
        skipped.extend(stage.skipped)
    candidates = tuple(sorted(stage.kept, key=lambda s: s.id))
    retry_at = None
    if not candidates:
        times = [s.until for s in skipped if s.until is not None and s.until > ctx.now]
        retry_at = min(times) if times else None
    return Selection(candidates, tuple(skipped), retry_at)
