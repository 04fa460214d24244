"""Adaptive back-off state in the database: loaded with the pool, judged at write-back.

Every worker's write-back (and every vendor webhook) brings its deferrals here.
The server x group rows they touch are locked in one sorted order, after every
other lock the write-back takes, so the count "N hits within the window" is
exact however many workers record at once, and two write-backs never wait on
each other in a cycle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, RowMapping, delete, func, select, update

from sendpool.core.backoff import BackoffState, observed_rate, recovered_at
from sendpool.core.backoff_defaults import SHIPPED_RULES
from sendpool.core.backoff_rules import (
    BackoffRule,
    Deferral,
    engage,
    longest_window,
    matching,
    settling,
)
from sendpool.store.backoff_rules import operator_rules
from sendpool.store.base import table
from sendpool.store.database import insert_for
from sendpool.store.tables_access import AuditEntry
from sendpool.store.tables_backoffs import Backoff, BackoffHit, GroupSends

ACTOR = "sendpool"
# Sends per minute are kept a little longer than observed_rate reads them.
_SENDS_KEPT = timedelta(minutes=10)
Key = tuple[int, str]


def load_backoffs(conn: Connection, now: datetime) -> dict[Key, BackoffState]:
    """The back-offs not yet fully recovered, per (server id, provider group)."""
    B = table(Backoff)
    rows = conn.execute(select(B).where(B.c.factor.is_not(None), B.c.ends_at > now))
    return {(int(r.server_id), str(r.group_name)): state_of(r._mapping) for r in rows}


def state_of(row: RowMapping) -> BackoffState:
    return BackoffState(
        server_id=int(row["server_id"]),
        group=str(row["group_name"]),
        factor=float(row["factor"]),
        engaged_at=row["engaged_at"],
        hold_until=row["hold_until"],
        recover_step=float(row["recover_step"]),
        recover_every=timedelta(seconds=float(row["recover_every_seconds"])),
        base_rate=None if row["base_rate"] is None else float(row["base_rate"]),
        rule=str(row["rule"]),
        reason=str(row["reason"] or ""),
        changed_at=row["changed_at"],
    )


def record_backoffs(
    conn: Connection,
    deferrals: Sequence[Deferral],
    group_sent: Mapping[Key, int],
    now: datetime,
) -> list[BackoffState]:
    """Count sends, record matching deferrals, engage or deepen back-offs, end recovered ones.

    Returns the back-offs engaged or deepened by this call.
    """
    _count_sends(conn, group_sent, now)
    rules = operator_rules(conn, SHIPPED_RULES) if deferrals else []
    hits: dict[Key, list[tuple[BackoffRule, Deferral]]] = defaultdict(list)
    for d in deferrals:
        for rule in matching(rules, d):
            hits[(d.server_id, rule.group)].append((rule, d))
    B = table(Backoff)
    ending = conn.execute(
        select(B.c.server_id, B.c.group_name).where(B.c.factor.is_not(None), B.c.ends_at <= now)
    ).all()
    keys = sorted({(int(s), str(g)) for s, g in ending} | set(hits))
    engaged: list[BackoffState] = []
    keep = longest_window(rules)
    for key in keys:
        row = _lock(conn, key)
        current = state_of(row) if row["factor"] is not None else None
        if current is not None and recovered_at(current) <= now:
            _end(conn, current, now)
            current = None
        if key in hits:
            state = _judge(conn, key, hits[key], current, now, keep)
            if state is not None:
                engaged.append(state)
    return engaged


def end_recovered(conn: Connection, now: datetime) -> None:
    """End (and audit) the back-offs fully recovered by now, with or without new deferrals.

    The worker's heartbeat calls it, so a back-off on a group that has gone quiet
    is still seen to end in the audit log.
    """
    record_backoffs(conn, (), {}, now)


def _lock(conn: Connection, key: Key) -> RowMapping:
    """The server x group's row, created if need be and locked until the transaction ends."""
    B = table(Backoff)
    server_id, group = key
    conn.execute(
        insert_for(conn, B).values(server_id=server_id, group_name=group).on_conflict_do_nothing()
    )
    where = (B.c.server_id == server_id) & (B.c.group_name == group)
    return conn.execute(select(B).where(where).with_for_update()).one()._mapping


