"""Merge fields checked against a campaign's list before anything is sent.

A field no subscriber on the list has a value for renders empty for everyone
("Hello  from !"), which is a typo (``{{ first_nmae }}``) or a missing column:
the campaign is refused, naming the field and the column to add. A field only
some subscribers have renders empty for the others: a warning, with how many.
A value is there when the key is in the subscriber's ``fields`` and is neither
JSON null nor the empty string (an empty CSV cell), which render empty alike.

The counts come from the database in one pass over the list's subscribers,
one sum per field (SQLite ``json_extract``, PostgreSQL ``->>``): a list of a
million is never loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, literal, select

from sendpool.content.render import BUILT_IN_FIELDS, merge_fields
from sendpool.services.errors import FieldError
from sendpool.store.tables import Subscriber

SUBSCRIBED = "subscribed"  # only they are sent to, so only their fields matter


@dataclass(frozen=True, slots=True)
class FieldUse:
    """The merge fields of each request field (subject, text, html) a campaign has."""

    by_part: dict[str, frozenset[str]]

    @classmethod
    def of(cls, *, subject: str, text: str | None, html: str | None) -> FieldUse:
        parts = {
            "subject": merge_fields(subject),
            "text": merge_fields(text),
            "html": merge_fields(html, html=True),
        }
        return cls({k: v - BUILT_IN_FIELDS for k, v in parts.items() if v - BUILT_IN_FIELDS})

    @property
    def names(self) -> list[str]:
        return sorted(set().union(*self.by_part.values())) if self.by_part else []


def _has_value(dialect: str, name: str) -> ColumnElement[bool]:
    column = Subscriber.__table__.c.fields
    value: ColumnElement[Any]
    if dialect == "postgresql":
        value = column.op("->>")(literal(name))
    else:  # SQLite; the names are Jinja identifiers, so the path needs no escaping
        value = func.json_extract(column, literal(f'$."{name}"'))
    # A missing key and a JSON null are SQL NULL; a number or true/false is never ''.
    return func.coalesce(value, literal("")) != literal("")


def field_counts(
    conn: Connection, list_id: int, names: Iterable[str]
) -> tuple[int, dict[str, int]]:
    """How many subscribed subscribers the list has, and how many have a value for each field."""
    wanted = sorted(set(names))
    dialect = conn.dialect.name
    sums = [func.sum(case((_has_value(dialect, n), 1), else_=0)) for n in wanted]
    row = conn.execute(
        select(func.count(), *sums).where(
            Subscriber.list_id == list_id, Subscriber.status == SUBSCRIBED
        )
    ).one()
    total = int(row[0])
    return total, {n: int(row[i + 1] or 0) for i, n in enumerate(wanted)}


def check_merge_fields(
    conn: Connection, list_id: int, *, subject: str, text: str | None, html: str | None
) -> list[str]:
    """Refuse fields no subscriber has (FieldError); the warnings for fields some lack.

    A list with no subscribed subscriber yet has nothing to judge by: nothing
    is refused (its launch is refused for having no recipients).
    """
    use = FieldUse.of(subject=subject, text=text, html=html)
    if not use.names:
        return []
    total, have = field_counts(conn, list_id, use.names)
    if total == 0:
        return []
    absent = {n for n in use.names if have[n] == 0}
    if absent:
        raise FieldError(
            [
                (part, _refusal(sorted(names & absent), total))
                for part, names in use.by_part.items()
                if names & absent
            ]
        )
    return [
        f"merge field {{{{ {n} }}}} is empty or missing for {total - have[n]:,} of "
        f"{total:,} subscribers; it renders empty for them"
        for n in use.names
        if have[n] < total
    ]


def _refusal(names: list[str], total: int) -> str:
    fields = ", ".join(f"{{{{ {n} }}}}" for n in names)
    columns = ", ".join(repr(n) for n in names)
    one = len(names) == 1
    return (
        f"none of the list's {total:,} subscribers has a value for merge "
        f"field{'' if one else 's'} {fields}: add {'a column' if one else 'columns'} "
        f"{columns} to the list's CSV, or fix the {'name' if one else 'names'}"
    )
