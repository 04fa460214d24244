"""Adaptive back-off: how much of a server's rate to a provider group it may use now.

A provider that answers "421 4.7.28 ... unusual rate" is asking the sender to go
slower; pushing on gets the IP blocked. An engaged back-off scales that server's
rate to that group by a factor (0.5: half), holds it there, then gives the rate
back in steps until the factor is 1.0 again and the back-off is over. The rules
that engage one live in ``core.backoff_rules``; this module is the arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# Halving again and again never goes below this share of the rate: a provider that
# still defers at 1/64 of the rate is better met by its own 4xx retries than by a
# rate so low that the queue never drains.
MIN_FACTOR = 1 / 64
# A group sending with no configured rate and no sends counted yet still needs a
# number to halve: one message a second is the most careful rate that drains.
FALLBACK_BASE_RATE = 1.0
# The rate a group was "actually sending at" is read over the last few minutes of
# sends, and over at least one whole minute, so a burst of seconds is not taken
# for a sustained rate.
RATE_WINDOW = timedelta(minutes=5)
_MINUTE = timedelta(minutes=1)
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class BackoffState:
    """An engaged back-off on one server x provider group.

    ``factor`` is the share of the rate allowed from ``engaged_at`` (or the last
    deepening) until ``hold_until``; after that it grows by ``recover_step``
    (points of the full rate: 0.1 is 10 %) every ``recover_every`` until 1.0.
    ``base_rate`` is the rate to scale when the server x group has none
    configured: the rate it was actually sending at when the back-off engaged.
    """

    server_id: int
    group: str
    factor: float
    engaged_at: datetime
    hold_until: datetime
    recover_step: float
    recover_every: timedelta
    base_rate: float | None
    rule: str
    reason: str
    changed_at: datetime | None = None  # its last deepening; None: not deepened since engaged

    @property
    def last_change(self) -> datetime:
        return self.engaged_at if self.changed_at is None else self.changed_at


def factor_at(state: BackoffState, now: datetime) -> float:
    """The share of the rate allowed at ``now``: held, then recovering, at most 1.0."""
    if now < state.hold_until:
        return state.factor
    steps = math.floor((now - state.hold_until) / state.recover_every + _EPSILON)
    return min(1.0, round(state.factor + steps * state.recover_step, 9))


def recovered_at(state: BackoffState) -> datetime:
    """When the factor reaches 1.0 and the back-off is over."""
    steps = max(0, math.ceil((1.0 - state.factor) / state.recover_step - _EPSILON))
    return state.hold_until + steps * state.recover_every


def is_over(state: BackoffState, now: datetime) -> bool:
    return factor_at(state, now) >= 1.0


def scaled_rate(rate: float | None, state: BackoffState | None, now: datetime) -> float | None:
    """The effective per-second rate of a server x group under its back-off, if any.

    ``rate`` is the configured one (None: no limit). With no back-off, or once it
    has recovered, the configured rate stands as it is, so an unlimited group is
    unlimited again when its back-off ends.
    """
    if state is None:
        return rate
    factor = factor_at(state, now)
    if factor >= 1.0:
        return rate
    base = rate if rate is not None else state.base_rate
    if base is None:
        base = FALLBACK_BASE_RATE
    return base * factor


def deepen(
    state: BackoffState,
    *,
    now: datetime,
    factor: float,
    hold: timedelta,
    rule: str,
    reason: str,
    floor: float = MIN_FACTOR,
) -> BackoffState:
    """The same back-off engaged again while active: scale what is allowed now by
    ``factor`` once more (never below ``floor``) and hold at least until now + hold."""
    return replace(
        state,
        factor=max(floor, round(factor_at(state, now) * factor, 9)),
        hold_until=max(state.hold_until, now + hold),
        rule=rule,
        reason=reason,
        changed_at=now,
    )


def note(state: BackoffState, now: datetime) -> str:
    """What a waiting message's reason says of the back-off: "backed off to 50 % by gmail-4.7.28"."""
    return f"backed off to {factor_at(state, now):.0%} by {state.rule}"


def observed_rate(sent_per_minute: Mapping[datetime, int], now: datetime) -> float | None:
    """Messages a second over the recent minutes' counts (keyed by minute start); None: none sent."""
    recent = {m: n for m, n in sent_per_minute.items() if m > now - RATE_WINDOW and n > 0}
    if not recent:
        return None
    span = max(now - min(recent), _MINUTE)
    return sum(recent.values()) / span.total_seconds()
