"""Rollups: counts of messages kept by the database, so reads never scan messages

Revision ID: 0016_rollups
Revises: 0015_subscriber_keyset
Create Date: 2026-12-02 06:00:00.000000

``campaign_counts`` (campaign x server x status), ``server_counts`` (server x
status), ``sends_by_minute`` and ``sends_by_day`` (server x sending domain,
messages whose status is ``sent``, by ``sent_at``), all with server 0 for "no
server". Triggers on ``messages`` keep them: an INSERT adds its rows, an
UPDATE moves a row from its old key to its new one, a DELETE forgets only
pending rows (a settled row's deletion, retention's, leaves its history).

SQLite has one writer: row triggers update the totals directly. PostgreSQL
has many: statement triggers append the net change of each statement
(transition tables, grouped by key) to the ``*_deltas`` tables, which no two
writers ever wait on each other for; store/rollups.py folds them into the
totals, and every read adds the deltas left. The triggers are made first,
then the totals are filled from the messages there are, in the same
transaction: no write can come between.

``queued_by_minute``: messages inserted per customer x campaign x minute of
``queued_at`` (the launch rate of a plan's forecast), counted at the insert
only. ``ix_messages_campaign_status`` gains ``due_at``: a campaign's report counts
its messages due later in the index alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sendpool.store.types import UTCDateTime

revision: str = "0016_rollups"
down_revision: str | None = "0015_subscriber_keyset"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = "('queued','deferred','sending')"
KEY_COLUMNS = ("status", "server_id", "campaign_id", "sent_at")


def _sqlite_domain(address: str) -> str:
    """What follows the last '@', lower-cased (all of it when there is none), in SQLite."""
    return f"lower(substr({address}, length(rtrim({address}, replace({address}, '@', ''))) + 1))"


def _sqlite_sender(row: str) -> str:
    return (
        f"coalesce((SELECT from_email FROM campaigns WHERE id = {row}.campaign_id), "
        f"json_extract({row}.payload, '$.from_email'), '')"
    )


def _sqlite_apply(row: str, sign: int) -> str:
    """The statements that add ``sign`` for ``row`` (NEW or OLD) to every rollup."""
    d = f"{sign}"
    return f"""
    INSERT INTO server_counts (server_id, status, n)
        VALUES (coalesce({row}.server_id, 0), {row}.status, {d})
        ON CONFLICT (server_id, status) DO UPDATE SET n = n + excluded.n;
    INSERT INTO campaign_counts (campaign_id, server_id, status, n)
        SELECT {row}.campaign_id, coalesce({row}.server_id, 0), {row}.status, {d}
        WHERE {row}.campaign_id IS NOT NULL
        ON CONFLICT (campaign_id, server_id, status) DO UPDATE SET n = n + excluded.n;
    INSERT INTO sends_by_minute (server_id, minute, sender_domain, sent)
        SELECT sid, substr(at, 1, 16) || ':00.000000', {_sqlite_domain("a")}, {d}
        FROM (SELECT coalesce({row}.server_id, 0) AS sid, {row}.sent_at AS at,
                     {_sqlite_sender(row)} AS a)
        WHERE {row}.status = 'sent' AND {row}.sent_at IS NOT NULL
        ON CONFLICT (server_id, minute, sender_domain) DO UPDATE SET sent = sent + excluded.sent;
    INSERT INTO sends_by_day (server_id, day, sender_domain, customer_id, campaign_id, sent)
        SELECT sid, substr(at, 1, 10), {_sqlite_domain("a")}, {row}.customer_id,
               coalesce({row}.campaign_id, 0), {d}
        FROM (SELECT coalesce({row}.server_id, 0) AS sid, {row}.sent_at AS at,
                     {_sqlite_sender(row)} AS a)
        WHERE {row}.status = 'sent' AND {row}.sent_at IS NOT NULL
        ON CONFLICT (server_id, day, sender_domain, customer_id, campaign_id)
        DO UPDATE SET sent = sent + excluded.sent;
    """


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in KEY_COLUMNS)
    # A pending row's deletion takes it out of the counts; the campaign's own rows
    # only while the campaign is there (its deletion cascades them away).
    forget = """
    UPDATE server_counts SET n = n - 1
        WHERE server_id = coalesce(OLD.server_id, 0) AND status = OLD.status;
    UPDATE campaign_counts SET n = n - 1
        WHERE campaign_id = OLD.campaign_id AND server_id = coalesce(OLD.server_id, 0)
          AND status = OLD.status;
    """
    # Queued counts only at the insert: a queued row's later changes keep its minute.
    queued = """
    INSERT INTO queued_by_minute (customer_id, campaign_id, minute, n)
        VALUES (NEW.customer_id, coalesce(NEW.campaign_id, 0),
                substr(NEW.queued_at, 1, 16) || ':00.000000', 1)
        ON CONFLICT (customer_id, campaign_id, minute) DO UPDATE SET n = n + excluded.n;
    """
    return [
        f"CREATE TRIGGER rollups_on_insert AFTER INSERT ON messages BEGIN "
        f"{_sqlite_apply('NEW', 1)} {queued} END",
        f"CREATE TRIGGER rollups_on_update AFTER UPDATE OF {', '.join(KEY_COLUMNS)} ON messages "
        f"WHEN {changed} BEGIN {_sqlite_apply('OLD', -1)} {_sqlite_apply('NEW', 1)} END",
        f"CREATE TRIGGER rollups_on_delete AFTER DELETE ON messages "
        f"WHEN OLD.status IN {PENDING} BEGIN {forget} END",
    ]


def _pg_rows(name: str, sign: int) -> str:
    return (
        f"SELECT campaign_id, customer_id, coalesce(server_id, 0) AS server_id, status, sent_at, "
        f"CASE WHEN status = 'sent' THEN payload->>'from_email' END AS payload_from, "
        f"{sign} AS d FROM {name}"
    )


# What an INSERT statement queued, per customer x campaign x minute of queued_at.
PG_QUEUED = """
        INSERT INTO queued_deltas (customer_id, campaign_id, minute, n)
        SELECT customer_id, coalesce(campaign_id, 0), date_trunc('minute', queued_at), count(*)
        FROM new_rows GROUP BY 1, 2, 3;
