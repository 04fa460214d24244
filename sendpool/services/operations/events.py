"""Delivery events as operators read them: the list, a server's last day, the thresholds.

Every bounce, complaint, delay and refusal the pool learns of is a row of
``delivery_events`` (docs/design.md §6). The API's event list, ``sendpool
bounces list``, the server page and doctor all read it through here, so a
filter means the same on every face, and the 24-hour figures are the ones
the rebalancer and the pause read (``servers/stats.activity_24h``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select
from sqlalchemy.orm import aliased

from sendpool.config import Settings
from sendpool.core.states import ServerStatus
from sendpool.errors import NotFoundError
from sendpool.services import refs
from sendpool.services.errors import FieldError
from sendpool.services.servers.stats import activity_24h
from sendpool.store.tables import Customer, DeliveryEvent, Message, SendingServer

EVENT_KINDS = (
    "hard_bounce", "soft_bounce", "reputation", "complaint", "delay", "rejected", "unsubscribe",
)  # fmt: skip
LATEST = 20  # events on a server's page
PAUSED = "paused"  # the status of a server the pool paused for its rates
NEAR = 0.8  # doctor warns at this share of a pause threshold
# The defaults of the automatic pause (docs/design.md §6), as in the settings.
DEFAULT_PAUSE_BOUNCE_RATE = 0.05
DEFAULT_PAUSE_COMPLAINT_RATE = 0.001
DEFAULT_MIN_VOLUME = 500
_SPAN = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$", re.IGNORECASE)
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event, with what it names: the server, the message and the customer."""

    id: int
    at: datetime
    kind: str
    status_code: str | None
    recipient: str | None
    reported_by: str | None
    source: str | None
    detail: str | None
    sent_at: datetime | None
    server_uid: str | None
    server_name: str | None
    message_uid: str | None
    customer_uid: str | None
    customer_name: str | None


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where the pool pauses a server, and the volume below which no rate acts."""

    pause_bounce_rate: float = DEFAULT_PAUSE_BOUNCE_RATE
    pause_complaint_rate: float = DEFAULT_PAUSE_COMPLAINT_RATE
    min_volume: int = DEFAULT_MIN_VOLUME

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        return cls(
            settings.pause_bounce_rate, settings.pause_complaint_rate, settings.bounce_min_volume
        )


@dataclass(frozen=True, slots=True)
class Rates:
    """One server's last 24 hours: sends, and the bounces and complaints about them."""

    sent: int
    bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0


@dataclass(frozen=True, slots=True)
class ServerReturns:
    """What a server's page shows of what came back: its rates, their levels, the latest."""

    rates: Rates
    thresholds: Thresholds
    gate_bounce_rate: float | None  # its warm-up gate, when it has one
    bounce_level: str  # ok | gate (over the warm-up gate) | near | pause
    complaint_level: str  # ok | near | pause
    enough_volume: bool  # at least the minimum volume: the rates act
    latest: list[EventRow]
    paused_reason: str | None  # why it is paused, when it is


