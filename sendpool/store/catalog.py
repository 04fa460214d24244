"""Reads of the pool, campaigns and customers that the workers need at send time."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from sendpool.core.warmup import WarmupSchedule, held_days
from sendpool.core.warmup_share import DEFAULT_START_PERCENT, ShareWarmup
from sendpool.secretbox import SecretBox
from sendpool.store.backoffs import end_recovered, load_backoffs
from sendpool.store.database import Database
from sendpool.store.event_rollups import events_per_day
from sendpool.store.launches import finish_stalled_launches
from sendpool.store.providers import load_providers
from sendpool.store.records import CampaignRow, CustomerRow, PoolRows, ServerRow
from sendpool.store.reports import BOUNCE_KINDS
from sendpool.store.rollups import sent_per_day
from sendpool.store.rollups import upkeep as rollup_upkeep
from sendpool.store.sqlite_lists import marks, pad
from sendpool.store.tables import (
    Campaign,
    Customer,
    Plan,
    PlanServer,
    RegionRule,
    SendingServer,
    WorkerRecord,
    table,
)


def warmup_schedule(data: dict[str, object] | None) -> WarmupSchedule | None:
    """The daily-cap part of a warm-up; None when it has none (a warm-up by share only)."""
    if not data or data.get("start_daily") is None:
        return None
    gate = data.get("gate_bounce_rate")
    return WarmupSchedule(
        start_daily=int(str(data["start_daily"])),
        growth_percent=float(str(data["growth_percent"])),
        target_daily=int(str(data["target_daily"])),
        started_on=date.fromisoformat(str(data["started_on"])),
        gate_bounce_rate=float(str(gate)) if gate is not None else None,
    )


def warmup_share(data: dict[str, object] | None) -> ShareWarmup | None:
    """The share part of a warm-up (``percent_per_day`` given); None when it has none."""
    if not data or data.get("percent_per_day") is None:
        return None
    start = data.get("start_percent")
    return ShareWarmup(
        percent_per_day=int(str(data["percent_per_day"])),
        started_on=date.fromisoformat(str(data["started_on"])),
        start_percent=DEFAULT_START_PERCENT if start is None else int(str(start)),
    )


def _gate(data: dict[str, object] | None) -> WarmupSchedule | None:
    """What the reputation gate reads: the cap schedule, or for a share only its start and gate."""
    schedule = warmup_schedule(data)
    if schedule is not None or not data or data.get("gate_bounce_rate") is None:
        return schedule
    started = date.fromisoformat(str(data["started_on"]))
    return WarmupSchedule(0, 0.0, 0, started, float(str(data["gate_bounce_rate"])))


# Below this many sends in a day, its bounce rate does not hold warm-up back
# (SENDPOOL_BOUNCE_MIN_VOLUME; docs/design.md §6).
DEFAULT_GATE_MIN_SENT = 500


def _daily_bounces(
    conn: Connection, server_id: int, since: date
) -> tuple[dict[date, float], dict[date, int]]:
    """Bounces over messages sent, and the sends, per UTC day of the original send.

    Bounces are hard ones and refusals about the server's reputation. Both
    come from the day rollups (sends and events), so a warming server costs
    its days, not every message or bounce it ever had (the pool is loaded by
    every worker, often).
    """
    totals = sent_per_day(conn, server_id, since)
    bounced = events_per_day(conn, server_id, since, BOUNCE_KINDS)
    rates = {day: n / max(1, totals.get(day, 0)) for day, n in bounced.items()}
    return rates, totals


def warmup_held(
    conn: Connection,
    server_id: int,
    schedule: WarmupSchedule | None,
    today: date,
    *,
    gate_min_sent: int = DEFAULT_GATE_MIN_SENT,
) -> int:
    """Days the schedule's reputation gate held the server's warm-up back, up to today."""
    if schedule is None or schedule.gate_bounce_rate is None:
        return 0
    rates, sent = _daily_bounces(conn, server_id, schedule.started_on)
    return held_days(rates, schedule, today, daily_sent=sent, min_sent=gate_min_sent)


def server_row(
    conn: Connection,
    s: SendingServer,
    box: SecretBox,
    today: date,
    *,
    gate_min_sent: int = DEFAULT_GATE_MIN_SENT,
) -> ServerRow:
    held = warmup_held(conn, s.id, _gate(s.warmup), today, gate_min_sent=gate_min_sent)
    return ServerRow(
        id=s.id,
        uid=s.uid,
        name=s.name,
        type=s.type,
        status=s.status,
        health=s.health,
        sending_limit=s.sending_limit,
        hourly_limit=s.hourly_limit,
        rate_per_second=s.rate_per_second,
        max_connections=s.max_connections,
        max_messages_per_connection=s.max_messages_per_connection,
        timezone=s.timezone,
        default_from_email=s.default_from_email,
        settings=dict(s.settings or {}),
        secrets=box.open(s.secrets_sealed),
        warmup=s.warmup,
        warmup_held_days=held,
        next_check_at=s.next_check_at,
        paused_until=s.paused_until,
        health_checked_at=s.health_checked_at,
        health_error=s.health_error,
        last_activity_at=s.last_activity_at,
        smtputf8=s.smtputf8,
        bounce_domain=s.bounce_domain,
        status_reason=s.status_reason,
    )


def load_pool(
    conn: Connection, box: SecretBox, now: datetime, gate_min_sent: int = DEFAULT_GATE_MIN_SENT
) -> PoolRows:
    from sqlalchemy.orm import Session

    with Session(bind=conn) as session:
        servers = session.scalars(select(SendingServer).order_by(SendingServer.id)).all()
        today = now.date()
        rows = tuple(server_row(conn, s, box, today, gate_min_sent=gate_min_sent) for s in servers)
    members: dict[int, set[int]] = defaultdict(set)
    weights: dict[int, dict[int, int]] = defaultdict(dict)
    attached = select(PlanServer.plan_id, PlanServer.server_id, PlanServer.weight)
    for plan_id, server_id, weight in conn.execute(attached):
        members[plan_id].add(server_id)
        if weight != 1:  # absent weighs 1 (core/selectors)
            weights[plan_id][server_id] = int(weight)
    plans = conn.execute(select(Plan.id, Plan.name, Plan.burst_threshold, Plan.selector)).all()
    provider_groups, provider_limits = load_providers(conn)
    return PoolRows(
        servers=rows,
        plan_servers={p: frozenset(members.get(p, ())) for p, _n, _b, _s in plans},
        plan_names={p: n for p, n, _b, _s in plans},
        plan_burst={p: b for p, _n, b, _s in plans},
        plan_selector={int(p): str(s) for p, _n, _b, s in plans},
        plan_weights=dict(weights),
        region_rules=region_rules(conn),
        backoffs=load_backoffs(conn, now),
        provider_groups=provider_groups,
        provider_limits=provider_limits,
    )


def region_rules(conn: Connection) -> dict[str, int]:
    """Region -> plan id: a customer tagged with a region sends under that plan."""
    rows = conn.execute(select(RegionRule.region, RegionRule.plan_id))
    return {str(region): int(plan_id) for region, plan_id in rows}


def load_campaigns(conn: Connection, ids: Iterable[int]) -> dict[int, CampaignRow]:
    ids = list(ids)
    if not ids:
        return {}
    c = Campaign
    rows = conn.execute(
        select(
            c.id,
            c.uid,
            c.customer_id,
            c.plan_id,
            c.status,
            c.recipient_count,
            c.subject,
            c.from_email,
            c.from_name,
            c.reply_to,
            c.text_body,
            c.html_body,
            c.updated_at,
            c.list_id,
        ).where(c.id.in_(ids))
    ).all()
    return {r.id: CampaignRow(**r._mapping) for r in rows}


def load_customers(conn: Connection, ids: Iterable[int]) -> dict[int, CustomerRow]:
    ids = list(ids)
    if not ids:
        return {}
    rows = conn.execute(
        select(Customer.id, Customer.uid, Customer.name, Customer.plan_id, Customer.region).where(
            Customer.id.in_(ids)
        )
    ).all()
    return {r.id: CustomerRow(**r._mapping) for r in rows}


def heartbeat_sync(conn: Connection, worker: str, now: datetime, stopping: bool) -> None:
    import os
    import socket

    T = table(WorkerRecord)
    end_recovered(conn, now)  # adaptive back-offs: audited when they end, if idle
    values = {"heartbeat_at": now, "stopped_at": now if stopping else None}
    updated = conn.execute(update(T).where(T.c.id == worker).values(**values)).rowcount
    if not updated:
        conn.execute(
            T.insert().values(
                id=worker, hostname=socket.gethostname(), pid=os.getpid(), started_at=now, **values
            )
        )


def live_workers(conn: Connection, now: datetime, within_seconds: float = 15.0) -> int:
    T = table(WorkerRecord)
    since = now - timedelta(seconds=within_seconds)
    return int(
        conn.execute(
            select(func.count()).where(T.c.heartbeat_at >= since, T.c.stopped_at.is_(None))
        ).scalar_one()
    )


def claim_health_check_sync(
    conn: Connection, server_id: int, now: datetime, until: datetime
) -> bool:
    """Only one worker checks a server per interval: the one whose update lands."""
    T = table(SendingServer)
    return bool(
        conn.execute(
            update(T)
            .where(T.c.id == server_id)
            .where((T.c.next_check_at.is_(None)) | (T.c.next_check_at <= now))
            .values(next_check_at=until)
        ).rowcount
    )


def load_suppressed(
    conn: Connection, recipients: list[tuple[int, str]]
) -> dict[tuple[int, str], str]:
    """Suppressions among a batch's recipients, found by the key's exact spelling or lowercased."""
    if not recipients:
        return {}
    by_customer: dict[int, set[str]] = defaultdict(set)
    for customer_id, email in recipients:
        by_customer[customer_id].update((email, email.lower()))
    out: dict[tuple[int, str], str] = {}
    sqlite = conn.dialect.name == "sqlite"
    for customer_id, emails in by_customer.items():
        # The driver's own SQL: an expression's IN list costs a bound parameter's
        # processing per address, for every claimed batch.
        listed = sorted(emails)
        if sqlite:
            sql = (
                "SELECT email, reason FROM suppressions WHERE customer_id = ? "
                f"AND email IN ({marks(len(listed))})"
            )
            rows = conn.exec_driver_sql(sql, (customer_id, *pad(listed))).fetchall()
        else:
            sql = (
                "SELECT email, reason FROM suppressions WHERE customer_id = %s "
                "AND email = ANY(%s::text[])"
            )
            rows = conn.exec_driver_sql(sql, (customer_id, listed)).fetchall()
        for email, reason in rows:
            out[(customer_id, str(email).lower())] = str(reason)
    return out


# How often a worker folds the rollups' deltas (store/rollups.py), beside serve's scheduler.
ROLLUP_UPKEEP_SECONDS = 60.0
log = logging.getLogger("sendpool.store")


class SqlCatalog:
    def __init__(
        self, db: Database, box: SecretBox, *, gate_min_sent: int = DEFAULT_GATE_MIN_SENT
    ) -> None:
        self.db = db
        self.box = box
        self.gate_min_sent = gate_min_sent
        self._upkeep_at: datetime | None = None

    async def pool(self, now: datetime) -> PoolRows:
        return await self.db.run(load_pool, self.box, now, self.gate_min_sent)

    async def campaigns(self, ids: Iterable[int]) -> dict[int, CampaignRow]:
        return await self.db.run(load_campaigns, list(ids))

    async def customers(self, ids: Iterable[int]) -> dict[int, CustomerRow]:
        return await self.db.run(load_customers, list(ids))

    async def suppressed(self, recipients: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
        return await self.db.run(load_suppressed, list(recipients))

    async def heartbeat(self, worker: str, now: datetime, stopping: bool = False) -> None:
        await self.db.run(heartbeat_sync, worker, now, stopping)
        if stopping or (self._upkeep_at is not None and now < self._upkeep_at):
            return
        # Workers fold the rollups' deltas too, so a pool run without `serve` keeps its
        # reads short; the fold takes a lock only one process holds at a time.
        self._upkeep_at = now + timedelta(seconds=ROLLUP_UPKEEP_SECONDS)
        try:
            await self.db.run(rollup_upkeep, now)
        except SQLAlchemyError:
            log.exception("folding the rollups failed; reads stay exact, the next turn retries")

    async def claim_health_check(self, server_id: int, now: datetime, until: datetime) -> bool:
        return await self.db.run(claim_health_check_sync, server_id, now, until)

    async def finish_stalled_launches(
        self, now: datetime, halt: threading.Event | None = None
    ) -> list[int]:
        return await asyncio.to_thread(finish_stalled_launches, self.db.engine, now, halt=halt)
