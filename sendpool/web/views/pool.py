"""The pool at a glance: its composition by server type, and every server's windows now."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from sendpool.secretbox import SecretBox
from sendpool.store.rollups import campaigns_pending, server_counts
from sendpool.store.tables import PENDING_STATES
from sendpool.web.views.servers import ServerLine, server_lines


@dataclass(frozen=True, slots=True)
class TypeShare:
    type: str
    label: str
    servers: int
    percent: float


@dataclass(frozen=True, slots=True)
class PoolPage:
    types: list[TypeShare]
    chips: dict[str, int]
    servers: list[ServerLine]
    campaigns_sending: int  # campaigns with messages still to send
    messages_pending: int  # queued, deferred or being sent, campaigns and transactional alike


def pool_page(conn: Connection, box: SecretBox, now: datetime) -> PoolPage:
    lines = server_lines(conn, box, now)
    counts = Counter(line.type for line in lines)
    labels = {line.type: line.type_label for line in lines}
    total = max(1, len(lines))
    types = [
        TypeShare(t, labels[t], n, 100.0 * n / total)
        for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    # From the rollups (store/rollups.py): no count over the messages table.
    campaigns = campaigns_pending(conn)
    messages = sum(n for (_s, st), n in server_counts(conn).items() if st in PENDING_STATES)
    return PoolPage(
        types=types,
        chips=dict(sorted(Counter(line.chip for line in lines).items())),
        servers=lines,
        campaigns_sending=int(campaigns),
        messages_pending=int(messages),
    )
