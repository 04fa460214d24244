"""Active adaptive back-offs, as the pool page, doctor, the admin API and /metrics show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from sendpool.core.backoff import factor_at, recovered_at
from sendpool.services.operations.doctor_checks import Check, Status
from sendpool.store.backoffs import load_backoffs
from sendpool.store.records import PoolRows
from sendpool.store.tables import SendingServer


@dataclass(frozen=True, slots=True)
class ActiveBackoff:
    server_uid: str
    server: str
    group: str
    factor: float  # the share of the rate allowed now
    since: datetime
    hold_until: datetime
    until: datetime  # fully recovered then
    rule: str
    reason: str

    def sentence(self) -> str:
        """ "s1 → gmail at 50 % since 10:02 until 10:57 (back-off gmail-4.7.28: ...)"."""
        return (
            f"{self.server} → {self.group} at {self.factor:.0%} since "
            f"{self.since:%Y-%m-%d %H:%M} UTC, held until {self.hold_until:%H:%M}, "
            f"recovered by {self.until:%H:%M} ({self.reason})"
        )


def active_backoffs(
    conn: Connection, now: datetime, pool: PoolRows | None = None
) -> list[ActiveBackoff]:
    """Every server x group whose rate is scaled down now, by server name then group.

    ``pool``: the pool loaded at ``now`` in this transaction (it holds the
    back-offs and the servers' names), so nothing more is read.
    """
    states = load_backoffs(conn, now) if pool is None else pool.backoffs
    if not states:
        return []
    if pool is not None:
        names = {r.id: (r.uid, r.name) for r in pool.servers}
    else:
        ids = sorted({sid for sid, _ in states})
        S = SendingServer
        names = {
            int(i): (str(u), str(n))
            for i, u, n in conn.execute(select(S.id, S.uid, S.name).where(S.id.in_(ids)))
        }
    out = [
        ActiveBackoff(
            server_uid=names[sid][0],
            server=names[sid][1],
            group=group,
            factor=factor_at(s, now),
            since=s.engaged_at,
            hold_until=s.hold_until,
            until=recovered_at(s),
            rule=s.rule,
            reason=s.reason,
        )
        for (sid, group), s in states.items()
        if sid in names
    ]
    return sorted(out, key=lambda b: (b.server, b.group))


def backoff_checks(conn: Connection, now: datetime) -> list[Check]:
    """One doctor line per active back-off: it is working as meant, so a warning, not a failure."""
    return [
        Check(
            f"back-off {b.server}/{b.group}",
            Status.WARN,
            b.sentence(),
            f"sendpool slows {b.server}'s mail to {b.group} by itself and gives the rate back "
            "as the deferrals stop; if it engages again and again, lower that group's rate "
            "for the server in the pool file, or look at the server's reputation there",
        )
        for b in active_backoffs(conn, now)
    ]
