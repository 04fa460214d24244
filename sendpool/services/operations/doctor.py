"""``sendpool doctor``: what is wrong, where, and what to do next, in one pass.

Every check reads and reports; none repairs. The database is opened as it is
(never created, never migrated) and no key file is made, so running doctor
does not change what it examines; only ``--check-servers`` writes, recording
the connection checks it runs, as ``sendpool servers test`` does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from sendpool.config import Settings
from sendpool.core.dispatcher import select as dispatch
from sendpool.core.filters.health import health_filter
from sendpool.core.filters.quota import quota_filter
from sendpool.core.outcomes import read_description
from sendpool.core.policy_replies import SenderPolicy
from sendpool.core.servers import DispatchContext, SendClass, Usage
from sendpool.core.states import MessageStatus, ServerHealth, ServerStatus
from sendpool.pipeline.pool import view_of
from sendpool.pipeline.ports import QuotaLedger
from sendpool.runtime import open_ledger
from sendpool.secretbox import SecretBox
from sendpool.services.operations.backoffs import backoff_checks
from sendpool.services.operations.doctor_checks import (
    Check,
    Status,
    ago,
    check_database,
    check_public_url,
    check_redis,
    check_return_rates,
    check_secrets,
    read_pool,
    span,
)
from sendpool.services.operations.metrics_access import check_metrics
from sendpool.services.operations.pool_symptoms import pool_symptoms
from sendpool.services.operations.provider_limits import provider_limit_checks
from sendpool.services.servers.checks import check_server, list_servers, record_check
from sendpool.store.catalog import live_workers
from sendpool.store.database import Database
from sendpool.store.ledger_redis import RedisLedger
from sendpool.store.records import PoolRows
from sendpool.store.rollups import PENDING_INDEX_WHERE, server_counts
from sendpool.store.tables import PENDING_STATES, Message
from sendpool.transports.base import Health

BACKLOG = timedelta(minutes=15)  # due longer than this: workers are not keeping up
# A server degraded by a refusal of the sender (docs/design.md §1.5) answers its health
# checks and refuses our mail again: it does not come back by itself.
REFUSAL_ADVICE = {
    SenderPolicy.RELAY: "the relay refuses to relay for us: check its credentials / allowed "
    "senders (username and password in the pool file; the relay's own allowed clients)",
    SenderPolicy.BLOCKLIST: "its sending IP is on a blocklist: ask the list the reply names "
    "to delist it",
    SenderPolicy.REPUTATION: "the receiving side distrusts its mail: check its reputation, "
    "complaint rate and content",
    SenderPolicy.AUTHENTICATION: "the sender domain fails SPF, DKIM or DMARC through it: "
    "fix the domain's DNS records for this server",
    SenderPolicy.POLICY: "it refuses our mail by its own policy: ask its operator what it "
    "allows (senders, recipients, content)",
}
TOP_REASONS = 5


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str
    messages: int


@dataclass(frozen=True, slots=True)
class QueueState:
    by_status: dict[str, int]
    due: int
    oldest_due_at: datetime | None
    waiting: int  # queued or deferred, held for later (a window, back-off, a pause)
    in_flight: int  # claimed by a worker whose lease still runs
    waiting_reasons: list[ReasonCount]


@dataclass(frozen=True, slots=True)
class ServerState:
    name: str
    uid: str
    type: str
    status: str
    health: str
    checked_at: datetime | None
    last_error: str | None
    day_used: int
    day_cap: int
    hour_used: int
    hour_cap: int | None
    warming: bool
    held_back: list[str]  # the dispatcher's own words for why it is left out now


@dataclass(frozen=True, slots=True)
class Skipped:
    server: str
    code: str
    reason: str
    until: datetime | None


@dataclass(frozen=True, slots=True)
class DispatchPreview:
    """What the dispatcher would pick for one send of a plan, right now."""

    plan: str
    send_class: SendClass
    candidates: list[str]
    skipped: list[Skipped]
    retry_at: datetime | None


@dataclass(frozen=True, slots=True)
class DoctorReport:
    at: datetime
    checks: list[Check]
    queue: QueueState | None = None
    servers: tuple[ServerState, ...] = ()
    dispatch: tuple[DispatchPreview, ...] = ()

    @property
    def ok(self) -> bool:
        return all(c.status is not Status.FAIL for c in self.checks)


async def diagnose(
    settings: Settings, *, now: datetime, check_servers: bool = False
) -> DoctorReport:
    """Run every check; a database that cannot be read stops the ones that need it."""
    db, checks = check_database(settings)
    secrets, box = check_secrets(settings, db)
    checks.append(secrets)
    redis_check = check_redis(settings)
    if redis_check is not None:
        checks.append(redis_check)
    metrics_check = check_metrics(settings)
    if metrics_check is not None:
        checks.append(metrics_check)
    if db is None:
        return DoctorReport(now, checks)
    ledger = open_ledger(settings, db)
    try:
        if check_servers:
            checks.extend(await _run_server_checks(db, box, settings, secrets.status))
        workers, queue = await db.run(_workers_and_queue, now)
        checks.append(_workers_check(workers, queue))
        checks.append(_queue_check(queue, now))
        pool = await db.run(read_pool, now)
        if (public := check_public_url(settings, pool)) is not None:
            checks.append(public)
        known = redis_check is None or redis_check.status is not Status.FAIL
        usage = await _usage(ledger, pool, now) if known else {}
        servers = _server_states(pool, usage, now)
        checks.extend(_server_check(s, now, known) for s in servers)
        checks.extend(await db.run(check_return_rates, settings, now))
        previews = _previews(pool, usage, now)
        checks.extend(_plan_checks(previews))
        checks.extend(await db.run(pool_symptoms, pool, settings, now, usage))
        checks.extend(await db.run(backoff_checks, now))  # adaptive back-offs engaged now
        checks.extend(await db.run(provider_limit_checks, mx_lookups=settings.mx_lookups))
    finally:
        if isinstance(ledger, RedisLedger):
            ledger.close()
        db.close()
    return DoctorReport(now, checks, queue, tuple(servers), tuple(previews))


async def _run_server_checks(
    db: Database, box: SecretBox | None, settings: Settings, secrets: Status
) -> list[Check]:
    """Check every enabled server's connection, concurrently, and record each result."""
    if box is None or secrets is Status.FAIL:
        detail = "not run: the stored secrets cannot be read (see the secret key row)"
        return [Check("server checks", Status.FAIL, detail, "fix the secret key first")]
    rows = [r for r in await db.run(list_servers, box) if r.status == ServerStatus.ACTIVE]
    results: list[Health] = await asyncio.gather(
        *(check_server(r, settings.send_timeout) for r in rows)
    )
    for row, health in zip(rows, results, strict=True):
        await db.run(record_check, row.id, health, settings.health_check_interval)
    return [
        Check(
            f"check {row.name}",
            Status.OK if health.ok else Status.FAIL,
            f"connection {'ok' if health.ok else 'failed'}: {health.detail}",
            None if health.ok else "fix what the error says; the server stays degraded until then",
        )
        for row, health in zip(rows, results, strict=True)
    ]


