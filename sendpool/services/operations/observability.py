"""What /metrics and /healthz read from the database at the moment they are asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select, text

from sendpool.secretbox import SecretBox
from sendpool.services.operations.backoffs import ActiveBackoff, active_backoffs
from sendpool.services.servers.stats import WindowUsage, server_rows, window_usage
from sendpool.store.tables import PENDING_STATES, Message, SendingServer


@dataclass(frozen=True, slots=True)
class ServerGauge:
    name: str
    type: str
    status: str
    health: str
    usage: WindowUsage


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    messages: dict[tuple[str, str], int]  # (status, server name or "") -> count
    queue_due: int  # pending messages whose time has come
    queue_waiting: int  # pending messages held for later (windows, back-off, pauses)
    servers: list[ServerGauge]
    backoffs: list[ActiveBackoff] = field(default_factory=list)  # adaptive back-offs now


def metrics_snapshot(conn: Connection, box: SecretBox, now: datetime) -> MetricsSnapshot:
    counts = conn.execute(
        select(Message.status, SendingServer.name, func.count())
        .outerjoin(SendingServer, SendingServer.id == Message.server_id)
        .group_by(Message.status, SendingServer.name)
    )
    messages = {(status, name or ""): int(n) for status, name, n in counts}
    pending = Message.status.in_(PENDING_STATES)
    due = conn.execute(select(func.count()).where(pending, Message.due_at <= now)).scalar_one()
    later = conn.execute(select(func.count()).where(pending, Message.due_at > now)).scalar_one()
    ids = conn.execute(select(SendingServer.id)).scalars().all()
    rows = server_rows(conn, box, ids, now)
    usage = window_usage(conn, rows, now)
    servers = [ServerGauge(r.name, r.type, r.status, r.health, usage[r.id]) for r in rows]
    return MetricsSnapshot(
        messages, int(due), int(later), servers, backoffs=active_backoffs(conn, now)
    )


def database_ok(conn: Connection) -> bool:
    return conn.execute(text("SELECT 1")).scalar() == 1
