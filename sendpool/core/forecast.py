"""Capacity forecast: when each server of a plan fills its day, and what then waits until when.

"relay-a reaches its daily cap at 12:10 UTC; 18,400 messages would then
wait until 00:00 UTC." From the plan's backlog, the rate new mail arrives
at, and each server's room left today, hourly room and per-second rate, the
day is played forward step by step as the dispatcher deals it: round-robin,
even shares, each server held to its caps (core/patterns.py's water-fill).
Pure: the caller reads the queue, the ledger and the clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

STEP = timedelta(minutes=1)
MAX_STEPS = 2 * 24 * 60  # two days of minutes: every day window ends within one


@dataclass(frozen=True, slots=True)
class ServerLoad:
    """One server of the plan as it stands now."""

    name: str
    room_today: int  # daily cap (warm-up included) less what its day window used
    day_ends_at: datetime  # when its day window resets
    rate_per_second: float | None = None  # None: no rate limit
    hourly_cap: int | None = None
    hour_room: int | None = None  # what its current hour window has left
    hour_ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlanLoad:
    plan: str
    backlog: int  # messages due now or waiting for room
    arrivals_per_second: float  # new mail queued under the plan (launches, transactional)
    servers: Sequence[ServerLoad]


@dataclass(frozen=True, slots=True)
class CapHit:
    server: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Forecast:
    plan: str
    hits: tuple[CapHit, ...]  # servers that fill their day before it ends, in order
    waiting: int  # messages left waiting when every server is full, until ``until``
    until: datetime | None  # the earliest day window reset, when anything waits
    sent: dict[str, int] = field(default_factory=dict)  # what each server sends meanwhile

    @property
    def sentence(self) -> str:
        if not self.hits:
            if self.waiting:
                return f"{self.waiting:,} messages would wait: no server can send them"
            return "no server reaches its daily cap before its day ends"
        first, *rest = self.hits
        said = f"{first.server} reaches its daily cap at {_hm(first.at)}"
        said += "".join(f", {h.server} at {_hm(h.at)}" for h in rest)
        if self.waiting and self.until is not None:
            said += f"; {self.waiting:,} messages would then wait until {_hm(self.until)}"
        return said


def _hm(at: datetime) -> str:
    return f"{at:%H:%M} UTC"


def _deal(amount: float, room: dict[str, float]) -> dict[str, float]:
    """Round-robin: even shares of ``amount``, each held to its room, the rest to the others."""
    given = dict.fromkeys(room, 0.0)
    open_ = sorted(n for n, r in room.items() if r > 1e-9)
    left = amount
    while left > 1e-9 and open_:
        each = left / len(open_)
        for n in open_:
            take = min(each, room[n] - given[n])
            given[n] += take
            left -= take
        open_ = [n for n in open_ if room[n] - given[n] > 1e-9]
    return given


def forecast(load: PlanLoad, now: datetime, step: timedelta = STEP) -> Forecast:
    """Play the plan's day forward until every server's day window has ended once.

    Once nothing more can happen (nothing left to deal and nothing arriving,
    or every server full for the day) the steps left only add what arrives,
    so they are not played one by one: the pool page forecasts every plan on
    each refresh.
    """
    servers = list(load.servers)
    if not servers:
        return Forecast(load.plan, (), load.backlog, None)
    seconds = step.total_seconds()
    room = {s.name: float(max(0, s.room_today)) for s in servers}
    hour_room = {
        s.name: float(s.hour_room) if s.hour_room is not None else math.inf for s in servers
    }
    hour_ends = {s.name: s.hour_ends_at for s in servers if s.hour_ends_at is not None}
    # What its rate lets a server send in a step (0: no rate limit), and so its room per step.
    paced = {s.name: s.rate_per_second * seconds if s.rate_per_second else 0.0 for s in servers}
    per_step = {n: p or math.inf for n, p in paced.items()}
    refills = [s for s in servers if s.name in hour_ends]  # an hour window to reopen
    sent = dict.fromkeys(room, 0.0)
    hits = [CapHit(s.name, now) for s in servers if room[s.name] <= 0]  # full already
    hit = {h.server for h in hits}
    backlog = float(load.backlog)
    arriving = load.arrivals_per_second * seconds
    until = min(s.day_ends_at for s in servers)
    t = now
    for played in range(MAX_STEPS):
        if t >= until:
            break
        if (backlog <= 1e-9 and arriving == 0) or all(r <= 1e-9 for r in room.values()):
            # Nothing can be dealt from here on: what arrives waits.
            for _ in range(min(MAX_STEPS - played, -((t - until) // step))):
                backlog += arriving
            break
        for s in refills:
            if t >= hour_ends[s.name]:
                hour_room[s.name] = float(s.hourly_cap) if s.hourly_cap is not None else math.inf
                hour_ends[s.name] += timedelta(hours=1)
        can = {n: min(room[n], hour_room[n], per_step[n]) for n in room}
        for name, n in _deal(backlog, can).items():
            if n <= 0:
                continue  # nothing dealt: nothing changes
            room[name] -= n
            hour_room[name] -= n
            sent[name] += n
            backlog -= n
            if room[name] <= 1e-9 and name not in hit:
                hit.add(name)
                hits.append(CapHit(name, t + _within(step, n, paced[name])))
        backlog += arriving  # sendable from the next step on
        t += step
    waiting = round(backlog) if all(r <= 1e-9 for r in room.values()) else 0
    return Forecast(
        load.plan,
        tuple(hits),
        waiting,
        until if waiting else None,
        {n: round(v) for n, v in sent.items()},
    )


def _within(step: timedelta, took: float, paced: float) -> timedelta:
    """When within the step the last unit went: a rate-limited server fills as it goes.

    ``paced`` is what its rate lets it send in a step; 0 for no rate limit,
    which takes what it is dealt at the start of the step.
    """
    if paced <= 0:
        return timedelta(0)
    return step * min(1.0, took / paced)
