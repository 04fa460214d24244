"""Wiring: build the database, ledger, queue and catalog the settings ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sendpool.config import Settings
from sendpool.pipeline.ports import Catalog, MessageQueue, QuotaLedger
from sendpool.pipeline.worker import Worker
from sendpool.secretbox import RETURN_PATH_PURPOSE, UNSUBSCRIBE_PURPOSE, SecretBox, load_box
from sendpool.store.catalog import SqlCatalog
from sendpool.store.database import Database
from sendpool.store.ledger_redis import RedisLedger
from sendpool.store.ledger_sql import SqlLedger
from sendpool.store.queue import SqlQueue
from sendpool.store.recount import SqlRecount


@dataclass
class Runtime:
    settings: Settings
    db: Database
    box: SecretBox
    queue: MessageQueue
    ledger: QuotaLedger
    catalog: Catalog

    @classmethod
    def open(cls, settings: Settings | None = None, *, migrate: bool = True) -> Runtime:
        settings = settings or Settings()
        db = Database.open(settings.database_url, migrate_schema=migrate)
        box = load_box(settings.secret_key, settings.database_url)
        catalog = SqlCatalog(db, box, gate_min_sent=settings.bounce_min_volume)
        queue = SqlQueue(db)
        return cls(settings, db, box, queue, open_ledger(settings, db, queue), catalog)

    def worker(self, **kwargs: Any) -> Worker:
        kwargs.setdefault("return_path_key", self.box.derive(RETURN_PATH_PURPOSE))
        kwargs.setdefault("unsubscribe_key", self.box.derive(UNSUBSCRIBE_PURPOSE))
        return Worker(
            queue=self.queue,
            ledger=self.ledger,
            catalog=self.catalog,
            settings=self.settings,
            **kwargs,
        )

    def close(self) -> None:
        self.ledger.close()
        self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_ledger(settings: Settings, db: Database, queue: SqlQueue | None = None) -> QuotaLedger:
    """Redis when ``redis_url`` is set (many workers), else the database itself.

    The SQL ledger marks reservations on the rows ``queue`` claimed, by their partitions.
    """
    if not settings.redis_url:
        return SqlLedger(db, None if queue is None else queue.days)
    return RedisLedger.open(settings.redis_url, SqlRecount(db))
