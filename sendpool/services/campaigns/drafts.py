"""Campaign drafts: checked whole before anything is written, then stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from sendpool.content.addresses import header_text, normalise_address
from sendpool.content.render import CampaignTemplate
from sendpool.core.states import CampaignStatus
from sendpool.errors import InputError, NotFoundError
from sendpool.services.tenancy.sending_domains import check_sender
from sendpool.store.tables import (
    Campaign,
    MailingList,
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
    # Every campaign is stored here, so no face can skip the sender check (docs/design.md §4).
    check_sender(conn, customer_id, draft.from_email)
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
            status=CampaignStatus.DRAFT,
            recipient_count=0,
            launch_cursor=0,
            created_at=now,
            updated_at=now,
        )
        .returning(T.c.id)
    ).scalar_one()
    return int(cid), uid
