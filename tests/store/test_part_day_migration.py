"""Migration 0021 on SQLite: one table still, its keys with part_day, its indexes and triggers kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, text

from sendpool.store.claim_days import ClaimDays, distinct_days
from sendpool.store.db import alembic_config, make_engine, migrate
from sendpool.store.launches import launch_batches

BEFORE = "0020_transactional_counts"
T = "2026-11-01 00:00:00.000000"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(e, BEFORE)
    return e


def _schema(conn: Connection) -> dict[str, str]:
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'messages' AND sql IS NOT NULL"
    )
    return {str(n): str(s) for n, s in rows}


def _seed(conn: Connection) -> int:
    """A list of 6, a campaign half launched (4 queued, one past the cursor at 3)."""
    run = conn.exec_driver_sql
    run(f"INSERT INTO customers (uid, name, created_at) VALUES ('c', 'c', '{T}')")
    run(f"INSERT INTO lists (uid, customer_id, name, created_at) VALUES ('l', 1, 'l', '{T}')")
    for i in range(6):
        run(
            "INSERT INTO subscribers (list_id, email, email_key, fields, status, created_at) "
            f"VALUES (1, 's{i}@example.com', 's{i}@example.com', '{{}}', 'subscribed', '{T}')"
        )
    run(
        "INSERT INTO campaigns (uid, customer_id, list_id, name, subject, from_email, status,"
        " recipient_count, launch_cursor, created_at, updated_at)"
        f" VALUES ('k', 1, 1, 'k', 's', 'a@example.com', 'launching', 6, 3, '{T}', '{T}')"
    )
    for i in range(1, 5):
        run(
            "INSERT INTO messages (uid, customer_id, campaign_id, subscriber_id, recipient, kind,"
            " status, attempts, due_at, queued_at, updated_at)"
            f" VALUES ('u{i}', 1, 1, {i}, 's{i - 1}@example.com', 'campaign', 'queued', 0,"
            f" '{T}', '{T}', '{T}')"
        )
    return 1


def _counts(conn: Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(text("SELECT * FROM campaign_counts ORDER BY 1, 2, 3"))]


def test_the_upgrade_keeps_rows_indexes_and_triggers_and_a_resumed_launch_adds_no_duplicate(
    engine: Engine,
) -> None:
    with engine.begin() as c:
        cid = _seed(c)
        before = _schema(c)
    migrate(engine)
    with engine.begin() as c:
        after = _schema(c)
        # Every index and trigger is there again, word for word; only the table changed.
        assert {n for n in before if not n.startswith("sqlite_")} == {
            n for n in after if not n.startswith("sqlite_")
        }
        for name, sql in before.items():
            if name != "messages" and not name.startswith("sqlite_"):
                assert after[name] == sql, name
        assert "UNIQUE (campaign_id, subscriber_id, part_day)" in after["messages"]
        days = c.exec_driver_sql("SELECT DISTINCT part_day FROM messages").scalars().all()
        assert days == [0]
        assert c.exec_driver_sql("SELECT part_day FROM campaigns").scalar_one() == 0
    launch_batches(engine, cid, datetime(2026, 12, 3, tzinfo=UTC), batch_size=2)
    with engine.begin() as c:
        subs = c.exec_driver_sql("SELECT subscriber_id FROM messages ORDER BY 1").scalars().all()
        assert subs == [1, 2, 3, 4, 5, 6]
        assert _counts(c) == [(1, 0, "queued", 6)]  # the insert trigger counted the new two
        # A row written without part_day gets the day of its insert (the column's default).
        c.exec_driver_sql(
            "INSERT INTO messages (uid, customer_id, recipient, kind, status, attempts, due_at,"
            f" queued_at, updated_at) VALUES ('t', 1, 'x@example.com', 'transactional', 'queued',"
            f" 0, '{T}', '{T}', '{T}')"
        )
        today = (datetime.now(UTC).date() - datetime(1970, 1, 1).date()).days
        day = c.exec_driver_sql("SELECT part_day FROM messages WHERE uid = 't'").scalar_one()
        assert day == today


def test_downgrade_restores_the_table_of_0020(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as c:
        _seed(c)
        before = _schema(c)
        rows = c.exec_driver_sql("SELECT * FROM messages ORDER BY id").all()
    migrate(engine)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.downgrade(cfg, BEFORE)
    with engine.begin() as c:
        assert _schema(c) == before
        assert c.exec_driver_sql("SELECT * FROM messages ORDER BY id").all() == rows
    migrate(engine)  # and up again


def test_claim_days_name_the_partitions_only_when_every_id_is_known() -> None:
    days = ClaimDays(cap=4)
    days.remember({1: 10, 2: 11})
    assert days.of([1, 2]) == {1: 10, 2: 11} and days.of([1, 3]) is None
    assert distinct_days(days.of([2, 1])) == [10, 11] and distinct_days(None) is None
    days.forget([1])
    assert days.of([1]) is None and len(days) == 1
    days.remember({5: 1, 6: 1, 7: 1, 8: 1})  # past the cap: start afresh rather than grow
    assert len(days) == 4 and days.of([2]) is None
