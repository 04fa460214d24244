"""Admin sessions kept in the database, so signing out, a new password or an operator ends them.

The browser holds a random session id (in a signed cookie); the table holds
only its SHA-256, so a copy of the database signs no one in. A session ends
``max_age`` after sign-in, after ``idle`` without a request, or when revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from sendpool.config import Settings
from sendpool.services.access import throttle
from sendpool.services.operations.audit import write_audit
from sendpool.store.tables import AdminSession, AdminUser, table

# last_seen_at is written at most this often: a page load should not always be a write.
TOUCH_EVERY = timedelta(seconds=60)
# Ended sessions stay listed this long (`sendpool admin sessions --all`), then are purged.
KEEP_ENDED = timedelta(days=1)
TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class SessionLimits:
    max_age: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=1)


def limits_from(settings: Settings) -> SessionLimits:
    return SessionLimits(
        max_age=timedelta(seconds=settings.admin_session_max_age),
        idle=timedelta(seconds=settings.admin_session_idle),
    )


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """The admin a valid session belongs to."""

    id: int
    admin_id: int
    email: str


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: int
    admin_id: int
    email: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client_address: str
    user_agent: str
    revoked_at: datetime | None
    active: bool


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _active(now: datetime, limits: SessionLimits) -> ColumnElement[bool]:
    T = table(AdminSession)
    return and_(
        T.c.revoked_at.is_(None), T.c.expires_at > now, T.c.last_seen_at > now - limits.idle
    )


def open_session(
    conn: Connection,
    *,
    admin_id: int,
    token: str,
    client_address: str,
    user_agent: str,
    now: datetime,
    limits: SessionLimits,
) -> int:
    row = conn.execute(
        table(AdminSession)
        .insert()
        .values(
            token_hash=token_hash(token),
            admin_id=admin_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + limits.max_age,
            client_address=client_address[:64],
            user_agent=user_agent[:300],
        )
        .returning(table(AdminSession).c.id)
    )
    return int(row.scalar_one())


def session_for(
    conn: Connection, token: str, *, now: datetime, limits: SessionLimits
) -> ActiveSession | None:
    """The session this token opens, or None when it is unknown, ended or revoked."""
    T, U = table(AdminSession), table(AdminUser)
    row = conn.execute(
        select(T.c.id, T.c.admin_id, T.c.last_seen_at, U.c.email)
        .join(U, U.c.id == T.c.admin_id)
        .where(T.c.token_hash == token_hash(token), _active(now, limits))
    ).first()
    if row is None:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        conn.execute(update(T).where(T.c.id == row.id).values(last_seen_at=now))
    return ActiveSession(int(row.id), int(row.admin_id), str(row.email))


def revoke(conn: Connection, session_id: int, *, now: datetime) -> bool:
    T = table(AdminSession)
    done = conn.execute(
        update(T).where(T.c.id == session_id, T.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return bool(done.rowcount)


def revoke_token(conn: Connection, token: str, *, now: datetime) -> bool:
    T = table(AdminSession)
    done = conn.execute(
        update(T)
        .where(T.c.token_hash == token_hash(token), T.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(done.rowcount)


def revoke_all(conn: Connection, admin_id: int, *, now: datetime) -> int:
    T = table(AdminSession)
    done = conn.execute(
        update(T).where(T.c.admin_id == admin_id, T.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return int(done.rowcount or 0)


def list_sessions(
    conn: Connection,
    *,
    now: datetime,
    limits: SessionLimits,
    admin_id: int | None = None,
    include_ended: bool = False,
) -> list[SessionInfo]:
    T, U = table(AdminSession), table(AdminUser)
    active = _active(now, limits)
    query = (
        select(T, U.c.email, active.label("active"))
        .join(U, U.c.id == T.c.admin_id)
        .order_by(U.c.email, T.c.created_at, T.c.id)
    )
    if admin_id is not None:
        query = query.where(T.c.admin_id == admin_id)
    if not include_ended:
        query = query.where(active)
    return [
        SessionInfo(
            id=int(r.id),
            admin_id=int(r.admin_id),
            email=str(r.email),
            created_at=r.created_at,
            last_seen_at=r.last_seen_at,
            expires_at=r.expires_at,
            client_address=str(r.client_address),
            user_agent=str(r.user_agent),
            revoked_at=r.revoked_at,
            active=bool(r.active),
        )
        for r in conn.execute(query)
    ]


def logout_all(conn: Connection, *, admin_id: int, email: str, actor: str, now: datetime) -> int:
    """Revoke every session of one admin, at once; the audit log says who did it."""
    count = revoke_all(conn, admin_id, now=now)
    detail = {"email": email, "sessions": count}
    write_audit(conn, actor=actor, action="admin_user.logout_all", now=now, detail=detail)
    return count


def purge_ended(conn: Connection, now: datetime, limits: SessionLimits) -> int:
    """Sessions ended over KEEP_ENDED ago, and sign-in counters that no longer count."""
    T = table(AdminSession)
    cutoff = now - KEEP_ENDED
    ended = or_(
        T.c.expires_at <= cutoff,
        T.c.revoked_at <= cutoff,
        T.c.last_seen_at <= cutoff - limits.idle,
    )
    gone = conn.execute(T.delete().where(ended))
    return int(gone.rowcount or 0) + throttle.purge(conn, now)
