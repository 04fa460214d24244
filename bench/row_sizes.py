"""Bytes per message row and per delivery event on PostgreSQL, and WAL per step of a message's life.

Makes a scratch database (h4_row_sizes), migrates it to head (every index and
the rollup triggers), then, for ``--rows`` messages:

1. launch: INSERT ... SELECT of queued rows (90 % campaign, 10 % transactional
   with a small JSON payload), as a launch writes them;
2. claim: UPDATE to ``sending`` with a worker's lease, in batches of 500;
3. settle: UPDATE to ``sent`` (97 %) or ``failed`` (3 %) with the server's
   reply, message id and, for a third of them, a vendor id; in batches of 500;
4. retention: delete them all with store/retention.py's own batches.

Before each step a CHECKPOINT, so every page the step touches pays its full
page image once, as the first touch after a checkpoint does. Sizes are
``pg_total_relation_size`` (heap, TOAST and every index) divided by rows,
right after the step (dead versions included) and after ``VACUUM FULL`` (the
live rows alone); each index on its own too. Then ``--rows`` delivery events.

    .venv/bin/python bench/row_sizes.py [--rows 200000]

Each figure is one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from databases import pg_database
from sqlalchemy import Connection, Engine, insert, text

from sendpool.store.db import make_engine, migrate
from sendpool.store.retention import SETTLED_SQL, sweep_messages
from sendpool.store.tables import Campaign, Customer, MailingList, SendingServer, table

BENCH = "row_sizes"
DB_NAME = "h4_row_sizes"
BATCH = 500  # rows per worker write-back


def emit(figure: str, value: float, unit: str, **extra: Any) -> None:
    line = {"bench": BENCH, "figure": figure, "value": value, "unit": unit, **extra}
    print(json.dumps(line), flush=True)


def say(text_: str) -> None:
    print(text_, file=sys.stderr, flush=True)


def fixture(conn: Connection) -> tuple[int, int, list[int]]:
    """A customer, a campaign and four servers for the messages to name."""
    cid = conn.execute(
        insert(table(Customer)).values(name="acme").returning(table(Customer).c.id)
    ).scalar_one()
    lid = conn.execute(
        insert(table(MailingList))
        .values(customer_id=cid, name="news")
        .returning(table(MailingList).c.id)
    ).scalar_one()
    camp = conn.execute(
        insert(table(Campaign))
        .values(
            customer_id=cid,
            list_id=lid,
            name="December news",
            subject="Our December news",
            from_email="news@mail.acme-shop.example",
            status="sending",
        )
        .returning(table(Campaign).c.id)
    ).scalar_one()
    servers = [
        conn.execute(
            insert(table(SendingServer))
            .values(name=f"relay-{i}", type="smtp", sending_limit=10**7)
            .returning(table(SendingServer).c.id)
        ).scalar_one()
        for i in range(4)
    ]
    return int(cid), int(camp), [int(s) for s in servers]


LAUNCH = """
INSERT INTO messages (uid, customer_id, campaign_id, subscriber_id, recipient, kind, status,
    attempts, attempts_here, due_at, queued_at, updated_at, payload)
SELECT replace(gen_random_uuid()::text, '-', ''), :customer,
    CASE WHEN g % 10 = 0 THEN NULL ELSE :campaign END,
    CASE WHEN g % 10 = 0 THEN NULL ELSE g END,
    'first.last' || g || '@' || (ARRAY['gmail.com','outlook.com','yahoo.com','acme-mail.example',
        't-online.de'])[1 + g % 5],
    CASE WHEN g % 10 = 0 THEN 'transactional' ELSE 'campaign' END, 'queued', 0, 0,
    CAST(:now AS timestamp), CAST(:now AS timestamp), CAST(:now AS timestamp),
    CASE WHEN g % 10 = 0 THEN json_build_object(
        'from_email', 'orders@acme-shop.example', 'subject', 'Your order #' || g || ' has shipped',
        'text_body', repeat('Thank you for your order. ', 12),
        'headers', json_build_object('X-Order', g::text)) END
