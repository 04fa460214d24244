"""Pick and reserve a server for every job of a batch.

Per (plan, send class) group: filter the pool (core.dispatcher.select), move
the plan's shared cursor on by the group's size, deal the jobs through the
plan's selector (core.selectors, round-robin by default), then reserve per server in one ledger call. Units a server could not grant
(another worker took the last of its cap, or its rate is spent) are dealt
again among the others; when nothing is left, the jobs wait for the earliest
time a server may take them, with the reasons written on them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sendpool.core.dispatcher import select
from sendpool.core.filters import Skip, SkipCode
from sendpool.core.filters.quota import cap_skip
from sendpool.core.quota import Denial, Grant
from sendpool.core.selectors import DealRequest, selector_for
from sendpool.core.selectors.sticky import fallbacks
from sendpool.core.servers import AddressNeed, DispatchContext, SendClass, ServerView, Usage
from sendpool.core.shares import shaped
from sendpool.metrics import DENIALS, PICKS
from sendpool.pipeline.pool import PoolState
from sendpool.pipeline.ports import QuotaLedger
from sendpool.pipeline.prepare import Job
from sendpool.pipeline.sticky_notes import NOTES
from sendpool.pipeline.throttles import Throttle, group_pace, group_rate_skip, throttle_for
from sendpool.store.records import ReservationMark, SkipCount

MAX_ROUNDS = 8


@dataclass(slots=True)
class Waiting:
    job: Job
    until: datetime
    reason: str


@dataclass(slots=True)
class Assignment:
    ready: list[Job] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)


class SkipTally:
    """Counts of why each server was left out, per plan and day, until the next flush."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, int, str, str], list[object]] = {}

    def add(self, plan_id: int, skips: Iterable[Skip], day: str, weight: int = 1) -> None:
        if weight <= 0:
            return
        for s in skips:
            key = (plan_id, s.server_id, day, s.code.value)
            entry = self._counts.setdefault(key, [0, ""])
            entry[0] = int(str(entry[0])) + weight
            entry[1] = s.reason
            DENIALS.labels(s.code.value).inc(weight)

    def drain(self) -> list[SkipCount]:
        out = [
            SkipCount(p, s, d, c, int(str(v[0])), str(v[1]))
            for (p, s, d, c), v in self._counts.items()
        ]
        self._counts.clear()
        return out


# How many more jobs a server may hold on this worker, given its connections.
Room = Callable[[int, int], int]
MarkReserved = Callable[[Sequence[tuple[int, int]], datetime], Awaitable[None]]
log = logging.getLogger("sendpool.worker")


def unlimited(server_id: int, connections: int) -> int:
    return 1 << 30


