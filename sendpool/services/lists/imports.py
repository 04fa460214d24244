"""Lists and their subscribers: create a list, import a CSV into it.

An import streams the file: rows are read, checked and written a batch at a
time, so memory holds one batch whatever the file's length, and each batch
costs the same at the first row as at the ten millionth (store/subscribers.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO

from sqlalchemy import Connection, select

from sendpool.content.csv_import import ImportReport, Row, RowError, batched, read_rows
from sendpool.store.subscribers import ANALYZE_AFTER, analyze_subscribers, upsert_subscribers
from sendpool.store.tables import MailingList, table
from sendpool.store.types import new_uid


def get_or_create_list(conn: Connection, customer_id: int, name: str, now: datetime) -> int:
    found = conn.execute(
        select(MailingList.id).where(
            MailingList.customer_id == customer_id, MailingList.name == name
        )
    ).scalar()
    if found is not None:
        return int(found)
    T = table(MailingList)
    return int(
        conn.execute(
            T.insert()
            .values(uid=new_uid(), customer_id=customer_id, name=name, created_at=now)
            .returning(T.c.id)
        ).scalar_one()
    )


def _good_rows(stream: IO[bytes] | IO[str], report: ImportReport) -> Iterator[Row]:
    for item in read_rows(stream):
        if isinstance(item, RowError):
            report.errors.append(item)
        else:
            report.rows += 1
            yield item


def import_csv(
    conn: Connection,
    list_id: int,
    stream: IO[bytes] | IO[str],
    now: datetime,
    batch_size: int = 1000,
) -> ImportReport:
    """Import in the caller's transaction: a file refused half-way leaves nothing behind."""
    report = ImportReport()
    for rows in batched(_good_rows(stream, report), batch_size):
        created, merged = upsert_subscribers(
            conn, list_id, [(r.email, r.fields) for r in rows], now
        )
        report.created += created
        report.merged += merged
    if report.created >= ANALYZE_AFTER:
        analyze_subscribers(conn)
    return report
