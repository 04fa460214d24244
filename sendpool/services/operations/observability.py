"""What /metrics and /healthz read from the database at the moment they are asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select, text

from sendpool.secretbox import SecretBox
from sendpool.services.operations.backoffs import ActiveBackoff, active_backoffs
from sendpool.services.servers.stats import WindowUsage, server_rows, window_usage
from sendpool.store.rollups import NO_SERVER, queue_depth, server_counts
from sendpool.store.tables import SendingServer


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
    """What a scrape shows, read from the rollups and indexes, never a scan of the messages.

    ``messages`` counts every message by status and last server from the
    rollups: settled ones (sent, failed) include those retention has since
    deleted, so they only grow; pending ones are exact. A server deleted
    since is left out. The queue's split is ``queue_depth``'s (store/rollups.py).
    """
    names = dict(conn.execute(select(SendingServer.id, SendingServer.name)).all())
    messages: dict[tuple[str, str], int] = {}
    for (server_id, status), n in server_counts(conn).items():
        if server_id == NO_SERVER or server_id in names:
            key = (status, names.get(server_id) or "")
            messages[key] = messages.get(key, 0) + n
    due, later = queue_depth(conn, now)
    ids = list(names)
    rows = server_rows(conn, box, ids, now)
    usage = window_usage(conn, rows, now)
    servers = [ServerGauge(r.name, r.type, r.status, r.health, usage[r.id]) for r in rows]
    return MetricsSnapshot(messages, due, later, servers, backoffs=active_backoffs(conn, now))


def database_ok(conn: Connection) -> bool:
    return conn.execute(text("SELECT 1")).scalar() == 1
