"""The capacity forecast of every plan, from the queue, the launch rate and the servers' room.

The backlog of a plan is its pending mail (queued, deferred, in flight); the
launch rate is what was queued under it over the last ten minutes, carried
forward. Only servers that can send now count: active, not degraded. The
playing forward is core/forecast.py's; doctor, ``GET /api/v1/admin/pool``,
the pool page and ``sendpool simulate --forecast`` all read it from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection

from sendpool.config import Settings
from sendpool.core.forecast import Forecast, PlanLoad, ServerLoad, forecast
from sendpool.core.servers import Usage
from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.errors import InputError
from sendpool.pipeline.pool import view_of
from sendpool.services import refs
from sendpool.services.operations.doctor_checks import open_for_reading, read_pool
from sendpool.services.operations.plan_members import PlanMembers, plan_members
from sendpool.store.ledger_redis import RedisLedger
from sendpool.store.ledger_sql import usage_sync
from sendpool.store.records import PoolRows, ServerRow
from sendpool.store.rollups import campaign_counts, queued_between, transactional_pending
from sendpool.store.tables import PENDING_STATES
from sendpool.store.waking import campaigns_under, customers_under

LAUNCH_WINDOW = timedelta(minutes=10)  # how far back the launch rate is measured


def _sends(row: ServerRow) -> bool:
    return row.status == ServerStatus.ACTIVE and row.health != ServerHealth.DEGRADED


def server_load(row: ServerRow, used: Usage, now: datetime) -> ServerLoad:
    view = view_of(row)
    caps, windows = view.caps(now), view.windows(now)
    return ServerLoad(
        name=row.name,
        room_today=max(0, caps.daily - used.day_used),
        day_ends_at=windows.day.end,
        rate_per_second=caps.rate,
        hourly_cap=caps.hourly,
        hour_room=None if caps.hourly is None else max(0, caps.hourly - used.hour_used),
        hour_ends_at=windows.hour.end,
    )


def _queue_of(
    conn: Connection, plan_id: int, now: datetime, members: PlanMembers | None = None
) -> tuple[int, float]:
    """(pending messages, messages queued per second lately) under the plan.

    From the rollups (store/rollups.py): the campaigns' and the customers'
    transactional pending counts, and what was queued per minute. "Lately" is from the minute ten
    minutes before this one up to ``now``, over exactly that long. ``members``: who sends
    under each plan, read once for every plan (plan_members.py); None: read for this plan.
    """
    if members is None:
        campaigns = campaigns_under(conn, plan_id)
        customers = sorted(customers_under(conn, plan_id))
    else:
        campaigns, customers = members.campaigns_of(plan_id), members.customers_of(plan_id)
    pending = sum(
        n
        for (_c, _s, status), n in campaign_counts(conn, campaigns).items()
        if status in PENDING_STATES
    )
    pending += transactional_pending(conn, customers)
    since = now.replace(second=0, microsecond=0) - LAUNCH_WINDOW
    lately = queued_between(conn, campaigns, customers, since, now)
    return int(pending), lately / max(1.0, (now - since).total_seconds())


def plan_forecasts(
    conn: Connection,
    pool: PoolRows,
    usage: Mapping[int, Usage],
    now: datetime,
    *,
    backlog: Mapping[str, int] | None = None,
    rate: float | None = None,
    members: PlanMembers | None = None,
) -> list[Forecast]:
    """Every plan's forecast, by name; ``backlog``/``rate`` replace the queue's (simulate).

    ``members``: who sends under each plan, when the caller has read it already.
    """
    rows = {r.id: r for r in pool.servers}
    who = members if members is not None else plan_members(conn, pool.region_rules)
    out = []
    for plan_id, plan in sorted(pool.plan_names.items(), key=lambda p: p[1]):
        servers = [rows[i] for i in sorted(pool.plan_servers.get(plan_id, ())) if i in rows]
        loads = [server_load(r, usage.get(r.id, Usage()), now) for r in servers if _sends(r)]
        pending, lately = _queue_of(conn, plan_id, now, who)
        if backlog is not None:
            pending = backlog.get(plan, 0)
        out.append(forecast(PlanLoad(plan, pending, lately if rate is None else rate, loads), now))
    return out


def forecasts_now(
    conn: Connection,
    pool: PoolRows,
    now: datetime,
    *,
    usage: Mapping[int, Usage] | None = None,
    members: PlanMembers | None = None,
) -> list[Forecast]:
    """``plan_forecasts`` with the usage the SQL ledger holds (the API's and pages' view).

    ``usage``: that usage (``usage_now``), when the caller has read it already.
    """
    used = usage if usage is not None else usage_now(conn, pool, now)
    return plan_forecasts(conn, pool, used, now, members=members)


def usage_now(conn: Connection, pool: PoolRows, now: datetime) -> dict[int, Usage]:
    """Every server's current hour and day usage in the SQL ledger, in one statement."""
    return usage_sync(conn, {r.id: view_of(r).windows(now) for r in pool.servers})


async def simulate_forecast(
    settings: Settings, *, plan: str, messages: int, rate: float | None, now: datetime
) -> Forecast:
    """The plan's forecast were ``messages`` more queued now (``sendpool simulate --forecast``).

    ``rate`` is the launch rate to assume, messages per second; None: the
    rate measured over the last ten minutes. Reads only: nothing is written.
    """
    if rate is not None and not 0 <= rate <= 1_000_000:
        raise InputError(f"--rate must be between 0 and 1,000,000 messages a second (got {rate:g})")
    db, ledger = open_for_reading(settings)
    try:
        plan_id = await db.run(refs.plan_id, plan)
        pool = await db.run(read_pool, now)
        usage = await ledger.usage({r.id: view_of(r).windows(now) for r in pool.servers})
        name = pool.plan_names[plan_id]
        pending, lately = await db.run(_queue_of, plan_id, now)
        found = await db.run(
            plan_forecasts,
            pool,
            usage,
            now,
            backlog={name: pending + messages},
            rate=lately if rate is None else rate,
        )
    finally:
        if isinstance(ledger, RedisLedger):
            ledger.close()
        db.close()
    return next(f for f in found if f.plan == name)