def as_utc(at: datetime) -> datetime:
    """A time without a zone is taken as UTC, as every time sendpool stores."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse_since(text: str, now: datetime) -> datetime:
    """``24h``, ``7d``, ``30m``, ``2w`` before ``now``, or an ISO 8601 time (UTC if no zone)."""
    found = _SPAN.match(text)
    if found:
        amount, unit = int(found.group(1)), found.group(2).lower()
        return now - timedelta(**{_UNIT[unit]: amount})
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise FieldError(
            [("since", f"{text[:40]!r} is neither a span like 24h, 7d, 30m nor an ISO 8601 time")]
        ) from None


def check_kind(kind: str | None, field: str = "kind") -> str | None:
    if kind is not None and kind not in EVENT_KINDS:
        raise FieldError([(field, f"unknown kind {kind[:40]!r}; one of {', '.join(EVENT_KINDS)}")])
    return kind


def _ref(conn: Connection, field: str, resolve: Any, ref: str | None) -> int | None:
    """A uid or name resolved, or a refusal naming the filter: an unknown one finds nothing."""
    if ref is None:
        return None
    try:
        return int(resolve(conn, ref))
    except NotFoundError as exc:
        raise FieldError([(field, str(exc))]) from None


def list_events(
    conn: Connection,
    *,
    server: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    customer: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[EventRow]:
    """Newest first; every filter is checked before anything is read."""
    check_kind(kind)
    since = as_utc(since) if since is not None else None
    until = as_utc(until) if until is not None else None
    if since is not None and until is not None and until < since:
        raise FieldError([("until", "is before since")])
    server_id = _ref(conn, "server", refs.server_id, server)
    customer_id = _ref(conn, "customer", refs.customer_id, customer)
    where = []
    if server_id is not None:
        where.append(DeliveryEvent.server_id == server_id)
    if kind is not None:
        where.append(DeliveryEvent.kind == kind)
    if since is not None:
        where.append(DeliveryEvent.created_at >= since)
    if until is not None:
        where.append(DeliveryEvent.created_at < until)
    if customer_id is not None:
        # Events recorded before 0009 name no customer: their message does.
        where.append(
            or_(
                DeliveryEvent.customer_id == customer_id,
                (DeliveryEvent.customer_id.is_(None)) & (Message.customer_id == customer_id),
            )
        )
    return _rows(conn, where, limit, offset)


def _rows(conn: Connection, where: Iterable[Any], limit: int, offset: int) -> list[EventRow]:
    owner = aliased(Customer)
    stmt = (
        select(
            DeliveryEvent.id,
            DeliveryEvent.created_at,
            DeliveryEvent.kind,
            DeliveryEvent.status_code,
            DeliveryEvent.recipient,
            DeliveryEvent.reported_by,
            DeliveryEvent.source,
            DeliveryEvent.detail,
            func.coalesce(DeliveryEvent.sent_at, Message.sent_at),
            SendingServer.uid,
            SendingServer.name,
            Message.uid,
            owner.uid,
            owner.name,
        )
        .outerjoin(SendingServer, SendingServer.id == DeliveryEvent.server_id)
        .outerjoin(Message, Message.id == DeliveryEvent.message_id)
        .outerjoin(owner, owner.id == func.coalesce(DeliveryEvent.customer_id, Message.customer_id))
        .where(*where)
        .order_by(DeliveryEvent.created_at.desc(), DeliveryEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    out = []
    for r in conn.execute(stmt):
        (i, at, kind, code, rcpt, by, source, detail, sent, suid, sname, muid, cuid, cname) = r
        out.append(
            EventRow(
                int(i),
                at,
                kind,
                code,
                rcpt or None,
                by,
                source,
                detail,
                sent,
                suid,
                sname,
                muid,
                cuid,
                cname,
            )  # fmt: skip
        )
    return out


def rates_24h(conn: Connection, server_ids: Iterable[int], now: datetime) -> dict[int, Rates]:
    """The figures the rebalancer and the automatic pause read, per server."""
    return {
        i: Rates(a.sent, a.bounces, a.complaints)
        for i, a in activity_24h(conn, server_ids, now).items()
    }


def level(rate: float, pause_at: float, enough: bool, gate: float | None = None) -> str:
    """``pause`` at or over the threshold, ``near`` within 80 % of it, ``gate`` over the warm-up gate.

    Below the minimum volume a rate says little and acts on nothing: at most ``gate``.
    """
    if enough and rate >= pause_at:
        return "pause"
    if enough and rate >= NEAR * pause_at:
        return "near"
    if gate is not None and rate > gate:
        return "gate"
    return "ok"


def server_returns(
    conn: Connection,
    server_id: int,
    now: datetime,
    thresholds: Thresholds,
    gate_bounce_rate: float | None = None,
) -> ServerReturns:
    """A server's last 24 hours of what came back, and its latest events."""
    rates = rates_24h(conn, [server_id], now)[server_id]
    enough = rates.sent >= thresholds.min_volume
    latest = _rows(conn, [DeliveryEvent.server_id == server_id], LATEST, 0)
    status, reason = conn.execute(
        select(SendingServer.status, SendingServer.status_reason).where(
            SendingServer.id == server_id
        )
    ).one()
    return ServerReturns(
        rates=rates,
        thresholds=thresholds,
        gate_bounce_rate=gate_bounce_rate,
        bounce_level=level(
            rates.bounce_rate, thresholds.pause_bounce_rate, enough, gate_bounce_rate
        ),
        complaint_level=level(rates.complaint_rate, thresholds.pause_complaint_rate, enough),
        enough_volume=enough,
        latest=latest,
        paused_reason=(reason or "no reason recorded") if status == PAUSED else None,
    )


@dataclass(frozen=True, slots=True)
class ServerStanding:
    """A server as doctor weighs what comes back: its status, why, and its last day."""

    name: str
    status: str
    status_reason: str | None
    rates: Rates


def standings(conn: Connection, now: datetime) -> list[ServerStanding]:
    """Every server that is not disabled, by name, with its 24-hour figures."""
    rows = conn.execute(
        select(
            SendingServer.id, SendingServer.name, SendingServer.status, SendingServer.status_reason
        )
        .where(SendingServer.status != ServerStatus.DISABLED)
        .order_by(SendingServer.name)
    ).all()
    rates = rates_24h(conn, [int(r.id) for r in rows], now)
    return [ServerStanding(r.name, r.status, r.status_reason, rates[int(r.id)]) for r in rows]
