"""Fixed calendar windows (hour, day) in a server's own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Window:
    """One quota window: a stable key for the ledger and its bounds in UTC."""

    kind: str  # "day" or "hour"
    key: str
    start: datetime
    end: datetime

    def seconds_left(self, now: datetime) -> float:
        return max(0.0, (self.end - now).total_seconds())


@dataclass(frozen=True, slots=True)
class ServerWindows:
    """The day and hour windows a reservation made at one instant belongs to."""

    day: Window
    hour: Window
    local_day: date


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("time must be timezone-aware (UTC)")


def day_window(now: datetime, tz: str = "UTC") -> Window:
    """The local calendar day containing ``now``; DST days are 23 or 25 hours long."""
    _require_aware(now)
    z = zone(tz)
    local = now.astimezone(z)
    start = datetime.combine(local.date(), time(0), tzinfo=z)
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=z)
    return Window("day", local.date().isoformat(), start.astimezone(UTC), end.astimezone(UTC))


def hour_window(now: datetime, tz: str = "UTC") -> Window:
    """The local clock hour containing ``now``.

    The key is the hour's start in UTC, so the repeated 01:00 hour of a
    fall-back night is two windows, not one window with a double cap.
    """
    _require_aware(now)
    utc_now = now.astimezone(UTC)
    offset = now.astimezone(zone(tz)).utcoffset() or timedelta(0)
    # Local hours start on the hour of local time; for zones with a
    # non-whole-hour offset (e.g. +05:30) that is not the UTC hour.
    local_naive = utc_now.replace(tzinfo=None) + offset
    local_start = local_naive.replace(minute=0, second=0, microsecond=0)
    start = (local_start - offset).replace(tzinfo=UTC)
    end = start + timedelta(hours=1)
    return Window("hour", start.strftime("%Y-%m-%dT%H:%MZ"), start, end)


def windows_at(now: datetime, tz: str = "UTC") -> ServerWindows:
    day = day_window(now, tz)
    return ServerWindows(day=day, hour=hour_window(now, tz), local_day=date.fromisoformat(day.key))


def format_reset(at: datetime, tz: str = "UTC") -> str:
    """How an operator reads a window's end: local time with the zone's name."""
    local = at.astimezone(zone(tz))
    return f"{local:%Y-%m-%d %H:%M} {tz}"
