"""Scratch databases for the benchmarks: a SQLite file or a PostgreSQL database of their own.

Every bench that measures PostgreSQL creates a database for the run and drops
it afterwards (or keeps it, when asked, for a look). The server comes from
``SENDPOOL_BENCH_PG_URL``: the machine's local PostgreSQL unless told.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sendpool.store.db import normalise_url

PG_ADMIN = os.environ.get("SENDPOOL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def scratch_name(prefix: str) -> str:
    """A database name no other run on this machine uses at the same time."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


@contextmanager
def pg_database(name: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL database called ``name`` (dropped first if a run left it); its URL."""
    admin = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name!r}: drop it with DROP DATABASE when done", file=sys.stderr)
        else:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database(
    kind: str, name: str, *, keep: bool = False, directory: str | None = None
) -> Iterator[str]:
    """A scratch database of ``kind`` ("sqlite" or "postgresql"); its URL.

    A SQLite file lives in a temporary folder (inside ``directory`` when given).
    """
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sendpool-bench-", dir=directory) as tmp:
            yield f"sqlite:///{tmp}/{name}.db"
        return
    with pg_database(name, keep=keep) as url:
        yield url
