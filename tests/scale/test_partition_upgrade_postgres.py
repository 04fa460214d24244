"""Migration 0021 on PostgreSQL: the upgrade from 0020 with rows in place, and back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, insert, select, text, update

from sendpool.core.states import MessageStatus
from sendpool.runtime import Runtime
from sendpool.store.db import alembic_config, make_engine, migrate
from sendpool.store.launches import launch_batches
from sendpool.store.partitions import DEFAULT, LEGACY, day_of, list_partitions, not_a_partition
from sendpool.store.tables import Base, Campaign, Message, table
from tests.scale.partition_rows import (
    add,
    folded_counts,
    message_counts,
    seed_campaign,
    seed_list,
    utc_now,
    where,
)
from tests.support.services import PgDatabases

pytestmark = pytest.mark.services

BEFORE = "0020_transactional_counts"


@pytest.fixture
def before_upgrade(pg_databases: PgDatabases) -> Iterator[Engine]:
    url = pg_databases.create(migrated=False)
    engine = make_engine(url)
    migrate(engine, BEFORE)
    try:
        yield engine
    finally:
        engine.dispose()
        pg_databases.drop(url)


def _index_oids(conn: Connection, table_name: str) -> set[int]:
    rows = conn.execute(
        text("SELECT indexrelid::int FROM pg_index WHERE indrelid = CAST(:t AS regclass)"),
        {"t": table_name},
    )
    return set(rows.scalars())


def test_the_upgrade_attaches_the_old_table_and_a_resumed_launch_makes_no_duplicate(
    before_upgrade: Engine,
) -> None:
    engine = before_upgrade
    with engine.begin() as c:
        customer_id, list_id, subs = seed_list(c, 10)
        cid = seed_campaign(c, customer_id, list_id)
        # Half launched: 7 queued (a second launcher got two past the cursor), cursor at 5.
        at = utc_now() - timedelta(days=2)
        c.execute(
            insert(table(Message)),
            [
                {
                    "uid": f"old{s}",
                    "customer_id": customer_id,
                    "campaign_id": cid,
                    "subscriber_id": s,
                    "recipient": f"a{i}@example.com",
                    "kind": "campaign",
                    "status": MessageStatus.SENT if i < 3 else MessageStatus.QUEUED,
                    "attempts": 0,
                    "due_at": at,
                    "queued_at": at,
                    "updated_at": at,
                }
                for i, s in enumerate(subs[:7])
            ],
        )
        c.execute(update(table(Campaign)).values(launch_cursor=subs[4]))
        before_ids = set(c.execute(select(Message.id)).scalars())
        indexes_before = _index_oids(c, "messages")
        max_id = max(before_ids)
    migrate(engine)
    with engine.begin() as c:
        parts = list_partitions(c)
        legacy = next(p for p in parts if p.legacy)
        today = day_of(utc_now())
        assert (legacy.start, legacy.end) == (None, today)
        assert any(p.default for p in parts)
        days = sorted(p.start for p in parts if p.start is not None)
        assert days == list(range(today, today + 8))
        # The rows were not copied: they are in the old table, now the legacy partition.
        assert set(where(c)) == before_ids and set(where(c).values()) == {LEGACY}
        # Its six plain indexes are the very ones it had (attached, not built again).
        plain = indexes_before & _index_oids(c, LEGACY)
        assert len(plain) == 6, plain
        assert c.execute(select(Campaign.part_day)).scalar_one() == 0
        assert folded_counts(c) == message_counts(c)
        owned = c.execute(text("SELECT pg_get_serial_sequence('messages', 'id')")).scalar()
        assert owned == "public.messages_id_seq"
        context = MigrationContext.configure(c, opts={"include_name": not_a_partition})
        assert compare_metadata(context, Base.metadata) == []
    launch_batches(engine, cid, utc_now(), batch_size=2)
    with engine.begin() as c:
        rows = c.execute(
            select(Message.subscriber_id, Message.id).where(Message.campaign_id == cid)
        ).all()
        assert sorted(s for s, _ in rows) == subs  # one message each, none twice
        assert min(i for _, i in rows if i not in before_ids) > max_id  # the sequence goes on
        assert set(where(c).values()) == {LEGACY}  # beside its earlier rows
        assert folded_counts(c) == message_counts(c)


def test_keys_built_beforehand_without_blocking_are_taken_as_they_are(
    before_upgrade: Engine,
) -> None:
    engine = before_upgrade
    with engine.begin() as c:
        customer_id, _, _ = seed_list(c, 0)
        add(c, customer_id, 3)
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    with auto.connect() as c:  # what docs/deploy.md §9 tells an operator to run first
        c.execute(text("ALTER TABLE messages ADD COLUMN part_day integer NOT NULL DEFAULT 0"))
        for name, columns in (
            ("messages_legacy_pkey", "id, part_day"),
            ("messages_legacy_uid", "uid, part_day"),
            ("messages_legacy_campaign", "campaign_id, subscriber_id, part_day"),
        ):
            c.execute(text(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON messages ({columns})"))
        prebuilt = _index_oids(c, "messages")
    migrate(engine)
    with engine.begin() as c:
        assert len(prebuilt & _index_oids(c, LEGACY)) == 9  # none built twice
        assert len(where(c)) == 3


def test_downgrade_to_0020_and_upgrade_again(runtime: Runtime) -> None:
    def seed(c: Connection) -> None:
        customer_id, list_id, _ = seed_list(c, 12)
        seed_campaign(c, customer_id, list_id)
        add(c, customer_id, 3, part_day=day_of(utc_now()))

    runtime.db.transaction(seed)
    cid = runtime.db.transaction(lambda c: c.execute(select(Campaign.id)).scalar_one())
    launch_batches(runtime.db.engine, cid, utc_now(), batch_size=5)
    before = runtime.db.transaction(message_counts)
    engine = runtime.db.engine
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as c:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, BEFORE)
    with engine.begin() as c:
        kind = c.execute(text("SELECT relkind FROM pg_class WHERE relname = 'messages'"))
        assert kind.scalar_one() == "r"
        assert message_counts(c) == before
        owned = c.execute(text("SELECT pg_get_serial_sequence('messages', 'id')")).scalar()
        assert owned == "public.messages_id_seq"
        assert folded_counts(c) == before
    migrate(engine)
    with engine.begin() as c:
        assert message_counts(c) == before and folded_counts(c) == before
        assert {p.name for p in list_partitions(c)} >= {LEGACY, DEFAULT}
        context = MigrationContext.configure(c, opts={"include_name": not_a_partition})
        assert compare_metadata(context, Base.metadata) == []
    assert launch_batches(engine, cid, utc_now(), batch_size=5) == 0
