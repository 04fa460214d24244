"""Failed sign-ins counted in the database, per account and client address; the policy is core's.

Counters exist for unknown accounts too, keyed by the email as typed: an
unknown account is slowed down exactly like a real one, so the delays tell a
stranger nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime

from sqlalchemy import Connection, and_, case, delete, func, or_, select, text

from sendpool.core.signin import NO_FAILURES, Failures, SigninCounts, SigninPolicy
from sendpool.store.database import insert_for
from sendpool.store.tables import SigninCounter, table

PAIR, ADDRESS, ACCOUNT, KNOWN = "pair", "address", "account", "known"
POLICY = SigninPolicy()


def account_key(email: str) -> str:
    return email.strip().lower()[:320]


def address_key(address: str) -> str:
    """An IPv6 client is counted by its /64: one host is given a whole /64 to pick from."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _keys(account: str, address: str) -> dict[str, tuple[str, str]]:
    return {
        PAIR: (account, address),
        ADDRESS: ("", address),
        ACCOUNT: (account, ""),
        KNOWN: (account, address),
    }


def lock(conn: Connection, account: str, address: str) -> None:
    """Hold this account's and this address's counts until the transaction ends.

    Concurrent tries must see each other's failures, or a burst of them all
    slips in before the first is counted. SQLite runs one writer at a time;
    PostgreSQL is given an advisory lock per key, always in the same order.
    """
    if conn.dialect.name != "postgresql":
        return
    keys = sorted(f"{scope}\n{a}\n{c}" for scope, (a, c) in _keys(account, address).items()
                  if scope in (ADDRESS, ACCOUNT))  # fmt: skip
    for key in keys:
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": number})


def counts_for(
    conn: Connection, account: str, address: str, now: datetime, policy: SigninPolicy = POLICY
) -> SigninCounts:
    """The counters one attempt is judged by (``account`` and ``address`` already keyed)."""
    T = table(SigninCounter)
    keys = _keys(account, address)
    wanted = or_(
        *(
            and_(T.c.scope == scope, T.c.account == a, T.c.client_address == c)
            for scope, (a, c) in keys.items()
        )
    )
    found = {
        r.scope: Failures(int(r.failures), r.last_at)
        for r in conn.execute(select(T.c.scope, T.c.failures, T.c.last_at).where(wanted))
    }
    known = found.get(KNOWN)
    return SigninCounts(
        pair=found.get(PAIR, NO_FAILURES),
        address=found.get(ADDRESS, NO_FAILURES),
        account=found.get(ACCOUNT, NO_FAILURES),
        known_address=bool(known and known.last_at and now - known.last_at < policy.known_for),
    )


def record_failure(
    conn: Connection, account: str, address: str, now: datetime, policy: SigninPolicy = POLICY
) -> None:
    """One more failure on each count; a count idle for ``forget_after`` starts again at 1."""
    T = table(SigninCounter)
    stale = T.c.last_at <= now - policy.forget_after
    for scope in (PAIR, ADDRESS, ACCOUNT):
        a, c = _keys(account, address)[scope]
        statement = insert_for(conn, T).values(
            scope=scope, account=a, client_address=c, failures=1, last_at=now
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["scope", "account", "client_address"],
                set_={"failures": case((stale, 1), else_=T.c.failures + 1), "last_at": now},
            )
        )


def record_success(conn: Connection, account: str, address: str, now: datetime) -> None:
    """The right password: this client's counts start again, and its address becomes known."""
    T = table(SigninCounter)
    keys = _keys(account, address)
    for scope in (PAIR, ADDRESS):
        a, c = keys[scope]
        conn.execute(delete(T).where(T.c.scope == scope, T.c.account == a, T.c.client_address == c))
    a, c = keys[KNOWN]
    statement = insert_for(conn, T).values(
        scope=KNOWN, account=a, client_address=c, failures=0, last_at=now
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["scope", "account", "client_address"], set_={"last_at": now}
        )
    )


def clear_account(conn: Connection, account: str) -> int:
    """Forget the account's failures from every address (an operator's `admin unlock`)."""
    T = table(SigninCounter)
    gone = conn.execute(delete(T).where(T.c.scope.in_((PAIR, ACCOUNT)), T.c.account == account))
    return int(gone.rowcount or 0)


def recent_failures(
    conn: Connection, now: datetime, policy: SigninPolicy = POLICY
) -> dict[str, int]:
    """Failures per account that still count, for `sendpool admin list`."""
    T = table(SigninCounter)
    rows = conn.execute(
        select(T.c.account, func.sum(T.c.failures))
        .where(T.c.scope == ACCOUNT, T.c.last_at > now - policy.forget_after)
        .group_by(T.c.account)
    )
    return {str(r[0]): int(r[1]) for r in rows}


def purge(conn: Connection, now: datetime, policy: SigninPolicy = POLICY) -> int:
    """Counters that no longer count, and addresses no longer known."""
    T = table(SigninCounter)
    old_failures = and_(T.c.scope != KNOWN, T.c.last_at <= now - policy.forget_after)
    old_known = and_(T.c.scope == KNOWN, T.c.last_at <= now - policy.known_for)
    gone = conn.execute(delete(T).where(or_(old_failures, old_known)))
    return int(gone.rowcount or 0)
