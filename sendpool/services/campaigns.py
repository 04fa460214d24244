"""Campaigns: create (checked whole before anything is written), launch, report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, update

from sendpool.campaigns.addresses import header_text, normalise_address
from sendpool.campaigns.render import CampaignTemplate
from sendpool.errors import InputError, NotFoundError
from sendpool.store.launches import eligible_count, launch_batches
from sendpool.store.tables import (
    Campaign,
    Customer,
    MailingList,
    Message,
    Plan,
    SendingServer,
    table,
)
from sendpool.store.types import new_uid


@dataclass(frozen=True, slots=True)
class CampaignDraft:
    name: str
    subject: str
    from_email: str
    from_name: str | None = None
    reply_to: str | None = None
    text_body: str | None = None
    html_body: str | None = None


def find_customer(conn: Connection, ref: str) -> tuple[int, str]:
    row = conn.execute(
        select(Customer.id, Customer.name).where((Customer.name == ref) | (Customer.uid == ref))
    ).first()
    if row is None:
        names = (
            conn.execute(select(Customer.name).order_by(Customer.name).limit(10)).scalars().all()
        )
        hint = (
            f"; known customers: {', '.join(names)}" if names else "; declare it in the pool file"
        )
        raise NotFoundError(f"unknown customer {ref!r}{hint}")
    return int(row[0]), str(row[1])


def find_plan(conn: Connection, ref: str) -> int:
    found = conn.execute(select(Plan.id).where((Plan.name == ref) | (Plan.uid == ref))).scalar()
    if found is None:
        names = conn.execute(select(Plan.name).order_by(Plan.name)).scalars().all()
        hint = f"; known plans: {', '.join(names)}" if names else "; no plans are declared yet"
        raise NotFoundError(f"unknown plan {ref!r}{hint}")
    return int(found)


def check_draft(draft: CampaignDraft, public_url: str) -> CampaignDraft:
    """Normalise and check every field; raises InputError before anything is written."""
    if not draft.name.strip():
        raise InputError("campaign name is empty")
    header_text("campaign name", draft.name, max_length=200)
    from_email = normalise_address(draft.from_email)
    reply_to = normalise_address(draft.reply_to) if draft.reply_to else None
    checked = CampaignDraft(
        draft.name.strip(),
        draft.subject,
        from_email,
        draft.from_name,
        reply_to,
        draft.text_body,
        draft.html_body,
    )
    CampaignTemplate(
        subject=checked.subject,
        from_email=from_email,
        from_name=checked.from_name,
        reply_to=reply_to,
        text_body=checked.text_body,
        html_body=checked.html_body,
        public_url=public_url,
    )
    if not checked.subject.strip():
        raise InputError("subject is empty")
    return checked


def create_campaign(
    conn: Connection,
    *,
    customer_id: int,
    list_id: int,
    draft: CampaignDraft,
    plan_id: int | None,
    now: datetime,
) -> tuple[int, str]:
    lst = conn.execute(select(MailingList.customer_id).where(MailingList.id == list_id)).scalar()
    if lst is None or int(lst) != customer_id:
        raise NotFoundError("the list does not belong to this customer")
    uid = new_uid()
    T = table(Campaign)
    cid = conn.execute(
        T.insert()
        .values(
            uid=uid,
            customer_id=customer_id,
            list_id=list_id,
            plan_id=plan_id,
            name=draft.name,
            subject=draft.subject,
            from_email=draft.from_email,
            from_name=draft.from_name,
            reply_to=draft.reply_to,
            text_body=draft.text_body,
            html_body=draft.html_body,
            status="draft",
            recipient_count=0,
            launch_cursor=0,
            created_at=now,
            updated_at=now,
        )
        .returning(T.c.id)
    ).scalar_one()
    return int(cid), uid


def start_launch(conn: Connection, campaign_id: int, now: datetime) -> int:
    """Count the recipients and mark the campaign launching; returns the count."""
    c = conn.execute(
        select(Campaign.status, Campaign.list_id, Campaign.customer_id).where(
            Campaign.id == campaign_id
        )
    ).one()
    if c.status not in ("draft", "launching"):
        raise InputError(f"campaign is {c.status}; only a draft can be launched")
    count = eligible_count(conn, c.list_id, c.customer_id)
    conn.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(status="launching", recipient_count=count, launched_at=now, updated_at=now)
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
        busy = self.by_status.get("sending", 0) + self.by_status.get("deferred", 0)
        if busy or self.status in ("draft", "launching"):
            return False
        # A paused campaign's messages are held a few seconds at a time until it resumes.
        return self.status == "paused" or self.due_soon == 0

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
            .where(Message.campaign_id == c.id, Message.status == "sent")
            .group_by(SendingServer.name)
            .order_by(SendingServer.name)
        ).all()
    )
    queued = (Message.campaign_id == c.id) & (Message.status == "queued")
    later = Message.due_at > now
    due_now, due_soon, waiting, next_due_at = conn.execute(
        select(
            func.count().filter(Message.due_at <= now),
            func.count().filter(Message.due_at <= now + SOON),
            func.count().filter(later),
            func.min(Message.due_at).filter(later),
        ).where(queued)
    ).one()
    status = c.status
    if (
        status == "sending"
        and sum(by_status.get(k, 0) for k in ("sent", "failed")) == c.recipient_count
    ):
        status = "done"
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
