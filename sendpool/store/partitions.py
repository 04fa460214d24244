"""The day partitions of ``messages`` on PostgreSQL: made ahead of need, dropped when past use.

Migration 0021 partitions ``messages`` by ``part_day`` (UTC days since
1970-01-01): one partition per day (``messages_pYYYYMMDD``), the table from
before the upgrade as ``messages_legacy`` (every day before the upgrade), and
``messages_default`` for a row whose day has no partition yet. The scheduler
makes the partitions of the next days once a day (``ensure_partitions``);
retention drops a partition whole once nothing in it is pending and its
newest settled row is past retention (``drop_old``): no dead rows, no
vacuum, no index to walk. SQLite keeps one table: every function here
answers with nothing to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from sendpool.store.retention import SETTLED_SQL
from sendpool.store.rollups import PENDING_INDEX_WHERE

EPOCH = date(1970, 1, 1)
LEGACY = "messages_legacy"
DEFAULT = "messages_default"
AHEAD = 7  # days made ahead of today: a week of missed upkeep before rows go to the default
# A DETACH or CREATE ... PARTITION OF waits at most this for its lock, then gives up for
# this run: the workers' claims and write-backs never queue behind it for long.
LOCK_TIMEOUT = "2s"
# Word for word the predicates of the partial indexes, so each check is one index probe.
_PENDING = PENDING_INDEX_WHERE.text
_SETTLED = SETTLED_SQL
_BOUND = re.compile(r"FOR VALUES FROM \((MINVALUE|-?\d+)\) TO \((MAXVALUE|-?\d+)\)")


_PARTITION_NAME = re.compile(r"messages_(legacy|default|p\d{8})")


def not_a_partition(name: str | None, type_: str, parents: object) -> bool:
    """For alembic's ``include_name``: the model describes the parent, not its partitions."""
    return not (type_ == "table" and name is not None and _PARTITION_NAME.fullmatch(name))


def day_of(at: datetime) -> int:
    """The UTC day of ``at``, as days since 1970-01-01 (what ``part_day`` holds)."""
    return (at.astimezone(UTC).date() - EPOCH).days


def date_of(day: int) -> date:
    return EPOCH + timedelta(days=day)


def partition_name(day: int) -> str:
    return f"messages_p{date_of(day):%Y%m%d}"


def create_day_sql(day: int) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF messages "
        f"FOR VALUES FROM ({day}) TO ({day + 1})"
    )


def partitioned(conn: Connection) -> bool:
    """Whether ``messages`` is partitioned here (PostgreSQL after migration 0021)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'messages'::regclass"))
    return bool(kind.scalar_one() == "p")


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition of messages: days [start, end); None for an open end."""

    name: str
    start: int | None  # None: MINVALUE (the legacy table), or the default partition
    end: int | None
    default: bool = False

    @property
    def legacy(self) -> bool:
        return self.name == LEGACY

    def holds(self, day: int) -> bool:
        """Whether ``day`` is in its range (never true of the default partition)."""
        if self.default:
            return False
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)


def list_partitions(conn: Connection) -> list[Partition]:
    """Every partition of messages with its range, oldest first, the default last."""
    if not partitioned(conn):
        return []
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass"
        )
    ).all()
    out = []
    for name, bound in rows:
        if bound == "DEFAULT":
            out.append(Partition(name, None, None, default=True))
            continue
        found = _BOUND.fullmatch(bound)
        if found is None:  # only sendpool makes these partitions: anything else is a fault
            raise ValueError(f"partition {name} of messages has an unexpected bound: {bound}")
        low, high = found.groups()
        start = None if low == "MINVALUE" else int(low)
        end = None if high == "MAXVALUE" else int(high)
        out.append(Partition(name, start, end))
    return sorted(out, key=lambda p: (p.default, -(10**9) if p.start is None else p.start))


@dataclass(slots=True)
class Ensured:
    """What ``ensure_partitions`` did: days made, days already there, days left to the default."""

    created: list[str] = field(default_factory=list)
    present: int = 0
    skipped: list[str] = field(default_factory=list)  # why, one line per day


