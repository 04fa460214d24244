"""Server rows as the dispatcher sees them: a warm-up held back by a bad bounce day."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, event, insert, select, update

from sendpool.runtime import Runtime
from sendpool.store.catalog import load_pool
from sendpool.store.tables import DeliveryEvent, Message, SendingServer
from tests.support.scenario import apply, make_campaign, smtp_server


def test_a_day_over_the_bounce_gate_holds_the_warmup_back(runtime: Runtime) -> None:
    today = datetime.now(UTC).date()
    started = today - timedelta(days=3)
    warmup = {
        "start_daily": 100,
        "growth_percent": 50,
        "target_daily": 10_000,
        "started_on": started.isoformat(),
        "gate_bounce_rate": 0.05,
    }
    apply(
        runtime,
        {
            "servers": [smtp_server("warm", 1, warmup=warmup)],
            "plans": [{"name": "P", "servers": ["warm"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(runtime, 30)

    def history(c: Connection) -> None:
        server_id = c.execute(select(SendingServer.id)).scalar_one()
        ids = c.execute(select(Message.id).order_by(Message.id)).scalars().all()
        # Day 1 after the start: 10 sent, 2 hard bounces (20 %). Day 2: 10 sent, none.
        # Late in the UTC day, so a machine clock in another zone cannot move them.
        for offset, chunk in ((2, ids[:10]), (1, ids[10:20])):
            at = datetime.combine(today - timedelta(days=offset), datetime.min.time(), UTC)
            at += timedelta(hours=23, minutes=30)
            c.execute(
                update(Message)
                .where(Message.id.in_(chunk))
                .values(status="sent", server_id=server_id, sent_at=at)
            )
            if offset == 2:
                c.execute(
                    insert(DeliveryEvent),
                    [
                        {
                            "server_id": server_id,
                            "message_id": i,
                            "kind": "hard_bounce",
                            "created_at": at,
                        }
                        for i in chunk[:2]
                    ],
                )

    runtime.db.transaction(history)
    # The pool is loaded by every worker, often: the gate's figures come from the day
    # rollups and the events' indexes, never from a walk over the server's messages.
    seen: list[str] = []

    def capture(*args: Any) -> None:
        seen.append(args[2])

    event.listen(runtime.db.engine, "before_cursor_execute", capture)
    try:
        runtime.db.transaction(load_pool, runtime.box, datetime.now(UTC), 10)
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", capture)
    assert seen and not [q for q in seen if re.search(r"\bFROM messages\b", q)]
    # The gate judges a day of at least the minimum volume (here 10 sends) ...
    pool = runtime.db.transaction(load_pool, runtime.box, datetime.now(UTC), 10)
    assert [row.warmup_held_days for row in pool.servers] == [1]
    # ... and ignores the rate of a day below it, as with the default of 500.
    for below in (11, None):
        args = () if below is None else (below,)
        pool = runtime.db.transaction(load_pool, runtime.box, datetime.now(UTC), *args)
        assert [row.warmup_held_days for row in pool.servers] == [0]
