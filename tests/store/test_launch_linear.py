"""A launch batch costs the same at any list length, whatever the planner's statistics say.

No clocks: each batch's queries are checked for their plan (an index search
from the cursor, never a sort of the list, the suppression list probed once
per row) and for the work they do, on a list of 5,000 beside one of 35,000:
rows read (PostgreSQL's EXPLAIN ANALYZE) or virtual-machine steps (SQLite's
progress handler). A batch that read or sorted the rest of its list would
do seven times the work on the long list. Each runs with no statistics, with
statistics taken while the tables were empty, and with fresh ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select, text

from sendpool.store.db import make_engine, migrate
from sendpool.store.launches import (
    BATCH_END_SQL,
    FIRST_ANALYZE,
    _analyze_due,
    batch_end,
    eligible_count,
    index_walks,
    insert_sql,
    launch_batches,
)
from sendpool.store.partitions import day_of, list_partitions
from sendpool.store.tables import Campaign, Message, table
from sendpool.store.types import driver_time
from tests.support.claim_plan import claim_plan_problem, nodes, sqlite_plan
from tests.support.services import PgDatabases

NOW = datetime(2030, 1, 2, 12, tzinfo=UTC)
BATCH = 1000
STATS = ("none", "stale", "fresh")
# Two lists in one table, their ids interleaved: every eighth subscriber is on the short one.
SHORT, LONG = 1, 2
ROWS = 40_000


@pytest.fixture(scope="module")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path}/launch.db")
        migrate(e)
        yield e
        e.dispose()
        return
    dbs: PgDatabases = request.getfixturevalue("pg_databases")
    url = dbs.create()
    e = make_engine(url)
    with e.begin() as c:  # only the test (and the code under test) analyses these tables
        # messages is partitioned (0021): its partitions hold the rows and the statistics.
        parts = [p.name for p in list_partitions(c)]
        for t in ("subscribers", "suppressions", *parts):
            c.execute(text(f"ALTER TABLE {t} SET (autovacuum_enabled = false)"))
    yield e
    e.dispose()
    dbs.drop(url)


def analyze(conn: Connection) -> None:
    conn.execute(text("ANALYZE"))


def stamp(conn: Connection) -> str:
    return "now()" if conn.dialect.name == "postgresql" else "'2030-01-02 12:00:00.000000'"


def numbers(conn: Connection, n: int) -> str:
    """A FROM clause giving g = 1..n."""
    if conn.dialect.name == "postgresql":
        return f"generate_series(1, {n}) g"
    return f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) SELECT g FROM s)"


def fill(engine: Engine, stats: str, rows: int = ROWS) -> None:
    """A customer, two lists sharing the table, one address in a hundred suppressed."""
    with engine.begin() as c:
        now = stamp(c)
        c.execute(text(f"INSERT INTO customers (uid, name, created_at) VALUES ('c', 'c', {now})"))
        c.execute(
            text(
                "INSERT INTO lists (uid, customer_id, name, created_at) "
                f"VALUES ('s', 1, 'short', {now}), ('l', 1, 'long', {now})"
            )
        )
        if stats == "stale":
            analyze(c)
        c.execute(
            text(
                "INSERT INTO subscribers (list_id, email, email_key, fields, status, created_at) "
                f"SELECT CASE WHEN g % 8 = 0 THEN {SHORT} ELSE {LONG} END, "
                "'u' || g || '@example.com', 'u' || g || '@example.com', '{}', "
                f"CASE WHEN g % 50 = 8 THEN 'unsubscribed' ELSE 'subscribed' END, {now} "
                f"FROM {numbers(c, rows)}"
            )
        )
        c.execute(
            text(
                "INSERT INTO suppressions (customer_id, email, reason, created_at) "
                f"SELECT 1, email, 'test', {now} FROM subscribers WHERE id % 100 = 16"
            )
        )
        if stats == "fresh":
            analyze(c)


def campaign(engine: Engine, list_id: int) -> int:
    C = table(Campaign)
    with engine.begin() as c:
        return int(
            c.execute(
                C.insert()
                .values(
                    uid=f"c{list_id}",
                    customer_id=1,
                    list_id=list_id,
                    name="c",
                    subject="s",
                    from_email="news@example.com",
                    status="launching",
                    recipient_count=0,
                    launch_cursor=0,
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(C.c.id)
            ).scalar_one()
        )


def middle(conn: Connection, list_id: int) -> int:
    """A cursor half way down the list."""
    count = text("SELECT count(*) FROM subscribers WHERE list_id = :l")
    half = int(conn.execute(count, {"l": list_id}).scalar_one()) // 2
    return int(
        conn.execute(
            text("SELECT id FROM subscribers WHERE list_id = :l ORDER BY id LIMIT 1 OFFSET :n"),
            {"l": list_id, "n": half},
        ).scalar_one()
    )


# ---------------------------------------------------------------- what a statement reads


def pg_plan(conn: Connection, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    raw = conn.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql), params).scalar_one()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return dict(plan[0]["Plan"])


def rows_read(plan: dict[str, Any], relation: str) -> int:
    """Rows the scans of ``relation`` produced or threw away, over all their loops."""
    total = 0
    for n in nodes(plan):
        if n.get("Relation Name") == relation:
            kept = n["Actual Rows"] + n.get("Rows Removed by Filter", 0)
            total += (kept + n.get("Rows Removed by Index Recheck", 0)) * n["Actual Loops"]
    return int(total)


def vm_steps(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    """SQLite's virtual-machine instructions for one statement: its work, row by row."""
    raw = conn.connection.driver_connection
    assert raw is not None
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    raw.set_progress_handler(tick, 1)
    try:
        result = conn.execute(text(sql), params)
        if result.returns_rows:
            result.all()
    finally:
        raw.set_progress_handler(None, 1)
    return steps[0]


