"""Build dispatcher inputs without a database: pools, jobs and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from itertools import count

from sendpool.core.servers import SendClass, ServerView
from sendpool.pipeline.pool import PoolState
from sendpool.pipeline.prepare import Job
from sendpool.store.records import ClaimedMessage, PoolRows
from sendpool.transports.message import OutgoingMessage

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
_ids = count(1)


def pool_state(servers: Iterable[ServerView], plans: Mapping[int, Iterable[int]]) -> PoolState:
    views = {s.id: s for s in servers}
    rows = PoolRows(
        servers=(),
        plan_servers={p: frozenset(ids) for p, ids in plans.items()},
        plan_names={p: f"plan{p}" for p in plans},
        plan_burst={p: None for p in plans},
        region_rules={},
    )
    return PoolState(rows, views, {})


def job(plan_id: int | None, send_class: SendClass = SendClass.LOW_VOLUME) -> Job:
    i = next(_ids)
    row = ClaimedMessage(i, f"u{i}", 1, 1, i, f"r{i}@example.com", "campaign", 0, NOW, None)
    msg = OutgoingMessage(
        uid=f"u{i}",
        envelope_from="a@example.com",
        recipient=row.recipient,
        from_header="a@example.com",
        subject="s",
        text="t",
        html=None,
        message_id=f"<u{i}@example.com>",
        date="",
    )
    return Job(row, msg, plan_id, send_class)
