"""The pool explains itself, plan by plan: its split and what it means, and its forecast.

One read for the faces that show it (``GET /api/v1/admin/pool``, the pool
page): the 30-day split beside the one the caps predict, the verdict in
words (core/patterns.py), and the capacity forecast (core/forecast.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from sendpool.core.forecast import Forecast
from sendpool.core.patterns import Verdict
from sendpool.services.operations.doctor_checks import read_pool
from sendpool.services.operations.forecasts import forecasts_now
from sendpool.services.operations.split import plan_splits


@dataclass(frozen=True, slots=True)
class PlanStory:
    plan: str
    verdict: Verdict
    forecast: Forecast


def plan_stories(conn: Connection, now: datetime) -> list[PlanStory]:
    """Every plan, by name."""
    pool = read_pool(conn, now)
    forecasts = {f.plan: f for f in forecasts_now(conn, pool, now)}
    return [PlanStory(p.plan, p.verdict, forecasts[p.plan]) for p in plan_splits(conn, pool, now)]
