"""Engines and schema: SQLite in WAL mode by default, PostgreSQL for many machines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from sendpool.secretbox import create_private, make_private

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x73656E64706F6F6C  # "sendpool": the advisory lock key migrations hold
# What SQLite keeps beside the database file: the write-ahead log, its shared-memory
# index, and the rollback journal (before WAL is on). Each holds rows of the database.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def sqlite_path(url: str) -> Path | None:
    """The database file a SQLite URL names; None for other databases and in-memory ones."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def sqlite_files(path: Path) -> list[Path]:
    """The database file and those of its side files that exist."""
    side = (path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)
    return [path, *(p for p in side if p.exists())]


def _keep_private(path: Path, *, tighten: bool) -> None:
    """Create the database file 0600 before SQLite does, and close an existing one to others.

    SQLite creates a missing file 0644, readable by every user of the machine,
    and gives its -wal and -shm files the database file's mode; the file holds
    people's addresses and the servers' settings.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    create_private(path)
    if tighten:
        for file in sqlite_files(path):
            make_private(file, "database file")


def make_engine(
    url: str, *, tighten: bool = True, read_only: bool = False, **kwargs: Any
) -> Engine:
    """An engine for ``url``; a SQLite file is created, or kept, readable by its owner only.

    ``tighten=False`` leaves an existing file's mode as it is, for the commands
    that only look (``sendpool doctor`` reports the mode instead).
    ``read_only=True`` (SQLite) makes an engine for pages and scrapes: its
    transactions begin deferred and may not write (``PRAGMA query_only``), so
    in WAL mode they read a snapshot beside the writer instead of queueing
    for the write lock behind the workers.
    """
    url = normalise_url(url)
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    path = sqlite_path(url)
    if path is not None:
        _keep_private(path, tighten=tighten)
    # Room for every hot statement's padded lengths (store/sqlite_lists.py) beside the rest.
    connect_args = {"timeout": 60, "check_same_thread": False, "cached_statements": 512}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transactions into our own hands (see _on_begin), and set the
        # pragmas that make SQLite a good embedded queue: WAL lets readers run
        # beside the writer; NORMAL sync is safe in WAL and much faster.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        if read_only:
            cur.execute("PRAGMA query_only=1")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front: two processes can
        # never both read a quota row and then both upgrade to write it.
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; safe to run on every start."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Workers starting together on a new database would all create the
            # tables at once; the first migrates, the others then find it done.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("messages")
