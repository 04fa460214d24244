"""The tables adaptive back-off keeps, shared by every worker (migration 0014).

A back-off is judged from deferrals seen by any worker and obeyed by every
worker, so its state is here rather than in a process: the operator's rules,
one row per server x provider group (locked while a write-back judges it, so
"N hits in a window" is exact however many workers record at once), the recent
matching deferrals, and a per-minute count of sends per server x group, from
which a back-off on a group with no configured rate takes the rate it was
actually sending at.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sendpool.store.base import Base
from sendpool.store.types import BigId, UTCDateTime


class BackoffRuleRow(Base):
    """An operator's rule from the pool file's ``[[backoff_rules]]``, in the file's order."""

    __tablename__ = "backoff_rules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    group_name: Mapped[str] = mapped_column(String(64))
    code: Mapped[int | None] = mapped_column(Integer)
    enhanced: Mapped[str | None] = mapped_column(String(16))
    pattern: Mapped[str | None] = mapped_column(Text)
    hits: Mapped[int] = mapped_column(Integer)
    window_seconds: Mapped[float] = mapped_column(Float)
    factor: Mapped[float] = mapped_column(Float)
    hold_seconds: Mapped[float] = mapped_column(Float)
    recover_step: Mapped[float] = mapped_column(Float)
    recover_every_seconds: Mapped[float] = mapped_column(Float)


class Backoff(Base):
    """One server x provider group: its engaged back-off, if any (``factor`` NULL: none).

    The row outlives the back-off: it is what a write-back locks to judge the
    group's hits, and a row that exists can be locked without a race to create it.
    """

    __tablename__ = "backoffs"
    __table_args__ = (Index("ix_backoffs_ends_at", "ends_at"),)
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    factor: Mapped[float | None] = mapped_column(Float)
    engaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last deepened
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # fully recovered then
    recover_step: Mapped[float | None] = mapped_column(Float)
    recover_every_seconds: Mapped[float | None] = mapped_column(Float)
    base_rate: Mapped[float | None] = mapped_column(Float)
    rule: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)


class BackoffHit(Base):
    """A deferral that matched a rule, kept while some rule's window could still count it."""

    __tablename__ = "backoff_hits"
    __table_args__ = (Index("ix_backoff_hits_key", "server_id", "group_name", "rule", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(BigInteger)
    group_name: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class GroupSends(Base):
    """Messages accepted per server x provider group per minute, kept for a few minutes."""

    __tablename__ = "backoff_sends"
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)
