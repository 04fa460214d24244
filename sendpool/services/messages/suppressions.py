"""A customer's suppressions: the addresses its mail is never sent to, and why.

Bounces and complaints add them by themselves (docs/design.md §6); people add,
lift, import and export them here, always within one customer, so a customer
can never read or lift another's. Addresses are stored as the address checks
normalise them (``content/addresses.py``), the form launches compare.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from sqlalchemy import Connection, Select, delete, func, select

from sendpool.content.addresses import header_text, normalise_address
from sendpool.content.csv_import import Row, RowError, batched, read_rows
from sendpool.errors import CsvImportError, InputError, NotFoundError
from sendpool.services.errors import FieldError, checked
from sendpool.services.operations.audit import write_audit
from sendpool.store.database import insert_for
from sendpool.store.tables import SendingServer, Suppression, table

# "vendor": the sending vendor would not send to it, the address being on its own list.
KINDS = ("hard_bounce", "soft_bounce", "complaint", "unsubscribe", "manual", "imported", "vendor")
MAX_REASON = 1000
IMPORTED = "imported"
MANUAL = "added by hand"
SHOWN_ERRORS = 50  # row problems returned with a refused import
# A cell a spreadsheet would run as a formula (OWASP "CSV injection"); reasons quote
# what remote servers wrote, so an exported reason that starts so is prefixed with '.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class SuppressionInfo:
    email: str
    kind: str | None  # None for suppressions recorded before kinds were kept
    reason: str
    server: str | None  # the name of the server whose answer suppressed it
    created_at: datetime


@dataclass(slots=True)
class SuppressionImport:
    """What an import did; ``errors`` are the rows skipped, with their line numbers."""

    rows: int = 0
    added: int = 0
    existing: int = 0
    errors: list[RowError] = field(default_factory=list)


def check_kind(kind: str | None) -> str | None:
    if kind is not None and kind not in KINDS:
        raise FieldError([("kind", f"unknown kind {kind[:40]!r}; one of {', '.join(KINDS)}")])
    return kind


def check_reason(reason: str | None) -> str:
    """One printable line; an empty reason says it was added by hand."""
    text = header_text("reason", (reason or "").strip() or MANUAL, max_length=MAX_REASON)
    if any(c < " " or c == "\x7f" for c in text):
        raise InputError("reason contains a control character")
    return text


def _select(customer_id: int) -> Select[str, str | None, str, str, datetime]:
    return (
        select(
            Suppression.email,
            Suppression.kind,
            Suppression.reason,
            SendingServer.name,
            Suppression.created_at,
        )
        .outerjoin(SendingServer, SendingServer.id == Suppression.server_id)
        .where(Suppression.customer_id == customer_id)
    )


def list_suppressions(
    conn: Connection,
    customer_id: int,
    *,
    kind: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[SuppressionInfo]:
    """Newest first, then by address."""
    check_kind(kind)
    stmt = _select(customer_id)
    if kind is not None:
        stmt = stmt.where(Suppression.kind == kind)
    if search:
        needle = search.strip().lower()
        stmt = stmt.where(func.lower(Suppression.email).contains(needle, autoescape=True))
    stmt = stmt.order_by(Suppression.created_at.desc(), Suppression.email).limit(limit)
    return [SuppressionInfo(*r) for r in conn.execute(stmt.offset(offset))]


def _find(conn: Connection, customer_id: int, email: str) -> SuppressionInfo | None:
    """The suppression of ``email``, written exactly so, or else in any case (one mailbox)."""
    for match in (Suppression.email == email, func.lower(Suppression.email) == email.lower()):
        row = conn.execute(_select(customer_id).where(match).order_by(Suppression.email)).first()
        if row is not None:
            return SuppressionInfo(*row)
    return None


def add_suppression(
    conn: Connection,
    customer_id: int,
    *,
    email: str,
    reason: str | None,
    actor: str,
    now: datetime,
) -> tuple[SuppressionInfo, bool]:
    """Suppress one address; True when it is new. One already suppressed keeps its reason."""
    address = checked("email", normalise_address, email)
    text = checked("reason", check_reason, reason)
    found = _find(conn, customer_id, address)
    if found is not None:
        return found, False
    conn.execute(
        table(Suppression)
        .insert()
        .values(customer_id=customer_id, email=address, reason=text, kind="manual", created_at=now)
    )
    write_audit(
        conn, actor=actor, action="suppression.add", now=now,
        detail={"customer_id": customer_id, "email": address},
    )  # fmt: skip
    added = _find(conn, customer_id, address)
    assert added is not None
    return added, True


def remove_suppression(
    conn: Connection, customer_id: int, email: str, *, actor: str, now: datetime
) -> SuppressionInfo:
    """Lift one suppression: mail goes to the address again. Another customer's is not found."""
    try:
        address = normalise_address(email)
    except InputError:
        address = email.strip()  # stored before addresses were checked: lifted as written
    found = _find(conn, customer_id, address)
    if found is None:
        raise NotFoundError(f"{email[:320]!r} is not suppressed")
    S = table(Suppression)
    conn.execute(delete(S).where(S.c.customer_id == customer_id, S.c.email == found.email))
    write_audit(
        conn, actor=actor, action="suppression.remove", now=now,
        detail={"customer_id": customer_id, "email": found.email, "kind": found.kind},
    )  # fmt: skip
    return found


