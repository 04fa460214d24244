"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64 bits.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC, always returned aware, so comparisons never mix the two."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return aware_utc(value)


def aware_utc(value: Any) -> datetime | None:
    """A stored time as a driver gives it (SQLite: text; PostgreSQL: naive UTC), made aware."""
    if value is None:
        return None
    parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def new_uid() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def driver_time(conn: Connection) -> Callable[[datetime | None], object]:
    """Times as the column type stores them: naive UTC (text on SQLite, as SQLAlchemy writes it)."""
    if conn.dialect.name == "sqlite":
        return sqlite_text

    def bind(value: datetime | None) -> object:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    return bind


def sqlite_text(value: datetime | None) -> str | None:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, as SQLAlchemy's SQLite DATETIME writes it.

    By ``isoformat``, which is a third of ``strftime``'s cost: the write-back
    formats two times per message.
    """
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = value.isoformat(" ")  # "...+00:00"; without a fraction when it is zero
    return text[:26] if value.microsecond else text[:19] + ".000000"
