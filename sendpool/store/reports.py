"""What reports that came back read and write: their message, the events, suppressions, rates.

Each event is written once: its ``dedup_key`` is unique, and the insert does
nothing on a clash, so the same report delivered twice (by the listener and
by a mailbox, or by a relay that retried) changes the figures once. Rates
count events by the original send time (``sent_at``); the events the
pipeline writes at SMTP time carry none, and count by when they were written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, literal, select, update

from sendpool.core.states import MessageStatus, ServerStatus
from sendpool.store.database import insert_for
from sendpool.store.event_rollups import event_counts
from sendpool.store.rollups import sent_by_server, sent_counts
from sendpool.store.tables import (
    DeliveryEvent,
    Message,
    SendingServer,
    Suppression,
    table,
)

# What counts as a bounce in a server's rates: about the address, or about the
# server's own reputation (4.7.x / 5.7.x); soft bounces and delays do not.
BOUNCE_KINDS = ("hard_bounce", "reputation")
COMPLAINT_KIND = "complaint"
RATE_KINDS = (*BOUNCE_KINDS, COMPLAINT_KIND)  # what a server's rates count
DELAY_KIND = "delay"


@dataclass(frozen=True, slots=True)
class SentMessage:
    """The message a report names, as far as applying the report needs it."""

    id: int
    uid: str
    customer_id: int
    server_id: int | None
    server_name: str | None
    recipient: str
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewEvent:
    message: SentMessage
    kind: str  # hard_bounce | soft_bounce | reputation | complaint | delay
    detail: str
    status_code: str | None
    source: str
    reported_by: str | None
    dedup_key: str


@dataclass(frozen=True, slots=True)
class Figures:
    """A server's sends and events over one window, by original send time."""

    sent: int = 0
    bounces: int = 0
    complaints: int = 0


def sent_message(conn: Connection, message_id: int) -> SentMessage | None:
    row = conn.execute(
        select(
            Message.id,
            Message.uid,
            Message.customer_id,
            Message.server_id,
            SendingServer.name,
            Message.recipient,
            Message.sent_at,
        )
        .outerjoin(SendingServer, SendingServer.id == Message.server_id)
        .where(Message.id == message_id)
    ).first()
    return None if row is None else SentMessage(*row)


def soft_bounces_since(conn: Connection, customer_id: int, recipient: str, since: datetime) -> int:
    """Soft bounces already recorded for this customer's address since ``since``."""
    return int(
        conn.execute(
            select(func.count()).where(
                DeliveryEvent.customer_id == customer_id,
                func.lower(DeliveryEvent.recipient) == recipient.lower(),
                DeliveryEvent.kind == "soft_bounce",
                DeliveryEvent.created_at >= since,
            )
        ).scalar_one()
    )


def insert_event(conn: Connection, event: NewEvent, now: datetime) -> bool:
    """Write the event unless one with its key exists; True when this call wrote it."""
    m = event.message
    stmt = (
        insert_for(conn, table(DeliveryEvent))
        .values(
            server_id=m.server_id,
            message_id=m.id,
            kind=event.kind,
            detail=event.detail,
            created_at=now,
            customer_id=m.customer_id,
            recipient=m.recipient[:320],
            status_code=event.status_code[:16] if event.status_code else None,
            source=event.source[:64],
            reported_by=event.reported_by[:255] if event.reported_by else None,
            sent_at=m.sent_at,
            dedup_key=event.dedup_key,
        )
        .on_conflict_do_nothing()
        .returning(table(DeliveryEvent).c.id)
    )
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
    return conn.execute(stmt).first() is not None


