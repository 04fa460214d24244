"""Retention, run: delete history past its settings, batch by batch, and audit the figures.

The store deletes one batch per transaction (store/retention.py); this walks
the tables in turn and adds up what went. A run that is stopped leaves every
finished batch done, and the next run starts on what is left. ``serve`` runs
it once per daily slot (``retention_at``): the slot is claimed first, in one
transaction under a lock, with a ``retention.start`` entry, so a second
``serve`` process finds it taken; the figures follow as ``retention.run``.

On PostgreSQL, messages is partitioned by day (store/partitions.py): a run
first drops each day partition wholly past retention (nothing pending in it,
its newest settled row older than the cutoff), then the row-by-row sweep
takes what is left (a partition with a few late rows, the legacy and the
default partitions, and every row on SQLite).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as day_time
from typing import Any

from sqlalchemy import Connection, select, text

from sendpool.config import Settings
from sendpool.services.operations.audit import write_audit
from sendpool.services.operations.rebalance import slot_start
from sendpool.store.database import Database
from sendpool.store.partitions import DropRun, drop_old
from sendpool.store.retention import Batch, Key, sweep_by_id, sweep_messages, sweep_skips
from sendpool.store.tables import AuditEntry

START_ACTION = "retention.start"
RUN_ACTION = "retention.run"
ACTOR = "sendpool"  # who the daily job is, in the audit log
_LOCK_KEY = 0x5E4D901  # one advisory lock for claiming the daily slot

# The order of a run: messages first, the largest; each table with the setting that keeps it.
TABLES = (
    ("messages", "message_days"),
    ("delivery_events", "event_days"),
    ("webhook_unmatched", "event_days"),
    ("dispatch_skips", "event_days"),
    ("audit_log", "audit_days"),
)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each kind of history is kept (0: forever), and rows per batch."""

    message_days: int
    event_days: int
    audit_days: int
    batch_size: int

    @property
    def keeps_everything(self) -> bool:
        return not (self.message_days or self.event_days or self.audit_days)


def policy_from(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        message_days=settings.retention_days,
        event_days=settings.event_retention_days,
        audit_days=settings.audit_retention_days,
        batch_size=settings.retention_batch_size,
    )


@dataclass(slots=True)
class TableSweep:
    """One table's share of a run: what goes is what was written before ``cutoff``."""

    table: str
    days: int
    cutoff: datetime
    rows: int = 0
    batches: int = 0


@dataclass(slots=True)
class RetentionRun:
    at: datetime
    dry_run: bool
    tables: list[TableSweep] = field(default_factory=list)
    seconds: float = 0.0
    partitions: DropRun = field(default_factory=DropRun)  # day partitions of messages

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def figures(self) -> dict[str, Any]:
        """The run as the audit log and ``--json`` give it.

        ``partitions``: the day partitions of messages dropped whole (or that a
        dry run would drop), with the planner's estimate of their rows, and the
        ones old enough that stayed, with why; their rows are not in ``rows``.
        """
        return {
            "dry_run": self.dry_run,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "partitions": {
                "dropped": [d.name for d in self.partitions.dropped],
                "rows_estimated": sum(d.rows for d in self.partitions.dropped),
                "kept": list(self.partitions.kept),
            },
            "tables": {
                t.table: {
                    "days": t.days,
                    "cutoff": t.cutoff.isoformat(),
                    "rows": t.rows,
                    "batches": t.batches,
                }
                for t in self.tables
            },
        }


def plan(policy: RetentionPolicy, now: datetime) -> list[TableSweep]:
    """The tables this policy trims, each with its cutoff; a table kept forever is left out."""
    out = []
    for name, days_field in TABLES:
        days = getattr(policy, days_field)
        if days > 0:
            out.append(TableSweep(name, days, now - timedelta(days=days)))
    return out


Step = Callable[[Connection], Batch]