def _judge(
    conn: Connection,
    key: Key,
    matched: list[tuple[BackoffRule, Deferral]],
    current: BackoffState | None,
    now: datetime,
    keep: timedelta,
) -> BackoffState | None:
    """Record the hits; the first rule (in rule order) whose count is reached engages."""
    H = table(BackoffHit)
    server_id, group = key
    matched = [(r, d) for r, d in matched if not settling(r, current, now)]
    if not matched:
        return None
    conn.execute(
        H.insert(),
        [
            {"server_id": server_id, "group_name": group, "rule": r.name, "at": d.at}
            for r, d in matched
        ],
    )
    mine = (H.c.server_id == server_id) & (H.c.group_name == group)
    conn.execute(delete(H).where(mine, H.c.at < now - keep))
    seen: list[BackoffRule] = []
    for rule, _d in matched:
        if rule not in seen:
            seen.append(rule)
    for rule in seen:
        count = conn.execute(
            select(func.count()).where(mine, H.c.rule == rule.name, H.c.at > now - rule.window)
        ).scalar_one()
        if count < rule.hits:
            continue
        base = observed_rate(_sends(conn, key, now), now)
        state = engage(
            rule, server_id=server_id, group=group, current=current, now=now, base_rate=base,
            hits=int(count),
        )  # fmt: skip
        if current is not None and current.base_rate is not None:
            # Deepening scales the rate it scaled before, not what the slowed group sends now.
            state = replace(state, base_rate=current.base_rate)
        _save(conn, state)
        # The hits that engaged it are spent: going deeper takes as many new ones.
        conn.execute(delete(H).where(mine))
        _audit(conn, "backoff.engage" if current is None else "backoff.deepen", state, now)
        return state
    return None


def _save(conn: Connection, s: BackoffState) -> None:
    B = table(Backoff)
    conn.execute(
        update(B)
        .where(B.c.server_id == s.server_id, B.c.group_name == s.group)
        .values(
            factor=s.factor,
            engaged_at=s.engaged_at,
            hold_until=s.hold_until,
            changed_at=s.changed_at,
            ends_at=recovered_at(s),
            recover_step=s.recover_step,
            recover_every_seconds=s.recover_every.total_seconds(),
            base_rate=s.base_rate,
            rule=s.rule,
            reason=s.reason,
        )
    )


def _end(conn: Connection, s: BackoffState, now: datetime) -> None:
    B = table(Backoff)
    cleared = {
        c: None
        for c in ("factor", "engaged_at", "hold_until", "changed_at", "ends_at", "base_rate")
    }
    conn.execute(
        update(B).where(B.c.server_id == s.server_id, B.c.group_name == s.group).values(**cleared)
    )
    _audit(conn, "backoff.recover", s, now)


def _audit(conn: Connection, action: str, s: BackoffState, now: datetime) -> None:
    detail = {
        "group": s.group,
        "rule": s.rule,
        "factor": s.factor,
        "since": s.engaged_at.isoformat(),
        "hold_until": s.hold_until.isoformat(),
        "recovered_at": recovered_at(s).isoformat(),
        "base_rate": s.base_rate,
        "reason": s.reason,
    }
    conn.execute(
        table(AuditEntry)
        .insert()
        .values(at=now, actor=ACTOR, action=action, server_id=s.server_id, detail=detail)
    )


def _count_sends(conn: Connection, group_sent: Mapping[Key, int], now: datetime) -> None:
    if not group_sent:
        return
    T = table(GroupSends)
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    for (server_id, group), n in sorted(group_sent.items()):
        stmt = insert_for(conn, T).values(
            server_id=server_id, group_name=group, minute=minute, sent=n
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["server_id", "group_name", "minute"],
                set_={"sent": T.c.sent + stmt.excluded.sent},
            )
        )
        conn.execute(
            delete(T).where(
                T.c.server_id == server_id,
                T.c.group_name == group,
                T.c.minute < minute - _SENDS_KEPT,
            )
        )


def _sends(conn: Connection, key: Key, now: datetime) -> dict[datetime, int]:
    T = table(GroupSends)
    rows = conn.execute(
        select(T.c.minute, T.c.sent).where(
            T.c.server_id == key[0], T.c.group_name == key[1], T.c.minute > now - _SENDS_KEPT
        )
    )
    return {m: int(n) for m, n in rows}
