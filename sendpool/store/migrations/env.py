"""Alembic environment: runs on the connection sendpool hands it, or on the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sendpool.store.db import make_engine
from sendpool.store.partitions import not_a_partition
from sendpool.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=not_a_partition,  # messages' day partitions are not in the model
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("sendpool migrations run online only: use `sendpool migrate`")
run_migrations_online()
