"""A customer's lists and subscribers; every lookup is scoped to that customer.

A list of another customer is "not found", never "forbidden": the answer
must not tell one tenant what another has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Connection, func, select

from sendpool.content.addresses import normalise_address
from sendpool.content.csv_import import ImportReport
from sendpool.errors import InputError
from sendpool.services import refs
from sendpool.services.errors import ConflictError, FieldError, check_name
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.store.subscribers import upsert_subscribers
from sendpool.store.tables import MailingList, Subscriber

MAX_FIELD = 4096
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
FieldValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class ListInfo:
    uid: str
    name: str
    subscribers: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriberInfo:
    email: str
    status: str
    fields: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AddReport:
    created: int
    merged: int


def _info(conn: Connection, list_id: int) -> ListInfo:
    row = conn.execute(
        select(MailingList.uid, MailingList.name, MailingList.created_at).where(
            MailingList.id == list_id
        )
    ).one()
    count = conn.execute(select(func.count()).where(Subscriber.list_id == list_id)).scalar_one()
    return ListInfo(row.uid, row.name, int(count), row.created_at)


def list_lists(conn: Connection, customer_id: int) -> list[ListInfo]:
    ids = conn.execute(
        select(MailingList.id)
        .where(MailingList.customer_id == customer_id)
        .order_by(MailingList.id)
    ).scalars()
    return [_info(conn, int(i)) for i in ids]


def get_list(conn: Connection, customer_id: int, uid: str) -> ListInfo:
    return _info(conn, refs.list_id(conn, uid, customer_id=customer_id))


def create_list(conn: Connection, customer_id: int, *, name: str, now: datetime) -> ListInfo:
    name = check_name("name", name)
    taken = select(MailingList.id).where(
        MailingList.customer_id == customer_id, MailingList.name == name
    )
    if conn.execute(taken).first() is not None:
        raise ConflictError(f"name: you already have a list named {name!r}")
    return _info(conn, get_or_create_list(conn, customer_id, name, now))


def list_subscribers(
    conn: Connection, customer_id: int, uid: str, *, search: str | None, limit: int, offset: int
) -> list[SubscriberInfo]:
    list_id = refs.list_id(conn, uid, customer_id=customer_id)
    stmt = (
        select(Subscriber.email, Subscriber.status, Subscriber.fields, Subscriber.created_at)
        .where(Subscriber.list_id == list_id)
        .order_by(Subscriber.id)
        .limit(limit)
        .offset(offset)
    )
    if search:
        stmt = stmt.where(Subscriber.email.contains(search.lower(), autoescape=True))
    return [
        SubscriberInfo(r.email, r.status, dict(r.fields or {}), r.created_at)
        for r in conn.execute(stmt)
    ]


def check_fields(where: str, fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
    errors = []
    for key, value in fields.items():
        if not _FIELD_NAME.match(key):
            errors.append((f"{where}.{key}", "field names are lower-case letters, digits and _"))
        elif isinstance(value, str) and (
            len(value) > MAX_FIELD or any(c in value for c in "\r\n\x00")
        ):
            errors.append((f"{where}.{key}", f"must be one line of at most {MAX_FIELD} characters"))
    if errors:
        raise FieldError(errors)
    return dict(fields)


def add_subscribers(
    conn: Connection,
    customer_id: int,
    uid: str,
    *,
    subscribers: Sequence[tuple[str, Mapping[str, FieldValue]]],
    now: datetime,
) -> AddReport:
    """All or nothing: one bad address or field refuses the whole request."""
    list_id = refs.list_id(conn, uid, customer_id=customer_id)
    rows: list[tuple[str, dict[str, Any]]] = []
    errors: list[tuple[str, str]] = []
    for i, (email, fields) in enumerate(subscribers):
        try:
            rows.append((normalise_address(email), check_fields(f"subscribers.{i}.fields", fields)))
        except FieldError as exc:
            errors.extend(exc.errors)
        except InputError as exc:
            errors.append((f"subscribers.{i}.email", str(exc)))
    if errors:
        raise FieldError(errors)
    if not rows:
        return AddReport(0, 0)
    created, merged = upsert_subscribers(conn, list_id, rows, now)
    return AddReport(created, merged)


def import_subscribers(
    conn: Connection, customer_id: int, uid: str, *, stream: IO[bytes], now: datetime
) -> ImportReport:
    """A CSV into the list; bad rows are skipped and reported by line, a file with none good is refused."""
    list_id = refs.list_id(conn, uid, customer_id=customer_id)
    report = import_csv(conn, list_id, stream, now)
    if report.rows == 0:
        why = [("file", str(e)) for e in report.errors[:50]] or [("file", "no data rows")]
        raise FieldError([("file", "no valid rows; nothing was imported"), *why])
    return report
