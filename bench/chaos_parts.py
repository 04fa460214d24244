"""The chaos bench's parts: relays on one loop, worker processes to kill, backend kills, the tally.

Everything here is started on 127.0.0.1 with free ports and stopped by its
context manager, also when the bench is interrupted.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.sinks import SmtpSink
from sendpool.store.db import normalise_url
from sendpool.store.tables import Message, SendingServer
from tests.support.faulty_smtp import STALL_GREETING, Data, Fault, FaultyServer
from tests.support.services import PG_URL, PgDatabases, PrivateRedis
from tests.support.workers import Workers

RelayKind = Literal["sink", "slow", "blackhole", "lossy"]
DUPLICATE_HEADER = b"x-sendpool-possible-duplicate: yes"
# The bench's own connections carry this name, so backend kills spare them.
MONITOR_APP = "sendpool-chaos-monitor"


@dataclass(frozen=True)
class Relay:
    """One sending server of a row: what it is, and its daily cap as a share of the campaign."""

    name: str
    kind: RelayKind
    cap_share: float
    max_connections: int | None = None

    def cap(self, n: int) -> int:
        return max(5, math.ceil(self.cap_share * n))


@dataclass(frozen=True, slots=True)
class Copy:
    """A message as one relay took it: whose it is, and whether it says it may be a second copy."""

    server: str
    uid: str
    declared: bool


def _uid(message_id: str | None) -> str | None:
    # Message-IDs are "<uid@domain>" (content/render.py, message_id_for).
    if not message_id or "@" not in message_id:
        return None
    return message_id.strip("<>").split("@", 1)[0]


def _declared(raw: bytes) -> bool:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return DUPLICATE_HEADER in head.lower()


class Relays:
    """The row's relays, all on one event loop in a thread of the bench process."""

    def __init__(self, relays: Sequence[Relay]) -> None:
        self.specs = list(relays)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.sinks: dict[str, SmtpSink] = {}
        self.faulty: dict[str, FaultyServer] = {}
        self.ports: dict[str, int] = {}

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _run(self, coro: Any, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        for spec in self.specs:
            if spec.kind == "sink":
                sink = await SmtpSink(spec.name).start()
                self.sinks[spec.name], self.ports[spec.name] = sink, sink.port
                continue
            fault = {
                "slow": Fault(data_delay=0.2),
                "blackhole": STALL_GREETING,
                "lossy": Fault(data=Data.LOSE_REPLY),
            }[spec.kind]
            server = await FaultyServer(default=fault).start()
            self.faulty[spec.name], self.ports[spec.name] = server, server.port

    async def _stop(self) -> None:
        for sink in self.sinks.values():
            await sink.stop()
        for server in self.faulty.values():
            await server.stop()

    def delivered(self) -> int:
        """Messages taken so far, at every relay: the row's progress."""
        return sum(s.count for s in self.sinks.values()) + sum(
            f.accepted for f in self.faulty.values()
        )

    def copies(self) -> list[Copy]:
        out = []
        for name, sink in self.sinks.items():
            for m in list(sink.messages):
                if (uid := _uid(m.message_id)) is not None:
                    out.append(Copy(name, uid, _declared(m.data)))
        for name, server in self.faulty.items():
            for r in server.received:
                if (uid := _uid(r.message_id)) is not None:
                    out.append(Copy(name, uid, _declared(r.raw)))
        return out

    def lost_replies(self) -> int:
        """Messages a lossy relay took and never said so: each is an unknown outcome."""
        lossy = {s.name for s in self.specs if s.kind == "lossy"}
        return sum(f.accepted for name, f in self.faulty.items() if name in lossy)


@contextmanager
def relays(specs: Sequence[Relay]) -> Iterator[Relays]:
    r = Relays(specs)
    r.thread.start()
    try:
        r._run(r._start())
        yield r
    finally:
        try:
            r._run(r._stop())
        finally:
            r.loop.call_soon_threadsafe(r.loop.stop)
            r.thread.join(10)
            r.loop.close()


class WorkerProcs(Workers):
    """`sendpool worker` processes; some are killed with SIGKILL and replaced, as systemd would."""

    new_session = True  # our Ctrl-C handling stops them, in order

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        super().__init__(env, logs)
        self.killed: set[int] = set()  # pids we killed on purpose

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill_one(self) -> int:
        """SIGKILL the oldest live worker (busy by now); returns its pid once it is gone."""
        victim = self.alive()[0]
        self.killed.add(victim.pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        return victim.pid

    def died(self) -> list[tuple[int, int, str]]:
        """Workers that exited on their own: (pid, exit code, last lines of their log)."""
        out = []
        for i, p in enumerate(self.procs):
            if p.poll() is not None and p.pid not in self.killed:
                self.killed.add(p.pid)  # reported once
                out.append((p.pid, int(p.returncode), self.output(i)[-600:]))
        return out


@contextmanager
def worker_procs(env: dict[str, str], logs: Path) -> Iterator[WorkerProcs]:
    w = WorkerProcs(env, logs)
    try:
        yield w
    finally:
        w.stop()


def in_flight_of(conn: Any, pid: int) -> int:
    """Messages a dead worker held that had reached a transport: `sending` with handed_at set."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(Message)
            .where(
                Message.status == "sending",
                Message.handed_at.is_not(None),
                Message.claimed_by.like(f"%:{pid}:%"),  # pipeline/worker.py new_worker_id
            )
        ).scalar_one()
    )


class BackendKiller:
    """Terminates the workers' PostgreSQL backends every ``every`` seconds, ``rounds`` times."""

    def __init__(self, url: str, rounds: int, every: float = 0.5) -> None:
        self.engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
        self.rounds, self.every = rounds, every
        self.done: list[int] = []  # backends terminated, per round that found some
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sql = text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND application_name <> :monitor"
        )
        attempts = 0
        while len(self.done) < self.rounds and attempts < self.rounds * 20:
            if self.halt.wait(self.every):
                return
            attempts += 1
            with self.engine.connect() as conn:
                n = int(conn.execute(sql, {"monitor": MONITOR_APP}).scalar_one())
            if n:
                self.done.append(n)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        if self.thread.is_alive():
            self.thread.join(30)
        self.engine.dispose()


def duplicates(copies: Sequence[Copy]) -> tuple[int, int, Counter[str]]:
    """Copies beyond the first, as (declared, undeclared), and the copies of each uid.

    A copy is declared when it carries the possible-duplicate header (RFC 1047's
    advice, docs/design.md §1.4): the first attempt never does, so among the
    undeclared copies of a message all but one are undeclared duplicates.
    """
    per_uid: Counter[str] = Counter()
    plain: Counter[str] = Counter()
    for c in copies:
        per_uid[c.uid] += 1
        if not c.declared:
            plain[c.uid] += 1
    undeclared = sum(max(0, k - 1) for k in plain.values())
    extra = sum(k - 1 for k in per_uid.values())
    return extra - undeclared, undeclared, per_uid


# -- where a row runs --------------------------------------------------------


@dataclass
class Place:
    """A row's fresh database, its private Redis (PostgreSQL rows) and a folder for logs."""

    url: str  # what the workers use
    monitor_url: str  # the bench's own connections, named so backend kills spare them
    redis: PrivateRedis | None
    logs: Path

    @property
    def redis_url(self) -> str | None:
        return self.redis.url if self.redis is not None else None


class Backends:
    """SQLite files in a temporary folder; PostgreSQL clones of one migrated template."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="sendpool-chaos-"))
        self.pg: PgDatabases | None = None
        self.missing = ""
        self.pg_url = os.environ.get("SENDPOOL_BENCH_PG_URL", PG_URL)

    def __enter__(self) -> Backends:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pg is not None:
            self.pg.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def postgres_and_redis(self) -> bool:
        """Whether PostgreSQL rows can run; ``missing`` says why not."""
        if self.pg is not None:
            return True
        u = make_url(normalise_url(self.pg_url))
        try:
            socket.create_connection((u.host or "127.0.0.1", u.port or 5432), timeout=2).close()
        except OSError:
            self.missing = f"PostgreSQL is not reachable at {u.host}:{u.port or 5432}"
            return False
        if shutil.which("redis-server") is None:
            self.missing = "redis-server is not installed (apt-get install redis-server)"
            return False
        self.pg = PgDatabases(self.pg_url)
        return True

    @contextmanager
    def place(self, backend: str) -> Iterator[Place]:
        logs = self.tmp / uuid.uuid4().hex[:8]
        logs.mkdir()
        if backend == "sqlite":
            url = f"sqlite:///{logs}/sendpool.db"
            yield Place(url, url, None, logs)
            return
        if not self.postgres_and_redis() or self.pg is None:
            raise SystemExit(f"this row needs PostgreSQL and Redis: {self.missing}")
        url = self.pg.create()
        redis = PrivateRedis(shutil.which("redis-server") or "redis-server", logs)
        try:
            redis.start()
            monitor = make_url(url).update_query_dict({"application_name": MONITOR_APP})
            yield Place(url, monitor.render_as_string(hide_password=False), redis, logs)
        finally:
            redis.stop()
            self.pg.drop(url)


# -- the tally -----------------------------------------------------------------


@dataclass
class ServerTally:
    name: str
    cap: int
    delivered: int  # copies its relay took
    used: int  # units its day window shows in the ledger
    over: int = 0  # delivered or used beyond the cap
    burned: int = 0  # units used for which no delivery reached it


@dataclass
class RowResult:
    name: str
    backend: str
    workers: int
    messages: int
    sent: int = 0
    failed: int = 0
    waiting: int = 0  # pending with a reason
    lost: int = 0
    lost_detail: str = ""
    declared: int = 0
    undeclared: int = 0
    servers: list[ServerTally] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)  # handed over, per crash
    lost_replies: int = 0
    burned: int = 0
    most_copies: int = 0  # of one message, at all relays together
    most_attempts: int = 0  # of one message, as the database counts them
    seconds: float = 0.0
    timed_out: bool = False
    faults: str = ""
    problems: list[str] = field(default_factory=list)


def tally(rt: Runtime, found: Relays, caps: dict[str, int], row: RowResult) -> None:
    """Fill ``row`` from the database, the ledger and what each relay received."""
    copies = found.copies()
    row.declared, row.undeclared, per_uid = duplicates(copies)
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(Message.uid, Message.status, Message.last_error, Message.hold, Message.attempts)
        ).all()
    )
    unaccounted: Counter[str] = Counter()
    row.most_copies = max(per_uid.values(), default=0)
    row.most_attempts = max((int(r[4]) for r in rows), default=0)
    for uid, status, error, hold, _ in rows:
        if status == "sent":
            row.sent += 1
            if uid not in per_uid:
                unaccounted["sent, never delivered"] += 1
        elif status == "failed":
            row.failed += 1
        elif status in ("queued", "deferred") and (error or hold):
            row.waiting += 1
        else:
            unaccounted[f"{status} with no reason"] += 1
    row.lost = sum(unaccounted.values())
    row.lost_detail = ", ".join(f"{k}: {v}" for k, v in unaccounted.items())
    servers = rt.db.transaction(
        lambda c: c.execute(
            select(SendingServer.id, SendingServer.name, SendingServer.timezone)
        ).all()
    )
    now = datetime.now(UTC)
    usage = asyncio.run(rt.ledger.usage({sid: windows_at(now, tz) for sid, _, tz in servers}))
    at: Counter[str] = Counter(c.server for c in copies)
    for sid, name, _ in servers:
        s = ServerTally(name, caps[name], at[name], usage[sid].day_used)
        s.over = max(0, max(s.delivered, s.used) - s.cap)
        s.burned = max(0, s.used - s.delivered)
        row.servers.append(s)
    row.burned = sum(s.burned for s in row.servers)
    row.lost_replies = found.lost_replies()