def insert_params(conn: Connection, list_id: int, campaign_id: int, after: int) -> dict[str, Any]:
    with index_walks(conn):
        upto, size = conn.execute(
            text(BATCH_END_SQL), {"list_id": list_id, "after": after, "batch_size": BATCH}
        ).one()
    assert size == BATCH
    return {
        "customer_id": 1,
        "campaign_id": campaign_id,
        "list_id": list_id,
        "after": after,
        "upto": upto,
        "now": driver_time(conn)(NOW),
        "part_day": day_of(NOW),
    }


def batch_work(conn: Connection, list_id: int, campaign_id: int) -> dict[str, Any]:
    """What one batch from the middle of the list reads: its plans and their work.

    ``span`` is how many subscribers of any list have ids within the batch's.
    """
    after = middle(conn, list_id)
    params = insert_params(conn, list_id, campaign_id, after)
    end_params = {"list_id": list_id, "after": after, "batch_size": BATCH}
    dialect = conn.dialect.name
    span = "SELECT count(*) FROM subscribers WHERE id > :after AND id <= :upto"
    out: dict[str, Any] = {"span": conn.execute(text(span), params).scalar_one()}
    with conn.begin_nested() as sp:  # the insert is measured, then undone
        if dialect == "postgresql":
            with index_walks(conn):
                out["end"] = pg_plan(conn, BATCH_END_SQL, end_params)
                out["insert"] = pg_plan(conn, insert_sql(dialect), params)
        else:
            out["end_plan"] = sqlite_plan(conn, BATCH_END_SQL, end_params)
            out["insert_plan"] = sqlite_plan(conn, insert_sql(dialect), params)
            out["end"] = vm_steps(conn, BATCH_END_SQL, end_params)
            out["insert"] = vm_steps(conn, insert_sql(dialect), params)
        sp.rollback()
    return out