FROM generate_series(1, :rows) AS g
"""

CLAIM = """
UPDATE messages SET status = 'sending', claimed_by = 'worker-mail3-48213',
    due_at = CAST(:now AS timestamp) + interval '120 seconds',
    reserved_server_id = :server, reserved_at = CAST(:now AS timestamp),
    updated_at = CAST(:now AS timestamp)
WHERE id BETWEEN :lo AND :hi
"""

SETTLE = """
UPDATE messages SET
    status = CASE WHEN id % 33 = 0 THEN 'failed' ELSE 'sent' END,
    server_id = :server, attempts = 1, attempts_here = 1, claimed_by = NULL,
    reserved_server_id = NULL, reserved_at = NULL, handed_at = NULL,
    sent_at = CASE WHEN id % 33 = 0 THEN NULL ELSE CAST(:now AS timestamp) END,
    smtp_code = CASE WHEN id % 33 = 0 THEN 550 ELSE 250 END,
    smtp_reply = CASE WHEN id % 33 = 0 THEN '550 5.1.1 <' || recipient || '>: user unknown'
        ELSE '250 2.0.0 Ok: queued as 4Q' || upper(substr(uid, 1, 10)) END,
    last_error = CASE WHEN id % 33 = 0 THEN '550 5.1.1 user unknown' END,
    message_id = '<' || uid || '@mail.acme-shop.example>',
    remote_id = CASE WHEN id % 3 = 0
        THEN '0100018c' || substr(uid, 1, 8) || '-' || substr(uid, 9, 24) || '-000000' END,
    updated_at = CAST(:now AS timestamp)
WHERE id BETWEEN :lo AND :hi
"""

EVENTS = """
INSERT INTO delivery_events (server_id, message_id, kind, detail, created_at, customer_id,
    recipient, status_code, source, reported_by, sent_at, dedup_key)
SELECT :server, g, CASE WHEN g % 20 = 0 THEN 'complaint' ELSE 'hard_bounce' END,
    'bounced 5.1.1 via relay-2, reported by mx' || (g % 9) || '.example.net: 550 5.1.1 <first.last'
        || g || '@gmail.com>: Recipient address rejected: User unknown',
    CAST(:now AS timestamp), :customer, 'first.last' || g || '@gmail.com', '5.1.1', 'inbound',
    'mx' || (g % 9) || '.example.net', CAST(:now AS timestamp),
    encode(sha256(('event' || g)::bytea), 'hex')
FROM generate_series(1, :rows) AS g
"""


@dataclass
class Wal:
    """WAL written by this bench's own statements, as EXPLAIN (ANALYZE, WAL) counts it."""

    bytes: int = 0
    fpi: int = 0  # full page images
    records: int = 0
    blocks: int = 0  # shared buffers hit or read

    def run(self, conn: Connection, sql: str, params: dict[str, Any]) -> None:
        """Run ``sql`` and add its WAL: other databases on the server do not count."""
        explain = "EXPLAIN (ANALYZE, WAL, BUFFERS, FORMAT JSON) "
        plan = conn.execute(text(explain + sql), params).scalar()
        top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
        self.bytes += int(top.get("WAL Bytes", 0))
        self.fpi += int(top.get("WAL FPI", 0))
        self.records += int(top.get("WAL Records", 0))
        self.blocks += int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))


def checkpoint(engine: Engine) -> None:
    with engine.connect() as c:
        c.execute(text("CHECKPOINT"))


def _leaves(rel: str) -> str:
    """The leaf relations of ``rel``'s partition tree; a plain table or index is its own leaf."""
    tree = f"SELECT array_agg(relid) FROM pg_partition_tree({rel}) WHERE isleaf"
    return f"SELECT unnest(coalesce(({tree}), ARRAY[({rel})::regclass]))"


