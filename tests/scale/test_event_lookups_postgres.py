"""An event finds its message by key across the day partitions (0021), read by what it costs.

0019's trigger on delivery_events reads each event's message by id alone,
so in every partition. With the statistics of a day partition current, each
event is one probe of a key; with statistics from when the partition held a
single row (a big insert not yet analysed: a launch analyses after its bulk
inserts, autovacuum after the others), at most one pass over it for the
statement, never one per event. The transaction's own table statistics count
the rows each scan read.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, text

from sendpool.runtime import Runtime
from sendpool.store.partitions import day_of, partition_name
from tests.scale.partition_rows import add, seed_list, utc_now

pytestmark = pytest.mark.services

ROWS = 20_000
EVENTS = 100

# Events about messages ``first`` .. ``first + n - 1``, named by id without reading messages.
EVENTS_SQL = """
INSERT INTO delivery_events (server_id, message_id, kind, detail, created_at, customer_id)
SELECT 1, g, 'complaint', 'reported', now() AT TIME ZONE 'UTC', :c
FROM generate_series(:first, :first + :n - 1) g
"""


def _read(conn: Connection, name: str) -> tuple[int, int]:
    """Rows this transaction read from ``name`` by sequential and by index scans."""
    row = conn.execute(
        text(
            "SELECT coalesce(seq_tup_read, 0), coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_xact_user_tables WHERE relname = :n"
        ),
        {"n": name},
    ).one()
    return int(row[0]), int(row[1])


def test_events_read_their_messages_by_key_after_the_partition_grew(runtime: Runtime) -> None:
    today = partition_name(day_of(utc_now()))

    def scenario(c: Connection) -> dict[str, Any]:
        customer_id, _, _ = seed_list(c, 1)
        (first,) = add(c, customer_id, 1)
        c.execute(text("ANALYZE messages"))  # today's partition: a page, a row
        # The trigger's plan is made now, while the partition is that small.
        c.execute(text(EVENTS_SQL), {"c": customer_id, "first": first, "n": 1})
        c.execute(
            text(
                "INSERT INTO messages (uid, customer_id, recipient, kind, status, attempts, "
                "due_at, queued_at, updated_at) SELECT 'grown' || g, :c, 'r' || g || "
                "'@example.com', 'transactional', 'sent', 1, now(), now(), now() "
                "FROM generate_series(1, :rows) g"
            ),
            {"c": customer_id, "rows": ROWS},
        )
        last = int(c.execute(text("SELECT currval('messages_id_seq')")).scalar_one())
        grown = last - ROWS + 1
        before = _read(c, today)
        c.execute(text(EVENTS_SQL), {"c": customer_id, "first": grown, "n": EVENTS})
        stale = [a - b for a, b in zip(_read(c, today), before, strict=True)]
        c.execute(text("ANALYZE messages"))  # the statistics catch up, as autovacuum's would
        before = _read(c, today)
        c.execute(text(EVENTS_SQL), {"c": customer_id, "first": grown + EVENTS, "n": EVENTS})
        fresh = [a - b for a, b in zip(_read(c, today), before, strict=True)]
        events = c.execute(text("SELECT count(*) FROM delivery_events")).scalar_one()
        return {"stale": stale, "fresh": fresh, "events": events}

    got = runtime.db.transaction(scenario)
    assert got["events"] == 2 * EVENTS + 1
    # Statistics of a one-row partition: at most one pass over it for the statement.
    # A plan kept from then would scan it once per event: EVENTS x ROWS rows.
    assert sum(got["stale"]) <= ROWS + 2 * EVENTS, got
    # Statistics as they are: every event by key, nothing scanned.
    seq, idx = got["fresh"]
    assert seq == 0 and EVENTS <= idx <= 2 * EVENTS, got
