"""What vendor webhooks read and write: the server, its message, one-time tokens, receipts.

A vendor's event names the message twice: by the sendpool uid the message
carried as metadata, and by the id the vendor gave it at send
(``messages.remote_id``, indexed with the server since migration 0010). Either
must belong to the server whose URL the event came to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from sendpool.store.database import insert_for
from sendpool.store.reports import SentMessage
from sendpool.store.tables import Message, SendingServer, table
from sendpool.store.tables_webhooks import WebhookReceipt, WebhookReplay, WebhookUnmatched


@dataclass(frozen=True, slots=True)
class WebhookServer:
    id: int
    uid: str
    name: str
    type: str
    settings: dict[str, Any]
    secrets_sealed: str | None


@dataclass(frozen=True, slots=True)
class Unmatched:
    server_id: int
    vendor: str
    event_key: str
    kind: str
    recipient: str | None
    our_id: str | None
    vendor_message_id: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Receipt:
    accepted: int
    last_event_at: datetime | None
    last_event: str | None


def server_by_uid(conn: Connection, uid: str) -> WebhookServer | None:
    return _server(conn, SendingServer.uid == uid)


def server_by_id(conn: Connection, server_id: int) -> WebhookServer | None:
    return _server(conn, SendingServer.id == server_id)


def _server(conn: Connection, where: Any) -> WebhookServer | None:
    S = SendingServer
    row = conn.execute(
        select(S.id, S.uid, S.name, S.type, S.settings, S.secrets_sealed).where(where)
    ).first()
    if row is None:
        return None
    id_, uid, name, type_, settings, sealed = row
    return WebhookServer(id_, uid, name, type_, dict(settings or {}), sealed)


def _sent(conn: Connection, *where: Any) -> SentMessage | None:
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
        .join(SendingServer, SendingServer.id == Message.server_id)
        .where(*where)
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    return None if row is None else SentMessage(*row)


def message_by_uid(conn: Connection, server_id: int, uid: str) -> SentMessage | None:
    """The message with this uid, if this server is the one that last sent it."""
    return _sent(conn, Message.uid == uid, Message.server_id == server_id)


def message_by_remote_id(conn: Connection, server_id: int, remote_id: str) -> SentMessage | None:
    """The newest message this server accepted under the vendor's id (an index read)."""
    return _sent(conn, Message.server_id == server_id, Message.remote_id == remote_id)


def remember_once(conn: Connection, key: str, until: datetime, now: datetime) -> bool:
    """Keep a one-time value until ``until``; False when it was already kept (a replay).

    Values past their time are dropped first: they can no longer verify, so
    keeping them would only grow the table.
    """
    T = table(WebhookReplay)
    conn.execute(delete(T).where(T.c.expires_at < now))
    stmt = (
        insert_for(conn, T)
        .values(key=key, expires_at=until)
        .on_conflict_do_nothing()
        .returning(T.c.key)
    )
    return conn.execute(stmt).first() is not None


def keep_unmatched(conn: Connection, event: Unmatched, now: datetime) -> bool:
    """Keep an event no message matched, once; True when this call kept it."""
    T = table(WebhookUnmatched)
    stmt = (
        insert_for(conn, T)
        .values(
            server_id=event.server_id,
            vendor=event.vendor,
            event_key=event.event_key,
            kind=event.kind,
            recipient=event.recipient[:320] if event.recipient else None,
            our_id=event.our_id[:64] if event.our_id else None,
            vendor_message_id=event.vendor_message_id[:255] if event.vendor_message_id else None,
            detail=event.detail,
            received_at=now,
        )
        .on_conflict_do_nothing()
        .returning(T.c.id)
    )
    return conn.execute(stmt).first() is not None


def _receipt_row(conn: Connection, server_id: int) -> None:
    T = table(WebhookReceipt)
    conn.execute(
        insert_for(conn, T).values(server_id=server_id, accepted=0).on_conflict_do_nothing()
    )


def note_accepted(
    conn: Connection, server_id: int, events: int, last: str | None, now: datetime
) -> None:
    """Count accepted events; ``last`` describes the newest (None: the request carried none)."""
    T = table(WebhookReceipt)
    _receipt_row(conn, server_id)
    values: dict[str, Any] = {"accepted": T.c.accepted + events}
    if last is not None:
        values |= {"last_event_at": now, "last_event": last}
    conn.execute(update(T).where(T.c.server_id == server_id).values(**values))


def receipt(conn: Connection, server_id: int) -> Receipt | None:
    T = table(WebhookReceipt)
    row = conn.execute(
        select(T.c.accepted, T.c.last_event_at, T.c.last_event).where(T.c.server_id == server_id)
    ).first()
    return None if row is None else Receipt(*row)


def unmatched_events(
    conn: Connection, server_id: int | None, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest events kept unmatched, for an operator."""
    T = table(WebhookUnmatched)
    stmt = select(T).order_by(T.c.received_at.desc(), T.c.id.desc()).limit(limit)
    if server_id is not None:
        stmt = stmt.where(T.c.server_id == server_id)
    return [dict(r._mapping) for r in conn.execute(stmt)]