def sizes(engine: Engine, name: str) -> dict[str, int]:
    """The table's total size and each of its relations: heap, TOAST, every index.

    Summed over the leaves of its partition tree (messages is partitioned by day
    on PostgreSQL, migration 0021; a plain table is its own one leaf), each index
    under its name on the parent.
    """
    leaves = _leaves(f"'{name}'::regclass")
    with engine.connect() as c:
        out = {
            "total": int(
                c.execute(
                    text(
                        f"SELECT coalesce(sum(pg_total_relation_size(t)), 0) FROM ({leaves}) AS l(t)"
                    )
                ).scalar_one()
            ),
            "heap": int(
                c.execute(
                    text(
                        "SELECT coalesce(sum(pg_relation_size(c.oid) "
                        "+ coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)), 0) "
                        f"FROM pg_class c WHERE c.oid IN ({leaves})"
                    )
                ).scalar_one()
            ),
        }
        for index, size in c.execute(
            text(
                "SELECT i.relname, (SELECT coalesce(sum(pg_relation_size(t)), 0) "
                f"FROM ({_leaves('x.indexrelid')}) AS l(t)) "
                "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                f"WHERE x.indrelid = '{name}'::regclass ORDER BY i.relname"
            )
        ):
            out[index] = int(size)
        return out


def emit_sizes(prefix: str, found: dict[str, int], rows: int, when: str) -> None:
    for part, size in found.items():
        emit(f"{prefix}_{part}_bytes_per_row", round(size / rows, 1), "B", size=rows, when=when)


def in_batches(
    engine: Engine, wal: Wal, sql: str, rows: int, now: datetime, servers: list[int]
) -> None:
    for n, lo in enumerate(range(1, rows + 1, BATCH)):
        with engine.begin() as c:
            params = {"lo": lo, "hi": lo + BATCH - 1, "now": now, "server": servers[n % 4]}
            wal.run(c, sql, params)


def step(engine: Engine, name: str, rows: int, run: Callable[[Wal], None]) -> None:
    checkpoint(engine)
    wal = Wal()
    started = time.perf_counter()
    run(wal)
    seconds = time.perf_counter() - started
    emit(f"wal_bytes_per_message_{name}", round(wal.bytes / rows, 1), "B", size=rows)
    emit(f"wal_fpi_per_message_{name}", round(wal.fpi / rows, 3), "pages", size=rows)
    emit(f"wal_records_per_message_{name}", round(wal.records / rows, 2), "records", size=rows)
    say(
        f"{name}: {rows:,} rows in {seconds:.1f} s; WAL per row {wal.bytes / rows:.0f} B "
        f"in {wal.records / rows:.1f} records, {wal.fpi / rows:.2f} full page images"
    )


DELETE = f"""
DELETE FROM messages WHERE {SETTLED_SQL} AND updated_at < :cutoff
    AND (updated_at, id) > (:after_at, :after_id) AND (updated_at, id) <= (:last_at, :last_id)
"""


def delete_all(engine: Engine, wal: Wal, cutoff: datetime) -> None:
    """Retention's batches: the keys as store/retention.py reads them, then its range delete."""
    after: tuple[Any, ...] = (datetime(1970, 1, 1, tzinfo=UTC), 0)
    while True:
        with engine.begin() as c:
            batch = sweep_messages(c, cutoff=cutoff, after=after, limit=5000, dry_run=True)
            if batch.rows == 0:
                return
            assert batch.after is not None or batch.rows < 5000
            last = batch.after or (cutoff, 2**62)
            params = {
                "cutoff": cutoff.replace(tzinfo=None),
                "after_at": after[0].replace(tzinfo=None),
                "after_id": after[1],
                "last_at": last[0].replace(tzinfo=None),
                "last_id": last[1],
            }
            wal.run(c, DELETE, params)
        if batch.after is None:
            return
        after = batch.after


