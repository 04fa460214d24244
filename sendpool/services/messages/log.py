"""The per-message log as people read it, the split per server, and the dispatcher's skips."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from sendpool.core.states import MessageStatus
from sendpool.errors import NotFoundError
from sendpool.store.tables import Campaign, DeliveryEvent, DispatchSkip, Message, SendingServer

# What came back about the message after its send, the latest first: a bounce, a
# complaint, a delay ("bounced 5.1.1 via relay-b, reported ... by mx.example.net").
LATEST_EVENT = (
    select(DeliveryEvent.detail)
    .where(DeliveryEvent.message_id == Message.id)
    .order_by(DeliveryEvent.id.desc())
    .limit(1)
    .correlate(Message)
    .scalar_subquery()
    .label("event")
)

# What the log shows of each message's delivery; needs an outer join to SendingServer.
DELIVERY_COLUMNS = (
    Message.recipient,
    Message.status,
    SendingServer.name.label("server"),
    Message.attempts,
    Message.sent_at,
    Message.message_id,
    Message.remote_id,
    Message.smtp_reply.label("reply"),
    Message.last_error,
    LATEST_EVENT,
)


@dataclass(frozen=True, slots=True)
class LogRow:
    uid: str
    recipient: str
    status: str
    server: str | None
    attempts: int
    sent_at: datetime | None
    message_id: str | None
    remote_id: str | None
    reply: str | None
    last_error: str | None
    event: str | None = None  # the latest report about it (DeliveryEvent.detail)


def message_log(
    conn: Connection,
    *,
    campaign_id: int | None = None,
    customer_id: int | None = None,
    recipient: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[LogRow]:
    stmt = (
        select(Message.uid, *DELIVERY_COLUMNS)
        .outerjoin(SendingServer, SendingServer.id == Message.server_id)
        .order_by(Message.id)
        .limit(limit)
        .offset(offset)
    )
    if campaign_id is not None:
        stmt = stmt.where(Message.campaign_id == campaign_id)
    if customer_id is not None:
        stmt = stmt.where(Message.customer_id == customer_id)
    if recipient:
        stmt = stmt.where(Message.recipient.icontains(recipient, autoescape=True))
    return [LogRow(**r._mapping) for r in conn.execute(stmt)]


def sent_by_server(
    conn: Connection, *, campaign_id: int | None = None, kind: str | None = None
) -> dict[str, int]:
    stmt = (
        select(SendingServer.name, func.count())
        .join(Message, Message.server_id == SendingServer.id)
        .where(Message.status == MessageStatus.SENT)
        .group_by(SendingServer.name)
    )
    if campaign_id is not None:
        stmt = stmt.where(Message.campaign_id == campaign_id)
    if kind is not None:
        stmt = stmt.where(Message.kind == kind)
    return {name: int(n) for name, n in conn.execute(stmt)}


def count_by_status(conn: Connection, *, kind: str | None = None) -> dict[str, int]:
    stmt = select(Message.status, func.count()).group_by(Message.status)
    if kind is not None:
        stmt = stmt.where(Message.kind == kind)
    return {s: int(n) for s, n in conn.execute(stmt)}


@dataclass(frozen=True, slots=True)
class SkipReason:
    server: str
    code: str
    reason: str
    messages: int


def skip_reasons(conn: Connection, plan_id: int, since_day: str | None = None) -> list[SkipReason]:
    """Why each filter left servers out of a plan's picks, summed per server and reason."""
    stmt = (
        select(
            SendingServer.name,
            DispatchSkip.code,
            func.max(DispatchSkip.last_reason),
            func.sum(DispatchSkip.count),
        )
        .join(SendingServer, SendingServer.id == DispatchSkip.server_id)
        .where(DispatchSkip.plan_id == plan_id)
        .group_by(SendingServer.name, DispatchSkip.code)
        .order_by(SendingServer.name, DispatchSkip.code)
    )
    if since_day is not None:
        stmt = stmt.where(DispatchSkip.day >= since_day)
    return [SkipReason(s, c, r or "", int(n or 0)) for s, c, r, n in conn.execute(stmt)]


@dataclass(frozen=True, slots=True)
class MessageInfo:
    uid: str
    kind: str
    campaign_uid: str | None
    row: LogRow


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