def _rows(stream: IO[bytes] | IO[str], report: SuppressionImport) -> Iterator[tuple[int, str, str]]:
    for item in read_rows(stream):
        if isinstance(item, RowError):
            report.errors.append(item)
            continue
        try:
            reason = check_reason(_reason_of(item))
        except InputError as exc:
            report.errors.append(RowError(item.line, str(exc)))
            continue
        report.rows += 1
        yield item.line, item.email, reason


def _reason_of(row: Row) -> str:
    return (row.fields.get("reason") or "").strip() or IMPORTED


def import_suppressions(
    conn: Connection,
    customer_id: int,
    *,
    stream: IO[bytes] | IO[str],
    actor: str,
    now: datetime,
    batch_size: int = 1000,
) -> SuppressionImport:
    """A CSV (``email,reason``) into the customer's suppressions, in the caller's transaction.

    A file that is not CSV, or has no email column, is refused whole; so is a
    file without one good row. Rows that cannot be used are skipped and listed
    by line number. An address already suppressed keeps its first reason.
    """
    report = SuppressionImport()
    try:
        for batch in batched(_rows(stream, report), batch_size):
            report.added += _insert(conn, customer_id, batch, now)
    except CsvImportError as exc:
        raise FieldError([("file", str(exc))]) from None
    if report.rows == 0:
        why = [("file", str(e)) for e in report.errors[:SHOWN_ERRORS]] or [("file", "no data rows")]
        raise FieldError([("file", "no valid rows; nothing was imported"), *why])
    report.existing = report.rows - report.added
    write_audit(
        conn, actor=actor, action="suppression.import", now=now,
        detail={"customer_id": customer_id, "rows": report.rows, "added": report.added,
                "skipped": len(report.errors)},
    )  # fmt: skip
    return report


def _insert(
    conn: Connection, customer_id: int, batch: list[tuple[int, str, str]], now: datetime
) -> int:
    unique = {email: reason for _, email, reason in reversed(batch)}  # the first row wins
    values = [
        {"customer_id": customer_id, "email": e, "reason": r, "kind": IMPORTED, "created_at": now}
        for e, r in sorted(unique.items())
    ]
    # One statement, so its row count is the rows it inserted (SQLite and PostgreSQL alike).
    done = conn.execute(
        insert_for(conn, table(Suppression)).values(values).on_conflict_do_nothing()
    )
    return int(done.rowcount)


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def export_suppressions(conn: Connection, customer_id: int) -> str:
    """Every suppression of the customer as CSV, ``email,reason``, by address."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 §2
    writer.writerow(["email", "reason"])
    stmt = (
        select(Suppression.email, Suppression.reason)
        .where(Suppression.customer_id == customer_id)
        .order_by(Suppression.email)
    )
    for email, reason in conn.execute(stmt):
        writer.writerow([email, _cell(" ".join(str(reason).split()))])
    return out.getvalue()