"""


def _pg_function(name: str, changes: str, also: str = "") -> str:
    """A statement trigger's function: the statement's net change per key, as delta rows."""
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {also}
        WITH ch AS MATERIALIZED ({changes}),
        s AS (
            INSERT INTO server_count_deltas (server_id, status, n)
            SELECT server_id, status, sum(d) FROM ch
            GROUP BY server_id, status HAVING sum(d) <> 0
        ),
        c AS (
            INSERT INTO campaign_count_deltas (campaign_id, server_id, status, n)
            SELECT campaign_id, server_id, status, sum(d) FROM ch WHERE campaign_id IS NOT NULL
            GROUP BY campaign_id, server_id, status HAVING sum(d) <> 0
        )
        INSERT INTO send_deltas (server_id, minute, sender_domain, customer_id, campaign_id, sent)
        SELECT ch.server_id, date_trunc('minute', ch.sent_at),
               lower(regexp_replace(coalesce(cp.from_email, ch.payload_from, ''), '^.*@', '')),
               ch.customer_id, coalesce(ch.campaign_id, 0), sum(d)
        FROM ch LEFT JOIN campaigns cp ON cp.id = ch.campaign_id
        WHERE ch.status = 'sent' AND ch.sent_at IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5 HAVING sum(d) <> 0;
        RETURN NULL;
    END $$
    """


def _pg_triggers() -> list[str]:
    inserted = _pg_rows("new_rows", 1)
    updated = f"{_pg_rows('new_rows', 1)} UNION ALL {_pg_rows('old_rows', -1)}"
    deleted = f"{_pg_rows('old_rows', -1)} WHERE status IN {PENDING}"
    each = "FOR EACH STATEMENT EXECUTE FUNCTION"
    return [
        _pg_function("rollups_on_insert", inserted, PG_QUEUED),
        _pg_function("rollups_on_update", updated),
        _pg_function("rollups_on_delete", deleted),
        "CREATE TRIGGER rollups_on_insert AFTER INSERT ON messages "
        f"REFERENCING NEW TABLE AS new_rows {each} rollups_on_insert()",
        "CREATE TRIGGER rollups_on_update AFTER UPDATE ON messages "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {each} rollups_on_update()",
        "CREATE TRIGGER rollups_on_delete AFTER DELETE ON messages "
        f"REFERENCING OLD TABLE AS old_rows {each} rollups_on_delete()",
    ]


