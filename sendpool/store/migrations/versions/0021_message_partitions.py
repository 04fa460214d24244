"""Messages partitioned by day on PostgreSQL, so retention drops whole days

Revision ID: 0021_message_partitions
Revises: 0020_transactional_counts
Create Date: 2026-12-03 09:00:00.000000

``messages.part_day`` (UTC days since 1970-01-01) names the partition that
holds a row. A campaign's messages all take the campaign's own
``campaigns.part_day``, set once at its first launch batch; every other
message takes the day of its insert (the column's default). So one campaign
is always in one partition, and a resumed launch, even days later, inserts
into the partition that holds its earlier rows.

Why part_day and not queued_at: PostgreSQL wants every unique key of a
partitioned table to hold the partition key. With part_day a function of the
campaign, ``UNIQUE (campaign_id, subscriber_id, part_day)`` is exactly as
strong as ``(campaign_id, subscriber_id)`` was: the launch's ``ON CONFLICT
DO NOTHING`` still stops a second message to a subscriber. The primary key
becomes ``(id, part_day)`` (ids still come from the one sequence, so they
stay unique alone) and the uid's key ``(uid, part_day)`` (a uid has 80 random
bits after its time, so two are never equal); queued_at keeps its meaning,
the time a message was queued (its age for the forecasts and the limits).

PostgreSQL: no row is copied. The table there was is renamed
``messages_legacy`` and attached to the new partitioned ``messages`` for
every day before the upgrade (its rows all have part_day 0, added as a
constant default, which rewrites nothing); its six plain indexes are renamed
and attached to the parent's as they are (ATTACH PARTITION takes an
identical index instead of building one); its three keys are built again
with part_day (or taken as they are, when an operator built them beforehand
without blocking writes: docs/deploy.md §9). Campaigns launched before the
upgrade take part_day 0, so
their resumed launches land in the legacy partition, beside their earlier
rows. ``messages_default`` takes a row whose day has no partition (upkeep
that lags), and the partitions of today and the next seven days are made
(``store/partitions.py`` makes the later ones). The id sequence stays and is
owned by the new table. The statement triggers of 0016 and 0020 move to the
partitioned parent (their transition tables see the rows of every
partition; PostgreSQL allows them on a partitioned table, not on a
partition).

SQLite keeps one table. ``messages`` is rebuilt once (its keys gain
part_day, and SQLite cannot change a table's keys in place), and its
indexes and triggers are made again from their own stored SQL; the old rows
take part_day 0. Downgrade: one plain table again, the rows copied (on
PostgreSQL too; downgrades are for tests).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

from sendpool.store.partitions import AHEAD, DEFAULT, LEGACY, create_day_sql

revision: str = "0021_message_partitions"
down_revision: str | None = "0020_transactional_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_TODAY = "(floor(extract(epoch from now()) / 86400))::int"
SQLITE_TODAY = "(CAST(julianday('now') - 2440587.5 AS INTEGER))"

# The plain indexes of messages (0016-0018), the same before and after.
PG_INDEXES = {
    "ix_messages_pending_due": "(due_at) WHERE status IN ('queued','deferred','sending')",
    "ix_messages_campaign_status": "(campaign_id, status, due_at)",
    "ix_messages_server_sent": "(server_id, sent_at)",
    "ix_messages_customer_recipient": "(customer_id, lower(recipient) text_pattern_ops, id)",
    "ix_messages_server_remote": "(server_id, remote_id)",
    "ix_messages_settled_at": "(updated_at, id) WHERE status IN ('failed','sent')",
}
PG_FOREIGN_KEYS = (
    "fk_messages_campaign_id_campaigns FOREIGN KEY (campaign_id) "
    "REFERENCES campaigns (id) ON DELETE CASCADE",
    "fk_messages_customer_id_customers FOREIGN KEY (customer_id) "
    "REFERENCES customers (id) ON DELETE CASCADE",
    "fk_messages_server_id_sending_servers FOREIGN KEY (server_id) "
    "REFERENCES sending_servers (id) ON DELETE SET NULL",
)


def _keys(part: str) -> tuple[str, ...]:
    """The three keys, with ``part`` (", part_day" or "") after each one's columns."""
    return (
        f"pk_messages PRIMARY KEY (id{part})",
        f"uq_messages_uid UNIQUE (uid{part})",
        f"uq_messages_campaign_id UNIQUE (campaign_id, subscriber_id{part})",
    )


