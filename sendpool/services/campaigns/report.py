"""A campaign's report: messages by status and by server, and what waits until when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, func, select

from sendpool.core.states import CampaignStatus, MessageStatus
from sendpool.errors import NotFoundError
from sendpool.store.rollups import NO_SERVER, campaign_counts
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


def _pending(
    conn: Connection, campaign_id: int, counts: dict[str, int], now: datetime
) -> dict[str, _Pending]:
    """Queued and deferred messages by status: counts by due time, and the earliest due.

    The totals come from the rollups (``counts``); the messages are read only
    for those due after ``now``, a range of the (campaign_id, status, due_at)
    index, so a campaign whose mail is due now costs nothing however big.
    What is due now is the total less what is due later; the earliest of a
    status is the first entry of its range of that index.
    """
    due = Message.due_at
    states = (MessageStatus.QUEUED, MessageStatus.DEFERRED)
    later = {
        r[0]: r[1:]
        for r in conn.execute(
            select(
                Message.status,
                func.count(),
                func.count().filter(due <= now + SOON),
                func.count().filter(due <= now + DUE_SOON),
                func.min(due),
            )
            .where(Message.campaign_id == campaign_id, Message.status.in_(states), due > now)
            .group_by(Message.status)
        )
    }
    out: dict[str, _Pending] = {}
    for status in states:
        count = counts.get(status, 0)
        if not count:
            continue
        n_later, soon, shortly, next_later = later.get(status, (0, 0, 0, None))
        due_now = max(0, count - int(n_later))  # the two reads may be a moment apart
        earliest = next_later
        if due_now:
            earliest = conn.execute(
                select(due)
                .where(Message.campaign_id == campaign_id, Message.status == status)
                .order_by(due)
                .limit(1)
            ).scalar()
        out[status] = _Pending(
            count, earliest, due_now, due_now + int(soon), due_now + int(shortly),
            int(n_later), next_later,
        )  # fmt: skip
    return out


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

    The counts by status and by server come from the rollups (store/rollups.py);
    the messages are read only for the pending ones due later (``_pending``).
    """
    cond = Campaign.id == ref if isinstance(ref, int) else Campaign.uid == ref
    c = conn.execute(
        select(
            Campaign.id, Campaign.uid, Campaign.name, Campaign.status, Campaign.recipient_count
        ).where(cond)
    ).first()
    if c is None:
        raise NotFoundError(f"unknown campaign {ref!r}")
    rolled = campaign_counts(conn, [c.id])
    by_status: dict[str, int] = {}
    sent_by: dict[int, int] = {}
    for (_c, server_id, st), n in rolled.items():
        by_status[st] = by_status.get(st, 0) + n
        if st == MessageStatus.SENT and server_id != NO_SERVER:
            sent_by[server_id] = sent_by.get(server_id, 0) + n
    by_server: dict[str, int] = {}
    if servers and sent_by:
        names = conn.execute(
            select(SendingServer.id, SendingServer.name).where(SendingServer.id.in_(sent_by))
        ).all()
        for server_id, name in sorted(names, key=lambda r: r[1]):
            by_server[name] = by_server.get(name, 0) + sent_by[server_id]
    pending = _pending(conn, c.id, by_status, now)
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
