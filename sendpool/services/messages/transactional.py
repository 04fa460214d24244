"""Transactional mail: one message, checked, then queued at once in the low-volume class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from sendpool.content.addresses import normalise_address
from sendpool.content.render import CampaignTemplate
from sendpool.core.states import MessageStatus
from sendpool.errors import InputError, NotFoundError
from sendpool.services import refs
from sendpool.services.campaigns.lifecycle import check_parts
from sendpool.services.errors import FieldError, checked
from sendpool.services.lists.subscribers import FieldValue, check_fields
from sendpool.services.tenancy.sending_domains import check_sender
from sendpool.store.tables import Message, Subscriber, table
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
    unsubscribe_list: str | None = None,
    now: datetime,
    public_url: str = "http://127.0.0.1:8025",
) -> str:
    """Check everything, then queue; returns the message's uid.

    With ``unsubscribe_list`` (a list's uid) the message is about that list and
    carries its List-Unsubscribe headers for the recipient, who must be on it;
    without, it carries none.
    """
    recipient = normalise_address(to)
    sender = normalise_address(from_email)
    unsubscribe = (
        _list_member(conn, customer_id, unsubscribe_list, recipient)
        if unsubscribe_list is not None
        else None
    )
    # Every transactional message is queued here, so no face can skip it (docs/design.md §4).
    check_sender(conn, customer_id, sender)
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
    if unsubscribe is not None:
        payload["unsubscribe"] = {"subscriber_id": unsubscribe[0], "list_id": unsubscribe[1]}
    conn.execute(
        table(Message)
        .insert()
        .values(
            uid=uid,
            customer_id=customer_id,
            recipient=recipient,
            kind="transactional",
            status=MessageStatus.QUEUED,
            attempts=0,
            due_at=now,
            queued_at=now,
            updated_at=now,
            payload=payload,
        )
    )
    return uid


def _list_member(
    conn: Connection, customer_id: int, list_uid: str, recipient: str
) -> tuple[int, int]:
    """(subscriber id, list id) of the recipient on the customer's list; a FieldError if not."""
    try:
        list_id = refs.list_id(conn, list_uid, customer_id=customer_id)
    except NotFoundError:
        raise FieldError([("unsubscribe_list", f"no list {list_uid[:40]!r}")]) from None
    row = conn.execute(
        select(Subscriber.id, Subscriber.status).where(
            Subscriber.list_id == list_id, func.lower(Subscriber.email) == recipient.lower()
        )
    ).first()
    if row is None or row.status != "subscribed":
        why = "the recipient is not subscribed to that list"
        raise FieldError([("unsubscribe_list", why)])
    return int(row.id), list_id


@dataclass(frozen=True, slots=True)
class Transactional:
    to: str
    subject: str
    from_email: str
    text: str | None = None
    html: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    fields: Mapping[str, FieldValue] | None = None
    unsubscribe_list: str | None = None  # a list's uid: carry its List-Unsubscribe


def send_transactional(
    conn: Connection, customer_id: int, message: Transactional, *, public_url: str, now: datetime
) -> str:
    """Queue one message in the low-volume class; returns its uid.

    Unless it names the list it is about (``unsubscribe_list``), it carries no
    List-Unsubscribe headers and ``{{ unsubscribe_url }}`` renders empty: an
    unsubscribe link must name the list the recipient leaves (content/render.py).
    """
    if message.text is None and message.html is None:
        raise FieldError([("text", "give a text body, an html body or both")])
    checked("to", normalise_address, message.to)
    checked("from_email", normalise_address, message.from_email)
    if message.reply_to is not None:
        checked("reply_to", normalise_address, message.reply_to)
    fields = check_fields("fields", message.fields or {})
    check_parts(
        subject=message.subject,
        from_email=message.from_email,
        from_name=message.from_name,
        reply_to=message.reply_to,
        text=message.text,
        html=message.html,
    )
    try:
        # What is left to refuse is the message as a whole: a merge field that fails to render.
        return enqueue_transactional(
            conn,
            customer_id=customer_id,
            to=message.to,
            subject=message.subject,
            from_email=message.from_email,
            text=message.text,
            html=message.html,
            from_name=message.from_name,
            reply_to=message.reply_to,
            fields=fields,
            unsubscribe_list=message.unsubscribe_list,
            now=now,
            public_url=public_url,
        )
    except FieldError:
        raise  # already names its field: the sender outside the customer's domains
    except InputError as exc:
        raise FieldError([("body", str(exc))]) from None
