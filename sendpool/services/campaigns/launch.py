"""Launch: count a campaign's recipients, then queue one message each in batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from sendpool.core.states import CampaignStatus, can_move
from sendpool.errors import InputError
from sendpool.store.launches import eligible_count, launch_batches
from sendpool.store.tables import Campaign


def start_launch(conn: Connection, campaign_id: int, now: datetime) -> int:
    """Count the recipients and mark the campaign launching; returns the count."""
    c = conn.execute(
        select(Campaign.status, Campaign.list_id, Campaign.customer_id).where(
            Campaign.id == campaign_id
        )
    ).one()
    if not can_move(CampaignStatus(c.status), CampaignStatus.LAUNCHING):
        raise InputError(f"campaign is {c.status}; only a draft can be launched")
    count = eligible_count(conn, c.list_id, c.customer_id)
    conn.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            status=CampaignStatus.LAUNCHING, recipient_count=count, launched_at=now, updated_at=now
        )
    )
    return count


def launch(
    engine: Engine,
    campaign_id: int,
    now: datetime,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    with engine.begin() as conn:
        start_launch(conn, campaign_id, now)
    return launch_batches(engine, campaign_id, now, batch_size=batch_size, progress=progress)
