"""The daily rebalancing policy: a server's last-24-hour bounce rate moves its sending limit.

Below ``raise_below`` the limit grows by ``raise_by``; above ``cut_above`` it
shrinks by ``cut_by``; in between, or with too little mail to judge, it stays.
``judge`` adds the care an operator expects around that rule (see its
docstring). Pure: the caller gathers the numbers and writes the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Activity:
    """What one server's sends of the last 24 hours came to, counted by original send time."""

    sent: int = 0
    bounces: int = 0  # hard bounces, and refusals about the server's reputation
    complaints: int = 0

    @property
    def bounce_rate(self) -> float:
        """Bounces per message sent, as a fraction; 0.0 when nothing was sent."""
        return self.bounces / self.sent if self.sent > 0 else 0.0

    @property
    def complaint_rate(self) -> float:
        """Complaints per message sent, as a fraction; 0.0 when nothing was sent."""
        return self.complaints / self.sent if self.sent > 0 else 0.0


@dataclass(frozen=True, slots=True)
class RebalancePolicy:
    raise_below: float = 0.01
    cut_above: float = 0.03
    raise_by: float = 0.10
    cut_by: float = 0.25
    min_sent: int = 1  # fewer sends than this in 24 h: too little to judge, keep
    raise_when_used: float = 0.80  # raised only when the day used this much of its cap

    def __post_init__(self) -> None:
        if not 0 <= self.raise_below <= self.cut_above <= 1:
            raise ValueError("need 0 <= raise_below <= cut_above <= 1")
        if self.raise_by < 0 or not 0 <= self.cut_by < 1:
            raise ValueError("need raise_by >= 0 and 0 <= cut_by < 1")
        if self.min_sent < 0:
            raise ValueError("min_sent must not be negative")
        if not 0 <= self.raise_when_used <= 1:
            raise ValueError("need 0 <= raise_when_used <= 1")


class Action(StrEnum):
    RAISE = "raise"
    CUT = "cut"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    old_limit: int
    new_limit: int
    reason: str


def _scaled(limit: int, factor: float) -> float:
    # Rounded first so 1000 * 1.1 is 1100, not 1100.0000000000002.
    return round(limit * factor, 6)


def decide(
    limit: int, activity: Activity, policy: RebalancePolicy, *, paused: bool = False
) -> Decision:
    """The new sending limit for one server.

    A raise adds at least 1, so small limits grow too; a cut leaves at least 1,
    because a limit of 0 would stop the server for good (0 is never raised).
    A server paused for its bounces or complaints may be cut, never raised:
    whatever paused it is not a reason to give it more once it is resumed.
    """
    rate = activity.bounce_rate
    pct = f"{rate:.2%} bounces ({activity.bounces}/{activity.sent}) in the last 24 h"
    if limit <= 0:
        return Decision(Action.KEEP, limit, limit, "sending_limit is 0: the server sends nothing")
    if activity.sent < max(1, policy.min_sent):
        why = f"only {activity.sent} sent in the last 24 h; too little to judge"
        return Decision(Action.KEEP, limit, limit, why)
    if rate < policy.raise_below:
        if paused:
            return Decision(Action.KEEP, limit, limit, f"{pct}, but paused: never raised")
        new = math.ceil(_scaled(limit, 1 + policy.raise_by))
        if policy.raise_by > 0:
            new = max(limit + 1, new)
        return Decision(Action.RAISE, limit, new, f"{pct}, under {policy.raise_below:.2%}")
    if rate > policy.cut_above:
        new = max(1, math.floor(_scaled(limit, 1 - policy.cut_by)))
        return Decision(Action.CUT, limit, new, f"{pct}, over {policy.cut_above:.2%}")
    return Decision(Action.KEEP, limit, limit, f"{pct}, within the band")


FULL_DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Standing:
    """What ``judge`` needs to know of one server besides its last 24 hours."""

    limit: int
    activity: Activity  # the judged day: its last 24 hours, by original send time
    day_cap: int  # its effective daily cap on the judged day (the warm-up's, while warming)
    first_sent_at: datetime | None  # its oldest recorded send; None: it never sent
    warming: bool = False
    paused: bool = False
    ceiling: int | None = None  # the operator's: never raised past it
    vendor_limit: int | None = None  # what the vendor reports (SES Max24HourSend)


def _keep(limit: int, reason: str) -> Decision:
    return Decision(Action.KEEP, limit, limit, reason)


def judge(s: Standing, policy: RebalancePolicy, now: datetime) -> Decision:
    """``decide``, with care: the verdict for one server, and why, in words.

    A warming server is left to its warm-up. Nothing is judged before a full
    day of sends is on record (a fresh install or server never moves at
    start-up), nor from fewer than ``min_sent`` sends. A raise needs the day
    to have used at least ``raise_when_used`` of its cap: an idle server does
    not grow. No raise goes past the operator's ceiling or the vendor's own
    limit; a cut is never held back.
    """
    if s.limit <= 0:
        return _keep(s.limit, "sending_limit is 0: the server sends nothing")
    if s.warming:
        return _keep(s.limit, f"warming: its warm-up sets its cap ({s.day_cap:,} today)")
    if s.first_sent_at is None:
        return _keep(s.limit, "it has sent nothing yet; a full day of sends is needed")
    if now - s.first_sent_at < FULL_DAY:
        hours = (now - s.first_sent_at).total_seconds() / 3600
        return _keep(s.limit, f"only {hours:.1f} h of sends on record; a full day is needed")
    if s.activity.sent < max(1, policy.min_sent):
        why = f"only {s.activity.sent:,} sent in the last 24 h; {policy.min_sent:,} needed to judge"
        return _keep(s.limit, why)
    d = decide(s.limit, s.activity, policy, paused=s.paused)
    if d.action is not Action.RAISE:
        return d
    used = s.activity.sent / s.day_cap if s.day_cap > 0 else 0.0
    if used < policy.raise_when_used:
        why = (
            f"{d.reason}, but it used {used:.0%} of its cap {s.day_cap:,}; "
            f"raised only from {policy.raise_when_used:.0%}"
        )
        return _keep(s.limit, why)
    bounds = [
        (b, w)
        for b, w in ((s.ceiling, "its ceiling"), (s.vendor_limit, "the vendor's limit"))
        if b is not None
    ]
    if not bounds:
        return d
    bound, what = min(bounds)
    if s.limit >= bound:
        return _keep(s.limit, f"{d.reason}, but already at {what} {bound:,}")
    if d.new_limit > bound:
        return Decision(Action.RAISE, s.limit, bound, f"{d.reason}; held to {what} {bound:,}")
    return d
