"""Counts of messages the database keeps itself, so reads never scan the messages table (0016).

Triggers on ``messages`` keep them (store/rollups.py says how each dialect
does it): per campaign x server x status, per server x status, and messages
sent per server x sending domain per minute (pruned after two days) and per
day (kept). Server id 0 stands for "no server yet". On PostgreSQL the
triggers append to the ``*_deltas`` tables, which many writers can do at
once without waiting on one counter row; a fold moves them into the totals
and every read adds the deltas not folded yet, so a read is exact at once.
On SQLite (one writer) the triggers update the totals and the deltas stay
empty.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sendpool.store.base import Base
from sendpool.store.types import BigId, UTCDateTime


class CampaignCount(Base):
    """Messages of one campaign in one status, by the server they last went to (0: none)."""

    __tablename__ = "campaign_counts"
    # Which campaigns still have mail to send: the pending rows, by status.
    __table_args__ = (Index("ix_campaign_counts_status", "status", "campaign_id"),)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class ServerCount(Base):
    """Messages in one status by the server they last went to (0: none), every campaign and kind."""

    __tablename__ = "server_counts"
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class TransactionalCount(Base):
    """A customer's transactional messages (no campaign) in one status (0020)."""

    __tablename__ = "transactional_counts"
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class SendsByMinute(Base):
    """Messages sent per server x sending domain in the minute that starts at ``minute``."""

    __tablename__ = "sends_by_minute"
    __table_args__ = (Index("ix_sends_by_minute_minute", "minute"),)
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    sender_domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    sent: Mapped[int] = mapped_column(BigInteger)


class SendsByDay(Base):
    """Messages sent per server x UTC day (``YYYY-MM-DD``) x domain x customer x campaign.

    Kept for good. The customer and campaign (0: transactional) let a plan's
    split over its servers (services/operations/split.py) be read from here.
    """

    __tablename__ = "sends_by_day"
    __table_args__ = (Index("ix_sends_by_day_day", "day"),)
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    sender_domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sent: Mapped[int] = mapped_column(BigInteger)


class QueuedByMinute(Base):
    """Messages queued (inserted) per customer x campaign (0: transactional) per minute.

    Counted by ``queued_at`` when the row is written, and kept two days: the
    launch rate a plan's forecast carries forward (services/operations/forecasts.py).
    """

    __tablename__ = "queued_by_minute"
    __table_args__ = (Index("ix_queued_by_minute_minute", "minute"),)
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


# No foreign key on the deltas: a delta row written by a write-back must not
# lock its campaign's row, or a campaign's deletion (which locks that row, then
# waits for the message rows the write-back holds) would deadlock with it.
class CampaignCountDelta(Base):
    """A change to ``campaign_counts`` not folded in yet (PostgreSQL)."""

    __tablename__ = "campaign_count_deltas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    server_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)


class ServerCountDelta(Base):
    """A change to ``server_counts`` not folded in yet (PostgreSQL)."""

    __tablename__ = "server_count_deltas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)


class SendDelta(Base):
    """A change to ``sends_by_minute`` and ``sends_by_day`` not folded in yet (PostgreSQL)."""

    __tablename__ = "send_deltas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(BigInteger)
    minute: Mapped[datetime] = mapped_column(UTCDateTime)
    sender_domain: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    campaign_id: Mapped[int] = mapped_column(BigInteger)  # 0: transactional
    sent: Mapped[int] = mapped_column(BigInteger)


class EventsByMinute(Base):
    """Events per server x sending domain x kind in the minute of their send (0019).

    The minute is the original send's (``sent_at``), or the event's own for
    one written at the send itself; kept two days, as the sends' minutes.
    """

    __tablename__ = "events_by_minute"
    __table_args__ = (Index("ix_events_by_minute_minute", "minute"),)
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    sender_domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class EventsByDay(Base):
    """Events per server x UTC day of their send (``YYYY-MM-DD``) x kind, kept for good (0019)."""

    __tablename__ = "events_by_day"
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class EventDelta(Base):
    """A change to ``events_by_minute`` and ``events_by_day`` not folded in yet (PostgreSQL)."""

    __tablename__ = "event_deltas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(BigInteger)
    minute: Mapped[datetime] = mapped_column(UTCDateTime)
    sender_domain: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)


class TransactionalCountDelta(Base):
    """A change to ``transactional_counts`` not folded in yet (PostgreSQL)."""

    __tablename__ = "transactional_count_deltas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)


class QueuedDelta(Base):
    """A change to ``queued_by_minute`` not folded in yet (PostgreSQL)."""

    __tablename__ = "queued_deltas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    minute: Mapped[datetime] = mapped_column(UTCDateTime)
    n: Mapped[int] = mapped_column(BigInteger)
