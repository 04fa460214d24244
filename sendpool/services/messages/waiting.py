"""Send waiting mail now: for one campaign or one plan, or wherever capacity just grew.

The dispatcher picks a server at send time, so a message waiting for a
window is only waiting because no server had room when it was last looked
at. After an operator adds room, or asks outright, its messages are made due
now: the workers look again within seconds, and a message that still finds
no room is written back with the reason as it is now, not as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select

from sendpool.core.states import CampaignStatus
from sendpool.errors import InputError, NotFoundError
from sendpool.services import refs
from sendpool.services.errors import ConflictError
from sendpool.store.tables import Campaign, Plan
from sendpool.store.waking import wake_campaign, wake_plans, wake_servers


def send_waiting_now(
    conn: Connection,
    *,
    campaign_id: int | None = None,
    plan_id: int | None = None,
    now: datetime,
) -> int:
    """Make the waiting messages of one campaign, or of one plan, due now; how many.

    Exactly one of ``campaign_id`` and ``plan_id``. Their waiting reasons are
    replaced by "due again: ..." (the next dispatch writes the current one). A paused campaign is
    refused: resuming it sends what waits. Deferred messages keep their
    back-off: they wait for the recipient's server, not for room in the pool.
    """
    if (campaign_id is None) == (plan_id is None):
        raise InputError("give either a campaign or a plan, not both or neither")
    if campaign_id is not None:
        status = conn.execute(select(Campaign.status).where(Campaign.id == campaign_id)).scalar()
        if status is None:
            raise NotFoundError(f"no campaign with id {campaign_id}")
        if status == CampaignStatus.PAUSED:
            raise ConflictError("the campaign is paused; resume it to send what waits")
        return wake_campaign(conn, campaign_id, now)
    assert plan_id is not None
    if conn.execute(select(Plan.id).where(Plan.id == plan_id)).scalar() is None:
        raise NotFoundError(f"no plan with id {plan_id}")
    return wake_plans(conn, [plan_id], now)


def send_waiting_now_for(
    conn: Connection, *, campaign: str | None = None, plan: str | None = None, now: datetime
) -> int:
    """``send_waiting_now`` for a campaign named by uid or a plan by uid or name (API, CLI)."""
    if (campaign is None) == (plan is None):
        raise InputError("give either a campaign or a plan, not both or neither")
    if campaign is not None:
        found = conn.execute(select(Campaign.id).where(Campaign.uid == campaign)).scalar()
        if found is None:
            raise NotFoundError(f"no campaign {campaign!r}")
        return send_waiting_now(conn, campaign_id=int(found), now=now)
    assert plan is not None
    return send_waiting_now(conn, plan_id=refs.plan_id(conn, plan), now=now)


def capacity_added(
    conn: Connection, *, servers: Iterable[int] = (), plans: Iterable[int] = (), now: datetime
) -> int:
    """Room was added to these servers or plans: their plans' waiting messages are due now."""
    return wake_servers(conn, servers, now) + wake_plans(conn, list(plans), now)
