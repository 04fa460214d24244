"""Rebalancing, done: read each active server's last 24 hours, apply the policy, audit it.

The daily job runs once per day slot, however many ``serve`` processes are
up: the check for an earlier run and the changes share one transaction
(under the write lock on SQLite, an advisory lock on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Connection, select, text, update

from sendpool.config import Settings
from sendpool.core.rebalance import Action, Activity, Decision, RebalancePolicy, decide
from sendpool.core.states import ServerStatus
from sendpool.services.operations.audit import write_audit
from sendpool.services.servers.stats import activity_24h
from sendpool.store.tables import AuditEntry, SendingServer, table

RUN_ACTION = "rebalance.run"
_LOCK_KEY = 0x5E4D900  # any constant: one advisory lock for the daily job


@dataclass(frozen=True, slots=True)
class ServerDecision:
    uid: str
    name: str
    activity: Activity
    decision: Decision


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
    )


def rebalance(
    conn: Connection, *, policy: RebalancePolicy, now: datetime, dry_run: bool, actor: str
) -> RebalanceRun:
    """Decide for every active or paused server; unless ``dry_run``, write and audit each change."""
    T = table(SendingServer)
    servers = conn.execute(
        select(T.c.id, T.c.uid, T.c.name, T.c.sending_limit, T.c.status)
        .where(T.c.status.in_((ServerStatus.ACTIVE, ServerStatus.PAUSED)))
        .order_by(T.c.name)
    ).all()
    activity = activity_24h(conn, [s.id for s in servers], now)
    decisions = []
    for s in servers:
        d = decide(s.sending_limit, activity[s.id], policy, paused=s.status == ServerStatus.PAUSED)
        decisions.append(ServerDecision(s.uid, s.name, activity[s.id], d))
        if dry_run or d.new_limit == d.old_limit:
            continue
        conn.execute(
            update(T).where(T.c.id == s.id).values(sending_limit=d.new_limit, updated_at=now)
        )
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
                "bounce_rate_last_24h": activity[s.id].bounce_rate,
                "sent_last_24h": activity[s.id].sent,
                "bounces_last_24h": activity[s.id].bounces,
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
