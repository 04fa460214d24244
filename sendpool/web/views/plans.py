"""Plans as the admin pages edit them: the same checks as the API, errors named by field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from sendpool.secretbox import SecretBox
from sendpool.services.errors import ConflictError, FieldError
from sendpool.services.tenancy import customers, plans
from sendpool.services.tenancy.customers import CustomerDetail, RegionRuleDetail
from sendpool.services.tenancy.plans import PlanDetail
from sendpool.web.views.servers import ServerLine, server_lines

MAX_BURST = 1_000_000_000


@dataclass(frozen=True, slots=True)
class PlanPage:
    plan: PlanDetail
    members: list[ServerLine]
    others: list[ServerLine]  # servers that could be attached
    # Customers whose mail goes through this plan (their own or by region rule), and the
    # customers whose own plan it is though a region rule sends their mail elsewhere.
    customers: list[CustomerDetail] = field(default_factory=list)
    overridden: list[CustomerDetail] = field(default_factory=list)
    rules: list[RegionRuleDetail] = field(default_factory=list)  # the rules routing to it


def plan_page(conn: Connection, box: SecretBox, ref: str, now: datetime) -> PlanPage:
    plan = plans.get_plan(conn, ref)
    inside = {s.uid for s in plan.servers}
    lines = server_lines(conn, box, now)
    everyone = customers.list_customers(conn)

    def sends_here(c: CustomerDetail) -> bool:
        return c.effective_plan is not None and c.effective_plan.uid == plan.uid

    return PlanPage(
        plan,
        [s for s in lines if s.uid in inside],
        [s for s in lines if s.uid not in inside],
        customers=[c for c in everyone if sends_here(c)],
        overridden=[c for c in everyone if c.plan and c.plan.uid == plan.uid and not sends_here(c)],
        rules=[r for r in customers.list_region_rules(conn) if r.plan.uid == plan.uid],
    )


def _burst(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_BURST:
        raise FieldError([("burst_threshold", f"must be between 1 and {MAX_BURST:,}")])
    return value


def add_plan(
    conn: Connection, *, name: str, burst_threshold: int | None, actor: str, now: datetime
) -> PlanDetail:
    try:
        return plans.create_plan(
            conn, name=name, burst_threshold=_burst(burst_threshold), actor=actor, now=now
        )
    except ConflictError as exc:
        raise exc.as_field_error() from None


def save_plan(
    conn: Connection,
    ref: str,
    *,
    name: str,
    burst_threshold: int | None,
    actor: str,
    now: datetime,
) -> PlanDetail:
    changes = {"name": name, "burst_threshold": _burst(burst_threshold)}
    try:
        return plans.update_plan(conn, ref, changes=changes, actor=actor, now=now)
    except ConflictError as exc:
        raise exc.as_field_error() from None
