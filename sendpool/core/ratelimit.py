"""Per-second rate as GCRA: one stored number per server, the theoretical arrival time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateDecision:
    granted: int
    new_tat: float
    retry_after: float | None


def gcra(
    tat: float, now: float, rate: float, count: int, burst: float | None = None
) -> RateDecision:
    """Grant up to ``count`` sends at ``rate`` per second, allowing ``burst`` at once.

    Each send moves the theoretical arrival time (tat) on by 1/rate; a send is
    allowed while tat stays within ``burst`` intervals of now. The burst
    defaults to one second's worth, so a batch may go out together.
    """
    if rate <= 0:
        return RateDecision(0, tat, None)
    interval = 1.0 / rate
    allowance = (burst if burst is not None else max(1.0, rate)) * interval
    start = max(tat, now)
    room = now + allowance - start
    n = max(0, min(count, int(room / interval + 1e-9)))
    new_tat = start + n * interval
    retry_after = None
    if n < count:
        retry_after = max(interval, new_tat + interval - allowance - now)
    return RateDecision(n, new_tat, retry_after)
