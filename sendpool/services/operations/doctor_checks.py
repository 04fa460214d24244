"""The checks under everything else: database, schema, secret key, Redis, the public URL.

They open what they look at as it is: a missing SQLite file is reported, not
created; a schema behind the code is reported, not migrated; a missing key is
reported, not generated. The pool can still be read when the key is wrong, since
only sending needs the secrets.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from sendpool.config import Settings
from sendpool.core.states import ServerStatus
from sendpool.errors import ConfigError
from sendpool.pipeline.ports import QuotaLedger
from sendpool.runtime import open_ledger
from sendpool.secretbox import SecretBox, key_file_for, open_to_others
from sendpool.services.operations.events import NEAR, PAUSED, Thresholds, standings
from sendpool.store.catalog import load_pool
from sendpool.store.database import Database
from sendpool.store.db import alembic_config, has_schema, make_engine, sqlite_files
from sendpool.store.ledger_redis import Keys
from sendpool.store.records import PoolRows, ServerRow
from sendpool.store.tables import SendingServer

MIGRATE = "run `sendpool migrate` (workers and `sendpool serve` also migrate when they start)"


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's table; ``advice`` is what to do next, when anything."""

    name: str
    status: Status
    detail: str
    advice: str | None = None


def span(d: timedelta) -> str:
    s = max(0, int(d.total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d"


def ago(at: datetime, now: datetime) -> str:
    # Later than ``now`` only by the moments since the run began (a check just recorded).
    return f"{span(now - at)} ago" if at < now else "just now"


def hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _error(exc: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's statement dump and help link."""
    orig = getattr(exc, "orig", None)
    return (str(orig or exc).strip().splitlines() or [type(exc).__name__])[0]


def _as_it_is(url: str) -> Database:
    """The database opened without migrating it or changing its files' modes."""
    return Database(make_engine(url, tighten=False))


def exposed_files(paths: list[Path]) -> Check | None:
    """A warning, with the chmod to run, when any of ``paths`` is open to other users."""
    modes = {p: m for p in paths if (m := open_to_others(p)) is not None}
    if not modes:
        return None
    shown = ", ".join(f"{p} (mode {m:04o})" for p, m in modes.items())
    detail = f"readable by other users of this machine: {shown}; it holds people's addresses"
    advice = (
        f"chmod 600 {' '.join(str(p) for p in modes)} "
        "(workers and `sendpool serve` also do this when they start)"
    )
    return Check("database file", Status.WARN, detail, advice)


def sqlite_file(url: str) -> Path | None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///"))
    return None


def _revisions(conn: Connection, url: str) -> tuple[set[str], set[str], set[str]]:
    """The schema's current revision(s), the code's head(s), and every revision the code knows."""
    script = ScriptDirectory.from_config(alembic_config(url))
    known = {r.revision for r in script.walk_revisions()}
    current = set(MigrationContext.configure(conn).get_current_heads())
    return current, set(script.get_heads()), known


def check_database(settings: Settings) -> tuple[Database | None, list[Check]]:
    """The database, open, only when it is reachable and at the latest migration."""
    url = settings.database_url
    shown = hide_password(url)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        advice = f"check SENDPOOL_DATABASE_URL, or {MIGRATE} to create it"
        return None, [Check("database", Status.FAIL, f"{path} does not exist", advice)]
    exposed = exposed_files(sqlite_files(path)) if path is not None else None
    db = _as_it_is(url)
    try:
        current, heads, known = db.transaction(_revisions, url)
        schema = has_schema(db.engine)
    except SQLAlchemyError as exc:
        db.close()
        advice = "check SENDPOOL_DATABASE_URL and that the database server is up"
        detail = f"cannot reach {shown}: {_error(exc)}"
        return None, [Check("database", Status.FAIL, detail, advice)]
    checks = [Check("database", Status.OK, f"{shown} reachable")]
    if exposed is not None:
        checks.append(exposed)
    names = ", ".join(sorted(current))
    if current == heads:
        checks.append(Check("schema", Status.OK, f"at the latest migration ({names})"))
        return db, checks
    db.close()
    latest = ", ".join(sorted(heads))
    if not current:
        detail = "tables without a recorded migration" if schema else "no schema yet"
        checks.append(Check("schema", Status.FAIL, detail, MIGRATE))
    elif current - known:
        detail = f"at {names}, which this sendpool does not know (latest it knows: {latest})"
        advice = "a newer sendpool migrated it: run the same version as the workers"
        checks.append(Check("schema", Status.FAIL, detail, advice))
    else:
        checks.append(Check("schema", Status.FAIL, f"at {names}; latest is {latest}", MIGRATE))
    return None, checks


def _load_key(settings: Settings) -> tuple[SecretBox | None, str]:
    """The key the workers would use, and where it comes from; never creates one."""
    if settings.secret_key:
        return SecretBox(settings.secret_key.encode()), "SENDPOOL_SECRET_KEY"
    path = key_file_for(settings.database_url)
    if path.exists():
        return SecretBox(path.read_bytes().strip()), f"key file {path}"
    return None, f"no SENDPOOL_SECRET_KEY and no key file at {key_file_for(settings.database_url)}"


def _opens(box: SecretBox, token: str) -> bool:
    try:
        box.open(token)
    except ConfigError:
        return False
    return True


def _sealed_secrets(conn: Connection) -> dict[str, str]:
    rows = conn.execute(select(SendingServer.name, SendingServer.secrets_sealed))
    return {str(n): str(t) for n, t in rows if t}


def check_secrets(settings: Settings, db: Database | None) -> tuple[Check, SecretBox | None]:
    """A usable key, one that opens every server's stored secrets, in a file kept private."""
    check, box = _check_key(settings, db)
    path = key_file_for(settings.database_url)
    mode = None if settings.secret_key else open_to_others(path)
    if mode is None or check.status is not Status.OK:
        return check, box
    detail = f"{check.detail}; but {path} is readable by other users (mode {mode:04o})"
    advice = f"chmod 600 {path} (workers and `sendpool serve` also do this when they start)"
    return Check(check.name, Status.WARN, detail, advice), box


def _check_key(settings: Settings, db: Database | None) -> tuple[Check, SecretBox | None]:
    name = "secret key"
    try:
        box, source = _load_key(settings)
    except ConfigError as exc:
        return Check(name, Status.FAIL, str(exc), "set SENDPOOL_SECRET_KEY to a valid key"), None
    if db is None:
        detail = f"from {source}; stored secrets not checked (the database cannot be read)"
        return Check(name, Status.OK if box else Status.WARN, detail), box
    holders = db.transaction(_sealed_secrets)
    if box is None:
        if holders:
            detail = f"{source}, yet {len(holders)} server(s) have stored secrets"
            advice = "set SENDPOOL_SECRET_KEY to the key they were stored with"
            return Check(name, Status.FAIL, detail, advice), None
        detail = f"{source}; one is created beside the database when the service starts"
        advice = "set SENDPOOL_SECRET_KEY, so every machine uses the same key"
        return Check(name, Status.WARN, detail, advice), None
    closed = sorted(n for n, t in holders.items() if not _opens(box, t))
    if closed:
        detail = (
            f"the key from {source} cannot decrypt the stored secrets of "
            f"{', '.join(closed)} ({len(closed)} of {len(holders)} server(s) with secrets)"
        )
        advice = (
            "set SENDPOOL_SECRET_KEY back to the key they were stored with "
            "(was it changed, or the key file replaced?); those servers cannot send until then"
        )
        return Check(name, Status.FAIL, detail, advice), box
    opened = f"opens the stored secrets of {len(holders)} server(s)"
    detail = f"from {source}; {opened if holders else 'no server has stored secrets'}"
    return Check(name, Status.OK, detail), box


def check_redis(settings: Settings, prefix: str = "sendpool") -> Check | None:
    """Reachable, and holding whole quota counters; None when Redis is not used."""
    if not settings.redis_url:
        return None
    shown = hide_password(settings.redis_url)
    client = redis.Redis.from_url(
        settings.redis_url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0
    )
    try:
        client.ping()
        run_id = client.info("server").get("run_id")
        ready = client.get(Keys(prefix).ready)
        policy = client.info("memory").get("maxmemory_policy")
    except redis.RedisError as exc:
        detail = f"cannot reach {shown}: {exc}"
        advice = "start Redis or fix SENDPOOL_REDIS_URL: until then no quota can be reserved"
        return Check("redis", Status.FAIL, detail, advice)
    finally:
        client.close()
    if policy not in (None, "noeviction"):
        detail = f"{shown} reachable, but maxmemory-policy is {policy}"
        advice = "set maxmemory-policy noeviction: an evicted counter would let caps be exceeded"
        return Check("redis", Status.WARN, detail, advice)
    whole = "whole" if ready == run_id else "to be rebuilt from the database on the next send"
    return Check("redis", Status.OK, f"{shown} reachable; quota counters {whole}")


class _SealedBox(SecretBox):
    """Stands in for the key where no secret is needed: the pool's shape, quotas and plans."""

    def __init__(self) -> None:  # holds no key, so it can decrypt nothing
        pass

    def open(self, token: str | None) -> dict[str, str]:
        return {}


def read_pool(conn: Connection, now: datetime) -> PoolRows:
    """The pool as a worker loads it, minus the secrets: a wrong key must not hide it."""
    return load_pool(conn, _SealedBox(), now)


def check_return_rates(conn: Connection, settings: Settings, now: datetime) -> list[Check]:
    """A paused server, and one whose last day of bounces or complaints nears the pause."""
    limits = Thresholds.of(settings)
    checks = []
    for s in standings(conn, now):
        name, r = f"returns {s.name}", s.rates
        figures = (
            f"bounce rate {100 * r.bounce_rate:.2f} %, complaint rate "
            f"{100 * r.complaint_rate:.3f} % over {r.sent:,} sends in 24 h"
        )
        if s.status == PAUSED:
            why = s.status_reason or "no reason recorded"
            advice = (
                "find why its mail bounces or is reported (`sendpool bounces list --server "
                f"{s.name}`), then resume it; the dispatcher skips it until then"
            )
            checks.append(Check(name, Status.WARN, f"paused: {why}; {figures}", advice))
            continue
        near = [
            f"{what} {100 * rate:.3g} % is within {100 * (1 - NEAR):.0f} % of the pause at "
            f"{100 * limit:.3g} %"
            for what, rate, limit in (
                ("bounce rate", r.bounce_rate, limits.pause_bounce_rate),
                ("complaint rate", r.complaint_rate, limits.pause_complaint_rate),
            )
            if rate >= NEAR * limit
        ]
        if r.sent >= limits.min_volume and near:
            advice = (
                f"look at what comes back (`sendpool bounces list --server {s.name}`): "
                "the pool pauses it at the threshold"
            )
            checks.append(Check(name, Status.WARN, f"{'; '.join(near)} ({figures})", advice))
    return checks


def open_for_reading(settings: Settings) -> tuple[Database, QuotaLedger]:
    """The database as it is (never created nor migrated) and the ledger the workers use."""
    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        raise ConfigError(f"database file {path} does not exist: check SENDPOOL_DATABASE_URL")
    db = _as_it_is(settings.database_url)
    try:
        if not has_schema(db.engine):
            raise ConfigError(f"the database has no schema yet: {MIGRATE}")
    except SQLAlchemyError as exc:
        db.close()
        shown = hide_password(settings.database_url)
        raise ConfigError(f"cannot read the database at {shown}: {_error(exc)}") from exc
    except ConfigError:
        db.close()
        raise
    return db, open_ledger(settings, db)


def _local(host: str) -> bool:
    """An address only this machine or its own network reaches: loopback, private, link-local."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: it may well resolve to an outside address
    return address.is_loopback or address.is_private or address.is_link_local


def _server_host(row: ServerRow) -> str | None:
    """Where a server is reached: an SMTP relay's host, a vendor's endpoint; None: its own API."""
    for key in ("host", "base_url", "endpoint_url"):
        value = row.settings.get(key)
        if isinstance(value, str) and value:
            return value if key == "host" else urlsplit(value).hostname
    return None


def check_public_url(settings: Settings, pool: PoolRows) -> Check | None:
    """Whether recipients can open the unsubscribe links the mail carries (RFC 8058).

    A loopback or private SENDPOOL_PUBLIC_URL is right while every enabled server
    is on this machine (a test sink); once one sends to the world, its recipients
    would get links they cannot open, and mailbox providers file such bulk mail as
    spam. None when nothing leaves this machine.
    """
    host = urlsplit(settings.public_url).hostname or ""
    links = f"{settings.public_url}/u/…"
    if not _local(host):
        return Check("public url", Status.OK, f"unsubscribe links point at {links}")
    outside = sorted(
        row.name
        for row in pool.servers
        if row.status != ServerStatus.DISABLED and not _local(_server_host(row) or "")
    )
    if not outside:
        return None
    shown = ", ".join(outside[:5]) + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
    detail = (
        f"recipients cannot reach {links}: it is a local address, while {shown} "
        "send(s) mail off this machine"
    )
    advice = (
        "set SENDPOOL_PUBLIC_URL to the address recipients reach sendpool at "
        "(e.g. https://mail.example.com); `serve` answers /u/ there"
    )
    return Check("public url", Status.WARN, detail, advice)