SETTLED_ROWS = """
INSERT INTO messages (uid, customer_id, recipient, kind, status, server_id, attempts,
    attempts_here, due_at, queued_at, sent_at, updated_at, smtp_code, smtp_reply, message_id)
SELECT replace(gen_random_uuid()::text, '-', ''), :customer, 'first.last' || g || '@gmail.com',
    'campaign', 'sent', :server, 1, 1, CAST(:at AS timestamp), CAST(:at AS timestamp),
    CAST(:at AS timestamp), CAST(:at AS timestamp), 250, '250 2.0.0 Ok: queued as 4QABCDEF',
    '<' || g || '@mail.acme-shop.example>'
FROM generate_series(1, :rows) AS g
"""


def growth(engine: Engine, customer: int, server: int, old: int, young: int) -> None:
    """Blocks a batch touches per deleted row, beside ``young`` rows kept and then 4x as many.

    The kept rows are settled too, so they sit in the same index as the ones
    that go: only a range read keeps the cost per row flat as they grow.
    """
    now = datetime.now(UTC).replace(tzinfo=None)
    cutoff = datetime.now(UTC) - timedelta(days=30)
    per_row = []
    for kept in (young, 4 * young):
        with engine.begin() as c:
            c.execute(text("DELETE FROM messages"))
            for at, n in ((now, kept), (now - timedelta(days=40), old)):
                c.execute(
                    text(SETTLED_ROWS),
                    {"customer": customer, "server": server, "at": at, "rows": n},
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE messages"))
        wal = Wal()
        delete_all(engine, wal, cutoff)
        per_row.append(wal.blocks / old)
        emit(
            "retention_blocks_per_deleted_row",
            round(wal.blocks / old, 3),
            "blocks",
            size=kept + old,
            kept=kept,
        )
        say(f"growth: {old:,} deleted beside {kept:,} kept: {wal.blocks / old:.2f} blocks per row")
    emit(
        "retention_blocks_per_deleted_row_ratio",
        round(per_row[1] / per_row[0], 3),
        "ratio",
        size=4 * young + old,
        ratio_to=young + old,
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=200_000, help="messages (and events) to write")
    args = p.parse_args()
    if not 1_000 <= args.rows <= 20_000_000:
        p.error("--rows must be 1000 to 20000000")
    rows = int(args.rows)
    now = datetime.now(UTC).replace(tzinfo=None)
    with pg_database(DB_NAME) as url:
        engine = make_engine(url)
        migrate(engine)
        with engine.begin() as c:
            customer, campaign, servers = fixture(c)

        def launch(wal: Wal) -> None:
            with engine.begin() as c:
                params = {"customer": customer, "campaign": campaign, "rows": rows, "now": now}
                wal.run(c, LAUNCH, params)

        step(engine, "launch", rows, launch)
        with engine.connect() as c:
            c.execute(text("ANALYZE messages"))
            c.commit()
        emit_sizes("pending", sizes(engine, "messages"), rows, "queued, as launched")
        step(engine, "claim", rows, lambda w: in_batches(engine, w, CLAIM, rows, now, servers))
        step(engine, "settle", rows, lambda w: in_batches(engine, w, SETTLE, rows, now, servers))
        emit_sizes("messages", sizes(engine, "messages"), rows, "settled, before vacuum")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM FULL ANALYZE messages"))
        emit_sizes("messages", sizes(engine, "messages"), rows, "settled, after VACUUM FULL")

        started = time.perf_counter()
        cutoff = datetime.now(UTC) + timedelta(days=1)
        step(engine, "retention_delete", rows, lambda w: delete_all(engine, w, cutoff))
        emit(
            "retention_delete_rows_per_second",
            round(rows / (time.perf_counter() - started)),
            "rows/s",
            size=rows,
            note="this machine, shared; for scale, not a promise",
        )

        def events(wal: Wal) -> None:
            with engine.begin() as c:
                params = {"server": servers[0], "customer": customer, "rows": rows, "now": now}
                wal.run(c, EVENTS, params)

        step(engine, "event_insert", rows, events)
        emit_sizes("delivery_events", sizes(engine, "delivery_events"), rows, "as written")
        growth(engine, customer, servers[0], old=max(rows // 10, 1000), young=rows)
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
