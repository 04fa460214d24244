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


@dataclass(frozen=True, slots=True)
class Throttle:
    """One server's rate to one provider group, reserved together with the server's own.

    ``burst`` as in ``gcra`` (None: one second's worth).
    """

    group: str
    rate: float
    burst: float | None = None
    backoff: str | None = None  # why the rate is scaled down now (core/backoff.note), if it is


@dataclass(frozen=True, slots=True)
class RatesDecision:
    """What both rates allow together, and the state each keeps (None: left as it was)."""

    granted: int
    server_tat: float | None
    group_tat: float | None
    limited_by: str | None  # "rate" (the server's), "group_rate" (the throttle's) or None
    retry_after: float | None


def take_rates(
    count: int,
    now: float,
    server_rate: float | None,
    server_tat: float,
    throttle: Throttle | None,
    group_tat: float,
) -> RatesDecision:
    """Grant what both the server's rate and its rate to the group allow, exactly.

    Neither state moves for a send the other refused: each is charged the
    sends granted in the end, so a group that is full never eats into the
    server's own rate, and the other way round.
    """
    granted, limited_by, retry_after = count, None, None
    if server_rate:
        d = gcra(server_tat, now, server_rate, granted)
        if d.granted < granted:
            granted, limited_by, retry_after = d.granted, "rate", d.retry_after
    if throttle is not None:
        g = gcra(group_tat, now, throttle.rate, granted, throttle.burst)
        if g.granted < granted:
            granted, limited_by, retry_after = g.granted, "group_rate", g.retry_after
    new_server = gcra(server_tat, now, server_rate, granted).new_tat if server_rate else None
    new_group = (
        gcra(group_tat, now, throttle.rate, granted, throttle.burst).new_tat
        if throttle is not None
        else None
    )
    return RatesDecision(granted, new_server, new_group, limited_by, retry_after)
