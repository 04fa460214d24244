"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sendpool.store.db import make_engine, migrate
from sendpool.store.tables import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    migrate(engine)  # a second run changes nothing and does not fail


def test_campaigns_finished_before_done_was_stored_are_marked_done(tmp_path: Path) -> None:
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(engine, "0001_initial")
    now = "2026-11-01 00:00:00.000000"
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO customers (uid, name, created_at) VALUES ('c', 'c', :t)"), {"t": now}
        )
        c.execute(
            text("INSERT INTO lists (uid, customer_id, name, created_at) VALUES ('l', 1, 'l', :t)"),
            {"t": now},
        )
        for uid, state in (("finished", "sent"), ("busy", "queued")):
            cid = c.execute(
                text(
                    "INSERT INTO campaigns (uid, customer_id, list_id, name, subject, from_email,"
                    " status, recipient_count, launch_cursor, created_at, updated_at)"
                    " VALUES (:u, 1, 1, :u, 's', 'a@example.com', 'sending', 1, 0, :t, :t)"
                    " RETURNING id"
                ),
                {"u": uid, "t": now},
            ).scalar_one()
            c.execute(
                text(
                    "INSERT INTO messages (uid, customer_id, campaign_id, recipient, kind, status,"
                    " attempts, due_at, queued_at, updated_at)"
                    " VALUES (:u, 1, :c, 'r@example.com', 'campaign', :s, 0, :t, :t, :t)"
                ),
                {"u": uid, "c": cid, "s": state, "t": now},
            )
    migrate(engine)
    with engine.connect() as c:
        states = dict(c.execute(text("SELECT uid, status FROM campaigns")).all())
    assert states == {"finished": "done", "busy": "sending"}
