"""The per-message log as people read it, the split per server, and the dispatcher's skips."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Select, func, select

from sendpool.core.states import MessageStatus
from sendpool.errors import NotFoundError
from sendpool.services.errors import FieldError
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


Match = Literal["exact", "prefix"]
MAX_SEARCH = 320  # the longest address RFC 5321 allows (64 + 1 + 255)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def search_key(query: str, dialect: str) -> str:
    """The query folded as the index folds addresses; FieldError("recipient") for bad input.

    % _ and \\ are plain characters here: the search is a range, never a LIKE pattern.
    """
    if len(query) > MAX_SEARCH:
        raise FieldError([("recipient", f"at most {MAX_SEARCH} characters")])
    if not query.strip():
        raise FieldError([("recipient", "give at least one character of the address")])
    if "\ufffd" in query:  # what a decoder leaves of bytes that were not UTF-8
        raise FieldError([("recipient", "is not valid UTF-8")])
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in query):
        raise FieldError([("recipient", "must not contain control characters (NUL, CR, LF...)")])
    # SQLite's NOCASE folds ASCII only; PostgreSQL's lower() folds every letter.
    return query.translate(_ASCII_LOWER) if dialect == "sqlite" else query.lower()


def recipient_filter(conn: Connection, query: str, match: Match) -> Any:
    """An index range on ix_messages_customer_recipient: [key, key + 1) or = key."""
    dialect = conn.dialect.name
    key = search_key(query, dialect)
    if dialect == "sqlite":
        folded: Any = Message.recipient.collate("NOCASE")
        ge, lt = folded.__ge__, folded.__lt__
    else:  # text_pattern_ops compares bytes, whatever the database's collation
        folded = func.lower(Message.recipient)
        ge, lt = folded.op("~>=~", is_comparison=True), folded.op("~<~", is_comparison=True)
    if match == "exact":
        return folded == key
    if ord(key[-1]) == 0x10FFFF:  # no character after it: every longer address is in range
        return ge(key)
    return ge(key) & lt(key[:-1] + chr(ord(key[-1]) + 1))


def message_log(
    conn: Connection,
    *,
    campaign_id: int | None = None,
    customer_id: int | None = None,
    recipient: str | None = None,
    match: Match = "prefix",
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> list[LogRow]:
    """Messages in id order; ``after`` (a message uid) pages by key, ``offset`` by count."""
    stmt = log_query(
        conn,
        campaign_id=campaign_id,
        customer_id=customer_id,
        recipient=recipient,
        match=match,
        limit=limit,
        offset=offset,
        after=after,
    )
    return [LogRow(**r._mapping) for r in conn.execute(stmt)]


def log_query(
    conn: Connection,
    *,
    campaign_id: int | None = None,
    customer_id: int | None = None,
    recipient: str | None = None,
    match: Match = "prefix",
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> Select[Any]:
    """The log's SELECT (apart, so tests can EXPLAIN it).

    A recipient search reads the customer's slice of ix_messages_customer_recipient
    (a campaign's customer is looked up) into a materialised list of ids first,
    whatever the planner's estimates; the page is the lowest of those ids, and only
    its rows are read from the table: an exact address reads only its own messages,
    a prefix every id it matches.
    """
    rows = (
        select(Message.uid, *DELIVERY_COLUMNS)
        .outerjoin(SendingServer, SendingServer.id == Message.server_id)
        .order_by(Message.id)
    )
    scope: list[Any] = []
    if campaign_id is not None:
        scope.append(Message.campaign_id == campaign_id)
    if customer_id is not None:
        scope.append(Message.customer_id == customer_id)
    if after is not None:  # an exact address's next page starts at its index entry
        scope.append(Message.id > _id_of(conn, after, customer_id))
    if recipient is None:
        return rows.where(*scope).limit(limit).offset(offset)
    owner = customer_id
    if owner is None and campaign_id is not None:
        owner = conn.execute(
            select(Campaign.customer_id).where(Campaign.id == campaign_id)
        ).scalar()
    if owner is None:  # the index leads with the customer: a search is always within one
        raise FieldError([("recipient", "search within a customer or a campaign")])
    hits = (
        select(Message.id)
        .where(Message.customer_id == owner, recipient_filter(conn, recipient, match), *scope)
        .cte("hits")
        .prefix_with("MATERIALIZED")
    )
    page = select(hits.c.id).order_by(hits.c.id).limit(limit).offset(offset)
    return rows.where(Message.id.in_(page))


def _id_of(conn: Connection, uid: str, customer_id: int | None) -> int:
    at = select(Message.id).where(Message.uid == uid)
    if customer_id is not None:  # another customer's uid is no cursor here
        at = at.where(Message.customer_id == customer_id)
    found = conn.execute(at).scalar()
    if found is None:
        raise FieldError([("after", f"no message {uid!r}")])
    return int(found)


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
    offset: int = 0,
    match: Match = "prefix",
    after: str | None = None,
) -> list[LogRow]:
    return message_log(
        conn,
        customer_id=customer_id,
        recipient=recipient,
        match=match,
        limit=limit,
        offset=offset,
        after=after,
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
