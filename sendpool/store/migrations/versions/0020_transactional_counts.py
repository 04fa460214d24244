"""Transactional counts: messages with no campaign per customer x status

Revision ID: 0020_transactional_counts
Revises: 0019_event_rollups
Create Date: 2026-12-02 13:00:00.000000

``transactional_counts`` is to a customer's transactional mail what
``campaign_counts`` (0016) is to a campaign: a plan's forecast reads the
backlog of its customers' transactional mail from here instead of counting
it in the pending index. Triggers on ``messages`` keep it, for the rows with
no campaign, by the rules of 0016: an INSERT adds, a change of status moves
the row from its old status to its new one (a message's customer and
campaign never change), a DELETE forgets only a pending row. SQLite's row
triggers write the totals; PostgreSQL's statement triggers append to
``transactional_count_deltas``, folded with the rest (store/rollup_folds.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_transactional_counts"
down_revision: str | None = "0019_event_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = "('queued','deferred','sending')"
UPSERT = "ON CONFLICT (customer_id, status) DO UPDATE SET n = n + excluded.n"


def _sqlite_add(row: str, sign: int) -> str:
    return (
        f"INSERT INTO transactional_counts (customer_id, status, n) "
        f"VALUES ({row}.customer_id, {row}.status, {sign}) {UPSERT};"
    )


SQLITE_TRIGGERS = [
    "CREATE TRIGGER transactional_counts_on_insert AFTER INSERT ON messages "
    f"WHEN NEW.campaign_id IS NULL BEGIN {_sqlite_add('NEW', 1)} END",
    "CREATE TRIGGER transactional_counts_on_update AFTER UPDATE OF status ON messages "
    "WHEN NEW.campaign_id IS NULL AND OLD.status IS NOT NEW.status "
    f"BEGIN {_sqlite_add('OLD', -1)} {_sqlite_add('NEW', 1)} END",
    "CREATE TRIGGER transactional_counts_on_delete AFTER DELETE ON messages "
    f"WHEN OLD.campaign_id IS NULL AND OLD.status IN {PENDING} "
    "BEGIN UPDATE transactional_counts SET n = n - 1 "
    "WHERE customer_id = OLD.customer_id AND status = OLD.status; END",
]


def _pg_rows(name: str, sign: int, also: str = "") -> str:
    return f"SELECT customer_id, status, {sign} AS d FROM {name} WHERE campaign_id IS NULL{also}"


def _pg_function(name: str, changes: str) -> str:
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO transactional_count_deltas (customer_id, status, n)
        SELECT customer_id, status, sum(d) FROM ({changes}) AS ch
        GROUP BY customer_id, status HAVING sum(d) <> 0;
        RETURN NULL;
    END $$
    """


def _pg_triggers() -> list[str]:
    each = "FOR EACH STATEMENT EXECUTE FUNCTION"
    return [
        _pg_function("transactional_counts_on_insert", _pg_rows("new_rows", 1)),
        _pg_function(
            "transactional_counts_on_update",
            f"{_pg_rows('new_rows', 1)} UNION ALL {_pg_rows('old_rows', -1)}",
        ),
        _pg_function(
            "transactional_counts_on_delete",
            _pg_rows("old_rows", -1, f" AND status IN {PENDING}"),
        ),
        "CREATE TRIGGER transactional_counts_on_insert AFTER INSERT ON messages "
        f"REFERENCING NEW TABLE AS new_rows {each} transactional_counts_on_insert()",
        "CREATE TRIGGER transactional_counts_on_update AFTER UPDATE ON messages "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {each} "
        "transactional_counts_on_update()",
        "CREATE TRIGGER transactional_counts_on_delete AFTER DELETE ON messages "
        f"REFERENCING OLD TABLE AS old_rows {each} transactional_counts_on_delete()",
    ]


BACKFILL = (
    "INSERT INTO transactional_counts (customer_id, status, n) "
    "SELECT customer_id, status, count(*) FROM messages WHERE campaign_id IS NULL GROUP BY 1, 2"
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "transactional_counts",
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "status", name="pk_transactional_counts"),
    )
    op.create_table(
        "transactional_count_deltas",
        sa.Column("id", BigId, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transactional_count_deltas"),
    )
    conn = op.get_bind()
    # The triggers first, then the totals, in one transaction: no write comes between.
    for statement in (SQLITE_TRIGGERS if sqlite else _pg_triggers()) + [BACKFILL]:
        conn.exec_driver_sql(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for what in ("insert", "update", "delete"):
        name = f"transactional_counts_on_{what}"
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON messages"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("transactional_count_deltas")
    op.drop_table("transactional_counts")