def _workers_and_queue(conn: Connection, now: datetime) -> tuple[int, QueueState]:
    """The queue by status from the rollups; what waits from the pending index alone."""
    by_status: dict[str, int] = {}
    for (_server, status), count in server_counts(conn).items():
        by_status[status] = by_status.get(status, 0) + count
    later = {
        str(status): int(count)
        for status, count in conn.execute(
            select(Message.status, func.count())
            .where(PENDING_INDEX_WHERE, Message.due_at > now)
            .group_by(Message.status)
        )
    }
    waiting = later.get(MessageStatus.QUEUED, 0) + later.get(MessageStatus.DEFERRED, 0)
    in_flight = later.get(MessageStatus.SENDING, 0)
    pending = sum(by_status.get(s, 0) for s in PENDING_STATES)
    due = max(0, pending - waiting - in_flight)
    oldest = conn.execute(
        select(func.min(Message.due_at)).where(PENDING_INDEX_WHERE, Message.due_at <= now)
    ).scalar_one()
    n = func.count().label("n")
    reasons = conn.execute(
        select(Message.last_error, n)
        .where(
            PENDING_INDEX_WHERE,
            Message.status == MessageStatus.QUEUED,
            Message.due_at > now,
            Message.last_error.is_not(None),
        )
        .group_by(Message.last_error)
        .order_by(n.desc(), Message.last_error)
        .limit(TOP_REASONS)
    )
    queue = QueueState(
        by_status,
        int(due),
        oldest,
        int(waiting),
        int(in_flight),
        [ReasonCount(str(r), int(c)) for r, c in reasons],
    )
    return live_workers(conn, now), queue


