"""Launch: check its merge fields, count its recipients, then queue one message each in batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from sendpool.core.states import CampaignStatus, can_move
from sendpool.errors import InputError
from sendpool.services.campaigns.merge_fields import check_merge_fields
from sendpool.store.launches import eligible_count, launch_batches
from sendpool.store.tables import Campaign


@dataclass(frozen=True, slots=True)
class LaunchStart:
    count: int  # the recipients to be queued
    warnings: list[str] = field(default_factory=list)  # merge fields some of them lack


def start_launch(conn: Connection, campaign_id: int, now: datetime) -> LaunchStart:
    """Check the merge fields, count the recipients and mark the campaign launching.

    Checked here, where every launch passes: the list may have changed since
    the campaign was created. A field no subscriber has is a FieldError.
    """
    c = conn.execute(
        select(
            Campaign.status,
            Campaign.list_id,
            Campaign.customer_id,
            Campaign.subject,
            Campaign.text_body,
            Campaign.html_body,
        ).where(Campaign.id == campaign_id)
    ).one()
    if not can_move(CampaignStatus(c.status), CampaignStatus.LAUNCHING):
        raise InputError(f"campaign is {c.status}; only a draft can be launched")
    warnings = check_merge_fields(
        conn, c.list_id, subject=c.subject, text=c.text_body, html=c.html_body
    )
    count = eligible_count(conn, c.list_id, c.customer_id)
    conn.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            status=CampaignStatus.LAUNCHING, recipient_count=count, launched_at=now, updated_at=now
        )
    )
    return LaunchStart(count, warnings)


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
