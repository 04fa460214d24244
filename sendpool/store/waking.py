"""Make waiting messages due now, by campaign or by plan, and replace their stale reasons.

A message that found no server with room is written back queued, due when
the earliest window reopens, with the reasons on it. When capacity is added
(a server attached or enabled, a cap raised, a degraded server passing its
check, a pause lifted) those messages must not sit until that time: they are
made due now, and the next dispatch writes a current reason or sends them.
Messages are found through their campaigns and customers, never by scanning
every waiting message.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from sendpool.core.plans import resolve_plan
from sendpool.core.states import CampaignStatus, MessageStatus
from sendpool.store.catalog import region_rules
from sendpool.store.tables import Campaign, Customer, Message, PlanServer, table

WAITING_PREFIX = "waiting:"  # how the dispatcher starts every reason it writes on a wait
# What a woken message says until it is looked at again; it also tells the dispatcher
# that its skips were counted when it was sent to wait (pipeline/dispatch.py).
WOKEN = "due again: room was added, or an operator asked"
# Campaigns whose messages may be sent: a paused one keeps its messages held.
_SENDABLE = (CampaignStatus.LAUNCHING, CampaignStatus.SENDING)


def customers_under(conn: Connection, plan_id: int) -> set[int]:
    """Customers whose own messages go under ``plan_id`` (a region rule beats their plan)."""
    rules = region_rules(conn)
    regions = [r for r, p in rules.items() if p == plan_id]
    rows = conn.execute(
        select(Customer.id, Customer.plan_id, Customer.region).where(
            or_(Customer.plan_id == plan_id, Customer.region.in_(regions))
        )
    )
    return {int(i) for i, p, r in rows if resolve_plan(None, p, r, rules) == plan_id}


def campaigns_under(conn: Connection, plan_id: int) -> list[int]:
    """Sendable campaigns whose messages go under ``plan_id``."""
    customers = customers_under(conn, plan_id)
    own = Campaign.plan_id == plan_id
    inherited = and_(Campaign.plan_id.is_(None), Campaign.customer_id.in_(customers))
    stmt = select(Campaign.id).where(Campaign.status.in_(_SENDABLE), or_(own, inherited))
    return [int(i) for i in conn.execute(stmt.order_by(Campaign.id)).scalars()]


def plans_of_servers(conn: Connection, server_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(server_ids))
    if not ids:
        return []
    stmt = select(PlanServer.plan_id).where(PlanServer.server_id.in_(ids)).distinct()
    return sorted(int(p) for p in conn.execute(stmt).scalars())


def _wake(conn: Connection, where: ColumnElement[bool], now: datetime) -> int:
    M = table(Message)
    return int(
        conn.execute(
            update(M)
            .where(
                M.c.status == MessageStatus.QUEUED,
                M.c.due_at > now,
                M.c.hold.is_(None),
                M.c.claimed_by.is_(None),
                # Sent to wait for room by the dispatcher: a message due later for
                # another reason (a retry's back-off) keeps its time.
                M.c.last_error.like(WAITING_PREFIX + "%"),
                where,
            )
            .values(due_at=now, updated_at=now, last_error=WOKEN)
        ).rowcount
    )


def wake_campaign(conn: Connection, campaign_id: int, now: datetime) -> int:
    """The campaign's waiting messages, due now; how many. Nothing of a paused campaign."""
    status = conn.execute(select(Campaign.status).where(Campaign.id == campaign_id)).scalar()
    if status not in _SENDABLE:
        return 0
    return _wake(conn, table(Message).c.campaign_id == campaign_id, now)


def wake_plans(conn: Connection, plan_ids: Collection[int], now: datetime) -> int:
    """Every waiting message sent under one of ``plan_ids``, due now; how many.

    A transactional message may name its own plan in its payload: those naming
    one of these plans are woken too; a message of a customer of the plan that
    names another plan is woken needlessly, and simply waits again.
    """
    woken = 0
    M = table(Message)
    for plan_id in sorted(set(plan_ids)):
        campaigns = campaigns_under(conn, plan_id)
        customers = sorted(customers_under(conn, plan_id))
        transactional = and_(
            M.c.campaign_id.is_(None),
            or_(
                M.c.customer_id.in_(customers),
                M.c.payload["plan_id"].as_integer() == plan_id,
            ),
        )
        woken += _wake(conn, or_(M.c.campaign_id.in_(campaigns), transactional), now)
    return woken


def wake_servers(conn: Connection, server_ids: Iterable[int], now: datetime) -> int:
    """The waiting messages of every plan these servers are in, due now; how many."""
    return wake_plans(conn, plans_of_servers(conn, server_ids), now)
