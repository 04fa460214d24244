"""Unsubscribing one subscriber from one list, once, from a signed token's ids.

The recipient asked: by a mailbox provider's one-click POST (RFC 8058), by the
confirmation page's button or by mail to the ``mailto:`` address. Each way ends
here, so each is recorded the same: the subscriber's status, a suppression for
the customer (the address is never sent to again, whichever list it is on) and
a delivery event the per-message log shows. A second request finds it done and
changes nothing, as a provider may send the POST more than once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from sendpool.errors import InputError, NotFoundError
from sendpool.store.database import insert_for
from sendpool.store.reports import suppress
from sendpool.store.tables import (
    Campaign,
    DeliveryEvent,
    MailingList,
    Message,
    Subscriber,
    table,
)

# "vendor": the recipient unsubscribed at the sending vendor, which reported it by webhook.
SOURCES = ("one-click", "page", "mailto", "vendor")
UNSUBSCRIBED = "unsubscribed"
EVENT_KIND = "unsubscribe"


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    changed: bool  # False when it was already unsubscribed
    email: str
    list_name: str
    customer_id: int


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a token names, as the confirmation page shows it; nothing is changed reading it."""

    email: str
    list_name: str
    customer_id: int
    status: str


def find_recipient(conn: Connection, *, subscriber_id: int, list_id: int) -> Recipient:
    """The subscriber on that list; NotFoundError when there is none (a deleted list, say)."""
    row = conn.execute(
        select(Subscriber.email, MailingList.name, MailingList.customer_id, Subscriber.status)
        .join(MailingList, MailingList.id == Subscriber.list_id)
        .where(Subscriber.id == subscriber_id, Subscriber.list_id == list_id)
    ).first()
    if row is None:
        raise NotFoundError("no such subscriber on that list")
    return Recipient(str(row[0]), str(row[1]), int(row[2]), str(row[3]))


def _message(
    conn: Connection, customer_id: int, subscriber_id: int, list_id: int, message_id: int | None
) -> tuple[int | None, int | None, datetime | None]:
    """The message the unsubscribe is about: the one named, else the latest one to them.

    A message named must be one of this subscriber's, so a caller cannot file the
    event under another customer's message; the URL names none, and then the
    latest campaign message to the subscriber from that list is the one they read.
    """
    M = table(Message)
    stmt = select(M.c.id, M.c.server_id, M.c.sent_at).where(
        M.c.customer_id == customer_id, M.c.subscriber_id == subscriber_id
    )
    if message_id is not None:
        stmt = stmt.where(M.c.id == message_id)
    else:
        stmt = stmt.join(Campaign, Campaign.id == M.c.campaign_id).where(
            Campaign.list_id == list_id
        )
    row = conn.execute(stmt.order_by(M.c.id.desc()).limit(1)).first()
    return (None, None, None) if row is None else (int(row[0]), row[1], row[2])


def unsubscribe(
    conn: Connection,
    *,
    subscriber_id: int,
    list_id: int,
    source: str,
    now: datetime,
    message_id: int | None = None,
) -> Unsubscribed:
    """Unsubscribe and suppress; NotFoundError when the subscriber is not on that list."""
    if source not in SOURCES:
        raise InputError(f"unknown unsubscribe source {source[:40]!r}; one of {', '.join(SOURCES)}")
    who = find_recipient(conn, subscriber_id=subscriber_id, list_id=list_id)
    S = table(Subscriber)
    # One statement decides who changed it: of two requests at once, one sees a row.
    done = conn.execute(
        update(S)
        .where(S.c.id == subscriber_id, S.c.list_id == list_id, S.c.status != UNSUBSCRIBED)
        .values(status=UNSUBSCRIBED)
    )
    changed = done.rowcount == 1
    reason = f"unsubscribed via {source}"
    suppress(
        conn, customer_id=who.customer_id, email=who.email, kind=EVENT_KIND,
        reason=reason, server_id=None, now=now,
    )  # fmt: skip
    msg_id, server_id, sent_at = _message(conn, who.customer_id, subscriber_id, list_id, message_id)
    conn.execute(
        insert_for(conn, table(DeliveryEvent))
        .values(
            server_id=server_id,
            message_id=msg_id,
            kind=EVENT_KIND,
            detail=f"{reason} at {now:%Y-%m-%d %H:%M} UTC",
            created_at=now,
            customer_id=who.customer_id,
            recipient=who.email[:320],
            source=source,
            sent_at=sent_at,
            dedup_key=f"unsubscribe:{subscriber_id}:{list_id}",
        )
        .on_conflict_do_nothing()
    )
    return Unsubscribed(changed, who.email, who.list_name, who.customer_id)
