"""What only PostgreSQL can get wrong: concurrent migrations, SKIP LOCKED claims, row locks."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, update

from sendpool.core.servers import Caps
from sendpool.core.states import MessageStatus, ServerHealth
from sendpool.core.windows import windows_at
from sendpool.pipeline.ports import QuotaLedger
from sendpool.runtime import Runtime
from sendpool.services.messages.log import message_log
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.store.database import Database
from sendpool.store.db import make_engine, migrate
from sendpool.store.ledger_redis import RedisLedger
from sendpool.store.ledger_sql import SqlLedger
from sendpool.store.partitions import not_a_partition
from sendpool.store.queue import SqlQueue, claim_sync, record_sync
from sendpool.store.records import HealthChange, MessageUpdate, RecordBatch
from sendpool.store.recount import SqlRecount
from sendpool.store.tables import Base, Message, RotationCursor, SendingServer, table
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.services import PgDatabases, PrivateRedis

pytestmark = pytest.mark.services

CAP = 1000
NOW = datetime(2030, 11, 27, 12, tzinfo=UTC)


def test_migrations_match_the_models_on_postgres(pg_database: str) -> None:
    engine = make_engine(pg_database)
    try:
        migrate(engine)  # the template is migrated already: this run changes nothing
        with engine.connect() as conn:
            # The model describes messages itself; its day partitions are the database's.
            context = MigrationContext.configure(conn, opts={"include_name": not_a_partition})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def _open(url: str, start: Event, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    start.wait()
    try:
        Database.open(url).close()
        out.put("ok")
    except Exception as exc:  # reported to the test, which fails with it
        out.put(repr(exc))


@pytest.mark.slow
def test_workers_starting_together_on_an_empty_database_migrate_it_once(
    pg_databases: PgDatabases,
) -> None:
    url = pg_databases.create(migrated=False)
    try:
        ctx = multiprocessing.get_context("spawn")
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(url, start, out)) for _ in range(4)]
        for p in procs:
            p.start()
        start.set()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        assert results == ["ok"] * 4
        engine = make_engine(url)
        try:
            assert inspect(engine).has_table("messages")
        finally:
            engine.dispose()
    finally:
        pg_databases.drop(url)


def test_concurrent_claims_skip_each_others_rows(runtime: Runtime) -> None:
    apply(
        runtime,
        {
            "servers": [smtp_server("s", 1)],
            "plans": [{"name": "P", "servers": ["s"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(runtime, 2000)
    now = datetime.now(UTC)
    claimed: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        barrier.wait()
        while True:
            rows = runtime.db.transaction(claim_sync, name, 37, now, now + timedelta(seconds=60))
            if not rows:
                return
            with lock:
                claimed.update(m.id for m in rows)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(claimed) == 2000 and set(claimed.values()) == {1}


def test_the_message_log_search_ignores_case(runtime: Runtime) -> None:
    # Local parts keep their case ("Ann.Lee@example.com"); PostgreSQL's LIKE does not fold it.
    apply(runtime, {"customers": [{"name": "acme", "sending_domains": ["example.com"]}]})
    csv = "email,first_name\nAnn.Lee@Example.com,Ann\nbob@example.com,Bob\n"
    campaign_id, _ = make_campaign(runtime, 0, csv=csv)
    for query in ("ann.lee", "ANN.LEE@EXAMPLE"):
        rows = runtime.db.transaction(message_log, campaign_id=campaign_id, recipient=query)
        assert [r.recipient for r in rows] == ["Ann.Lee@example.com"], query
    exact = runtime.db.transaction(
        message_log, campaign_id=campaign_id, recipient="ANN.LEE@example.com", match="exact"
    )
    assert [r.recipient for r in exact] == ["Ann.Lee@example.com"]
    assert runtime.db.transaction(message_log, campaign_id=campaign_id, recipient="%") == []


async def test_a_transactional_payload_round_trips_as_json(runtime: Runtime) -> None:
    apply(runtime, {"customers": [{"name": "acme", "sending_domains": ["example.com"]}]})
    now = datetime.now(UTC)
    runtime.db.transaction(
        lambda c: enqueue_transactional(
            c,
            customer_id=1,
            to="ada@example.com",
            subject="Hi {{ name }}",
            from_email="app@example.com",
            text="Hello {{ name }}",
            fields={"name": "Ada", "n": 3},
            now=now,
        )
    )
    (m,) = await SqlQueue(runtime.db).claim("w", 10, now, now + timedelta(seconds=30))
    assert m.kind == "transactional" and m.payload is not None
    assert m.payload["fields"] == {"name": "Ada", "n": 3}


def test_a_deadlock_victim_runs_again(runtime: Runtime) -> None:
    C = table(RotationCursor)
    runtime.db.transaction(
        lambda c: c.execute(
            C.insert(), [{"plan_id": 1, "position": 0}, {"plan_id": 2, "position": 0}]
        )
    )
    both_hold_one = threading.Barrier(2)
    attempts: Counter[str] = Counter()

    def bump(conn: Connection, first: int, second: int) -> None:
        name = f"{first}->{second}"
        attempts[name] += 1
        conn.execute(update(C).where(C.c.plan_id == first).values(position=C.c.position + 1))
        if attempts[name] == 1:
            both_hold_one.wait(10)  # now each waits for the other's row: PostgreSQL picks a victim
        conn.execute(update(C).where(C.c.plan_id == second).values(position=C.c.position + 1))

    threads = [
        threading.Thread(target=runtime.db.transaction, args=(bump, a, b))
        for a, b in ((1, 2), (2, 1))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # A deadlock victim ran again. (Its rerun can race the survivor for the row it
    # just released and deadlock once more, so either side may have run twice.)
    assert max(attempts.values()) >= 2
    positions = runtime.db.transaction(lambda c: c.execute(select(C.c.position)).scalars().all())
    assert sorted(positions) == [2, 2], "every bump landed exactly once"


def contender(
    kind: str,
    url: str,
    redis_url: str,
    seed: int,
    go: multiprocessing.Queue,  # type: ignore[type-arg]
    out: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    async def main() -> int:
        db = Database.open(url, migrate_schema=False)
        ledger: QuotaLedger = (
            SqlLedger(db) if kind == "sql" else RedisLedger.open(redis_url, SqlRecount(db))
        )
        rng = random.Random(seed)
        w = windows_at(NOW)

        async def task() -> int:
            got = 0
            while True:
                grant = await ledger.reserve(42, w, Caps(CAP), rng.randint(1, 3), NOW)
                got += grant.granted
                if grant.denied is not None and grant.retry_after is None:
                    return got

        try:
            # Connected, and the Redis counters made whole, before the race starts.
            while (await ledger.reserve(7, w, Caps(1), 1, NOW)).retry_after is not None:
                await asyncio.sleep(0.05)
            out.put("ready")
            # One moment on the clock for both: a wake-up's lag under load could let one
            # process take the whole cap before the other starts.
            at = await asyncio.get_running_loop().run_in_executor(None, go.get)
            await asyncio.sleep(max(0.0, at - time.time()))
            return sum(await asyncio.gather(*(task() for _ in range(50))))
        finally:
            if isinstance(ledger, RedisLedger):
                ledger.close()
            db.close()

    out.put(asyncio.run(main()))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sql", "redis"])
def test_two_processes_never_exceed_the_cap(
    kind: str, pg_database: str, redis_server: PrivateRedis
) -> None:
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Queue(), ctx.Queue()
    procs = [
        ctx.Process(target=contender, args=(kind, pg_database, redis_server.url, seed, go, out))
        for seed in (1, 2)
    ]
    for p in procs:
        p.start()
    assert [out.get(timeout=120) for _ in procs] == ["ready", "ready"]
    at = time.time() + 0.5
    for _ in procs:
        go.put(at)
    granted = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sum(granted) == CAP
    assert all(g > 0 for g in granted), "both processes should have won some units"


def test_a_write_back_changing_a_server_passes_one_whose_messages_name_it(
    runtime: Runtime,
) -> None:
    """A message written back with its server holds that server's row FOR KEY SHARE (the
    foreign key's check) until its transaction ends. A write-back that changes the server
    (a health check, a pause) must not wait for that: when each of two write-backs does
    both, a lock that waited would deadlock them, and their retries, every round."""
    apply(
        runtime,
        {
            "servers": [smtp_server("s", 1)],
            "plans": [{"name": "P", "servers": ["s"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(runtime, 2)
    now = datetime.now(UTC)
    M, S = table(Message), table(SendingServer)
    ours, theirs = runtime.db.transaction(
        lambda c: c.execute(select(M.c.id).order_by(M.c.id)).scalars().all()
    )
    server = runtime.db.transaction(lambda c: c.execute(select(S.c.id)).scalar_one())
    runtime.db.transaction(lambda c: c.execute(update(M).values(claimed_by="w", status="sending")))
    other = runtime.db.engine.connect()
    try:
        other.begin()
        other.execute(update(M).where(M.c.id == theirs).values(server_id=server))
        batch = RecordBatch(
            updates=[MessageUpdate(ours, MessageStatus.SENT, now, 1, server, sent_at=now)],
            health=[HealthChange(server, ServerHealth.DEGRADED, now, "lost reply", now)],
        )

        def write_back(conn: Connection) -> None:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '3s'")
            record_sync(conn, "w", batch, now)

        runtime.db.transaction(write_back)
    finally:
        other.rollback()
        other.close()
    health = runtime.db.transaction(
        lambda c: c.execute(select(S.c.health).where(S.c.id == server)).scalar_one()
    )
    assert health == ServerHealth.DEGRADED