def suppress(
    conn: Connection,
    *,
    customer_id: int,
    email: str,
    kind: str,
    reason: str,
    server_id: int | None,
    now: datetime,
) -> bool:
    """Suppress the address for the customer; an existing suppression is left as it is."""
    stmt = (
        insert_for(conn, table(Suppression))
        .values(
            customer_id=customer_id,
            email=email,
            reason=reason,
            server_id=server_id,
            kind=kind,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(table(Suppression).c.customer_id)
    )
    return conn.execute(stmt).first() is not None


def events_about_sends(
    conn: Connection, server_id: int, since: datetime, until: datetime
) -> tuple[int, int]:
    """(bounces, complaints) about one server's sends in [since, until], by original send time.

    From the event rollups (store/event_rollups.py): the minutes of the window,
    not its events.
    """
    counts: dict[str, int] = defaultdict(int)
    for (_s, _d, kind), n in event_counts(conn, since, until, RATE_KINDS, [server_id]).items():
        counts[kind] += n
    return sum(counts[k] for k in BOUNCE_KINDS), counts[COMPLAINT_KIND]


def deferrals_since(conn: Connection, server_id: int, since: datetime, until: datetime) -> int:
    """Deferrals reported about one server's mail in [since, until], by when they were reported.

    A deferral (a DSN's delayed, a vendor's temporary failure) is a receiver
    holding the server's mail back: a reputation signal before any bounce.
    """
    E = DeliveryEvent
    return int(
        conn.execute(
            select(func.count()).where(
                E.server_id == server_id,
                E.kind == DELAY_KIND,
                E.created_at >= since,
                E.created_at <= until,
            )
        ).scalar_one()
    )


def sent_up_to(
    conn: Connection, server_id: int, since: datetime, until: datetime, limit: int
) -> int:
    """Messages one server sent in [since, until], counted no further than ``limit``."""
    rows = (
        select(literal(1))
        .where(
            Message.server_id == server_id,
            Message.status == MessageStatus.SENT,
            Message.sent_at >= since,
            Message.sent_at <= until,
        )
        .limit(limit)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())


def figures(
    conn: Connection, server_ids: Iterable[int], since: datetime, until: datetime
) -> dict[int, Figures]:
    """Per server: messages sent in [since, until], and the events about those sends."""
    ids = list(server_ids)
    sent = sent_by_server(conn, ids, since, until)  # the rollups, exact to the microsecond
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for (server_id, _d, kind), n in event_counts(conn, since, until, RATE_KINDS, ids).items():
        counts[(server_id, kind)] += n
    return {
        i: Figures(
            sent=int(sent.get(i, 0)),
            bounces=sum(counts[(i, k)] for k in BOUNCE_KINDS),
            complaints=counts[(i, COMPLAINT_KIND)],
        )
        for i in ids
    }


def sent_by_sender(
    conn: Connection, since: datetime, until: datetime, server_ids: Iterable[int] | None = None
) -> list[tuple[int, str | None, int]]:
    """(server id, sending domain, messages sent) over [since, until], from the rollups.

    The domain is what follows the From address's last '@', lower-cased: the
    campaign's From, or the transactional message's own. ``server_ids``: only those.
    """
    counts = sent_counts(conn, since, until, server_ids)
    return [(s, d, n) for (s, d), n in sorted(counts.items())]


def events_by_sender(
    conn: Connection, since: datetime, until: datetime, server_ids: Iterable[int] | None = None
) -> list[tuple[int, str, str, int]]:
    """(server id, sending domain, event kind, events) for the sends in [since, until].

    The domain as ``sent_by_sender`` gives it; from the event rollups.
    """
    counts = event_counts(conn, since, until, RATE_KINDS, server_ids)
    return [(s, d, k, n) for (s, d, k), n in sorted(counts.items())]


def pause_server(conn: Connection, server_id: int, reason: str, now: datetime) -> bool:
    """Pause an active server with the reason; True when this call paused it."""
    T = table(SendingServer)
    return bool(
        conn.execute(
            update(T)
            .where(T.c.id == server_id, T.c.status == ServerStatus.ACTIVE)
            .values(status=ServerStatus.PAUSED, status_reason=reason, updated_at=now)
        ).rowcount
    )