# The statement triggers of 0016 (rollups) and 0020 (transactional counts), by name.
PG_TRIGGERS = tuple(
    (f"{family}_on_{event.lower()}", event, refs)
    for family in ("rollups", "transactional_counts")
    for event, refs in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    )
)


def _pg_triggers(conn: Connection, table: str, *, create: bool) -> None:
    for name, event, refs in PG_TRIGGERS:
        if create:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {refs} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
        else:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")


# The legacy table's keys with part_day, each (index name, kind, columns).
LEGACY_KEYS = (
    (f"{LEGACY}_pkey", "PRIMARY KEY", "id, part_day"),
    (f"{LEGACY}_uid", "UNIQUE", "uid, part_day"),
    (f"{LEGACY}_campaign", "UNIQUE", "campaign_id, subscriber_id, part_day"),
)


def _legacy_index(name: str) -> str:
    return LEGACY + "_" + name.removeprefix("ix_messages_")


def _pg_upgrade(conn: Connection) -> None:
    run = conn.exec_driver_sql
    today = int(conn.exec_driver_sql(f"SELECT {PG_TODAY}").scalar_one())
    # A constant default fills the old rows without rewriting the table.
    run("ALTER TABLE messages ADD COLUMN IF NOT EXISTS part_day integer NOT NULL DEFAULT 0")
    run(f"ALTER TABLE messages ALTER COLUMN part_day SET DEFAULT {PG_TODAY}")
    _pg_triggers(conn, "messages", create=False)
    run(f"ALTER TABLE messages RENAME TO {LEGACY}")
    for name in PG_INDEXES:
        run(f"ALTER INDEX {name} RENAME TO {_legacy_index(name)}")
    # Its keys again with part_day: a partition's unique index must hold the partition key.
    run(
        f"ALTER TABLE {LEGACY} DROP CONSTRAINT pk_messages, DROP CONSTRAINT uq_messages_uid, "
        "DROP CONSTRAINT uq_messages_campaign_id"
    )
    # Built here, or taken as they are when built beforehand (CONCURRENTLY, docs/deploy.md §9).
    built = set(
        conn.exec_driver_sql(
            "SELECT indexrelid::regclass::text FROM pg_index "
            f"WHERE indrelid = '{LEGACY}'::regclass AND indisunique AND indisvalid"
        ).scalars()
    )
    for name, kind, columns in LEGACY_KEYS:
        using = f" USING INDEX {name}" if name in built else f" ({columns})"
        run(f"ALTER TABLE {LEGACY} ADD CONSTRAINT {name} {kind}{using}")
    run(f"CREATE TABLE messages (LIKE {LEGACY} INCLUDING DEFAULTS) PARTITION BY RANGE (part_day)")
    run(
        "ALTER TABLE messages "
        + ", ".join(f"ADD CONSTRAINT {c}" for c in (*_keys(", part_day"), *PG_FOREIGN_KEYS))
    )
    for name, columns in PG_INDEXES.items():
        run(f"CREATE INDEX {name} ON messages {columns}")
    run("ALTER SEQUENCE messages_id_seq OWNED BY messages.id")
    run(f"ALTER TABLE {LEGACY} ALTER COLUMN id DROP DEFAULT")
    # Its indexes and foreign keys match the parent's: they are attached, not built again.
    run(f"ALTER TABLE messages ATTACH PARTITION {LEGACY} FOR VALUES FROM (MINVALUE) TO ({today})")
    run(f"CREATE TABLE {DEFAULT} PARTITION OF messages DEFAULT")
    for day in range(today, today + AHEAD + 1):
        run(create_day_sql(day))
    _pg_triggers(conn, "messages", create=True)


