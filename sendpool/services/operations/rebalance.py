"""Rebalancing, done: read each active server's last 24 hours, judge it, audit every verdict.

The daily job runs once per day slot, however many ``serve`` processes are
up: the check for an earlier run and the changes share one transaction
(under the write lock on SQLite, an advisory lock on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text, update

from sendpool.config import Settings
from sendpool.core.rebalance import Action, Activity, Decision, RebalancePolicy, Standing, judge
from sendpool.core.states import ServerStatus
from sendpool.services.messages.waiting import capacity_added
from sendpool.services.operations.audit import write_audit
from sendpool.services.servers.stats import activity_24h
from sendpool.store.catalog import warmup_held, warmup_schedule
from sendpool.store.tables import AuditEntry, Message, SendingServer, table

RUN_ACTION = "rebalance.run"
_LOCK_KEY = 0x5E4D900  # any constant: one advisory lock for the daily job


@dataclass(frozen=True, slots=True)
class ServerDecision:
    uid: str
    name: str
    activity: Activity
    decision: Decision
    standing: Standing | None = None


@dataclass(frozen=True, slots=True)
class RebalanceRun:
    at: datetime
    dry_run: bool
    decisions: list[ServerDecision]

    @property
    def changed(self) -> list[ServerDecision]:
        return [d for d in self.decisions if d.decision.new_limit != d.decision.old_limit]


def policy_from(settings: Settings) -> RebalancePolicy:
    return RebalancePolicy(
        raise_below=settings.rebalance_raise_below,
        cut_above=settings.rebalance_cut_above,
        raise_by=settings.rebalance_raise_by,
        cut_by=settings.rebalance_cut_by,
        min_sent=settings.rebalance_min_sent,
        raise_when_used=settings.rebalance_raise_when_used,
    )


def _first_sends(conn: Connection, ids: list[int]) -> dict[int, datetime]:
    """Each server's oldest recorded send (one index seek each: server_id, sent_at)."""
    M = table(Message)
    stmt = (
        select(M.c.server_id, func.min(M.c.sent_at))
        .where(M.c.server_id.in_(ids), M.c.sent_at.is_not(None))
        .group_by(M.c.server_id)
    )
    return {int(i): at for i, at in conn.execute(stmt) if at is not None}


def standings(conn: Connection, now: datetime) -> list[tuple[Any, Standing]]:
    """Every active or paused server with what the verdict needs, by name."""
    T = table(SendingServer)
    servers = conn.execute(
        select(T)
        .where(T.c.status.in_((ServerStatus.ACTIVE, ServerStatus.PAUSED)))
        .order_by(T.c.name)
    ).all()
    ids = [s.id for s in servers]
    activity = activity_24h(conn, ids, now)
    first = _first_sends(conn, ids)
    today = now.date()
    out = []
    for s in servers:
        schedule = warmup_schedule(s.warmup)
        held = warmup_held(conn, s.id, schedule, today)
        warming = schedule is not None and schedule.is_warming(today, held)
        day_cap = (
            min(s.sending_limit, schedule.cap_on(today, held))
            if warming and schedule
            else s.sending_limit
        )
        out.append(
            (
                s,
                Standing(
                    limit=s.sending_limit,
                    activity=activity[s.id],
                    day_cap=day_cap,
                    first_sent_at=first.get(s.id),
                    warming=warming,
                    paused=s.status == ServerStatus.PAUSED,
                    ceiling=s.rebalance_ceiling,
                    vendor_limit=s.vendor_daily_limit,
                ),
            )
        )
    return out


def rebalance(
    conn: Connection, *, policy: RebalancePolicy, now: datetime, dry_run: bool, actor: str
) -> RebalanceRun:
    """Judge every active or paused server; unless ``dry_run``, write and audit each verdict.

    Every verdict goes to the audit log, a kept limit too (``rebalance.keep``,
    with its reason), so an operator can always read why a limit did or did
    not move. A raise wakes the server's waiting mail.
    """
    T = table(SendingServer)
    decisions = []
    for s, standing in standings(conn, now):
        d = judge(standing, policy, now)
        decisions.append(ServerDecision(s.uid, s.name, standing.activity, d, standing))
        if dry_run:
            continue
        if d.new_limit != d.old_limit:
            conn.execute(
                update(T).where(T.c.id == s.id).values(sending_limit=d.new_limit, updated_at=now)
            )
            if d.new_limit > d.old_limit:
                capacity_added(conn, servers=[s.id], now=now)
        a = standing.activity
        write_audit(
            conn,
            actor=actor,
            action=f"rebalance.{d.action.value}",
            now=now,
            server_id=s.id,
            detail={
                "server": s.name,
                "from": d.old_limit,
                "to": d.new_limit,
                "bounce_rate_last_24h": a.bounce_rate,
                "sent_last_24h": a.sent,
                "bounces_last_24h": a.bounces,
                "day_cap": standing.day_cap,
                "reason": d.reason,
            },
        )
    run = RebalanceRun(now, dry_run, decisions)
    if not dry_run:
        summary = {
            "servers": len(decisions),
            "raised": sum(d.decision.action is Action.RAISE for d in run.changed),
            "cut": sum(d.decision.action is Action.CUT for d in run.changed),
        }
        write_audit(conn, actor=actor, action=RUN_ACTION, now=now, detail=summary)
    return run


def slot_start(now: datetime, at: time) -> datetime:
    """The latest daily slot (``at``, UTC) at or before ``now``."""
    today = datetime.combine(now.astimezone(UTC).date(), at, tzinfo=UTC)
    return today if today <= now else today - timedelta(days=1)


def run_if_due(
    conn: Connection, *, policy: RebalancePolicy, now: datetime, at: time, actor: str
) -> RebalanceRun | None:
    """Rebalance unless a run already happened since the latest slot; None when not due."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    last = conn.execute(
        select(AuditEntry.at).where(AuditEntry.action == RUN_ACTION).order_by(AuditEntry.id.desc())
    ).scalar()
    if last is not None and last >= slot_start(now, at):
        return None
    return rebalance(conn, policy=policy, now=now, dry_run=False, actor=actor)
