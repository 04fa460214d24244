"""The pool explains itself, plan by plan: its split and what it means, and its forecast.

One read for the faces that show it (``GET /api/v1/admin/pool``, the pool
page): the 30-day split beside the one the caps predict, the verdict in
words (core/patterns.py), and the capacity forecast (core/forecast.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from sendpool.core.forecast import Forecast
from sendpool.core.patterns import Verdict
from sendpool.core.servers import Usage
from sendpool.services.operations.doctor_checks import read_pool
from sendpool.services.operations.forecasts import forecasts_now
from sendpool.services.operations.plan_members import plan_members
from sendpool.services.operations.split import plan_splits
from sendpool.store.records import PoolRows


@dataclass(frozen=True, slots=True)
class PlanStory:
    plan: str
    verdict: Verdict
    forecast: Forecast


def plan_stories(
    conn: Connection,
    now: datetime,
    *,
    pool: PoolRows | None = None,
    usage: Mapping[int, Usage] | None = None,
) -> list[PlanStory]:
    """Every plan, by name.

    ``pool`` (``read_pool``) and ``usage`` (forecasts.py's ``usage_now``): when the
    caller has read them in this transaction already, as the pool page has.
    Who sends under each plan is read once for the splits and the forecasts.
    """
    pool = pool if pool is not None else read_pool(conn, now)
    members = plan_members(conn, pool.region_rules)
    forecasts = {f.plan: f for f in forecasts_now(conn, pool, now, usage=usage, members=members)}
    splits = plan_splits(conn, pool, now, customers=members.customer_plan)
    return [PlanStory(p.plan, p.verdict, forecasts[p.plan]) for p in splits]
