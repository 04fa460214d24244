"""``sendpool simulate``: where N messages of one plan would go right now, sending nothing.

The real batch dispatcher (pipeline.dispatch) runs over virtual messages
against an in-memory ledger seeded with the windows' current usage, so caps,
warm-up and health count exactly as they would; nothing is sent and nothing is
written. Time stands still at ``now``: what cannot go now waits, as it would.
The virtual recipients span a mix of domains (services/operations/domain_mix.py),
so sticky routing and per-provider limits see what a real list gives them, and
the same messages can be dealt under each selector in turn to compare them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sendpool.config import Settings
from sendpool.core.selectors import DEFAULT, SELECTORS
from sendpool.core.servers import SendClass, ServerView, send_class_for
from sendpool.errors import InputError
from sendpool.pipeline.dispatch import Assignment, Dispatcher
from sendpool.pipeline.pool import PoolState, view_of
from sendpool.pipeline.prepare import Job
from sendpool.services import refs
from sendpool.services.operations.doctor_checks import open_for_reading, read_pool
from sendpool.services.operations.domain_mix import DomainMix, default_mix
from sendpool.store.ledger_memory import MemoryLedger
from sendpool.store.ledger_redis import RedisLedger
from sendpool.store.records import ClaimedMessage, PoolRows
from sendpool.transports.message import OutgoingMessage

MAX_MESSAGES = 1_000_000
MAX_WORKERS = 64
ALL = "all"


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
    until: datetime  # the first of these messages may go then
    reason: str
    messages: int
    last: datetime | None = None  # and the last then, when they go at a rate's pace


@dataclass(frozen=True, slots=True)
class DomainLine:
    """Where one recipient domain's messages went: the sticky map, one domain at a time."""

    domain: str
    messages: int
    servers: list[tuple[str, int]]  # server name, messages; most first


@dataclass(frozen=True, slots=True)
class SimulationReport:
    plan: str
    policy: str  # the selector the messages were dealt by
    messages: int
    send_class: SendClass
    chosen_by: str  # why this send class: a flag, or the plan's burst threshold
    workers: int
    batch_size: int
    at: datetime
    split: list[ServerSplit]
    skips: list[SkipLine]
    waits: list[WaitLine]
    domains: list[DomainLine]  # every domain, most messages first
    mix: str  # where the domain mix came from

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


def policy_names() -> list[str]:
    """Every selector, the default first: what ``--policy all`` deals under."""
    return [DEFAULT, *sorted(n for n in SELECTORS if n != DEFAULT)]


def check_policy(policy: str | None) -> None:
    """Refuse an unknown ``--policy`` before anything is read."""
    if policy is not None and policy != ALL and policy not in SELECTORS:
        known = ", ".join(policy_names())
        raise InputError(f"--policy: unknown policy {policy!r}; use one of {known}, or {ALL}")


async def simulate(
    settings: Settings,
    *,
    plan: str,
    messages: int,
    send_class: SendClass | None,
    workers: int,
    now: datetime,
    policy: str | None = None,
    mix: DomainMix | None = None,
) -> list[SimulationReport]:
    """Deal ``messages`` virtual messages in batches, as ``workers`` workers would.

    One report per policy: the plan's own selector when ``policy`` is None, the
    one named, or every selector for ``"all"``, each from the same starting usage.
    """
    _check(messages, workers)
    check_policy(policy)
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
    threshold = rows.plan_burst.get(plan_id) or settings.burst_threshold
    if send_class is None:
        send_class = send_class_for(messages, threshold)
        side = "at or above" if send_class is SendClass.BURST else "below"
        chosen_by = f"{messages:,} is {side} the burst threshold of {threshold:,}"
    else:
        chosen_by = "chosen on the command line"
    mix = mix or default_mix()
    domains = mix.spread(messages)
    if policy is None:
        policies = [rows.plan_selector.get(plan_id) or DEFAULT]
    else:
        policies = policy_names() if policy == ALL else [policy]
    reports = []
    for name in policies:
        ledger = MemoryLedger()
        for sid, w in windows.items():
            ledger.used[(sid, "day", w.day.key)] = usage[sid].day_used
            ledger.used[(sid, "hour", w.hour.key)] = usage[sid].hour_used
        chosen = dataclasses.replace(rows, plan_selector={**rows.plan_selector, plan_id: name})
        run = _Run(settings, chosen, views, plan_id, send_class, workers, now)
        reports.append(await run.deal(domains, name, chosen_by, mix.source, ledger))
    return reports