@pytest.mark.parametrize("stats", STATS)
def test_a_batch_reads_only_its_own_rows_on_a_short_list_and_a_long_one(
    engine: Engine, stats: str
) -> None:
    fill(engine, stats)
    short_c, long_c = campaign(engine, SHORT), campaign(engine, LONG)
    with engine.connect() as conn, conn.begin():
        short = batch_work(conn, SHORT, short_c)
        long = batch_work(conn, LONG, long_c)
    if engine.dialect.name == "postgresql":
        for work in (short, long):
            end_types = {n["Node Type"] for n in nodes(work["end"])}
            assert "Sort" not in end_types and "Bitmap Heap Scan" not in end_types, work["end"]
            # An index walked from the cursor: the batch's rows, and at most those of other
            # lists with ids between them (the primary key, when statistics favour it).
            scans = [n for n in nodes(work["end"]) if n.get("Relation Name") == "subscribers"]
            assert scans and all("id >" in n.get("Index Cond", "") for n in scans), scans
            assert rows_read(work["end"], "subscribers") <= work["span"]
            assert rows_read(work["insert"], "subscribers") <= work["span"]
            probes = [n for n in nodes(work["insert"]) if n.get("Relation Name") == "suppressions"]
            assert probes and all("Index" in n["Node Type"] for n in probes), work["insert"]
            assert all(n.get("Index Cond", "").count("email") for n in probes)
            assert sum(n["Actual Loops"] for n in probes) <= BATCH  # one probe per row, at most
            assert not any(n["Node Type"] == "Hash" for n in nodes(work["insert"]))
    else:
        for work in (short, long):
            assert "ix_subscribers_list_id_id (list_id=? AND id>?)" in work["end_plan"]
            assert "ix_subscribers_list_id_id (list_id=? AND id>? AND id<?)" in work["insert_plan"]
            assert "(customer_id=? AND email=?)" in work["insert_plan"]
            assert "TEMP B-TREE" not in work["end_plan"] + work["insert_plan"]
        for step in ("end", "insert"):
            assert 0.8 <= long[step] / short[step] <= 1.25, (step, short[step], long[step])


@pytest.mark.parametrize("stats", ["none", "fresh"])
def test_a_launch_queues_every_eligible_subscriber_once_batch_by_batch(
    engine: Engine, stats: str
) -> None:
    fill(engine, stats, rows=8 * 2_500)
    cid = campaign(engine, SHORT)
    seen: list[int] = []
    with engine.connect() as conn:
        expected = eligible_count(conn, SHORT, 1)
        first_end, first_size = batch_end(conn, SHORT, 0, BATCH)
    assert first_size == BATCH and first_end == 8 * BATCH
    queued = launch_batches(engine, cid, NOW, batch_size=BATCH, progress=seen.append)
    assert len(seen) == 3  # 2,500 subscribers: two full batches and a short one
    with engine.connect() as conn:
        M = table(Message)
        n, distinct = conn.execute(
            select(func.count(), func.count(func.distinct(M.c.subscriber_id))).where(
                M.c.campaign_id == cid
            )
        ).one()
        status = conn.execute(select(table(Campaign).c.status).where(table(Campaign).c.id == cid))
        assert status.scalar_one() == "sending"
    # Of the 2,500 on the list (ids 8, 16, ...), 100 are unsubscribed (g = 8 mod 200) and
    # 100 suppressed (id = 16 mod 200): each of the others once.
    assert queued == n == distinct == expected == 2_300
    with engine.connect() as conn:
        uids = conn.execute(select(M.c.uid).where(M.c.campaign_id == cid)).scalars().all()
    assert len(set(uids)) == len(uids)
    assert all(len(u) == 32 and u == u.lower() and int(u, 16) >= 0 for u in uids)
    # A batch's uids share their first 48 bits (its time): the index grows at one edge.
    assert len({u[:12] for u in uids}) <= 3
    assert launch_batches(engine, cid, NOW, batch_size=BATCH) == 0


def test_statistics_are_refreshed_at_a_handful_of_points_however_long_the_launch() -> None:
    marks = [q for q in range(0, 20_000_001, 5_000) if _analyze_due(q, q + 5_000)]
    assert marks == [FIRST_ANALYZE - 5_000] + [FIRST_ANALYZE * 4**k - 5_000 for k in range(1, 6)]
    assert not _analyze_due(0, FIRST_ANALYZE - 1)
    assert _analyze_due(0, FIRST_ANALYZE)
    assert not _analyze_due(FIRST_ANALYZE, FIRST_ANALYZE * 4 - 1)


def test_after_a_launch_of_100k_the_claim_walks_the_pending_index(engine: Engine) -> None:
    """Statistics taken while the queue was empty would have the claim sort every pending row.

    (Without the launch's ANALYZE, PostgreSQL's plan here is a bitmap scan of the
    pending index and a sort of the 100,000 rows it finds.)
    """
    fill(engine, "none", rows=8 * 100_000 // 7)
    with engine.begin() as c:
        c.execute(text("ANALYZE messages"))
    cid = campaign(engine, LONG)
    queued = launch_batches(engine, cid, NOW, batch_size=20_000)
    assert queued > 95_000
    with engine.connect() as conn:
        problem = claim_plan_problem(conn, NOW)
    assert problem is None, problem