def ensure_partitions(conn: Connection, today: date | datetime, ahead: int = AHEAD) -> Ensured:
    """Make the partitions of ``today`` and the ``ahead`` days after it that are missing.

    A day for which the default partition already holds rows cannot get a
    partition (PostgreSQL refuses a partition whose rows sit in the default):
    it is left there, said so in the result, and its rows go by retention's
    row-by-row sweep. Each day is its own savepoint under a short lock
    timeout; a day that times out is skipped this time and made at the next
    run, well before it comes.
    """
    done = Ensured()
    if not partitioned(conn):
        return done
    first = day_of(today) if isinstance(today, datetime) else (today - EPOCH).days
    parts = list_partitions(conn)
    have = {p.start for p in parts if p.start is not None and p.end == p.start + 1}
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": LOCK_TIMEOUT})
    for day in range(first, first + ahead + 1):
        name = partition_name(day)
        if day in have:
            done.present += 1
            continue
        wider = next((p for p in parts if p.holds(day) and not p.default), None)
        if wider is not None:  # the legacy table holds every day before the upgrade
            done.skipped.append(f"{name}: {wider.name} holds that day")
            continue
        held = conn.execute(
            text(f"SELECT 1 FROM {DEFAULT} WHERE part_day = :d LIMIT 1"), {"d": day}
        ).first()
        if held is not None:
            done.skipped.append(f"{name}: {DEFAULT} holds rows of that day")
            continue
        try:
            with conn.begin_nested():
                conn.execute(text(create_day_sql(day)))
        except OperationalError as exc:  # lock_timeout: the table was busy
            done.skipped.append(f"{name}: {type(exc.orig).__name__}")
            continue
        done.created.append(name)
    return done


@dataclass(frozen=True, slots=True)
class Dropped:
    """A partition dropped (or, in a dry run, that would be), with its planner's row estimate."""

    name: str
    rows: int


@dataclass(slots=True)
class DropRun:
    dropped: list[Dropped] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # old enough by range, kept: why


def _why_kept(conn: Connection, name: str, cutoff: datetime) -> str | None:
    """None when nothing in the partition must stay; else why it stays."""
    pending = conn.execute(text(f"SELECT 1 FROM {name} WHERE {_PENDING} LIMIT 1")).first()
    if pending is not None:
        return f"{name}: holds a pending message"
    newest = conn.execute(
        text(f"SELECT updated_at FROM {name} WHERE {_SETTLED} ORDER BY updated_at DESC LIMIT 1")
    ).scalar()
    if newest is not None and newest >= cutoff.astimezone(UTC).replace(tzinfo=None):
        return f"{name}: a message settled at {newest:%Y-%m-%d %H:%M} UTC"
    return None


def _estimate(conn: Connection, name: str) -> int:
    rows = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :n"), {"n": name})
    return max(0, int(rows.scalar_one()))


def drop_old(conn: Connection, cutoff: datetime, dry_run: bool) -> DropRun:
    """Detach and drop each partition wholly past retention; the rest stays for the sweep.

    A partition goes when its whole range ends on or before the cutoff's day,
    it holds no pending message (one probe of its pending index) and its
    newest settled message settled before the cutoff (the last entry of its
    settled index). The default partition never goes, nor today's or a later
    one. The partition is detached first, under a short lock timeout, and
    checked while detached, so no write can slip in between the check and the
    drop; a partition that must stay is attached again by rolling its
    savepoint back, and one whose lock timed out waits for the next run. No
    rollup changes: the triggers forget only pending rows, and a dropped
    partition has none.
    """
    out = DropRun()
    if not partitioned(conn):
        return out
    last = day_of(cutoff)
    old = [p for p in list_partitions(conn) if not p.default and p.end is not None]
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": LOCK_TIMEOUT})
    for p in (p for p in old if p.end is not None and p.end <= last):
        if dry_run:
            why = _why_kept(conn, p.name, cutoff)
            if why is None:
                out.dropped.append(Dropped(p.name, _estimate(conn, p.name)))
            else:
                out.kept.append(why)
            continue
        try:
            with conn.begin_nested() as savepoint:
                conn.execute(text(f"ALTER TABLE messages DETACH PARTITION {p.name}"))
                why = _why_kept(conn, p.name, cutoff)
                if why is not None:
                    out.kept.append(why)
                    savepoint.rollback()
                    continue
                rows = _estimate(conn, p.name)
                conn.execute(text(f"DROP TABLE {p.name}"))
        except OperationalError as exc:  # lock_timeout: the queue was busy; next run
            out.kept.append(f"{p.name}: {type(exc.orig).__name__}")
            continue
        out.dropped.append(Dropped(p.name, rows))
    return out
