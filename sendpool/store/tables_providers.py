"""The tables of provider groups and of each server's limits to a group (migration 0013).

The shipped groups (core/providers.py) are code, not rows: only the operator's
groups are kept here, from the pool file's ``[[provider_groups]]``. A limit
names its group by name, shipped or the operator's, so it is checked when the
pool file is applied rather than by a foreign key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sendpool.store.base import Base
from sendpool.store.types import BigId


class ProviderGroupRow(Base):
    """An operator's provider group: its domains by name and its MX host patterns."""

    __tablename__ = "provider_groups"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    domains: Mapped[list[Any]] = mapped_column(JSON, default=list)
    mx: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ProviderLimit(Base):
    """One server's limits to one provider group; a limit left NULL is no limit."""

    __tablename__ = "provider_limits"
    server_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sending_servers.id", ondelete="CASCADE"), primary_key=True
    )
    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    rate_per_second: Mapped[float | None] = mapped_column(Float)
    burst: Mapped[float | None] = mapped_column(
        Float
    )  # sends at once; NULL: one at a time, 1/rate apart
    max_connections: Mapped[int | None] = mapped_column(Integer)
    messages_per_connection: Mapped[int | None] = mapped_column(Integer)


class ProviderRateState(Base):
    """GCRA theoretical arrival time per server x group, in epoch seconds (the SQL ledger)."""

    __tablename__ = "provider_rate_state"
    server_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)