def _pg_downgrade(conn: Connection) -> None:
    run = conn.exec_driver_sql
    _pg_triggers(conn, "messages", create=False)
    run("CREATE TABLE messages_flat (LIKE messages INCLUDING DEFAULTS)")
    run("ALTER TABLE messages_flat DROP COLUMN part_day")
    columns = ", ".join(
        c
        for (c,) in conn.exec_driver_sql(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'messages_flat'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
    )
    run(f"INSERT INTO messages_flat ({columns}) SELECT {columns} FROM messages ORDER BY id")
    run("ALTER SEQUENCE messages_id_seq OWNED BY messages_flat.id")
    run("DROP TABLE messages")
    run("ALTER TABLE messages_flat RENAME TO messages")
    run(
        "ALTER TABLE messages "
        + ", ".join(f"ADD CONSTRAINT {c}" for c in (*_keys(""), *PG_FOREIGN_KEYS))
    )
    for name, columns in PG_INDEXES.items():
        run(f"CREATE INDEX {name} ON messages {columns}")
    _pg_triggers(conn, "messages", create=True)


# SQLite: what changes in the stored CREATE TABLE of messages, old text -> new text.
SQLITE_KEYS = (
    (
        "CONSTRAINT uq_messages_campaign_id UNIQUE (campaign_id, subscriber_id)",
        "CONSTRAINT uq_messages_campaign_id UNIQUE (campaign_id, subscriber_id, part_day)",
    ),
    (
        "CONSTRAINT uq_messages_uid UNIQUE (uid)",
        "CONSTRAINT uq_messages_uid UNIQUE (uid, part_day)",
    ),
    (
        "CONSTRAINT pk_messages PRIMARY KEY (id)",
        f"part_day INTEGER DEFAULT {SQLITE_TODAY} NOT NULL, \n\t"
        "CONSTRAINT pk_messages PRIMARY KEY (id)",
    ),
)


def _sqlite_rebuild(conn: Connection, edits: Sequence[tuple[str, str]], fill: str | None) -> None:
    """Make messages again from its stored SQL with ``edits``; its indexes and triggers too.

    ``fill``: the value of the new part_day for the rows there are (None when
    the rebuild takes the column away). The rows go to a temporary table and
    back, keeping their ids; the table is never renamed, since a rename would
    rewrite or refuse the other tables' triggers that read messages (0019).
    """
    stored = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'messages' "
        "AND sql IS NOT NULL ORDER BY type = 'trigger', rowid"
    ).all()
    create = next(sql for kind, _, sql in stored if kind == "table")
    for old, new in edits:
        if old not in create:
            raise RuntimeError(f"messages is not as migration 0020 left it: no {old!r}")
        create = create.replace(old, new)
    before = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(messages)")]
    names = ", ".join(c for c in before if c != "part_day")
    for kind, name, _ in stored:
        if kind == "trigger":
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE messages_rows AS SELECT {names} FROM messages")
    conn.exec_driver_sql("DROP TABLE messages")
    conn.exec_driver_sql(create)
    into, values = (names, names) if fill is None else (f"{names}, part_day", f"{names}, {fill}")
    conn.exec_driver_sql(
        f"INSERT INTO messages ({into}) SELECT {values} FROM temp.messages_rows ORDER BY id"
    )
    conn.exec_driver_sql("DROP TABLE temp.messages_rows")
    for kind, _, sql in stored:  # indexes first, then the triggers, as they were made
        if kind != "table":
            conn.exec_driver_sql(sql)


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("campaigns", sa.Column("part_day", sa.Integer(), nullable=True))
    # Launched before the upgrade: their rows are in the legacy partition (day 0).
    conn.exec_driver_sql("UPDATE campaigns SET part_day = 0 WHERE status <> 'draft'")
    if conn.dialect.name == "postgresql":
        _pg_upgrade(conn)
    else:
        _sqlite_rebuild(conn, SQLITE_KEYS, "0")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        _pg_downgrade(conn)
    else:
        _sqlite_rebuild(conn, [(new, old) for old, new in SQLITE_KEYS], None)
    op.drop_column("campaigns", "part_day")
