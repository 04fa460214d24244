"""A customer's campaigns: create, launch, pause, resume, progress and per-message log.

Campaigns run under the customer's own plan (or its region's): a customer
cannot choose another plan, so it cannot reach servers it does not pay for.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from sendpool.content.addresses import header_text, normalise_address
from sendpool.content.render import compile_template
from sendpool.core.states import CampaignStatus, HoldReason, MessageStatus, can_move
from sendpool.errors import InputError, NotFoundError
from sendpool.services import refs
from sendpool.services.campaigns.drafts import CampaignDraft, check_draft, create_campaign
from sendpool.services.campaigns.launch import start_launch
from sendpool.services.campaigns.merge_fields import check_merge_fields
from sendpool.services.campaigns.report import CampaignReport, campaign_report
from sendpool.services.errors import ConflictError, FieldError, checked
from sendpool.services.messages.log import LogRow, Match, message_log
from sendpool.store.launches import eligible_count, launch_batches
from sendpool.store.tables import Campaign, MailingList, Message, table
from sendpool.store.waking import wake_campaign


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
    warnings: tuple[str, ...] = ()  # merge fields some subscribers of the list lack


def check_parts(
    *,
    subject: str,
    from_email: str,
    from_name: str | None,
    reply_to: str | None,
    text: str | None,
    html: str | None,
) -> None:
    """Each header and template part checked on its own, under the request field it came from.

    The order is CampaignTemplate's, so the first refusal is the one it would make.
    """
    if text is None and html is None:
        raise FieldError([("body", "a campaign needs a text body, an HTML body or both")])
    checked("subject", functools.partial(header_text, "subject"), subject)
    checked("from_email", functools.partial(header_text, "from"), from_email)
    checked("subject", functools.partial(compile_template, "subject"), subject)
    checked("text", functools.partial(compile_template, "text body"), text)
    checked("html", functools.partial(compile_template, "HTML body", html=True), html)
    checked("from_name", functools.partial(header_text, "from name"), from_name or "")
    if reply_to:
        checked("reply_to", functools.partial(header_text, "reply-to"), reply_to)


def check_draft_fields(draft: CampaignDraft, public_url: str) -> CampaignDraft:
    """check_draft, with each refusal naming the request field it concerns."""
    checked("from_email", normalise_address, draft.from_email)
    if draft.reply_to is not None:
        checked("reply_to", normalise_address, draft.reply_to)
    if not draft.name.strip():
        raise FieldError([("name", "campaign name is empty")])
    checked("name", functools.partial(header_text, "campaign name", max_length=200), draft.name)
    check_parts(
        subject=draft.subject,
        from_email=draft.from_email,
        from_name=draft.from_name,
        reply_to=draft.reply_to,
        text=draft.text_body,
        html=draft.html_body,
    )
    if not draft.subject.strip():
        raise FieldError([("subject", "subject is empty")])
    return checked("body", functools.partial(check_draft, public_url=public_url), draft)


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
    warnings = check_merge_fields(
        conn, list_id, subject=draft.subject, text=draft.text_body, html=draft.html_body
    )
    campaign_id, _uid = create_campaign(
        conn, customer_id=customer_id, list_id=list_id, draft=draft, plan_id=None, now=now
    )
    return dataclasses.replace(_info(conn, campaign_id), warnings=tuple(warnings))


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
    says ``launching``; ``continue_launch`` queues the rest. A merge field
    no subscriber has refuses the launch (FieldError); fields some lack are
    the report's ``warnings``.
    """
    with engine.begin() as conn:
        campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
        c = conn.execute(
            select(Campaign.status, Campaign.list_id).where(Campaign.id == campaign_id)
        ).one()
        if not can_move(CampaignStatus(c.status), CampaignStatus.LAUNCHING):
            raise ConflictError(f"campaign is {c.status}; only a draft can be launched")
        if eligible_count(conn, c.list_id, customer_id) == 0:
            raise InputError("the campaign's list has no subscribed, unsuppressed recipients")
        started = start_launch(conn, campaign_id, now)
    launch_batches(engine, campaign_id, now, batch_size=batch_size, max_batches=max_batches)
    with engine.begin() as conn:
        report = campaign_report(conn, campaign_id, now)
    report.warnings = started.warnings
    return report


def continue_launch(
    engine: Engine, customer_id: int, uid: str, now: datetime, *, batch_size: int = 5000
) -> None:
    """The rest of a launch begun by ``launch_campaign``; a worker finishes it if this dies."""
    with engine.begin() as conn:
        campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
    launch_batches(engine, campaign_id, now, batch_size=batch_size)


def _move(
    conn: Connection, campaign_id: int, now: datetime, src: CampaignStatus, dst: CampaignStatus
) -> None:
    """Move the campaign from ``src`` to ``dst``; one already at ``dst`` stays (twice is fine)."""
    T = table(Campaign)
    moved = 0
    if can_move(src, dst):
        moved = conn.execute(
            update(T)
            .where(T.c.id == campaign_id, T.c.status == src)
            .values(status=dst, updated_at=now)
        ).rowcount
    if not moved:
        status = conn.execute(select(T.c.status).where(T.c.id == campaign_id)).scalar_one()
        if status != dst:
            raise ConflictError(f"campaign is {status}; only a {src} campaign can become {dst}")


def pause_campaign(conn: Connection, customer_id: int, uid: str, now: datetime) -> CampaignReport:
    """Hold back its queued messages (the workers see it within seconds); pausing twice is fine."""
    campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
    _move(conn, campaign_id, now, CampaignStatus.SENDING, CampaignStatus.PAUSED)
    return campaign_report(conn, campaign_id, now)


def resume_campaign(conn: Connection, customer_id: int, uid: str, now: datetime) -> CampaignReport:
    """Send again; messages the workers held back while paused are released, due at once."""
    campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
    _move(conn, campaign_id, now, CampaignStatus.PAUSED, CampaignStatus.SENDING)
    M = table(Message)
    conn.execute(
        update(M)
        .where(
            M.c.campaign_id == campaign_id,
            M.c.status == MessageStatus.QUEUED,
            M.c.hold == HoldReason.CAMPAIGN_PAUSED,
        )
        .values(due_at=now, hold=None)
    )
    # What waited for a window while it was paused may find room now: look again.
    wake_campaign(conn, campaign_id, now)
    return campaign_report(conn, campaign_id, now)


def campaign_messages(
    conn: Connection,
    customer_id: int,
    uid: str,
    *,
    recipient: str | None,
    limit: int,
    offset: int = 0,
    match: Match = "prefix",
    after: str | None = None,
) -> list[LogRow]:
    campaign_id = refs.campaign_id(conn, uid, customer_id=customer_id)
    return message_log(
        conn,
        campaign_id=campaign_id,
        customer_id=customer_id,
        recipient=recipient,
        match=match,
        limit=limit,
        offset=offset,
        after=after,
    )
