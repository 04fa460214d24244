"""Warm-up schedules: a daily cap that grows by itself until a target is reached."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class WarmupSchedule:
    """Start cap, growth per day and target, from the day the schedule starts.

    ``gate_bounce_rate`` holds growth back: a day whose bounce rate was above
    it does not count as a growth day (reputation first, volume second).
    """

    start_daily: int
    growth_percent: float
    target_daily: int
    started_on: date
    gate_bounce_rate: float | None = None

    def __post_init__(self) -> None:
        if self.start_daily < 0 or self.target_daily < 0:
            raise ValueError("warm-up caps must not be negative")
        if self.growth_percent < 0:
            raise ValueError("warm-up growth must not be negative")

    def cap_on(self, day: date, held_days: int = 0) -> int:
        """The warm-up cap for a local day; days before the start use the start cap."""
        growth_days = max(0, (day - self.started_on).days - max(0, held_days))
        if self.start_daily >= self.target_daily:
            return self.target_daily
        if self.start_daily == 0 or self.growth_percent == 0:
            return self.start_daily
        factor = math.log1p(self.growth_percent / 100.0)
        # Compare in log space so a schedule years old cannot overflow a float.
        if growth_days * factor >= math.log(self.target_daily / self.start_daily):
            return self.target_daily
        grown = self.start_daily * (1.0 + self.growth_percent / 100.0) ** growth_days
        return min(self.target_daily, int(grown + 1e-9))

    def is_warming(self, day: date, held_days: int = 0) -> bool:
        return self.cap_on(day, held_days) < self.target_daily


def held_days(
    daily_bounce_rates: Mapping[date, float],
    schedule: WarmupSchedule,
    today: date,
    *,
    daily_sent: Mapping[date, int] | None = None,
    min_sent: int = 0,
) -> int:
    """Days since the start (today excluded) whose bounce rate was above the gate.

    With ``daily_sent``, a day with fewer than ``min_sent`` sends does not hold
    growth back, whatever its rate: 2 bounces in 10 sends is too little to judge.
    """
    gate = schedule.gate_bounce_rate
    if gate is None:
        return 0
    count = 0
    day = schedule.started_on
    while day < today:
        judged = daily_sent is None or daily_sent.get(day, 0) >= min_sent
        if judged and daily_bounce_rates.get(day, 0.0) > gate:
            count += 1
        day += timedelta(days=1)
    return count
