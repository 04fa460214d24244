"""How many units a reservation may take, given the caps and what is already used."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sendpool.core.servers import Caps, Usage


class Denial(StrEnum):
    DAILY_CAP = "daily_cap"
    HOURLY_CAP = "hourly_cap"
    RATE = "rate"
    GROUP_RATE = "group_rate"  # the server's rate to the message's provider group
    UNAVAILABLE = "ledger_unavailable"


@dataclass(frozen=True, slots=True)
class Grant:
    """Units granted; when fewer than asked, why, and when more may be had."""

    granted: int
    denied: Denial | None = None
    retry_after: float | None = None


def grantable(caps: Caps, used: Usage, count: int) -> tuple[int, Denial | None]:
    """Units that fit under both the day and the hour cap (never negative)."""
    room = caps.daily - used.day_used
    denial = Denial.DAILY_CAP
    if caps.hourly is not None and caps.hourly - used.hour_used < room:
        room = caps.hourly - used.hour_used
        denial = Denial.HOURLY_CAP
    n = max(0, min(count, room))
    return n, (denial if n < count else None)
