"""A campaign's report: messages by status and by server, and what waits until when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

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
# "Due within a minute", less the moments a worker takes to write a wait back: the
# dispatcher's idle recheck (60 s, when no server can take a message and none says
# when it will) must read as waiting, or a campaign no server can send would keep
# `sendpool campaign run` going for good.
DUE_SOON = timedelta(seconds=55)
UNLAUNCHED = (CampaignStatus.DRAFT, CampaignStatus.LAUNCHING)


class WaitReason(StrEnum):
    """Why a pending message is not being sent now (the keys of ``--json``'s ``waiting``)."""

    DEFERRED = "deferred"  # a transient failure; retried with back-off
    WINDOW = "window"  # queued until a server can take it (its window, cap, warm-up, health)
    PAUSED = "paused"  # held until the campaign is resumed


@dataclass(frozen=True, slots=True)
class Wait:
    count: int
    next_at: datetime | None  # the earliest due time; None while the campaign is paused

    def as_json(self) -> dict[str, object]:
        return {"count": self.count, "next_at": self.next_at.isoformat() if self.next_at else None}


@dataclass(slots=True)
class CampaignReport:
    uid: str
    name: str
    status: str
    recipients: int
    by_status: dict[str, int] = field(default_factory=dict)
    by_server: dict[str, int] = field(default_factory=dict)
    waiting: int = 0  # queued and due later: the API's "waiting"
    due_now: int = 0
    next_due_at: datetime | None = None
    due_soon: int = 0  # queued and due within SOON: a short wait, not a window
    # What waits, by reason, in WaitReason order; reasons with no message are left out.
    waits: dict[WaitReason, Wait] = field(default_factory=dict)
    due_shortly: int = 0  # queued or deferred, due within DUE_SOON, campaign not paused
    warnings: list[str] = field(default_factory=list)  # what its launch warned of

    @property
    def settled(self) -> bool:
        """Everything sent, failed, or waiting for a window; nothing in flight or retrying.

        A message held back for a moment (the quota ledger rebuilding, a server's
        rate) is not waiting for a window, so it keeps the campaign unsettled.
        """
        busy = self.by_status.get(MessageStatus.SENDING, 0) + self.by_status.get(
            MessageStatus.DEFERRED, 0
        )
        if busy or self.status in UNLAUNCHED:
            return False
        # A paused campaign's messages are held a few seconds at a time until it resumes.
        return self.status == CampaignStatus.PAUSED or self.due_soon == 0

    @property
    def finished(self) -> bool:
        """Every message sent or failed: what ``campaign run --wait-all`` waits for."""
        pending = (MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING)
        return self.status not in UNLAUNCHED and not any(self.by_status.get(s) for s in pending)

    @property
    def resting(self) -> bool:
        """Nothing in flight and nothing due within a minute: ``campaign run`` may return.

        What is left, if anything, waits for a retry or a server's window more than
        a minute away, or for the campaign to be resumed (``waits`` says which).
        """
        if self.status in UNLAUNCHED or self.by_status.get(MessageStatus.SENDING, 0):
            return False
        return self.status == CampaignStatus.PAUSED or self.due_shortly == 0

    def as_json(self) -> dict[str, object]:
        return {
            "campaign": self.uid,
            "name": self.name,
            "status": self.status,
            "recipients": self.recipients,
            "by_status": dict(self.by_status),
            "by_server": dict(self.by_server),
            "waiting": {
                reason.value: self.waits.get(reason, Wait(0, None)).as_json()
                for reason in WaitReason
            },
        }


@dataclass(frozen=True, slots=True)
class _Pending:
    """One pending status of one campaign, as the grouped query counts it."""

    count: int
    earliest: datetime | None
    due_now: int
    due_soon: int
    due_shortly: int
    later: int
    next_later: datetime | None


def _pending(conn: Connection, campaign_id: int, now: datetime) -> dict[str, _Pending]:
    """Queued and deferred messages, grouped by status: counts by due time and min(due_at).

    The (campaign_id, status) index finds exactly these rows; sent and failed
    messages, most of a campaign once it has gone out, are never read.
    """
    due = Message.due_at
    rows = conn.execute(
        select(
            Message.status,
            func.count(),
            func.min(due),
            func.count().filter(due <= now),
            func.count().filter(due <= now + SOON),
            func.count().filter(due <= now + DUE_SOON),
            func.count().filter(due > now),
            func.min(due).filter(due > now),
        )
        .where(
            Message.campaign_id == campaign_id,
            Message.status.in_((MessageStatus.QUEUED, MessageStatus.DEFERRED)),
        )
        .group_by(Message.status)
    ).all()
    return {
        r[0]: _Pending(int(r[1]), r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), r[7])
        for r in rows
    }


def _waits(status: str, queued: _Pending, deferred: _Pending) -> dict[WaitReason, Wait]:
    if status == CampaignStatus.PAUSED:
        held = queued.count + deferred.count
        return {WaitReason.PAUSED: Wait(held, None)} if held else {}
    waits = {}
    if deferred.count:
        waits[WaitReason.DEFERRED] = Wait(deferred.count, deferred.earliest)
    if queued.later:
        waits[WaitReason.WINDOW] = Wait(queued.later, queued.next_later)
    return waits


NONE_PENDING = _Pending(0, None, 0, 0, 0, 0, None)


def campaign_report(
    conn: Connection, ref: str | int, now: datetime, *, servers: bool = True
) -> CampaignReport:
    """The campaign's counts as of ``now``; ``servers=False`` skips the split per server.

    Three indexed reads of the campaign's own messages: a count by status (the
    (campaign_id, status) index alone answers it), the pending ones' due times,
    and, unless told not, the sent ones' servers.
    """
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
    by_server: dict[str, int] = {}
    if servers:
        by_server = dict(
            conn.execute(
                select(SendingServer.name, func.count())
                .join(Message, Message.server_id == SendingServer.id)
                .where(Message.campaign_id == c.id, Message.status == MessageStatus.SENT)
                .group_by(SendingServer.name)
                .order_by(SendingServer.name)
            ).all()
        )
    pending = _pending(conn, c.id, now)
    queued = pending.get(MessageStatus.QUEUED, NONE_PENDING)
    deferred = pending.get(MessageStatus.DEFERRED, NONE_PENDING)
    status = c.status  # ``done`` is stored by the write-back that settles the last message
    paused = status == CampaignStatus.PAUSED
    return CampaignReport(
        uid=c.uid,
        name=c.name,
        status=status,
        recipients=c.recipient_count,
        by_status={k: int(v) for k, v in by_status.items()},
        by_server={k: int(v) for k, v in by_server.items()},
        waiting=queued.later,
        due_now=queued.due_now,
        next_due_at=queued.next_later,
        due_soon=queued.due_soon,
        waits=_waits(status, queued, deferred),
        due_shortly=0 if paused else queued.due_shortly + deferred.due_shortly,
    )
