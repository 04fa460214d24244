"""Warm-up by share: a warming server takes a percentage of its plan's sends, growing daily.

A share warm-up starts at ``start_percent`` of the plan's sends (10 by
default) and grows ``percent_per_day`` points a day until it reaches the
share its weight gives it among the candidates; from then on it is warm and
weighs what the plan says. It may go with a daily-cap warm-up
(core/warmup.py): the cap filter still drops the server once today's cap is
used, and while it has room it takes no more than its share.

``deal_weights`` turns the plan's weights and each warming server's percent
into integer weights for the deal: a warming server gets exactly its percent,
the others share the rest by their weights. When every candidate is warming
there is nobody to take the rest, and they share the sends in proportion to
their percents.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

DEFAULT_START_PERCENT = 10
# Past this many steps a period of exact shares is rounded to this many (each share
# within 1/STEPS of exact): a warm-up is a schedule of percent points, and the
# smooth weighted period (core/selectors/smooth_weighted.py) costs one step each.
STEPS = 10_000


@dataclass(frozen=True, slots=True)
class ShareWarmup:
    """``start_percent`` of the plan's sends on ``started_on``, ``percent_per_day`` more each day."""

    percent_per_day: int
    started_on: date
    start_percent: int = DEFAULT_START_PERCENT

    def __post_init__(self) -> None:
        if not 1 <= self.start_percent <= 100:
            raise ValueError("a warm-up share starts between 1 and 100 percent")
        if not 0 <= self.percent_per_day <= 100:
            raise ValueError("a warm-up share grows by 0 to 100 points a day")

    def percent_on(self, day: date, held_days: int = 0) -> int:
        """Its percent of the plan's sends on a local day; days before the start use the start."""
        days = max(0, (day - self.started_on).days - max(0, held_days))
        return min(100, self.start_percent + self.percent_per_day * days)


def _warming(weight: int, total: int, percent: int) -> bool:
    """Below its weight's share of the candidates (``percent`` < 100 * weight / total)."""
    return percent * total < 100 * weight


def deal_weights(
    candidates: Sequence[int], weights: Mapping[int, int], percents: Mapping[int, int]
) -> dict[int, int]:
    """Integer weights for the candidates (ids): the plan's, with warming shares applied.

    ``weights``: each candidate's weight in the plan (1 if absent; 1 for every
    server of a round-robin plan). ``percents``: today's percent of each
    server warming by share. A server whose percent has reached its weight's
    share is warm and keeps its weight.
    """
    base = {i: max(1, weights.get(i, 1)) for i in candidates}
    total = sum(base.values())
    warming = {i: p for i, p in percents.items() if i in base and _warming(base[i], total, p)}
    if not warming:
        return base
    rest = {i: w for i, w in base.items() if i not in warming}
    if not rest:
        return _reduce(warming)
    rest_total = sum(rest.values())
    left = 100 - sum(warming.values())  # > 0: each warming percent is below its share
    exact = {i: p * rest_total for i, p in warming.items()}
    exact.update({i: left * w for i, w in rest.items()})
    return _reduce(exact)


def _reduce(weights: dict[int, int]) -> dict[int, int]:
    g = math.gcd(*weights.values())
    out = {i: w // g for i, w in weights.items()}
    total = sum(out.values())
    if total <= STEPS:
        return out
    return {i: max(1, round(w * STEPS / total)) for i, w in out.items()}


def is_uniform(weights: Mapping[int, int]) -> bool:
    """Every weight the same: a plain rotation deals it exactly."""
    return len(set(weights.values())) <= 1
