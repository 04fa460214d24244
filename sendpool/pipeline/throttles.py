"""A server's limits to a provider group, as the dispatcher reserves them (docs/design.md §1.9).

The rate is the configured one (core/providers.py ``GroupLimits``), scaled by an
engaged back-off (core/backoff.py ``scaled_rate``), reserved beside the
server's own rate in the same ledger call, so however many workers reserve,
a server x group never goes past it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sendpool.core.backoff import is_over, note, scaled_rate
from sendpool.core.filters import Skip, SkipCode
from sendpool.core.providers import effective_burst
from sendpool.core.ratelimit import Throttle
from sendpool.core.servers import ServerView
from sendpool.pipeline.pool import PoolState

__all__ = ["Throttle", "group_pace", "group_rate_skip", "throttle_for"]


def throttle_for(
    pool: PoolState, server_id: int, group: str | None, now: datetime
) -> Throttle | None:
    """The server's rate to ``group`` now, or None when nothing limits it."""
    if group is None:
        return None
    limits = pool.group_limits(server_id, group)
    configured = limits.rate_per_second if limits is not None else None
    backoff = pool.rows.backoffs.get((server_id, group))
    rate = scaled_rate(configured, backoff, now)
    if rate is None:
        return None
    slowed = note(backoff, now) if backoff is not None and not is_over(backoff, now) else None
    return Throttle(group, rate, effective_burst(limits, rate), slowed)


def group_rate_skip(view: ServerView, throttle: Throttle, until: datetime) -> Skip:
    """ "gmail: rate 5/s reached": skipped for this group's mail until its next slot."""
    why = f"{throttle.group}: rate {throttle.rate:g}/s reached"
    if throttle.backoff is not None:
        why += f" ({throttle.backoff})"  # "backed off to 50% by gmail-4.7.28"
    return Skip(view.id, view.name, SkipCode.GROUP_RATE, why, until)


def group_pace(pool: PoolState, skipped: Iterable[Skip], group: str | None, now: datetime) -> float:
    """Sends per second the servers held back only by their rate to ``group`` take together."""
    total = 0.0
    for s in skipped:
        if s.code is SkipCode.GROUP_RATE:
            throttle = throttle_for(pool, s.server_id, group, now)
            total += throttle.rate if throttle is not None else 0.0
    return total
