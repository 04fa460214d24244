"""The pool at a glance: its composition by server type, and every server's windows now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from sendpool.core.servers import Usage
from sendpool.secretbox import SecretBox
from sendpool.services.operations.backoffs import ActiveBackoff, active_backoffs
from sendpool.services.operations.doctor_checks import read_pool
from sendpool.services.operations.explain import PlanStory, plan_stories
from sendpool.services.operations.forecasts import usage_now
from sendpool.services.operations.provider_limits import GroupLimitView, group_limits
from sendpool.services.servers.stats import server_rows, window_usage
from sendpool.store.records import ServerRow
from sendpool.store.rollups import campaigns_pending, server_counts
from sendpool.store.tables import PENDING_STATES, SendingServer
from sendpool.web.views.servers import ServerLine, lines_of


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


@dataclass(frozen=True, slots=True)
class PoolScreen:
    """Everything /admin/pool shows, read in one transaction."""

    pool: PoolPage
    stories: list[PlanStory]  # the _forecast.html partial's
    backoffs: list[ActiveBackoff]  # the _backoffs.html partial's
    provider_limits: list[GroupLimitView]  # the _provider_limits.html partial's


def pool_page(conn: Connection, box: SecretBox, now: datetime) -> PoolPage:
    """The pool's composition and every server's windows (what usage.json refreshes)."""
    ids = conn.execute(select(SendingServer.id)).scalars().all()
    return page_of(conn, server_rows(conn, box, ids, now), now)


def page_of(
    conn: Connection,
    rows: Sequence[ServerRow],
    now: datetime,
    used: Mapping[int, Usage] | None = None,
) -> PoolPage:
    """``pool_page`` of these servers (in the order shown); ``used``: the ledger's, if read.

    No server's last day of bounces is read: the page shows none.
    """
    lines = lines_of(rows, window_usage(conn, rows, now, used))
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


def pool_screen(conn: Connection, now: datetime) -> PoolScreen:
    """The page, the plans' stories, the back-offs and the group limits, from one pool load.

    The pool (servers, plans, back-offs) and the ledger's usage are read once
    and shared by the server lines, the forecasts and the back-offs. Servers'
    secrets are not opened: nothing here shows them, and a wrong key must not
    hide the pool (``read_pool``).
    """
    pool = read_pool(conn, now)
    used = usage_now(conn, pool, now)
    by_id = {r.id: r for r in pool.servers}
    order = conn.execute(select(SendingServer.id).order_by(SendingServer.name)).scalars()
    rows = [by_id[i] for i in order if i in by_id]
    return PoolScreen(
        pool=page_of(conn, rows, now, used),
        stories=plan_stories(conn, now, pool=pool, usage=used),
        backoffs=active_backoffs(conn, now, pool),
        provider_limits=group_limits(conn),
    )
