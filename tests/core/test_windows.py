from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendpool.core.windows import day_window, format_reset, hour_window, windows_at


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_utc_day_and_hour() -> None:
    now = at(2026, 11, 27, 18, 34, 5)
    day = day_window(now)
    assert (day.key, day.start, day.end) == ("2026-11-27", at(2026, 11, 27), at(2026, 11, 28))
    hour = hour_window(now)
    assert (hour.start, hour.end) == (at(2026, 11, 27, 18), at(2026, 11, 27, 19))
    assert hour.seconds_left(now) == pytest.approx(25 * 60 + 55)
    assert hour.seconds_left(at(2026, 11, 28)) == 0.0


def test_day_in_a_server_time_zone_is_its_local_day() -> None:
    # 23:30 UTC is already the next day in Paris.
    day = day_window(at(2026, 11, 27, 23, 30), "Europe/Paris")
    assert day.key == "2026-11-28"
    assert day.start == at(2026, 11, 27, 23)


def test_dst_days_are_23_and_25_hours_long() -> None:
    spring = day_window(at(2026, 3, 29, 12), "Europe/Paris")
    autumn = day_window(at(2026, 10, 25, 12), "Europe/Paris")
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_repeated_fall_back_hour_is_two_windows() -> None:
    first = hour_window(at(2026, 11, 1, 5, 30), "America/New_York")  # 01:30 EDT
    second = hour_window(at(2026, 11, 1, 6, 30), "America/New_York")  # 01:30 EST
    assert first.key != second.key
    assert first.end == second.start


def test_half_hour_zone_hours_start_at_half_past_utc() -> None:
    hour = hour_window(at(2026, 11, 27, 10, 10), "Asia/Kolkata")
    assert hour.start == at(2026, 11, 27, 9, 30)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        day_window(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        hour_window(datetime(2026, 1, 1))


def test_windows_at_and_reset_text() -> None:
    w = windows_at(at(2026, 11, 27, 18), "Europe/Paris")
    assert w.local_day.isoformat() == "2026-11-27"
    assert format_reset(w.day.end, "Europe/Paris") == "2026-11-28 00:00 Europe/Paris"
