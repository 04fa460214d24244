"""A customer's campaigns: create, launch, pause, resume, progress and per-message log.

Campaigns run under the customer's own plan (or its region's): a customer
cannot choose another plan, so it cannot reach servers it does not pay for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from sendpool.content.addresses import normalise_address
from sendpool.errors import InputError, NotFoundError
from sendpool.services import refs
from sendpool.services.campaigns.drafts import CampaignDraft, check_draft, create_campaign
from sendpool.services.campaigns.launch import start_launch
from sendpool.services.campaigns.report import CampaignReport, campaign_report
from sendpool.services.errors import ConflictError, FieldError, checked
from sendpool.services.messages.log import LogRow, message_log
from sendpool.store.launches import eligible_count, launch_batches
from sendpool.store.tables import Campaign, MailingList, Message, table

# What pipeline/prepare.py writes on a message it holds back for a paused campaign.
HELD = "campaign paused"


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    uid: str
    name: str
    list_uid: str
    subject: str
    from_email: str
    status: str
    recipients: int
    created_at: datetime
    launched_at: datetime | None


# How the template and header checks name the part they refuse, and the field it came from.
_PARTS = (
    ("campaign name", "name"),
    ("subject", "subject"),
    ("text body", "text"),
    ("html body", "html"),
    ("from name", "from_name"),
    ("reply-to", "reply_to"),
    ("from", "from_email"),
)


def field_of(message: str, default: str) -> str:
    low = message.lower()
    return next((field for part, field in _PARTS if low.startswith(part)), default)


def check_draft_fields(draft: CampaignDraft, public_url: str) -> CampaignDraft:
    """check_draft, with each refusal naming the request field it concerns."""
    checked("from_email", normalise_address, draft.from_email)
    if draft.reply_to is not None:
        checked("reply_to", normalise_address, draft.reply_to)
    try:
        return check_draft(draft, public_url)
    except InputError as exc:
        raise FieldError([(field_of(str(exc), "body"), str(exc))]) from None


def _info(conn: Connection, campaign_id: int) -> CampaignInfo:
    c = conn.execute(
        select(
            Campaign.uid,
            Campaign.name,
            MailingList.uid.label("list_uid"),
            Campaign.subject,
            Campaign.from_email,
            Campaign.status,
            Campaign.recipient_count.label("recipients"),
            Campaign.created_at,
            Campaign.launched_at,
        )
        .join(MailingList, MailingList.id == Campaign.list_id)
        .where(Campaign.id == campaign_id)
    ).one()
    return CampaignInfo(**c._mapping)


def list_campaigns(conn: Connection, customer_id: int) -> list[CampaignInfo]:
    ids = conn.execute(
        select(Campaign.id).where(Campaign.customer_id == customer_id).order_by(Campaign.id)
    ).scalars()
    return [_info(conn, int(i)) for i in ids]


def new_campaign(
    conn: Connection,
    customer_id: int,
    *,
    list_uid: str,
    draft: CampaignDraft,
    public_url: str,
    now: datetime,
) -> CampaignInfo:
    if draft.text_body is None and draft.html_body is None:
        raise FieldError([("text", "give a text body, an html body or both")])
    try:
        list_id = refs.list_id(conn, list_uid, customer_id=customer_id)
    except NotFoundError as exc:
        raise FieldError([("list_uid", str(exc))]) from None
    draft = check_draft_fields(draft, public_url)
    campaign_id, _uid = create_campaign(
        conn, customer_id=customer_id, list_id=list_id, draft=draft, plan_id=None, now=now
    )
    return _info(conn, campaign_id)


def progress(conn: Connection, customer_id: int, uid: str, now: datetime) -> CampaignReport:
    return campaign_report(conn, refs.campaign_id(conn, uid, customer_id=customer_id), now)


def launch_campaign(
    engine: Engine,
    customer_id: int,
    uid: str,
    now: datetime,
    *,
    batch_size: int = 5000,
    max_batches: int | None = None,
) -> CampaignReport:
    """Queue one message per eligible subscriber (blocking: run it on a thread).

    With ``max_batches`` only that many batches are queued now and the report
    says ``launching``; ``continue_launch`` queues the rest.
    """
    with engine.begin() as conn:
        campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
        c = conn.execute(
            select(Campaign.status, Campaign.list_id).where(Campaign.id == campaign_id)
        ).one()
        if c.status not in ("draft", "launching"):
            raise ConflictError(f"campaign is {c.status}; only a draft can be launched")
        if eligible_count(conn, c.list_id, customer_id) == 0:
            raise InputError("the campaign's list has no subscribed, unsuppressed recipients")
        start_launch(conn, campaign_id, now)
    launch_batches(engine, campaign_id, now, batch_size=batch_size, max_batches=max_batches)
    with engine.begin() as conn:
        return campaign_report(conn, campaign_id, now)


def continue_launch(
    engine: Engine, customer_id: int, uid: str, now: datetime, *, batch_size: int = 5000
) -> None:
    """The rest of a launch begun by ``launch_campaign``; a worker finishes it if this dies."""
    with engine.begin() as conn:
        campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
    launch_batches(engine, campaign_id, now, batch_size=batch_size)


def _move(
    conn: Connection, customer_id: int, uid: str, now: datetime, src: str, dst: str
) -> CampaignReport:
    campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
    T = table(Campaign)
    moved = conn.execute(
        update(T).where(T.c.id == campaign_id, T.c.status == src).values(status=dst, updated_at=now)
    ).rowcount
    if not moved:
        status = conn.execute(select(T.c.status).where(T.c.id == campaign_id)).scalar_one()
        if status != dst:
            raise ConflictError(f"campaign is {status}; only a {src} campaign can become {dst}")
    return campaign_report(conn, campaign_id, now)


def pause_campaign(conn: Connection, customer_id: int, uid: str, now: datetime) -> CampaignReport:
    """Hold back its queued messages (the workers see it within seconds); pausing twice is fine."""
    return _move(conn, customer_id, uid, now, "sending", "paused")


def resume_campaign(conn: Connection, customer_id: int, uid: str, now: datetime) -> CampaignReport:
    """Send again; messages the workers held back while paused are due at once."""
    _move(conn, customer_id, uid, now, "paused", "sending")
    M = table(Message)
    conn.execute(
        update(M)
        .where(
            M.c.campaign_id == refs.campaign_id(conn, uid, customer_id=customer_id),
            M.c.status == "queued",
            M.c.due_at > now,
            M.c.last_error == HELD,
        )
        .values(due_at=now)
    )
    return campaign_report(conn, refs.campaign_id(conn, uid, customer_id=customer_id), now)


def campaign_messages(
    conn: Connection,
    customer_id: int,
    uid: str,
    *,
    recipient: str | None,
    limit: int,
    offset: int,
) -> list[LogRow]:
    campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
    return message_log(
        conn,
        campaign_id=campaign_id,
        customer_id=customer_id,
        recipient=recipient,
        limit=limit,
        offset=offset,
    )
