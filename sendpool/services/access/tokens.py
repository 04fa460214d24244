"""API tokens: issued once in plain text, kept only as a SHA-256 hash, revocable.

A token carries 256 random bits, so a plain SHA-256 of it is as good as a
slow password hash here: there is nothing to guess and nothing to stretch.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from sendpool.errors import InputError, NotFoundError
from sendpool.services import refs
from sendpool.services.errors import AuthError
from sendpool.services.operations.audit import write_audit
from sendpool.store.tables import ApiToken, Customer, table
from sendpool.store.types import new_uid

PREFIX = "sp_"
_SHAPE = re.compile(r"^sp_[A-Za-z0-9_-]{43}$")
# Writing last_used_at on every request would make each read a write.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an admin, or one customer and nothing beyond it."""

    kind: str  # admin | customer
    token_uid: str
    token_name: str
    customer_id: int | None = None
    customer_uid: str | None = None
    customer_name: str | None = None

    @property
    def actor(self) -> str:
        return f"token:{self.token_name}"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    uid: str
    name: str
    kind: str
    customer_uid: str | None
    customer_name: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    info: TokenInfo
    token: str  # shown once; only its hash is stored


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(conn: Connection, uid: str) -> TokenInfo:
    row = conn.execute(
        select(
            ApiToken.uid,
            ApiToken.name,
            ApiToken.kind,
            Customer.uid.label("customer_uid"),
            Customer.name.label("customer_name"),
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
        )
        .outerjoin(Customer, Customer.id == ApiToken.customer_id)
        .where(ApiToken.uid == uid)
    ).first()
    if row is None:
        raise NotFoundError(f"unknown token {uid!r}; `sendpool token list` shows them")
    return TokenInfo(**row._mapping)


def create_token(
    conn: Connection, *, name: str, customer: str | None, actor: str, now: datetime
) -> IssuedToken:
    """An admin token when ``customer`` is None, else one for that customer (name or uid)."""
    name = name.strip()
    if not name or len(name) > 200 or any(c < " " for c in name):
        raise InputError("token name must be 1-200 printable characters")
    customer_id = refs.customer_id(conn, customer) if customer is not None else None
    token = PREFIX + secrets.token_urlsafe(32)
    uid = new_uid()
    conn.execute(
        table(ApiToken)
        .insert()
        .values(
            uid=uid,
            name=name,
            kind="admin" if customer_id is None else "customer",
            customer_id=customer_id,
            token_hash=hash_token(token),
            created_at=now,
        )
    )
    write_audit(conn, actor=actor, action="token.create", now=now, detail={"token": uid})
    return IssuedToken(_info(conn, uid), token)


def list_tokens(conn: Connection) -> list[TokenInfo]:
    uids = conn.execute(select(ApiToken.uid).order_by(ApiToken.id)).scalars().all()
    return [_info(conn, uid) for uid in uids]


def revoke_token(conn: Connection, uid: str, *, actor: str, now: datetime) -> TokenInfo:
    info = _info(conn, uid)
    if info.revoked_at is None:
        conn.execute(update(table(ApiToken)).where(ApiToken.uid == uid).values(revoked_at=now))
        write_audit(conn, actor=actor, action="token.revoke", now=now, detail={"token": uid})
    return _info(conn, uid)


def authenticate(conn: Connection, token: str, now: datetime) -> Principal:
    if not _SHAPE.match(token):
        raise AuthError("malformed bearer token; sendpool tokens look like sp_...")
    row = conn.execute(
        select(
            ApiToken.id,
            ApiToken.uid,
            ApiToken.name,
            ApiToken.kind,
            ApiToken.revoked_at,
            ApiToken.last_used_at,
            Customer.id.label("customer_id"),
            Customer.uid.label("customer_uid"),
            Customer.name.label("customer_name"),
        )
        .outerjoin(Customer, Customer.id == ApiToken.customer_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        raise AuthError("unknown bearer token")
    if row.revoked_at is not None:
        raise AuthError("this token was revoked")
    if row.kind == "customer" and row.customer_id is None:
        raise AuthError("this token's customer no longer exists")
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
        conn.execute(update(table(ApiToken)).where(ApiToken.id == row.id).values(last_used_at=now))
    return Principal(
        kind=row.kind,
        token_uid=row.uid,
        token_name=row.name,
        customer_id=row.customer_id,
        customer_uid=row.customer_uid,
        customer_name=row.customer_name,
    )
