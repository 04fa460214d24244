"""A campaign becomes ``done`` in the same transaction that settles its last message.

``done`` is stored, not worked out at read time: the write-back passes the
ids of the messages it just settled, and each of their campaigns that is
sending and has no pending message left moves to ``done``. The check reads
the ``(campaign_id, status)`` index, never the campaign's whole history.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, exists, select, update

from sendpool.core.states import PENDING_MESSAGE_STATES, CampaignStatus
from sendpool.store.tables import Campaign, Message, table

_C = table(Campaign)
_M = table(Message)


def campaigns_of(conn: Connection, message_ids: Collection[int]) -> set[int]:
    """The campaigns the given messages belong to (transactional messages have none)."""
    if not message_ids:
        return set()
    found = conn.execute(
        select(_M.c.campaign_id)
        .where(_M.c.id.in_(list(message_ids)), _M.c.campaign_id.is_not(None))
        .distinct()
    ).scalars()
    return {int(c) for c in found}


def mark_done(conn: Connection, campaign_ids: Collection[int], now: datetime) -> int:
    """Move each sending campaign with nothing pending to ``done``; returns how many moved."""
    if not campaign_ids:
        return 0
    pending = (
        exists()
        .where(_M.c.campaign_id == _C.c.id)
        .where(_M.c.status.in_([str(s) for s in PENDING_MESSAGE_STATES]))
    )
    moved = conn.execute(
        update(_C)
        .where(
            _C.c.id.in_(list(campaign_ids)),
            _C.c.status == CampaignStatus.SENDING,
            ~pending,
        )
        .values(status=CampaignStatus.DONE, updated_at=now)
    )
    return int(moved.rowcount or 0)
