"""People who sign in to the admin pages: argon2id password hashes, throttled sign-in.

Every sign-in attempt costs one argon2 verification, whatever its fate: a
wrong password is checked against the account's hash; an unknown account, or
a client told to wait after failed sign-ins (``sendpool.core.signin``), is
checked against a fixed dummy hash. So all three take the same time and get
the same answer, and neither tells a stranger which accounts exist. Passwords
are hashed off the database threads, so a sign-in never holds up the workers'
SQL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, select, update

from sendpool.content.addresses import normalise_address
from sendpool.core.signin import SigninCounts
from sendpool.errors import InputError, NotFoundError
from sendpool.services.access import sessions, throttle
from sendpool.services.errors import ConflictError, FieldError
from sendpool.services.operations.audit import write_audit
from sendpool.store.database import Database
from sendpool.store.tables import AdminUser, table

MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_hasher = PasswordHasher()  # argon2id, the library's (RFC 9106) defaults


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown or the client must wait: same time, same answer."""
    return _hasher.hash("sendpool: no such admin")


@dataclass(frozen=True, slots=True)
class AdminInfo:
    id: int
    email: str
    created_at: datetime
    failed_logins: int = 0  # failures that still count, from every address
    sessions: int = 0  # sessions open now


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A signed-in admin and their new session token, or a refusal (when to retry, if told)."""

    admin: AdminInfo | None
    token: str | None = None
    retry_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.admin is not None


@dataclass(frozen=True, slots=True)
class Client:
    """Where a sign-in comes from, as the operator will see it on the session."""

    address: str
    user_agent: str = ""


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
    return AdminInfo(id=int(r.id), email=str(r.email), created_at=r.created_at)


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
    """A new password ends every session of the user's at once and forgets their failures."""
    email = check_email(email)
    admin = _row_by_email(conn, email)
    conn.execute(
        update(table(AdminUser))
        .where(AdminUser.id == admin.id)
        .values(password_hash=password_hash, failed_logins=0, locked_until=None)
    )
    ended = sessions.revoke_all(conn, admin.id, now=now)
    throttle.clear_account(conn, throttle.account_key(email))
    detail = {"email": email, "sessions_ended": ended}
    write_audit(conn, actor=actor, action="admin_user.password", now=now, detail=detail)
    return admin


def unlock_admin(conn: Connection, *, email: str, actor: str, now: datetime) -> AdminInfo:
    """Forget the account's failed sign-ins from every address, so no one waits for them."""
    email = check_email(email)
    _row_by_email(conn, email)
    conn.execute(
        update(table(AdminUser))
        .where(AdminUser.email == email)
        .values(failed_logins=0, locked_until=None)
    )
    throttle.clear_account(conn, throttle.account_key(email))
    write_audit(conn, actor=actor, action="admin_user.unlock", now=now, detail={"email": email})
    return _row_by_email(conn, email)


def list_sessions(
    conn: Connection,
    *,
    email: str | None,
    include_ended: bool,
    now: datetime,
    limits: sessions.SessionLimits,
) -> list[sessions.SessionInfo]:
    """Everyone's sessions, or one admin's (an unknown email is an error, not an empty list)."""
    admin_id = _row_by_email(conn, check_email(email)).id if email else None
    return sessions.list_sessions(
        conn, now=now, limits=limits, admin_id=admin_id, include_ended=include_ended
    )


def logout_all(conn: Connection, *, email: str, actor: str, now: datetime) -> tuple[AdminInfo, int]:
    """End every session of one admin at once; how many were open."""
    admin = _row_by_email(conn, check_email(email))
    ended = sessions.logout_all(conn, admin_id=admin.id, email=admin.email, actor=actor, now=now)
    return admin, ended


def list_admins(
    conn: Connection, *, now: datetime, limits: sessions.SessionLimits
) -> list[AdminInfo]:
    """Every admin, with the failed sign-ins that still count and the sessions open now."""
    failures = throttle.recent_failures(conn, now)
    open_now: dict[int, int] = {}
    for s in sessions.list_sessions(conn, now=now, limits=limits):
        open_now[s.admin_id] = open_now.get(s.admin_id, 0) + 1
    rows = conn.execute(select(table(AdminUser)).order_by(AdminUser.email))
    return [
        AdminInfo(
            int(r.id),
            str(r.email),
            r.created_at,
            failures.get(throttle.account_key(r.email), 0),
            open_now.get(int(r.id), 0),
        )
        for r in rows
    ]


def _before_check(
    conn: Connection, account: str, address: str, now: datetime
) -> tuple[SigninCounts, datetime | None, tuple[int, str] | None]:
    """The client's counts, when it may try again, and the account's hash, in one transaction.

    A try that may be checked is counted as a failure here, before its
    password is: concurrent tries then see it (a right password takes it back).
    """
    throttle.lock(conn, account, address)
    counts = throttle.counts_for(conn, account, address, now)
    retry_at = throttle.POLICY.retry_at(counts, now)
    if retry_at is not None:
        return counts, retry_at, None
    throttle.record_failure(conn, account, address, now)
    row = conn.execute(
        select(AdminUser.id, AdminUser.password_hash).where(AdminUser.email == account)
    ).first()
    return counts, None, None if row is None else (int(row[0]), str(row[1]))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _rehash_if_needed(password_hash: str, password: str) -> str | None:
    return _hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None


def _signed_in(
    conn: Connection,
    admin_id: int,
    new_hash: str | None,
    *,
    account: str,
    client: Client,
    token: str,
    now: datetime,
    limits: sessions.SessionLimits,
) -> AdminInfo:
    T = table(AdminUser)
    if new_hash is not None:
        conn.execute(update(T).where(T.c.id == admin_id).values(password_hash=new_hash))
    throttle.record_success(conn, account, throttle.address_key(client.address), now)
    sessions.open_session(
        conn,
        admin_id=admin_id,
        token=token,
        client_address=client.address,
        user_agent=client.user_agent,
        now=now,
        limits=limits,
    )
    return _info(conn.execute(select(T).where(T.c.id == admin_id)).one())


async def login(
    db: Database,
    *,
    email: str,
    password: str,
    client: Client,
    now: datetime,
    limits: sessions.SessionLimits,
) -> LoginResult:
    """Check a sign-in and open a session; one argon2 verification whatever the outcome."""
    try:
        account = throttle.account_key(check_email(email))
    except FieldError:
        account = throttle.account_key(email)  # matches no one; answered like a wrong password
    address = throttle.address_key(client.address)
    counts, retry_at, checked = await db.run(_before_check, account, address, now)
    password_hash = checked[1] if checked is not None else _dummy_hash()
    ok = await anyio.to_thread.run_sync(_verify, password_hash, password[:MAX_PASSWORD])
    if retry_at is not None:
        return LoginResult(None, retry_at=retry_at)  # not counted: waiting is not guessing
    if checked is None or not ok:
        after = throttle.POLICY.after_failure(counts, now)
        return LoginResult(None, retry_at=throttle.POLICY.retry_at(after, now))
    new_hash = await anyio.to_thread.run_sync(_rehash_if_needed, password_hash, password)
    token = sessions.new_token()
    admin = await db.run(
        _signed_in,
        checked[0],
        new_hash,
        account=account,
        client=client,
        token=token,
        now=now,
        limits=limits,
    )
    return LoginResult(admin, token=token)