def _workers_check(workers: int, queue: QueueState) -> Check:
    if workers:
        return Check("workers", Status.OK, f"{workers} live (heartbeat in the last 15 s)")
    if queue.due:
        return Check(
            "workers",
            Status.WARN,
            f"no live worker, and {queue.due:,} message(s) are due",
            "start `sendpool worker` (or `sendpool serve`); nothing is sent until one runs",
        )
    return Check("workers", Status.OK, "no live worker; nothing is due")


def _queue_check(q: QueueState, now: datetime) -> Check:
    counts = ", ".join(f"{s} {n:,}" for s, n in sorted(q.by_status.items())) or "empty"
    parts = [counts, f"{q.due:,} due", f"{q.waiting:,} waiting", f"{q.in_flight:,} in flight"]
    if q.oldest_due_at is not None:
        parts.insert(2, f"oldest due {span(now - q.oldest_due_at)} ago")
    if q.waiting_reasons:
        parts.append(f"most common wait: {q.waiting_reasons[0].reason.removeprefix('waiting: ')}")
    detail = "; ".join(parts)
    if q.oldest_due_at is not None and now - q.oldest_due_at > BACKLOG:
        advice = "workers are not keeping up: see the workers row, or start more workers"
        return Check("queue", Status.WARN, detail, advice)
    return Check("queue", Status.OK, detail)


async def _usage(ledger: QuotaLedger, pool: PoolRows, now: datetime) -> dict[int, Usage]:
    views = [view_of(r) for r in pool.servers]
    return await ledger.usage({v.id: v.windows(now) for v in views})


def _server_states(pool: PoolRows, usage: dict[int, Usage], now: datetime) -> list[ServerState]:
    out = []
    for row in sorted(pool.servers, key=lambda r: r.name):
        view = view_of(row)
        caps = view.caps(now)
        used = usage.get(row.id, Usage())
        ctx = DispatchContext(now, SendClass.LOW_VOLUME, usage)
        held = [*health_filter([view], ctx).skipped]
        if not held:
            held.extend(quota_filter([view], ctx).skipped)
        out.append(
            ServerState(
                name=row.name,
                uid=row.uid,
                type=row.type,
                status=row.status,
                health=row.health,
                checked_at=row.health_checked_at,
                last_error=row.health_error,
                day_used=used.day_used,
                day_cap=caps.daily,
                hour_used=used.hour_used,
                hour_cap=caps.hourly,
                warming=view.is_warming(now),
                held_back=[s.reason for s in held],
            )
        )
    return out