class _Run:
    """One policy's deal of the virtual messages, batch by batch, over its own ledger."""

    def __init__(
        self,
        settings: Settings,
        rows: PoolRows,
        views: dict[int, ServerView],
        plan_id: int,
        send_class: SendClass,
        workers: int,
        now: datetime,
    ) -> None:
        self.settings, self.rows, self.views, self.plan_id = settings, rows, views, plan_id
        self.send_class, self.workers, self.now = send_class, workers, now

    async def deal(
        self, domains: list[str], policy: str, chosen_by: str, mix: str, ledger: MemoryLedger
    ) -> SimulationReport:
        settings, rows, now, plan_id = self.settings, self.rows, self.now, self.plan_id
        messages = len(domains)
        names = {sid: v.name for sid, v in self.views.items()}
        dispatchers = [
            Dispatcher(ledger, idle_recheck=settings.idle_recheck_seconds)
            for _ in range(self.workers)
        ]
        state = PoolState(rows, self.views, {})
        placeholder = placeholder_message(now)
        # Every server of the plan has a line, even one that would get nothing.
        sent: Counter[str] = Counter(
            {names[i]: 0 for i in rows.plan_servers[plan_id] if i in names}
        )
        by_domain: Counter[tuple[str, str]] = Counter()
        waits: Counter[tuple[datetime, str]] = Counter()
        groups: dict[str, str | None] = {}
        done, turn = 0, 0
        while done < messages:
            n = min(settings.batch_size, messages - done)
            jobs = [
                virtual_job(done + k, plan_id, self.send_class, placeholder, now, domains[done + k])
                for k in range(n)
            ]
            for j in jobs:
                # The provider group, as preparing a real message finds it (pipeline/prepare.py).
                if j.domain not in groups:
                    groups[j.domain] = state.group_of(j.domain)
                j.group = groups[j.domain]
            out: Assignment = await dispatchers[turn % self.workers].assign(jobs, state, now)
            for job in out.ready:
                if job.server is not None:
                    sent[job.server.name] += 1
                    by_domain[(job.domain, job.server.name)] += 1
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
            plan=rows.plan_names[plan_id],
            policy=policy,
            messages=messages,
            send_class=self.send_class,
            chosen_by=chosen_by,
            workers=self.workers,
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
            domains=_sticky_map(domains, by_domain),
            mix=mix,
        )


def _sticky_map(domains: list[str], by_domain: Counter[tuple[str, str]]) -> list[DomainLine]:
    """Each domain's messages and the servers that got them; a sticky policy gives one each."""
    servers: dict[str, list[tuple[str, int]]] = {}
    for (domain, server), n in by_domain.items():
        servers.setdefault(domain, []).append((server, n))
    lines = [
        DomainLine(d, n, sorted(servers.get(d, []), key=lambda kv: (-kv[1], kv[0])))
        for d, n in Counter(domains).items()
    ]
    return sorted(lines, key=lambda line: (-line.messages, line.domain))


def _waits(waits: Counter[tuple[datetime, str]]) -> list[WaitLine]:
    """One line per reason, from its first time to its last.

    Batches list the same full servers in different orders, so a reason is read
    with its parts sorted; jobs held back by a rate wait at that pace, each at
    its own time, and are one line, not one per slot.
    """
    total: Counter[str] = Counter()
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for (until, reason), n in waits.items():
        key = _same_reason(reason)
        total[key] += n
        first[key] = min(first.get(key, until), until)
        last[key] = max(last.get(key, until), until)
    return [
        WaitLine(first[key], key, n, last[key])
        for key, n in sorted(total.items(), key=lambda kv: (first[kv[0]], kv[0]))
    ]


def _same_reason(reason: str) -> str:
    """The reason with its servers' parts in one order: "waiting: b: x; a: y" is "a: y; b: x"."""
    head, sep, rest = reason.partition("waiting: ")
    if head or not sep:
        return reason
    return sep + "; ".join(sorted(rest.split("; ")))


def placeholder_message(now: datetime) -> OutgoingMessage:
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


def virtual_job(
    i: int,
    plan_id: int,
    send_class: SendClass,
    message: OutgoingMessage,
    now: datetime,
    domain: str,
) -> Job:
    row = ClaimedMessage(
        id=i,
        uid=f"sim{i}",
        customer_id=0,
        campaign_id=None,
        subscriber_id=None,
        recipient=f"simulated{i}@{domain}",  # the dispatcher reads only its domain
        kind="campaign",
        attempts=0,
        queued_at=now,
        payload=None,
    )
    return Job(row, message, plan_id, send_class)
