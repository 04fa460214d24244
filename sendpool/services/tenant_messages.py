"""A customer's messages: send one transactional message, read the log, see its plan's servers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from sendpool.campaigns.addresses import normalise_address
from sendpool.errors import InputError, NotFoundError
from sendpool.services.customers import effective_plan_id
from sendpool.services.errors import FieldError, checked
from sendpool.services.reports import DELIVERY_COLUMNS, LogRow, message_log
from sendpool.services.tenant_campaigns import field_of
from sendpool.services.tenant_lists import FieldValue, check_fields
from sendpool.services.transactional import enqueue_transactional
from sendpool.store.tables import Campaign, Message, PlanServer, SendingServer


@dataclass(frozen=True, slots=True)
class MessageInfo:
    uid: str
    kind: str
    campaign_uid: str | None
    row: LogRow


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


def send_transactional(
    conn: Connection, customer_id: int, message: Transactional, *, public_url: str, now: datetime
) -> str:
    """Queue one message in the low-volume class; returns its uid."""
    if message.text is None and message.html is None:
        raise FieldError([("text", "give a text body, an html body or both")])
    checked("to", normalise_address, message.to)
    checked("from_email", normalise_address, message.from_email)
    if message.reply_to is not None:
        checked("reply_to", normalise_address, message.reply_to)
    fields = check_fields("fields", message.fields or {})
    try:
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
            now=now,
            public_url=public_url,
        )
    except InputError as exc:
        raise FieldError([(field_of(str(exc), "body"), str(exc))]) from None


def messages(
    conn: Connection,
    customer_id: int,
    *,
    recipient: str | None,
    limit: int,
    offset: int,
) -> list[LogRow]:
    return message_log(
        conn, customer_id=customer_id, recipient=recipient, limit=limit, offset=offset
    )


def get_message(conn: Connection, customer_id: int, uid: str) -> MessageInfo:
    row = conn.execute(
        select(Message.kind, Campaign.uid.label("campaign_uid"), *DELIVERY_COLUMNS)
        .outerjoin(Campaign, Campaign.id == Message.campaign_id)
        .outerjoin(SendingServer, SendingServer.id == Message.server_id)
        .where(Message.uid == uid, Message.customer_id == customer_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no message {uid!r}")
    kind, campaign_uid, *rest = row
    return MessageInfo(uid, kind, campaign_uid, LogRow(uid, *rest))


def plan_servers(conn: Connection, customer_id: int) -> list[str]:
    """Names of the active servers this customer's mail may go through; nothing else about them."""
    plan_id = effective_plan_id(conn, customer_id)
    if plan_id is None:
        return []
    names = conn.execute(
        select(SendingServer.name)
        .join(PlanServer, PlanServer.server_id == SendingServer.id)
        .where(PlanServer.plan_id == plan_id, SendingServer.status == "active")
        .order_by(SendingServer.name)
    )
    return list(names.scalars())
