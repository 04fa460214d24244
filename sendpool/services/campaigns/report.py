"""A campaign's report: messages by status and by server, and what waits until when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from sendpool.core.states import CampaignStatus, MessageStatus
from sendpool.errors import NotFoundError
from sendpool.store.tables import (
    Campaign,
    Message,
    SendingServer,
)

# Waits shorter than this are pauses (a ledger rebuild, a rate limit), not a window to wait for.
SOON = timedelta(seconds=30)


@dataclass(slots=True)
class CampaignReport:
    uid: str
    name: str
    status: str
    recipients: int
    by_status: dict[str, int] = field(default_factory=dict)
    by_server: dict[str, int] = field(default_factory=dict)
    waiting: int = 0
    due_now: int = 0
    next_due_at: datetime | None = None
    due_soon: int = 0  # queued and due within SOON: a short wait, not a window

    @property
    def settled(self) -> bool:
        """Everything sent, failed, or waiting for a window; nothing in flight or retrying.

        A message held back for a moment (the quota ledger rebuilding, a server's
        rate) is not waiting for a window, so it keeps the campaign unsettled.
        """
        busy = self.by_status.get(MessageStatus.SENDING, 0) + self.by_status.get(
            MessageStatus.DEFERRED, 0
        )
        if busy or self.status in (CampaignStatus.DRAFT, CampaignStatus.LAUNCHING):
            return False
        # A paused campaign's messages are held a few seconds at a time until it resumes.
        return self.status == CampaignStatus.PAUSED or self.due_soon == 0

    def as_json(self) -> dict[str, object]:
        return {
            "campaign": self.uid,
            "name": self.name,
            "status": self.status,
            "recipients": self.recipients,
            "by_status": dict(self.by_status),
            "by_server": dict(self.by_server),
            "waiting": self.waiting,
        }


def campaign_report(conn: Connection, ref: str | int, now: datetime) -> CampaignReport:
    cond = Campaign.id == ref if isinstance(ref, int) else Campaign.uid == ref
    c = conn.execute(
        select(
            Campaign.id, Campaign.uid, Campaign.name, Campaign.status, Campaign.recipient_count
        ).where(cond)
    ).first()
    if c is None:
        raise NotFoundError(f"unknown campaign {ref!r}")
    by_status = dict(
        conn.execute(
            select(Message.status, func.count())
            .where(Message.campaign_id == c.id)
            .group_by(Message.status)
        ).all()
    )
    by_server = dict(
        conn.execute(
            select(SendingServer.name, func.count())
            .join(Message, Message.server_id == SendingServer.id)
            .where(Message.campaign_id == c.id, Message.status == MessageStatus.SENT)
            .group_by(SendingServer.name)
            .order_by(SendingServer.name)
        ).all()
    )
    queued = (Message.campaign_id == c.id) & (Message.status == MessageStatus.QUEUED)
    later = Message.due_at > now
    due_now, due_soon, waiting, next_due_at = conn.execute(
        select(
            func.count().filter(Message.due_at <= now),
            func.count().filter(Message.due_at <= now + SOON),
            func.count().filter(later),
            func.min(Message.due_at).filter(later),
        ).where(queued)
    ).one()
    status = c.status  # ``done`` is stored by the write-back that settles the last message
    return CampaignReport(
        uid=c.uid,
        name=c.name,
        status=status,
        recipients=c.recipient_count,
        by_status={k: int(v) for k, v in by_status.items()},
        by_server={k: int(v) for k, v in by_server.items()},
        waiting=int(waiting),
        due_now=int(due_now),
        next_due_at=next_due_at,
        due_soon=int(due_soon),
    )
