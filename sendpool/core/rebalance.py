"""The daily rebalancing policy: a server's last-24-hour bounce rate moves its sending limit.

Below ``raise_below`` the limit grows by ``raise_by``; above ``cut_above`` it
shrinks by ``cut_by``; in between, or with too little mail to judge, it stays.
Pure: the caller gathers the numbers and writes the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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

    def __post_init__(self) -> None:
        if not 0 <= self.raise_below <= self.cut_above <= 1:
            raise ValueError("need 0 <= raise_below <= cut_above <= 1")
        if self.raise_by < 0 or not 0 <= self.cut_by < 1:
            raise ValueError("need raise_by >= 0 and 0 <= cut_by < 1")
        if self.min_sent < 0:
            raise ValueError("min_sent must not be negative")


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