class Dispatcher:
    def __init__(
        self,
        ledger: QuotaLedger,
        *,
        idle_recheck: float = 60.0,
        room: Room = unlimited,
        holder: str | None = None,
        mark_first: MarkReserved | None = None,
    ) -> None:
        self.ledger = ledger
        self.holder = holder  # the worker whose messages the reservations are for
        # Writes the reservation marks before each reservation, for a ledger that
        # keeps its units apart from the messages (Redis): a crash between the two
        # then leaves marks a take-over can settle, never a unit no row names.
        self.mark_first = mark_first
        self.idle_recheck = idle_recheck
        self.room = room
        self.tally = SkipTally()

    async def assign(self, jobs: list[Job], pool: PoolState, now: datetime) -> Assignment:
        out = Assignment()
        groups: dict[tuple[int | None, SendClass, AddressNeed, str | None], list[Job]]
        groups = defaultdict(list)
        for job in jobs:
            # By provider group too: a server's rate to Gmail is spent for Gmail's mail only.
            groups[(job.plan_id, job.send_class, job.need, job.group)].append(job)
        for (plan_id, send_class, need, provider), group in groups.items():
            if plan_id is None or plan_id not in pool.rows.plan_names:
                until = now + timedelta(seconds=self.idle_recheck)
                reason = "waiting: the customer has no plan, and no region rule gives one"
                out.waiting.extend(Waiting(j, until, reason) for j in group)
                continue
            await self._assign_group(plan_id, send_class, group, pool, now, out, need, provider)
        return out

    async def _assign_group(
        self,
        plan_id: int,
        send_class: SendClass,
        pending: list[Job],
        pool: PoolState,
        now: datetime,
        out: Assignment,
        need: AddressNeed = AddressNeed.ASCII,
        provider: str | None = None,
    ) -> None:
        members = pool.plan_members(plan_id)
        selector = selector_for(pool.rows.plan_selector.get(plan_id))
        excluded: dict[int, Skip] = {}
        day = now.date().isoformat()
        first_round = True
        for _ in range(MAX_ROUNDS):
            servers = [
                pool.views[i] for i in sorted(members) if i in pool.views and i not in excluded
            ]
            windows = {s.id: s.windows(now) for s in servers}
            usage = await self.ledger.usage(windows)
            sel = select(servers, members, DispatchContext(now, send_class, usage, need))
            skipped = [*sel.skipped, *excluded.values()]
            if first_round:
                # Later rounds re-deal the same messages: count each skip once per message,
                # and a message back from a wait was counted when it was sent to wait.
                self.tally.add(plan_id, sel.skipped, day, _unseen(pending))
                first_round = False
            if sel.empty:
                times = [s.until for s in skipped if s.until is not None and s.until > now]
                until = min(times) if times else now + timedelta(seconds=self.idle_recheck)
                reason = "waiting: " + (
                    "; ".join(f"{s.server_name}: {s.reason}" for s in skipped)
                    or "the plan has no sending servers"
                )
                # Servers held back only by their rate take the jobs at that pace: spread
                # the wait so the jobs come back as they can be sent, not all at once.
                pace = sum(
                    pool.views[s.server_id].caps(now).rate or 0.0
                    for s in skipped
                    if s.code is SkipCode.RATE and s.server_id in pool.views
                ) + group_pace(pool, skipped, provider, now)
                out.waiting.extend(
                    Waiting(j, until + timedelta(seconds=i / pace) if pace else until, reason)
                    for i, j in enumerate(pending)
                )
                return
            by_server: dict[int, list[Job]] = defaultdict(list)
            # A message whose reply was lost goes back to that server first (RFC 1047).
            ids = {s.id for s in sel.candidates}
            rest: list[Job] = []
            for job in pending:
                prefer = job.row.retry_server_id
                (by_server[prefer] if prefer in ids else rest).append(job)
            if rest:
                start = await self.ledger.advance_cursor(plan_id, len(rest))
                # Warm-up shares (core/shares.py) may turn a round-robin deal weighted.
                plan_weights = pool.weights(plan_id)
                dealer, weights = shaped(selector, sel.candidates, plan_weights, now)
                request = DealRequest(start, [j.deal_item for j in rest], weights)
                dealt = dealer.deal(sel.candidates, request)
                # A sticky domain whose server is out went to the next in its order: say so.
                fell = fallbacks(selector, members, sel.candidates, request, dealt, plan_weights)
                NOTES.note(pool.rows.plan_names.get(plan_id, "?"), fell, pool.views, now)
                for job, server in zip(rest, dealt, strict=True):
                    by_server[server.id].append(job)
            pending = []
            groups = list(by_server.items())
            for k, (sid, group) in enumerate(groups):
                view = pool.views[sid]
                w = windows[sid]
                spec = pool.specs.get(sid)
                room = self.room(sid, spec.max_connections if spec else 1)
                if room < len(group):
                    # Its share waits a moment rather than going to the others: the
                    # split stays even, and this worker never holds more for a slow
                    # server than it can send within a lease.
                    busy = _busy(view, now)
                    late = group[max(room, 0) :]
                    self.tally.add(plan_id, [busy], day, _unseen(late))
                    assert busy.until is not None
                    reason = f"waiting: {view.name}: {busy.reason}"
                    out.waiting.extend(Waiting(j, busy.until, reason) for j in late)
                    group = group[: max(room, 0)]
                    if not group:
                        continue
                mark = (
                    ReservationMark(self.holder, tuple(j.row.id for j in group))
                    if self.holder is not None
                    else None
                )
                if self.mark_first is not None:
                    try:
                        await self.mark_first([(j.row.id, sid) for j in group], now)
                    except Exception:
                        # Nothing is reserved without its marks: what is left waits.
                        log.exception("writing reservation marks failed; trying again shortly")
                        until = now + timedelta(seconds=1)
                        rest = [j for _, g in groups[k:] for j in g] + pending
                        reason = "waiting: the reservation could not be recorded"
                        out.waiting.extend(Waiting(j, until, reason) for j in rest)
                        return
                throttle = throttle_for(pool, sid, provider, now)
                grant = await self.ledger.reserve(
                    sid, w, view.caps(now), len(group), now, mark, throttle=throttle
                )
                if grant.denied is Denial.UNAVAILABLE:
                    # The ledger itself is down or rebuilding: no server can be
                    # reserved, so everything not yet reserved waits for it.
                    until = now + timedelta(seconds=grant.retry_after or 1.0)
                    rest = [j for _, g in groups[k:] for j in g] + pending
                    reason = "waiting: the quota ledger is unavailable"
                    out.waiting.extend(Waiting(j, until, reason) for j in rest)
                    return
                for job in group[: grant.granted]:
                    job.server, job.windows, job.reserved_at = view, w, now
                    out.ready.append(job)
                if grant.granted:
                    PICKS.labels(pool.rows.plan_names.get(plan_id, "?"), view.name).inc(
                        grant.granted
                    )
                if grant.granted < len(group):
                    pending.extend(group[grant.granted :])
                    excluded[sid] = _denied(view, grant, now, throttle)
                    self.tally.add(plan_id, [excluded[sid]], day, _unseen(group[grant.granted :]))
            if not pending:
                return
        until = now + timedelta(seconds=1)
        out.waiting.extend(
            Waiting(j, until, "waiting: servers busy, trying again") for j in pending
        )


def _unseen(jobs: Sequence[Job]) -> int:
    """How many of ``jobs`` are looked at for the first time: the skip counts are messages."""
    return sum(1 for j in jobs if not j.row.waited)


def _busy(view: ServerView, now: datetime) -> Skip:
    """The server holds all it can send within a lease on this worker: deal to the others."""
    until = now + timedelta(seconds=1)
    why = "busy: this worker holds all it can send within a lease"
    return Skip(view.id, view.name, SkipCode.BUSY, why, until)


def _denied(
    view: ServerView, grant: Grant, now: datetime, throttle: Throttle | None = None
) -> Skip:
    """A shortfall at reservation: the window filled up while this batch was dealt."""
    caps = view.caps(now)
    if grant.denied is Denial.DAILY_CAP:
        return cap_skip(view, Usage(day_used=caps.daily), now)
    if grant.denied is Denial.HOURLY_CAP:
        return cap_skip(view, Usage(hour_used=caps.hourly or 0), now, hourly=True)
    until = now + timedelta(seconds=grant.retry_after or 1.0)
    if grant.denied is Denial.RATE:
        return Skip(view.id, view.name, SkipCode.RATE, f"rate {caps.rate:g}/s reached", until)
    if grant.denied is Denial.GROUP_RATE and throttle is not None:
        return group_rate_skip(view, throttle, until)
    return Skip(view.id, view.name, SkipCode.RACE, "quota ledger unavailable", until)
