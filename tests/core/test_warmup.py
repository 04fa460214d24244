from __future__ import annotations

from datetime import date

import pytest

from sendpool.core.warmup import WarmupSchedule, held_days

START = date(2026, 11, 20)


def sched(**kw: object) -> WarmupSchedule:
    values: dict[str, object] = {
        "start_daily": 100,
        "growth_percent": 50.0,
        "target_daily": 1000,
        "started_on": START,
    }
    values.update(kw)
    return WarmupSchedule(**values)  # type: ignore[arg-type]


def test_cap_grows_each_day_until_target() -> None:
    s = sched()
    caps = [s.cap_on(date(2026, 11, 20 + d)) for d in range(7)]
    assert caps == [100, 150, 225, 337, 506, 759, 1000]
    assert s.is_warming(date(2026, 11, 25))
    assert not s.is_warming(date(2026, 11, 26))


def test_days_before_the_start_use_the_start_cap() -> None:
    assert sched().cap_on(date(2026, 11, 1)) == 100


def test_held_days_hold_growth_back() -> None:
    assert sched().cap_on(date(2026, 11, 22), held_days=1) == 150


def test_degenerate_schedules() -> None:
    assert sched(start_daily=2000).cap_on(START) == 1000
    assert sched(growth_percent=0).cap_on(date(2026, 12, 30)) == 100
    assert sched(start_daily=0).cap_on(date(2026, 12, 30)) == 0


def test_years_old_schedule_does_not_overflow() -> None:
    assert sched(growth_percent=1000).cap_on(date(2036, 1, 1)) == 1000


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError):
        sched(start_daily=-1)
    with pytest.raises(ValueError):
        sched(growth_percent=-5)


def test_held_days_count_days_above_the_gate() -> None:
    rates = {date(2026, 11, 20): 0.05, date(2026, 11, 21): 0.01, date(2026, 11, 22): 0.04}
    gated = sched(gate_bounce_rate=0.03)
    assert held_days(rates, gated, date(2026, 11, 23)) == 2
    assert held_days(rates, gated, date(2026, 11, 21)) == 1
    assert held_days(rates, sched(), date(2026, 11, 23)) == 0