def _backfill(sqlite: bool) -> list[str]:
    """The totals from the messages there are; minutes only for the last two days."""
    if sqlite:
        domain = _sqlite_domain(
            "coalesce(c.from_email, json_extract(m.payload, '$.from_email'), '')"
        )
        minute, day = "substr(m.sent_at, 1, 16) || ':00.000000'", "substr(m.sent_at, 1, 10)"
        recent = "m.sent_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 days')"
        queued_minute = "substr(queued_at, 1, 16) || ':00.000000'"
    else:
        sender = "coalesce(c.from_email, m.payload->>'from_email', '')"
        domain = f"lower(regexp_replace({sender}, '^.*@', ''))"
        minute, day = "date_trunc('minute', m.sent_at)", "to_char(m.sent_at, 'YYYY-MM-DD')"
        recent = "m.sent_at >= (now() AT TIME ZONE 'UTC') - interval '2 days'"
        queued_minute = "date_trunc('minute', queued_at)"
    sent = (
        "FROM messages m LEFT JOIN campaigns c ON c.id = m.campaign_id "
        "WHERE m.status = 'sent' AND m.sent_at IS NOT NULL"
    )
    queued_recent = recent.replace("m.sent_at", "queued_at")
    return [
        "INSERT INTO queued_by_minute (customer_id, campaign_id, minute, n) "
        f"SELECT customer_id, coalesce(campaign_id, 0), {queued_minute}, count(*) "
        f"FROM messages WHERE {queued_recent} GROUP BY 1, 2, 3",
        "INSERT INTO server_counts (server_id, status, n) "
        "SELECT coalesce(server_id, 0), status, count(*) FROM messages GROUP BY 1, 2",
        "INSERT INTO campaign_counts (campaign_id, server_id, status, n) "
        "SELECT campaign_id, coalesce(server_id, 0), status, count(*) FROM messages "
        "WHERE campaign_id IS NOT NULL GROUP BY 1, 2, 3",
        "INSERT INTO sends_by_minute (server_id, minute, sender_domain, sent) "
        f"SELECT coalesce(m.server_id, 0), {minute}, {domain}, count(*) {sent} AND {recent} "
        "GROUP BY 1, 2, 3",
        "INSERT INTO sends_by_day (server_id, day, sender_domain, customer_id, campaign_id, sent) "
        f"SELECT coalesce(m.server_id, 0), {day}, {domain}, m.customer_id, "
        f"coalesce(m.campaign_id, 0), count(*) {sent} GROUP BY 1, 2, 3, 4, 5",
    ]


def _tables() -> None:
    op.create_table(
        "campaign_counts",
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_campaign_counts_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "server_id", "status", name="pk_campaign_counts"),
    )
    op.create_index("ix_campaign_counts_status", "campaign_counts", ["status", "campaign_id"])
    op.create_table(
        "server_counts",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("server_id", "status", name="pk_server_counts"),
    )
    op.create_table(
        "sends_by_minute",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("sender_domain", sa.String(255), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("server_id", "minute", "sender_domain", name="pk_sends_by_minute"),
    )
    op.create_index("ix_sends_by_minute_minute", "sends_by_minute", ["minute"])
    op.create_table(
        "sends_by_day",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("sender_domain", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "server_id",
            "day",
            "sender_domain",
            "customer_id",
            "campaign_id",
            name="pk_sends_by_day",
        ),
    )
    op.create_index("ix_sends_by_day_day", "sends_by_day", ["day"])
    op.create_table(
        "queued_by_minute",
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "campaign_id", "minute", name="pk_queued_by_minute"),
    )
    op.create_index("ix_queued_by_minute_minute", "queued_by_minute", ["minute"])
    op.create_table(
        "queued_deltas",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queued_deltas"),
    )
    op.create_table(
        "campaign_count_deltas",
        sa.Column("id", BigId, nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_count_deltas"),
    )
    op.create_table(
        "server_count_deltas",
        sa.Column("id", BigId, nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_server_count_deltas"),
    )
    op.create_table(
        "send_deltas",
        sa.Column("id", BigId, nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("sender_domain", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_send_deltas"),
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _tables()
    op.drop_index("ix_messages_campaign_status", table_name="messages")
    op.create_index("ix_messages_campaign_status", "messages", ["campaign_id", "status", "due_at"])
    conn = op.get_bind()
    # At the driver: ":00" in these is text, not a parameter.
    for statement in (_sqlite_triggers() if sqlite else _pg_triggers()) + _backfill(sqlite):
        conn.exec_driver_sql(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for what in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS rollups_on_{what}" + ("" if sqlite else " ON messages"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS rollups_on_{what}()")
    op.drop_index("ix_messages_campaign_status", table_name="messages")
    op.create_index("ix_messages_campaign_status", "messages", ["campaign_id", "status"])
    for name in (
        "queued_deltas",
        "queued_by_minute",
        "send_deltas",
        "server_count_deltas",
        "campaign_count_deltas",
        "sends_by_day",
        "sends_by_minute",
        "server_counts",
        "campaign_counts",
    ):
        op.drop_table(name)
