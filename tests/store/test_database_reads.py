"""Reads for people run beside the writer: their own threads, and on SQLite a read-only engine.

A page or a scrape must not queue behind a worker's write-backs on the one
writer thread SQLite gets; and a read path that would write by mistake fails
loudly there instead of taking the write lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import OperationalError

from sendpool.store.database import Database
from sendpool.store.tables import Customer


def names(conn: Connection) -> list[str]:
    return list(conn.execute(select(Customer.name).order_by(Customer.name)).scalars())


def add(conn: Connection, name: str) -> None:
    conn.execute(Customer.__table__.insert().values(uid=name, name=name))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(f"sqlite:///{tmp_path / 'sendpool.db'}")
    database.transaction(add, "acme")
    yield database
    database.close()


def test_a_sqlite_file_gets_a_read_only_engine_of_its_own(db: Database) -> None:
    assert db.reader is not db.engine
    assert db.read_transaction(names) == ["acme"]
    with pytest.raises(OperationalError, match="readonly"):
        db.read_transaction(add, "globex")
    assert db.transaction(names) == ["acme"]  # the refused write changed nothing


async def test_a_read_goes_on_while_a_write_back_holds_the_writer(db: Database) -> None:
    holding = threading.Event()
    release = threading.Event()

    def long_write(conn: Connection) -> None:
        add(conn, "globex")
        holding.set()
        assert release.wait(30)

    writer = asyncio.create_task(db.run(long_write))
    assert await asyncio.to_thread(holding.wait, 30)
    try:
        # The writer's one thread is busy and its transaction holds the write lock;
        # the read answers from the last committed snapshot all the same.
        assert await asyncio.wait_for(db.read(names), 30) == ["acme"]
        assert not writer.done()
    finally:
        release.set()
    await writer
    assert await db.read(names) == ["acme", "globex"]


def test_a_database_in_memory_reads_through_its_one_engine(tmp_path: Path) -> None:
    database = Database.open("sqlite://")
    try:
        assert database.reader is database.engine
        assert database.read_transaction(lambda c: c.execute(text("SELECT 1")).scalar()) == 1
    finally:
        database.close()
