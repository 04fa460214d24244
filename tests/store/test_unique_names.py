"""Migration 0005: names unique whatever their case, one subscriber per address whatever its case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from sendpool.errors import ConfigError
from sendpool.store.db import alembic_config, make_engine, migrate
from sendpool.store.partitions import not_a_partition
from sendpool.store.tables import Base
from tests.support.services import PgDatabases

BEFORE = "0004_sending_domains"
T = "2026-11-01 00:00:00.000000"
SERVER = (
    "INSERT INTO sending_servers (uid, name, type, status, health, sending_limit,"
    " max_connections, timezone, settings, created_at, updated_at)"
    " VALUES (:u, :n, 'smtp', 'active', 'unknown', 1, 4, 'UTC', '{}', :t, :t)"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path}/u.db")
        yield e
        e.dispose()
        return
    dbs = PgDatabases()
    url = dbs.create(migrated=False)
    e = make_engine(url)
    try:
        yield e
    finally:
        e.dispose()
        dbs.drop(url)
        dbs.close()


def _revision(engine: Engine) -> str:
    with engine.connect() as c:
        return str(c.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def test_the_models_match_the_migrations_on_both_databases(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as conn:
        # The model describes messages itself; its day partitions are the database's.
        context = MigrationContext.configure(conn, opts={"include_name": not_a_partition})
        assert compare_metadata(context, Base.metadata) == []


PLAN = "INSERT INTO plans (uid, name, selector, created_at) VALUES (:u, :n, 'round_robin', :t)"
CUSTOMER = "INSERT INTO customers (uid, name, created_at) VALUES (:u, :n, :t)"


@pytest.mark.parametrize("insert", [SERVER, PLAN, CUSTOMER], ids=["server", "plan", "customer"])
def test_the_database_refuses_a_name_that_differs_only_in_case(engine: Engine, insert: str) -> None:
    migrate(engine)
    with engine.begin() as c:
        c.execute(text(insert), {"u": "a", "n": "mg", "t": T})
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(text(insert), {"u": "b", "n": "MG", "t": T})


def test_names_that_differ_only_in_case_stop_the_upgrade_and_change_nothing(
    engine: Engine,
) -> None:
    migrate(engine, BEFORE)
    with engine.begin() as c:
        c.execute(text(SERVER), {"u": "a", "n": "mg", "t": T})
        c.execute(text(SERVER), {"u": "b", "n": "MG", "t": T})
        c.execute(text(SERVER), {"u": "c", "n": "other", "t": T})
    with pytest.raises(ConfigError) as caught:
        migrate(engine)
    said = str(caught.value)
    assert "sending servers: 'mg', 'MG'" in said and "other" not in said
    assert "Rename all but one" in said and "sendpool migrate" in said
    assert _revision(engine) == BEFORE
    with engine.begin() as c:
        c.execute(text("UPDATE sending_servers SET name = 'mg-2' WHERE uid = 'b'"))
    migrate(engine)
    assert _revision(engine) != BEFORE


def test_subscribers_that_differ_only_in_case_are_merged_into_the_oldest(engine: Engine) -> None:
    migrate(engine, BEFORE)
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO customers (uid, name, created_at) VALUES ('c', 'c', :t)"), {"t": T}
        )
        c.execute(
            text("INSERT INTO lists (uid, customer_id, name, created_at) VALUES ('l', 1, 'l', :t)"),
            {"t": T},
        )
        rows = [
            ("F7@example.org", '{"first": "F", "plan": "old"}', "subscribed"),
            ("f7@example.org", '{"plan": "new"}', "unsubscribed"),
            ("other@example.org", "{}", "subscribed"),
        ]
        for email, fields, status in rows:
            c.execute(
                text(
                    "INSERT INTO subscribers (list_id, email, fields, status, created_at)"
                    " VALUES (1, :e, :f, :s, :t)"
                ),
                {"e": email, "f": fields, "s": status, "t": T},
            )
    migrate(engine)
    with engine.connect() as c:
        got = c.execute(
            text("SELECT id, email, email_key, status FROM subscribers ORDER BY id")
        ).all()
        fields = c.execute(text("SELECT fields FROM subscribers WHERE id = 1")).scalar_one()
    assert [tuple(r) for r in got] == [
        (1, "F7@example.org", "f7@example.org", "unsubscribed"),
        (3, "other@example.org", "other@example.org", "subscribed"),
    ]
    fields = json.loads(fields) if isinstance(fields, str) else fields
    assert fields == {"first": "F", "plan": "new"}


def test_the_downgrade_gives_the_old_schema_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/d.db")
    migrate(engine, "0005_unique_names")
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, BEFORE)
    with engine.connect() as c:
        columns = [r[1] for r in c.execute(text("PRAGMA table_info(customers)"))]
        assert "name_key" not in columns
    migrate(engine)
    assert _revision(engine) != BEFORE
