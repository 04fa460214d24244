"""People who sign in to the admin pages: argon2id password hashes, lockout after failures.

A run of MAX_FAILURES wrong passwords locks the account for LOCK_FOR; a right
password resets the count. Passwords are hashed off the database threads, so
a sign-in never holds up the workers' SQL.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, case, select, update

from sendpool.content.addresses import normalise_address
from sendpool.errors import InputError, NotFoundError
from sendpool.services.errors import ConflictError, FieldError
from sendpool.services.operations.audit import write_audit
from sendpool.store.database import Database
from sendpool.store.tables import AdminUser, table

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_hasher = PasswordHasher()  # argon2id, the library's (RFC 9106) defaults


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that answer takes as long as a wrong one."""
    return _hasher.hash("sendpool: no such admin")


@dataclass(frozen=True, slots=True)
class AdminInfo:
    id: int
    email: str
    stamp: str  # changes when the password does; sessions carry it
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoginResult:
    admin: AdminInfo | None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.admin is not None


def stamp_of(password_hash: str) -> str:
    """A short digest of the hash: a session made before a password change stops working."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def check_email(email: str) -> str:
    try:
        return normalise_address(email).lower()
    except InputError as exc:
        raise FieldError([("email", str(exc))]) from None


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise FieldError([("password", f"must be at least {MIN_PASSWORD} characters")])
    if len(password) > MAX_PASSWORD:
        raise FieldError([("password", f"must be at most {MAX_PASSWORD} characters")])
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def _info(r: Row[Any]) -> AdminInfo:
    return AdminInfo(
        id=int(r.id),
        email=str(r.email),
        stamp=stamp_of(r.password_hash),
        failed_logins=int(r.failed_logins),
        locked_until=r.locked_until,
        created_at=r.created_at,
    )


def _row_by_email(conn: Connection, email: str) -> AdminInfo:
    row = conn.execute(select(table(AdminUser)).where(AdminUser.email == email)).first()
    if row is None:
        raise NotFoundError(f"no admin user {email!r}; `sendpool admin list` shows them")
    return _info(row)


def create_admin(
    conn: Connection, *, email: str, password_hash: str, actor: str, now: datetime
) -> AdminInfo:
    """``password_hash`` comes from hash_password, made before the transaction."""
    email = check_email(email)
    if conn.execute(select(AdminUser.id).where(AdminUser.email == email)).first() is not None:
        raise ConflictError(f"email: an admin user {email!r} already exists")
    conn.execute(
        table(AdminUser)
        .insert()
        .values(email=email, password_hash=password_hash, failed_logins=0, created_at=now)
    )
    write_audit(conn, actor=actor, action="admin_user.create", now=now, detail={"email": email})
    return _row_by_email(conn, email)


def set_password(
    conn: Connection, *, email: str, password_hash: str, actor: str, now: datetime
) -> AdminInfo:
    """A new password ends the user's sessions and lifts any lock."""
    email = check_email(email)
    _row_by_email(conn, email)
    conn.execute(
        update(table(AdminUser))
        .where(AdminUser.email == email)
        .values(password_hash=password_hash, failed_logins=0, locked_until=None)
    )
    write_audit(conn, actor=actor, action="admin_user.password", now=now, detail={"email": email})
    return _row_by_email(conn, email)


def unlock_admin(conn: Connection, *, email: str, actor: str, now: datetime) -> AdminInfo:
    email = check_email(email)
    _row_by_email(conn, email)
    conn.execute(
        update(table(AdminUser))
        .where(AdminUser.email == email)
        .values(failed_logins=0, locked_until=None)
    )
    write_audit(conn, actor=actor, action="admin_user.unlock", now=now, detail={"email": email})
    return _row_by_email(conn, email)


def list_admins(conn: Connection) -> list[AdminInfo]:
    rows = conn.execute(select(table(AdminUser)).order_by(AdminUser.email))
    return [_info(r) for r in rows]


def session_admin(conn: Connection, admin_id: int, stamp: str) -> AdminInfo | None:
    """The signed-in admin, or None when the user is gone or changed password since."""
    row = conn.execute(select(table(AdminUser)).where(AdminUser.id == admin_id)).first()
    if row is None:
        return None
    info = _info(row)
    return info if info.stamp == stamp else None


def _find_for_login(conn: Connection, email: str) -> tuple[int, str, datetime | None] | None:
    row = conn.execute(
        select(AdminUser.id, AdminUser.password_hash, AdminUser.locked_until).where(
            AdminUser.email == email
        )
    ).first()
    return None if row is None else (int(row[0]), str(row[1]), row[2])


def _record_failure(conn: Connection, admin_id: int, now: datetime) -> datetime | None:
    """Count one failure (a lock that has run out starts the count again); maybe lock."""
    T = table(AdminUser)
    expired = (T.c.locked_until.is_not(None)) & (T.c.locked_until <= now)
    conn.execute(
        update(T)
        .where(T.c.id == admin_id)
        .values(
            failed_logins=case((expired, 1), else_=T.c.failed_logins + 1),
            locked_until=case((expired, None), else_=T.c.locked_until),
        )
    )
    conn.execute(
        update(T)
        .where(T.c.id == admin_id, T.c.failed_logins >= MAX_FAILURES, T.c.locked_until.is_(None))
        .values(locked_until=now + LOCK_FOR)
    )
    row = conn.execute(select(T.c.email, T.c.locked_until).where(T.c.id == admin_id)).one()
    if row.locked_until is None or row.locked_until <= now:
        return None
    if row.locked_until == now + LOCK_FOR:  # locked by this failure, not by an earlier one
        detail = {"email": row.email, "failures": MAX_FAILURES}
        write_audit(conn, actor="login", action="admin_user.lock", now=now, detail=detail)
    until: datetime = row.locked_until
    return until


def _record_success(conn: Connection, admin_id: int, new_hash: str | None) -> AdminInfo:
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
    if new_hash is not None:
        values["password_hash"] = new_hash
    T = table(AdminUser)
    conn.execute(update(T).where(T.c.id == admin_id).values(**values))
    return _info(conn.execute(select(T).where(T.c.id == admin_id)).one())


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _rehash_if_needed(password_hash: str, password: str) -> str | None:
    return _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None


async def login(db: Database, *, email: str, password: str, now: datetime) -> LoginResult:
    """Check a sign-in; a locked account is refused without looking at the password."""
    try:
        email = check_email(email)
    except FieldError:
        email = email.strip().lower()  # cannot match anyone; answered like a wrong password
    found = await db.run(_find_for_login, email)
    if found is not None and found[2] is not None and found[2] > now:
        return LoginResult(None, locked_until=found[2])
    password_hash = found[1] if found is not None else _dummy_hash()
    ok = await anyio.to_thread.run_sync(_verify, password_hash, password[:MAX_PASSWORD])
    if found is None:
        return LoginResult(None)
    if not ok:
        return LoginResult(None, locked_until=await db.run(_record_failure, found[0], now))
    new_hash = await anyio.to_thread.run_sync(_rehash_if_needed, password_hash, password)
    return LoginResult(await db.run(_record_success, found[0], new_hash))
