"""Transactional mail: one message, queued at once, always in the low-volume class."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from sendpool.campaigns.addresses import normalise_address
from sendpool.campaigns.render import CampaignTemplate
from sendpool.store.tables import Message, table
from sendpool.store.types import new_uid


def enqueue_transactional(
    conn: Connection,
    *,
    customer_id: int,
    to: str,
    subject: str,
    from_email: str,
    text: str | None = None,
    html: str | None = None,
    from_name: str | None = None,
    reply_to: str | None = None,
    fields: Mapping[str, Any] | None = None,
    plan_id: int | None = None,
    now: datetime,
    public_url: str = "http://127.0.0.1:8025",
) -> str:
    """Check everything, then queue; returns the message's uid."""
    recipient = normalise_address(to)
    sender = normalise_address(from_email)
    reply = normalise_address(reply_to) if reply_to else None
    template = CampaignTemplate(
        subject=subject,
        from_email=sender,
        from_name=from_name,
        reply_to=reply,
        text_body=text,
        html_body=html,
        public_url=public_url,
    )
    uid = new_uid()
    # Render once now so a bad merge field is the caller's error, not a failed send later.
    template.render(uid=uid, recipient=recipient, fields=dict(fields or {}), date="")
    payload = {
        "subject": subject,
        "from_email": sender,
        "from_name": from_name,
        "reply_to": reply,
        "text": text,
        "html": html,
        "fields": dict(fields or {}),
        "plan_id": plan_id,
    }
    conn.execute(
        table(Message)
        .insert()
        .values(
            uid=uid,
            customer_id=customer_id,
            recipient=recipient,
            kind="transactional",
            status="queued",
            attempts=0,
            due_at=now,
            queued_at=now,
            updated_at=now,
            payload=payload,
        )
    )
    return uid