def _server_check(s: ServerState, now: datetime, usage_known: bool) -> Check:
    name = f"server {s.name}"
    if s.status != ServerStatus.ACTIVE:
        return Check(name, Status.OK, "disabled: never sends")
    checked = "never checked" if s.checked_at is None else f"checked {ago(s.checked_at, now)}"
    detail = f"{s.health}, {checked}"
    if usage_known:
        detail += f"; today {s.day_used:,}/{s.day_cap:,}"
        detail += " (warm-up cap)" if s.warming else ""
        if s.hour_cap is not None:
            detail += f", this hour {s.hour_used:,}/{s.hour_cap:,}"
    else:
        detail += "; usage unknown while Redis is unreachable"
    if s.last_error:
        detail += f"; last error: {s.last_error.rstrip('.')}"
    if not s.held_back:
        return Check(name, Status.OK, detail)
    detail += "; left out now: " + "; ".join(s.held_back)
    refused = _refusal(s)
    if refused is not None:
        advice = (
            f"{REFUSAL_ADVICE[refused]}; then `sendpool servers test {s.name}`. A passing "
            "automatic check does not fix this: the server answers checks and refuses mail"
        )
        return Check(name, Status.FAIL, detail, advice)
    if s.health == ServerHealth.DEGRADED:
        advice = (
            f"fix what the last error says, then `sendpool servers test {s.name}` "
            "(a passing automatic check also brings it back)"
        )
    elif s.day_cap == 0 and not s.warming:
        advice = "set sending_limit above 0 in the pool file"
    else:
        advice = "it sends again when the window resets; raise its limits if they are too low"
    return Check(name, Status.WARN, detail, advice)


def _refusal(s: ServerState) -> SenderPolicy | None:
    """Why a degraded server refuses the sender, read from the reply that degraded it."""
    if s.health != ServerHealth.DEGRADED or not s.last_error:
        return None
    outcome = read_description(s.last_error)
    return outcome.policy_refusal if outcome is not None else None


def _previews(pool: PoolRows, usage: dict[int, Usage], now: datetime) -> list[DispatchPreview]:
    views = {r.id: view_of(r) for r in pool.servers}
    out = []
    for plan_id, plan in sorted(pool.plan_names.items(), key=lambda p: p[1]):
        members = pool.plan_servers.get(plan_id, frozenset())
        servers = [views[i] for i in sorted(members) if i in views]
        for send_class in (SendClass.LOW_VOLUME, SendClass.BURST):
            sel = dispatch(servers, members, DispatchContext(now, send_class, usage))
            skipped = [Skipped(s.server_name, s.code.value, s.reason, s.until) for s in sel.skipped]
            names = [c.name for c in sel.candidates]
            out.append(DispatchPreview(plan, send_class, names, skipped, sel.retry_at))
    return out


def _plan_checks(previews: list[DispatchPreview]) -> list[Check]:
    by_plan: dict[str, list[DispatchPreview]] = {}
    for p in previews:
        by_plan.setdefault(p.plan, []).append(p)
    checks = []
    for plan, ps in by_plan.items():
        label = {SendClass.LOW_VOLUME: "low-volume", SendClass.BURST: "burst"}
        parts = []
        for p in ps:
            picks = ", ".join(p.candidates)
            if not picks and not p.skipped:
                picks = "nothing: no sending server is attached to this plan"
            elif not picks:
                picks = "nothing now"
                picks += f", waits until {p.retry_at:%Y-%m-%d %H:%M} UTC" if p.retry_at else ""
            parts.append(f"{label[p.send_class]}: {picks}")
        detail = "; ".join(parts)
        name = f"plan {plan}"
        if all(p.candidates for p in ps):
            checks.append(Check(name, Status.OK, detail))
        elif any(p.candidates or p.retry_at for p in ps):
            advice = "see the dispatcher lines below for why each server is left out"
            checks.append(Check(name, Status.WARN, detail, advice))
        else:
            advice = (
                "nothing comes back by itself: attach, enable or raise the limits "
                "of its servers in the pool file"
                if any(p.skipped for p in ps)
                else "attach sending servers to it in the pool file"
            )
            checks.append(Check(name, Status.FAIL, detail, advice))
    return checks
