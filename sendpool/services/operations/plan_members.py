"""Who sends under each plan: every customer's plan, and each plan's sendable campaigns.

The forecasts (the backlog and launch rate of a plan) and the splits (which
plan a day's sends count under) both need it, for every plan at once. Read
here in two statements, the customers and the sendable campaigns, instead
of one or two per plan and per customer: the pool page and ``GET
/api/v1/admin/pool`` read it on every refresh. It says what
store/waking.py's ``customers_under`` and ``campaigns_under`` say for each
plan (tests/services/test_plan_members.py holds them to that).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select

from sendpool.core.plans import resolve_plan
from sendpool.core.states import CampaignStatus
from sendpool.store.tables import Campaign, Customer

# Campaigns whose messages may be sent (store/waking.py's): a paused one keeps its messages held.
SENDABLE = (CampaignStatus.LAUNCHING, CampaignStatus.SENDING)


@dataclass(frozen=True, slots=True)
class PlanMembers:
    customer_plan: dict[int, int | None]  # customer id -> the plan its own mail goes under
    customers: dict[int, tuple[int, ...]]  # plan id -> those customers, by id
    campaigns: dict[int, tuple[int, ...]]  # plan id -> its sendable campaigns, by id

    def customers_of(self, plan_id: int) -> list[int]:
        return list(self.customers.get(plan_id, ()))

    def campaigns_of(self, plan_id: int) -> list[int]:
        return list(self.campaigns.get(plan_id, ()))


def customer_plans(conn: Connection, region_rules: Mapping[str, int]) -> dict[int, int | None]:
    """Customer id -> the plan its own mail goes under (tenancy/customers.py's
    ``effective_plan_id``), for every customer in one statement."""
    rows = conn.execute(select(Customer.id, Customer.plan_id, Customer.region)).all()
    return {int(i): resolve_plan(None, p, r, region_rules) for i, p, r in rows}


def plan_members(conn: Connection, region_rules: Mapping[str, int]) -> PlanMembers:
    """Every customer's plan (a region rule beats its own plan), and each plan's campaigns.

    ``region_rules`` as store/catalog.py's ``region_rules`` reads them (a loaded
    pool's ``region_rules``). A campaign goes under its own plan, else under
    its customer's.
    """
    customer_plan = customer_plans(conn, region_rules)
    by_plan: dict[int, list[int]] = defaultdict(list)
    for customer_id in sorted(customer_plan):
        plan = customer_plan[customer_id]
        if plan is not None:
            by_plan[plan].append(customer_id)
    sendable = select(Campaign.id, Campaign.plan_id, Campaign.customer_id).where(
        Campaign.status.in_(SENDABLE)
    )
    campaigns: dict[int, list[int]] = defaultdict(list)
    for campaign_id, own, customer_id in conn.execute(sendable.order_by(Campaign.id)):
        plan = own if own is not None else customer_plan.get(customer_id)
        if plan is not None:
            campaigns[int(plan)].append(int(campaign_id))
    return PlanMembers(
        customer_plan=customer_plan,
        customers={p: tuple(c) for p, c in by_plan.items()},
        campaigns={p: tuple(c) for p, c in campaigns.items()},
    )
