"""An import batch costs the same at any list length, and the file is never held whole.

As for launches (test_launch_linear.py), no clocks: SQLite's lookup of the
addresses already there is checked to probe the unique key, and its work
(virtual-machine steps) to be the same writing into a list of 5,000 and one
of 35,000; PostgreSQL's upsert is checked to read no subscriber row at all but
through the unique key's own conflict check.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text

from sendpool.services.lists.imports import import_csv
from sendpool.store.subscribers import (
    ANALYZE_AFTER,
    UPSERT_POSTGRES,
    email_key,
    existing_keys_query,
    upsert_subscribers,
)
from sendpool.store.tables import Subscriber, table
from tests.store.test_launch_linear import (
    LONG,
    NOW,
    SHORT,
    STATS,
    engine,
    fill,
    pg_databases,
)
from tests.support.claim_plan import nodes, sqlite_plan

__all__ = ["engine", "pg_databases"]  # the fixtures, shared with the launch tests

BATCH = 500


def fields_of(conn: Connection, list_id: int) -> dict[str, tuple[str, dict[str, Any], str]]:
    S = table(Subscriber)
    rows = conn.execute(
        select(S.c.email_key, S.c.email, S.c.fields, S.c.status).where(S.c.list_id == list_id)
    )
    return {k: (e, f, s) for k, e, f, s in rows}


def test_an_upsert_counts_new_and_merged_addresses_and_merges_their_fields(
    engine: Engine,
) -> None:
    fill(engine, "none", rows=80)  # list 1: ids 8, 16, ..., 80
    with engine.begin() as c:
        c.execute(text("UPDATE subscribers SET status = 'unsubscribed' WHERE id = 8"))
        created, merged = upsert_subscribers(
            c,
            SHORT,
            [
                ("U8@example.com", {"first_name": "Eight"}),  # there already, unsubscribed
                ("new1@example.com", {"first_name": "A"}),
                ("NEW1@example.com", {"last_name": "B"}),  # the same person, same batch
                ("new2@example.com", {}),
            ],
            NOW,
        )
        assert (created, merged) == (2, 2)
        assert upsert_subscribers(c, SHORT, [], NOW) == (0, 0)
        got = fields_of(c, SHORT)
    assert got["u8@example.com"] == ("u8@example.com", {"first_name": "Eight"}, "unsubscribed")
    assert got["new1@example.com"] == (
        "new1@example.com",
        {"first_name": "A", "last_name": "B"},
        "subscribed",
    )
    assert got["new2@example.com"] == ("new2@example.com", {}, "subscribed")
    assert len(got) == 12
    with engine.begin() as c:  # a second batch merges into what the first wrote
        created, merged = upsert_subscribers(
            c, SHORT, [("New2@Example.com", {"city": "Oslo"}), ("x@example.com", {})], NOW
        )
        assert (created, merged) == (1, 1)
        assert fields_of(c, SHORT)[email_key("New2@Example.com")][1] == {"city": "Oslo"}
        assert email_key("new2@example.com") not in fields_of(c, LONG)


def addresses(list_id: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    """Half already on a list filled by ``fill`` (id 8k is on the short one), half new."""
    step = 8 if list_id == SHORT else 7
    old = [(f"u{step * i}@example.com", {"seen": "yes"}) for i in range(1, n // 2 + 1)]
    return old + [(f"fresh{list_id}_{i}@example.com", {"seen": "no"}) for i in range(n // 2)]


def sqlite_steps(conn: Connection, list_id: int) -> int:
    raw = conn.connection.driver_connection
    assert raw is not None
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    raw.set_progress_handler(tick, 1)
    try:
        upsert_subscribers(conn, list_id, addresses(list_id, BATCH), NOW)
    finally:
        raw.set_progress_handler(None, 1)
    return steps[0]


@pytest.mark.parametrize("stats", STATS)
def test_an_upsert_batch_probes_the_unique_key_on_a_short_list_and_a_long_one(
    engine: Engine, stats: str
) -> None:
    fill(engine, stats)
    with engine.connect() as conn, conn.begin():
        if engine.dialect.name == "sqlite":
            keys = [email_key(e) for e, _ in addresses(LONG, BATCH)]
            query = existing_keys_query(LONG, keys[:3]).compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
            shown = sqlite_plan(conn, str(query), {})
            assert "INDEX sqlite_autoindex_subscribers_1 (list_id=? AND email_key=?)" in shown
            short, long = sqlite_steps(conn, SHORT), sqlite_steps(conn, LONG)
            assert 0.8 <= long / short <= 1.25, (short, long)
            return
        for list_id in (SHORT, LONG):
            rows = addresses(list_id, BATCH)
            params = {
                "list_id": list_id,
                "now": NOW.replace(tzinfo=None),
                "emails": [e for e, _ in rows],
                "keys": [email_key(e) for e, _ in rows],
                "fields": [json.dumps(f) for _, f in rows],
            }
            with conn.begin_nested() as sp:
                raw = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + UPSERT_POSTGRES, params
                ).scalar_one()
                sp.rollback()
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            found = list(nodes(plan))
            writes = [n for n in found if n["Node Type"] == "ModifyTable"]
            assert [n.get("Conflict Arbiter Indexes") for n in writes] == [
                ["uq_subscribers_list_id"]
            ]
            assert writes[0]["Actual Rows"] == BATCH
            # Nothing scans subscribers: the conflict check is the only read of the table.
            scans = [n for n in found if n.get("Relation Name") == "subscribers"]
            assert scans == writes, scans


class LazyCsv(io.RawIOBase):
    """A CSV made as it is read; at its last read it notes how many rows were written."""

    def __init__(self, rows: int, conn: Connection, list_id: int) -> None:
        self.lines: Iterator[bytes] = iter(
            [b"email,first_name\n"] + [f"lazy{i}@example.com,L{i}\n".encode() for i in range(rows)]
        )
        self.conn, self.list_id = conn, list_id
        self.in_database_at_end: int | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = b"".join(islice(self.lines, max(1, size // 24)))
        if not chunk and self.in_database_at_end is None:
            count = text("SELECT count(*) FROM subscribers WHERE list_id = :l")
            self.in_database_at_end = self.conn.execute(count, {"l": self.list_id}).scalar_one()
        return chunk


def test_an_import_writes_each_batch_before_it_reads_on(engine: Engine) -> None:
    """Memory holds a batch, not the file: all but the last batch are written by its end."""
    fill(engine, "none", rows=8)
    with engine.begin() as c:
        stream = LazyCsv(5_500, c, SHORT)
        report = import_csv(c, SHORT, stream, NOW, batch_size=1000)  # type: ignore[arg-type]
    assert (report.rows, report.created, report.merged) == (5_500, 5_500, 0)
    assert stream.in_database_at_end == 1 + 5_000


@pytest.mark.services
@pytest.mark.parametrize("rows", [ANALYZE_AFTER - 1, ANALYZE_AFTER])
def test_a_large_import_leaves_fresh_statistics_on_postgresql(pg_databases: Any, rows: int) -> None:
    from sendpool.store.db import make_engine

    url = pg_databases.create()
    e = make_engine(url)
    try:
        with e.begin() as c:
            c.execute(text("ALTER TABLE subscribers SET (autovacuum_enabled = false)"))
        fill(e, "none", rows=8)
        csv = "email\n" + "".join(f"p{i}@example.com\n" for i in range(rows))
        with e.begin() as c:
            import_csv(c, SHORT, io.StringIO(csv), NOW)
        with e.connect() as c:
            tuples = c.execute(
                text("SELECT reltuples FROM pg_class WHERE relname = 'subscribers'")
            ).scalar_one()
        # Never analysed: -1. Analysed after the import: the rows it counted.
        assert (tuples > rows) == (rows >= ANALYZE_AFTER), tuples
    finally:
        e.dispose()
        pg_databases.drop(url)
