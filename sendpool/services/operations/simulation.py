"""``sendpool simulate``: where N messages of one plan would go right now, sending nothing.

The real batch dispatcher (pipeline.dispatch) runs over virtual messages
against an in-memory ledger seeded with the windows' current usage, so caps,
warm-up and health count exactly as they would; nothing is sent and nothing is
written. Time stands still at ``now``: what cannot go now waits, as it would.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sendpool.config import Settings
from sendpool.core.servers import SendClass, send_class_for
from sendpool.errors import InputError
from sendpool.pipeline.dispatch import Assignment, Dispatcher
from sendpool.pipeline.pool import PoolState, view_of
from sendpool.pipeline.prepare import Job
from sendpool.services import refs
from sendpool.services.operations.doctor_checks import open_for_reading, read_pool
from sendpool.store.ledger_memory import MemoryLedger
from sendpool.store.ledger_redis import RedisLedger
from sendpool.store.records import ClaimedMessage
from sendpool.transports.message import OutgoingMessage

MAX_MESSAGES = 1_000_000
MAX_WORKERS = 64


@dataclass(frozen=True, slots=True)
class ServerSplit:
    server: str
    messages: int
    share: float  # of all the simulated messages


@dataclass(frozen=True, slots=True)
class SkipLine:
    """A server the dispatcher left out, for how many messages, in its own words."""

    server: str
    code: str
    reason: str
    messages: int


@dataclass(frozen=True, slots=True)
class WaitLine:
    until: datetime
    reason: str
    messages: int


@dataclass(frozen=True, slots=True)
class SimulationReport:
    plan: str
    messages: int
    send_class: SendClass
    chosen_by: str  # why this send class: a flag, or the plan's burst threshold
    workers: int
    batch_size: int
    at: datetime
    split: list[ServerSplit]
    skips: list[SkipLine]
    waits: list[WaitLine]

    @property
    def ready(self) -> int:
        return sum(s.messages for s in self.split)

    @property
    def waiting(self) -> int:
        return sum(w.messages for w in self.waits)


def _check(messages: int, workers: int) -> None:
    if not 1 <= messages <= MAX_MESSAGES:
        raise InputError(f"--messages must be between 1 and {MAX_MESSAGES:,} (got {messages:,})")
    if not 1 <= workers <= MAX_WORKERS:
        raise InputError(f"--workers must be between 1 and {MAX_WORKERS} (got {workers})")


async def simulate(
    settings: Settings,
    *,
    plan: str,
    messages: int,
    send_class: SendClass | None,
    workers: int,
    now: datetime,
) -> SimulationReport:
    """Deal ``messages`` virtual messages in batches, as ``workers`` workers would."""
    _check(messages, workers)
    db, real = open_for_reading(settings)
    try:
        plan_id = await db.run(refs.plan_id, plan)
        rows = await db.run(read_pool, now)
        # Rates pace sending but never cap a window; at a frozen instant they
        # would only hold back what a second later goes out anyway.
        views = {r.id: dataclasses.replace(view_of(r), rate_per_second=None) for r in rows.servers}
        windows = {sid: v.windows(now) for sid, v in views.items()}
        usage = await real.usage(windows)
    finally:
        if isinstance(real, RedisLedger):
            real.close()
        db.close()
    ledger = MemoryLedger()
    for sid, w in windows.items():
        ledger.used[(sid, "day", w.day.key)] = usage[sid].day_used
        ledger.used[(sid, "hour", w.hour.key)] = usage[sid].hour_used
    threshold = rows.plan_burst.get(plan_id) or settings.burst_threshold
    if send_class is None:
        send_class = send_class_for(messages, threshold)
        side = "at or above" if send_class is SendClass.BURST else "below"
        chosen_by = f"{messages:,} is {side} the burst threshold of {threshold:,}"
    else:
        chosen_by = "chosen on the command line"
    name = rows.plan_names[plan_id]
    names = {sid: v.name for sid, v in views.items()}
    dispatchers = [
        Dispatcher(ledger, idle_recheck=settings.idle_recheck_seconds) for _ in range(workers)
    ]
    state = PoolState(rows, views, {})
    placeholder = _placeholder(now)
    # Every server of the plan has a line, even one that would get nothing.
    sent: Counter[str] = Counter({names[i]: 0 for i in rows.plan_servers[plan_id] if i in names})
    waits: Counter[tuple[datetime, str]] = Counter()
    done, turn = 0, 0
    while done < messages:
        n = min(settings.batch_size, messages - done)
        jobs = [_job(done + k, plan_id, send_class, placeholder, now) for k in range(n)]
        out: Assignment = await dispatchers[turn % workers].assign(jobs, state, now)
        sent.update(job.server.name for job in out.ready if job.server is not None)
        waits.update((w.until, w.reason) for w in out.waiting)
        done, turn = done + n, turn + 1
    skips: Counter[tuple[str, str]] = Counter()
    said: dict[tuple[str, str], str] = {}
    for d in dispatchers:
        for s in d.tally.drain():
            key = (names.get(s.server_id, str(s.server_id)), s.code)
            skips[key] += s.count
            said[key] = s.last_reason
    return SimulationReport(
        plan=name,
        messages=messages,
        send_class=send_class,
        chosen_by=chosen_by,
        workers=workers,
        batch_size=settings.batch_size,
        at=now,
        split=[
            ServerSplit(server, n, n / messages)
            for server, n in sorted(sent.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        skips=[
            SkipLine(server, code, said[(server, code)], n)
            for (server, code), n in sorted(skips.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        waits=_waits(waits),
    )


def _waits(waits: Counter[tuple[datetime, str]]) -> list[WaitLine]:
    """One line per time: batches list the same full servers in different orders."""
    total: Counter[datetime] = Counter()
    said: dict[datetime, tuple[int, str]] = {}
    for (until, reason), n in waits.items():
        total[until] += n
        if n > said.get(until, (0, ""))[0]:
            said[until] = (n, reason)
    return [WaitLine(until, said[until][1], n) for until, n in sorted(total.items())]


def _placeholder(now: datetime) -> OutgoingMessage:
    """One body every virtual message shares: the dispatcher never reads it."""
    return OutgoingMessage(
        uid="simulated",
        envelope_from="simulate@sendpool.invalid",
        recipient="simulate@sendpool.invalid",
        from_header="simulate@sendpool.invalid",
        subject="",
        text="",
        html=None,
        message_id="<simulated@sendpool.invalid>",
        date=now.isoformat(),
    )


def _job(
    i: int, plan_id: int, send_class: SendClass, message: OutgoingMessage, now: datetime
) -> Job:
    row = ClaimedMessage(
        id=i,
        uid=f"sim{i}",
        customer_id=0,
        campaign_id=None,
        subscriber_id=None,
        recipient=message.recipient,
        kind="campaign",
        attempts=0,
        queued_at=now,
        payload=None,
    )
    return Job(row, message, plan_id, send_class)
