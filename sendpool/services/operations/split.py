"""Each plan's split over its servers in a window, and what it means (core/patterns.py).

A message counts under the plan it was sent under: its campaign's own plan,
else its customer's plan as the customer's region rule and plan say today.
The split the caps and warm-ups predict uses each server's effective daily
cap today times the days of the window, which is what a round-robin could
have dealt it; the doctor, the distribution page and the API read the same
verdicts from here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, select

from sendpool.core.patterns import ServerSplit, Verdict, judge_split
from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.pipeline.pool import view_of
from sendpool.services.operations.plan_members import customer_plans
from sendpool.store.catalog import region_rules
from sendpool.store.records import PoolRows
from sendpool.store.rollups import sends_by_day_since
from sendpool.store.tables import Campaign, SendingServer

DAYS = 30


@dataclass(frozen=True, slots=True)
class PlanSplit:
    plan_id: int
    plan: str
    verdict: Verdict
    servers: tuple[ServerSplit, ...]


def sent_by_plan(
    conn: Connection,
    since: datetime,
    *,
    customers: Mapping[int, int | None] | None = None,
    pool: PoolRows | None = None,
) -> dict[int, dict[tuple[str, date], int]]:
    """plan id -> (server name, day) -> messages sent on the UTC days from ``since``'s day.

    Read from the rollups' days (store/rollups.py), not the messages: a day's
    sends stay counted after retention has deleted their rows. The windows
    here start at midnight (``window_start``), so whole days are exact.
    ``customers`` (each customer's plan, plan_members.py) and ``pool`` (its
    servers' names), when the caller has read them in this transaction already.
    """
    if customers is None:
        rules = pool.region_rules if pool is not None else region_rules(conn)
        customers = customer_plans(conn, rules)
    rows = sends_by_day_since(conn, since.date())
    names = (
        {r.id: r.name for r in pool.servers}
        if pool is not None
        else dict(conn.execute(select(SendingServer.id, SendingServer.name)).all())
    )
    campaign_ids = sorted({ca for *_, ca, _n in rows if ca})
    campaign_plans = dict(
        conn.execute(
            select(Campaign.id, Campaign.plan_id).where(Campaign.id.in_(campaign_ids))
        ).all()
    )
    out: dict[int, dict[tuple[str, date], int]] = defaultdict(Counter)
    for server_id, day, customer_id, campaign_id, n in rows:
        if server_id not in names or (campaign_id and campaign_id not in campaign_plans):
            continue  # a server or campaign deleted since: its sends went with it
        plan = campaign_plans.get(campaign_id) if campaign_id else None
        plan = plan if plan is not None else customers.get(customer_id)
        if plan is not None:
            out[int(plan)][(str(names[server_id]), day)] += n
    return out


def window_start(now: datetime, days: int = DAYS) -> datetime:
    first = now.date() - timedelta(days=days - 1)
    return datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)


def plan_splits(
    conn: Connection,
    pool: PoolRows,
    now: datetime,
    days: int = DAYS,
    *,
    customers: Mapping[int, int | None] | None = None,
) -> list[PlanSplit]:
    """Every plan with servers or sends in the window, by name, with its verdict.

    ``customers``: each customer's plan (plan_members.py), when already read.
    """
    sent = sent_by_plan(conn, window_start(now, days), customers=customers, pool=pool)
    rows = {r.id: r for r in pool.servers}
    by_name = {r.name: r for r in pool.servers}
    out = []
    for plan_id, plan in sorted(pool.plan_names.items(), key=lambda p: p[1]):
        per_server: Counter[str] = Counter()
        for (server, _d), n in sent.get(plan_id, {}).items():
            per_server[server] += n
        members = {rows[i].name for i in pool.plan_servers.get(plan_id, frozenset()) if i in rows}
        splits = []
        for name in sorted(members | set(per_server)):
            row = by_name.get(name)
            view = view_of(row) if row is not None else None
            sending = (
                name in members
                and row is not None
                and row.status == ServerStatus.ACTIVE
                and row.health != ServerHealth.DEGRADED
            )
            capacity = view.caps(now).daily * days if view is not None and sending else 0
            warming = view.is_warming(now) if view is not None else False
            splits.append(ServerSplit(name, per_server[name], capacity, warming, sending))
        out.append(PlanSplit(plan_id, plan, judge_split(splits), tuple(splits)))
    return out
