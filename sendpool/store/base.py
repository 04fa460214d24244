"""What every table shares: the declarative base and its naming convention, and small helpers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Computed, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def name_key() -> Any:
    """lower(name), kept by the database: unique, so "MG" beside "mg" is refused (0005).

    A generated column rather than an index on lower(name): SQLite cannot reflect an
    index on an expression, so migrations could neither check nor copy one.
    """
    return mapped_column(String(200), Computed("lower(name)", persisted=True))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table(model: type[Base]) -> Table:
    """The Core table behind a model, typed for Core statements."""
    t = model.__table__
    assert isinstance(t, Table)
    return t
