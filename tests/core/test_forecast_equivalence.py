"""The forecast's short cuts change nothing: it equals playing every minute, as it was written.

``played_out`` is core/forecast.py's loop before the steps where nothing can
happen were skipped: every step of the day played, every server looked at.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sendpool.core.forecast import MAX_STEPS, STEP, CapHit, Forecast, PlanLoad, ServerLoad
from sendpool.core.forecast import forecast as forecast_fast

NOW = datetime(2026, 12, 5, 8, 17, 23, tzinfo=UTC)


def _deal(amount: float, room: dict[str, float]) -> dict[str, float]:
    given = dict.fromkeys(room, 0.0)
    open_ = {n for n, r in room.items() if r > 1e-9}
    left = amount
    while left > 1e-9 and open_:
        each = left / len(open_)
        for n in sorted(open_):
            take = min(each, room[n] - given[n])
            given[n] += take
            left -= take
        open_ = {n for n in open_ if room[n] - given[n] > 1e-9}
    return given


def played_out(load: PlanLoad, now: datetime, step: timedelta = STEP) -> Forecast:
    servers = list(load.servers)
    if not servers:
        return Forecast(load.plan, (), load.backlog, None)
    seconds = step.total_seconds()
    room = {s.name: float(max(0, s.room_today)) for s in servers}
    hour_room = {
        s.name: float(s.hour_room) if s.hour_room is not None else math.inf for s in servers
    }
    hour_ends = {s.name: s.hour_ends_at for s in servers}
    sent = dict.fromkeys(room, 0.0)
    hits = [CapHit(s.name, now) for s in servers if room[s.name] <= 0]
    backlog = float(load.backlog)
    until = min(s.day_ends_at for s in servers)
    t = now
    for _ in range(MAX_STEPS):
        if t >= until:
            break
        for s in servers:
            ends = hour_ends[s.name]
            if ends is not None and t >= ends:
                hour_room[s.name] = float(s.hourly_cap) if s.hourly_cap is not None else math.inf
                hour_ends[s.name] = ends + timedelta(hours=1)
        paced = {s.name: s.rate_per_second * seconds if s.rate_per_second else 0.0 for s in servers}
        can = {
            s.name: min(room[s.name], hour_room[s.name], paced[s.name] or math.inf) for s in servers
        }
        dealt = _deal(backlog, can)
        for name, n in dealt.items():
            room[name] -= n
            hour_room[name] -= n
            sent[name] += n
            backlog -= n
            if room[name] <= 1e-9 and n > 0 and name not in {h.server for h in hits}:
                pace = paced[name]
                within = step * min(1.0, n / pace) if pace > 0 else timedelta(0)
                hits.append(CapHit(name, t + within))
        backlog += load.arrivals_per_second * seconds
        t += step
    waiting = round(backlog) if all(r <= 1e-9 for r in room.values()) else 0
    return Forecast(
        load.plan,
        tuple(hits),
        waiting,
        until if waiting else None,
        {n: round(v) for n, v in sent.items()},
    )


@st.composite
def servers(draw: st.DrawFn, name: str) -> ServerLoad:
    hourly = draw(st.none() | st.integers(0, 5_000))
    return ServerLoad(
        name=name,
        room_today=draw(st.integers(-10, 60_000)),
        day_ends_at=NOW + timedelta(minutes=draw(st.integers(-5, 3 * 24 * 60))),
        rate_per_second=draw(st.none() | st.floats(0.0, 20.0)),
        hourly_cap=hourly,
        hour_room=None if hourly is None else draw(st.integers(0, hourly)),
        hour_ends_at=None
        if hourly is None
        else NOW + timedelta(seconds=draw(st.integers(1, 3600))),
    )


@st.composite
def loads(draw: st.DrawFn) -> PlanLoad:
    count = draw(st.integers(0, 4))
    return PlanLoad(
        "P",
        backlog=draw(st.integers(0, 200_000)),
        arrivals_per_second=draw(st.sampled_from([0.0, 0.01, 0.5, 1.0, 3.7, 40.0])),
        servers=[draw(servers(f"s{i}")) for i in range(count)],
    )


@settings(max_examples=150, deadline=None)
@given(loads())
def test_the_forecast_is_the_day_played_minute_by_minute(load: PlanLoad) -> None:
    assert forecast_fast(load, NOW) == played_out(load, NOW)


def test_a_full_pool_still_counts_every_arrival_to_the_day_s_end() -> None:
    """Full from the start: only arrivals change, one step's worth per minute left in the day."""
    full = ServerLoad("a", 0, NOW + timedelta(minutes=90, seconds=30))
    load = PlanLoad("P", 10, 2.0, [full])
    assert forecast_fast(load, NOW) == played_out(load, NOW)
    assert forecast_fast(load, NOW).waiting == 10 + 91 * 120


def test_a_quiet_plan_sends_nothing_more_after_its_backlog() -> None:
    load = PlanLoad("P", 300, 0.0, [ServerLoad("a", 1_000, NOW + timedelta(hours=20))])
    f = forecast_fast(load, NOW)
    assert f == played_out(load, NOW) and f.sent == {"a": 300} and f.waiting == 0
