"""The audit log: who changed what, when; rebalancing and admin writes both land here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, cast, or_, select

from sendpool.store.tables import AuditEntry, SendingServer, table


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    server_uid: str | None
    server_name: str | None
    detail: dict[str, Any]


def write_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    now: datetime,
    server_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        table(AuditEntry)
        .insert()
        .values(
            at=now, actor=actor[:200], action=action, server_id=server_id, detail=dict(detail or {})
        )
    )


def list_audit(
    conn: Connection,
    *,
    server_uid: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[AuditRecord]:
    """Newest first; ``action`` matches a whole action or a prefix ending in a dot.

    ``actor`` is a part of who acted (``ops@`` finds ``admin:ops@example.com``);
    ``subject`` names what was changed: a kind of thing (``customer``, ``token``),
    a server by name, or any text of the entry's detail (a uid, a plan's name).
    ``since`` is inclusive, ``until`` exclusive.
    """
    stmt = (
        select(
            AuditEntry.id,
            AuditEntry.at,
            AuditEntry.actor,
            AuditEntry.action,
            SendingServer.uid.label("server_uid"),
            SendingServer.name.label("server_name"),
            AuditEntry.detail,
        )
        .outerjoin(SendingServer, SendingServer.id == AuditEntry.server_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if server_uid is not None:
        stmt = stmt.where(SendingServer.uid == server_uid)
    if actor:
        stmt = stmt.where(AuditEntry.actor.icontains(actor, autoescape=True))
    if subject:
        stmt = stmt.where(
            or_(
                AuditEntry.action.startswith(subject + ".", autoescape=True),
                SendingServer.name == subject,
                cast(AuditEntry.detail, String).icontains(subject, autoescape=True),
            )
        )
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    if action:
        if action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == action)
    return [
        AuditRecord(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            server_uid=r.server_uid,
            server_name=r.server_name,
            detail=dict(r.detail or {}),
        )
        for r in conn.execute(stmt)
    ]
