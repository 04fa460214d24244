"""A database handle for asyncio code: blocking SQL runs on a small thread pool.

SQLite gets one thread, so one process never contends with itself for the
write lock; PostgreSQL gets a few. Statements are short and batched, so a
thread hop per batch costs far less than an async driver's hop per row.

Reads for people (pages, the API's GETs, scrapes) run on threads of their
own (``Database.read``): they never wait in line behind a worker's
write-backs on the writer's thread, and on SQLite they use a read-only
engine whose transactions read a WAL snapshot beside the writer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from sendpool.store.db import is_sqlite, make_engine, migrate, normalise_url, sqlite_path

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("sendpool.store")

# PostgreSQL aborts one of two transactions that wait on each other
# (deadlock_detected) or that a serializable read could not order
# (serialization_failure); running the loser again is the documented cure. A
# connection dropped under a transaction is retried on a new one.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3


# Threads for reads apart from the writer's: enough that a scrape and a page do not queue.
READ_THREADS = 2


class Database:
    def __init__(
        self, engine: Engine, threads: int | None = None, *, reader: Engine | None = None
    ) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        n = threads or (1 if self.sqlite else 4)
        self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="sendpool-db")
        # Without an engine of its own (SQLite in memory, PostgreSQL), reads use the
        # writer's engine, still on their own threads.
        self.reader = reader or engine
        self._read_pool = ThreadPoolExecutor(
            max_workers=READ_THREADS, thread_name_prefix="sendpool-db-read"
        )

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> Database:
        engine = make_engine(url)
        if migrate_schema:
            migrate(engine)
        reader = None
        if sqlite_path(normalise_url(url)) is not None:
            reader = make_engine(url, tighten=False, read_only=True)
        return cls(engine, 1 if is_sqlite(url) else None, reader=reader)

    def transaction(
        self, fn: Callable[Concatenate[Connection, P], T], *a: P.args, **k: P.kwargs
    ) -> T:
        """Run ``fn(conn, ...)`` in one transaction, here and now (blocking).

        A transaction PostgreSQL aborted as a deadlock victim runs again, from
        the start: ``fn`` must do nothing but talk to the database.
        """
        return self._transaction(self.engine, fn, *a, **k)

    def read_transaction(
        self, fn: Callable[Concatenate[Connection, P], T], *a: P.args, **k: P.kwargs
    ) -> T:
        """``transaction`` on the readers' engine: on SQLite, ``fn`` may not write."""
        return self._transaction(self.reader, fn, *a, **k)

    def _transaction(
        self,
        engine: Engine,
        fn: Callable[Concatenate[Connection, P], T],
        *a: P.args,
        **k: P.kwargs,
    ) -> T:
        attempt = 1
        while True:
            try:
                with engine.begin() as conn:
                    return fn(conn, *a, **k)
            except DBAPIError as exc:
                state = getattr(exc.orig, "sqlstate", None)
                dropped = exc.connection_invalidated
                if attempt >= ATTEMPTS or not (dropped or state in RETRY_SQLSTATES):
                    raise
                # A dropped connection (a restarted server, a killed backend) is not
                # an outage: the pool hands out a new one, and every transaction
                # here may run again (write-backs apply only while the claim is ours).
                why = "its connection was lost" if dropped else f"aborted ({state})"
                log.warning("%s: %s; running it again", _name(fn), why)
                attempt += 1

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *a: P.args, **k: P.kwargs
    ) -> T:
        """Run ``fn(conn, ...)`` in one transaction on the database threads."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self.transaction, fn, *a, **k)
        return await loop.run_in_executor(self._pool, call)

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *a: P.args, **k: P.kwargs
    ) -> T:
        """Run ``fn(conn, ...)``, which only reads, on the readers' threads and engine."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self.read_transaction, fn, *a, **k)
        return await loop.run_in_executor(self._read_pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._read_pool.shutdown(wait=True)
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()


def _name(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def insert_for(conn: Connection, table: Any) -> Any:
    """An INSERT that knows ON CONFLICT on both back ends."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
