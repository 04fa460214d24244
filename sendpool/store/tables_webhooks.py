"""The tables vendor webhooks keep: what each server last received, replays, unmatched events.

A vendor's event is applied as a delivery event (``tables.DeliveryEvent``), like a
report that came back by mail; these tables hold only what is particular to
webhooks (migration 0010).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sendpool.store.base import Base
from sendpool.store.types import BigId, UTCDateTime, utcnow


class WebhookReceipt(Base):
    """Per server: how many events were accepted, and the last one.

    The server page and ``sendpool webhooks show`` show it, so an operator who
    pasted the URL into the vendor's console can see that events arrive. A
    refused request writes nothing (forged requests must change nothing): the
    serving process keeps the last refusal in memory, and counts it in /metrics.
    """

    __tablename__ = "webhook_receipts"
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)  # events, not requests
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event: Mapped[str | None] = mapped_column(Text)  # "hard for 1f3c…: 5.1.1 …"


class WebhookReplay(Base):
    """One-time values a vendor signs (Mailgun's token), kept until they could no longer verify."""

    __tablename__ = "webhook_replays"
    __table_args__ = (Index("ix_webhook_replays_expires_at", "expires_at"),)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(server, vendor, value)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookUnmatched(Base):
    """An event no message of ours could be found for: kept for an operator, counted nowhere."""

    __tablename__ = "webhook_unmatched"
    __table_args__ = (
        UniqueConstraint("server_id", "event_key"),  # a redelivered event is kept once
        Index("ix_webhook_unmatched_received_at", "received_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(BigInteger)
    vendor: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(64))  # sha256 of the vendor's event id
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(320))
    our_id: Mapped[str | None] = mapped_column(String(64))
    vendor_message_id: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