def _step(sweep: TableSweep, after: Key | None, limit: int, dry_run: bool) -> Step:
    def step(conn: Connection) -> Batch:
        common: dict[str, Any] = {"after": after, "limit": limit, "dry_run": dry_run}
        if sweep.table == "messages":
            return sweep_messages(conn, cutoff=sweep.cutoff, **common)
        if sweep.table == "dispatch_skips":
            return sweep_skips(conn, before_day=sweep.cutoff.date().isoformat(), **common)
        return sweep_by_id(conn, sweep.table, cutoff=sweep.cutoff, **common)

    return step


class Sweeper:
    """The next batch to run and the sum so far; the caller runs each batch in a transaction."""

    def __init__(self, policy: RetentionPolicy, now: datetime, dry_run: bool) -> None:
        self.policy = policy
        self.run = RetentionRun(now, dry_run, plan(policy, now))
        self._table = 0
        self._after: Key | None = None
        self._started = time.monotonic()

    def message_cutoff(self) -> datetime | None:
        """The cutoff of settled messages, when this run trims them."""
        return next((t.cutoff for t in self.run.tables if t.table == "messages"), None)

    def partitions_dropped(self, dropped: DropRun) -> None:
        self.run.partitions = dropped

    def next_step(self) -> Step | None:
        if self._table >= len(self.run.tables):
            self.run.seconds = time.monotonic() - self._started
            return None
        sweep = self.run.tables[self._table]
        return _step(sweep, self._after, self.policy.batch_size, self.run.dry_run)

    def record(self, batch: Batch) -> TableSweep:
        sweep = self.run.tables[self._table]
        sweep.rows += batch.rows
        sweep.batches += 1
        self._after = batch.after
        if batch.after is None:
            self._table += 1
        return sweep


OnBatch = Callable[[TableSweep], None]


def run_retention(
    db: Database,
    *,
    policy: RetentionPolicy,
    now: datetime,
    dry_run: bool,
    actor: str,
    on_batch: OnBatch | None = None,
) -> RetentionRun:
    """Delete (or count, in a dry run) what is past retention; a real run is audited."""
    sweeper = Sweeper(policy, now, dry_run)
    cutoff = sweeper.message_cutoff()
    if cutoff is not None:  # whole partitions first: what they held needs no sweep
        sweeper.partitions_dropped(db.transaction(drop_old, cutoff, dry_run))
    while (step := sweeper.next_step()) is not None:
        sweep = sweeper.record(db.transaction(step))
        if on_batch is not None:
            on_batch(sweep)
    run = sweeper.run
    if not dry_run:
        db.transaction(write_audit, actor=actor, action=RUN_ACTION, now=now, detail=run.figures())
    return run


def claim_slot(conn: Connection, *, now: datetime, at: day_time, policy: RetentionPolicy) -> bool:
    """Take today's slot unless a run took it already; the claim is a ``retention.start`` entry."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    last = conn.execute(
        select(AuditEntry.at)
        .where(AuditEntry.action == START_ACTION)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).scalar()
    if last is not None and last >= slot_start(now, at):
        return False
    cutoffs = {t.table: t.cutoff.isoformat() for t in plan(policy, now)}
    write_audit(conn, actor=ACTOR, action=START_ACTION, now=now, detail={"cutoffs": cutoffs})
    return True


async def run_if_due(db: Database, settings: Settings, now: datetime) -> RetentionRun | None:
    """The daily job: None when everything is kept forever or this slot has run already.

    Each batch goes through the database's own threads like every other
    write, so workers' write-backs interleave with it on SQLite's one writer.
    """
    policy = policy_from(settings)
    if policy.keeps_everything:
        return None
    if not await db.run(claim_slot, now=now, at=settings.retention_at, policy=policy):
        return None
    sweeper = Sweeper(policy, now, dry_run=False)
    cutoff = sweeper.message_cutoff()
    if cutoff is not None:
        sweeper.partitions_dropped(await db.run(drop_old, cutoff, False))
    while (step := sweeper.next_step()) is not None:
        sweeper.record(await db.run(step))
    run = sweeper.run
    await db.run(write_audit, actor=ACTOR, action=RUN_ACTION, now=now, detail=run.figures())
    return run
