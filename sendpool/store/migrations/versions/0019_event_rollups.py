"""Event rollups: bounces, complaints and delays per server, domain and send time

Revision ID: 0019_event_rollups
Revises: 0018_retention
Create Date: 2026-12-02 12:00:00.000000

``events_by_minute`` (server x sending domain x kind, by the minute of the
original send, kept two days) and ``events_by_day`` (server x kind, by the
UTC day of the send, kept for good) count ``delivery_events`` as they are
written, so the last-24-hour figures (server stats, the pool page, the
rebalancer and the pause) and a warm-up's bounce gate read a few hundred
rows instead of every event of the window. The send time is the event's
``sent_at``, or its ``created_at`` for the events written at the send itself
(store/reports.py). The sending domain is that of the event's message, as
``sends_by_minute`` has it, '' when the message is gone.

An event is counted once, at its insert: events are never updated, and their
deletion (retention, after their days) leaves the history, as the sends'
rollups do. SQLite's row trigger writes the totals; PostgreSQL's statement
trigger appends to ``event_deltas``, folded with the others
(store/rollup_folds.py). ``ix_delivery_events_server_kind_at`` lets the
deferrals of a day be counted in the index alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sendpool.store.types import UTCDateTime

revision: str = "0019_event_rollups"
down_revision: str | None = "0018_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _sqlite_domain(address: str) -> str:
    """What follows the last '@', lower-cased, in SQLite (as 0016's triggers write it)."""
    return f"lower(substr({address}, length(rtrim({address}, replace({address}, '@', ''))) + 1))"


SQLITE_SENDER = (
    "coalesce((SELECT coalesce(c.from_email, json_extract(m.payload, '$.from_email')) "
    "FROM messages m LEFT JOIN campaigns c ON c.id = m.campaign_id "
    "WHERE m.id = NEW.message_id), '')"
)

SQLITE_TRIGGER = f"""
CREATE TRIGGER event_rollups_on_insert AFTER INSERT ON delivery_events
WHEN NEW.server_id IS NOT NULL BEGIN
    INSERT INTO events_by_minute (server_id, minute, sender_domain, kind, n)
        SELECT NEW.server_id, substr(at, 1, 16) || ':00.000000', {_sqlite_domain("a")},
               NEW.kind, 1
        FROM (SELECT coalesce(NEW.sent_at, NEW.created_at) AS at, {SQLITE_SENDER} AS a)
        WHERE true -- an upsert's SELECT needs a WHERE for SQLite to parse its ON CONFLICT
        ON CONFLICT (server_id, minute, sender_domain, kind) DO UPDATE SET n = n + excluded.n;
    INSERT INTO events_by_day (server_id, day, kind, n)
        VALUES (NEW.server_id, substr(coalesce(NEW.sent_at, NEW.created_at), 1, 10), NEW.kind, 1)
        ON CONFLICT (server_id, day, kind) DO UPDATE SET n = n + excluded.n;
END
"""

PG_DOMAIN = (
    "lower(regexp_replace(coalesce(c.from_email, m.payload->>'from_email', ''), '^.*@', ''))"
)

PG_FUNCTION = f"""
CREATE FUNCTION event_rollups_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_deltas (server_id, minute, sender_domain, kind, n)
    SELECT e.server_id, date_trunc('minute', coalesce(e.sent_at, e.created_at)), {PG_DOMAIN},
           e.kind, count(*)
    FROM new_rows e
    LEFT JOIN messages m ON m.id = e.message_id
    LEFT JOIN campaigns c ON c.id = m.campaign_id
    WHERE e.server_id IS NOT NULL
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$
"""

PG_TRIGGER = (
    "CREATE TRIGGER event_rollups_on_insert AFTER INSERT ON delivery_events "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "
    "event_rollups_on_insert()"
)


def _backfill(sqlite: bool) -> list[str]:
    """The totals from the events there are; minutes only for the last two days."""
    at = "coalesce(e.sent_at, e.created_at)"
    if sqlite:
        sender = "coalesce(c.from_email, json_extract(m.payload, '$.from_email'), '')"
        domain = _sqlite_domain(sender)
        minute, day = f"substr({at}, 1, 16) || ':00.000000'", f"substr({at}, 1, 10)"
        recent = f"{at} >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 days')"
    else:
        domain = PG_DOMAIN
        minute, day = f"date_trunc('minute', {at})", f"to_char({at}, 'YYYY-MM-DD')"
        recent = f"{at} >= (now() AT TIME ZONE 'UTC') - interval '2 days'"
    events = (
        "FROM delivery_events e LEFT JOIN messages m ON m.id = e.message_id "
        "LEFT JOIN campaigns c ON c.id = m.campaign_id WHERE e.server_id IS NOT NULL"
    )
    return [
        "INSERT INTO events_by_minute (server_id, minute, sender_domain, kind, n) "
        f"SELECT e.server_id, {minute}, {domain}, e.kind, count(*) {events} AND {recent} "
        "GROUP BY 1, 2, 3, 4",
        "INSERT INTO events_by_day (server_id, day, kind, n) "
        f"SELECT e.server_id, {day}, e.kind, count(*) FROM delivery_events e "
        "WHERE e.server_id IS NOT NULL GROUP BY 1, 2, 3",
    ]


def _tables() -> None:
    op.create_table(
        "events_by_minute",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("sender_domain", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "server_id", "minute", "sender_domain", "kind", name="pk_events_by_minute"
        ),
    )
    op.create_index("ix_events_by_minute_minute", "events_by_minute", ["minute"])
    op.create_table(
        "events_by_day",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("server_id", "day", "kind", name="pk_events_by_day"),
    )
    op.create_table(
        "event_deltas",
        sa.Column("id", BigId, nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("sender_domain", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_deltas"),
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _tables()
    op.create_index(
        "ix_delivery_events_server_kind_at",
        "delivery_events",
        ["server_id", "kind", "created_at"],
        if_not_exists=True,
    )
    conn = op.get_bind()
    # At the driver: ":00" in these is text, not a parameter.
    triggers = [SQLITE_TRIGGER] if sqlite else [PG_FUNCTION, PG_TRIGGER]
    for statement in triggers + _backfill(sqlite):
        conn.exec_driver_sql(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS event_rollups_on_insert")
    else:
        op.execute("DROP TRIGGER IF EXISTS event_rollups_on_insert ON delivery_events")
        op.execute("DROP FUNCTION IF EXISTS event_rollups_on_insert()")
    op.drop_index("ix_delivery_events_server_kind_at", table_name="delivery_events")
    for name in ("event_deltas", "events_by_day", "events_by_minute"):
        op.drop_table(name)
