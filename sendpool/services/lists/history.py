"""What happened to one subscriber of a list: its status, and the events of its messages.

Unsubscribes, bounces and complaints are recorded as events on the
subscriber's messages (``delivery_events``), so the history is read from
there, newest first, scoped to the customer that owns the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from sendpool.errors import NotFoundError
from sendpool.services import refs
from sendpool.store.tables import DeliveryEvent, Message, Subscriber

MAX_EVENTS = 100


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    at: datetime
    kind: str
    detail: str | None
    source: str | None
    message_uid: str | None


@dataclass(frozen=True, slots=True)
class SubscriberHistory:
    email: str
    status: str
    events: list[HistoryEvent]


def subscriber_history(
    conn: Connection, customer_id: int, list_uid: str, email: str
) -> SubscriberHistory:
    """The subscriber's status and its last ``MAX_EVENTS`` events; unknown ones are 404."""
    list_id = refs.list_id(conn, list_uid, customer_id=customer_id)
    sub = conn.execute(
        select(Subscriber.id, Subscriber.email, Subscriber.status).where(
            Subscriber.list_id == list_id, func.lower(Subscriber.email) == email.strip().lower()
        )
    ).first()
    if sub is None:
        raise NotFoundError(f"no subscriber {email[:320]!r} on that list")
    rows = conn.execute(
        select(
            DeliveryEvent.created_at,
            DeliveryEvent.kind,
            DeliveryEvent.detail,
            DeliveryEvent.source,
            Message.uid,
        )
        .join(Message, Message.id == DeliveryEvent.message_id)
        .where(Message.subscriber_id == sub.id, Message.customer_id == customer_id)
        .order_by(DeliveryEvent.created_at.desc(), DeliveryEvent.id.desc())
        .limit(MAX_EVENTS)
    )
    events = [HistoryEvent(r.created_at, r.kind, r.detail, r.source, r.uid) for r in rows]
    return SubscriberHistory(sub.email, sub.status, events)
