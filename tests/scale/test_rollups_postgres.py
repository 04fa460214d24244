"""The rollups on PostgreSQL: statement triggers append deltas, a fold moves them, reads add both.

The SQLite scenario again, then several workers writing back at once while
folds run beside them: no deadlock, the union read exact at any moment
(checked inside one REPEATABLE READ snapshot), the totals alone exact once
folded, and the readers' plans never touching the messages table.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, event, func, select

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.campaigns.launch import launch
from sendpool.services.operations.forecasts import _queue_of
from sendpool.services.operations.split import sent_by_plan
from sendpool.store import rollups
from sendpool.store.tables import CampaignCountDelta, SendDelta, ServerCountDelta, table
from tests.store.test_rollups import (
    _big_campaign,
    assert_rollups_match,
    delete_transactional,
    run_scenario,
    write_back,
)


def deltas(conn: Connection) -> int:
    return sum(
        int(conn.execute(select(func.count()).select_from(table(t))).scalar_one())
        for t in (CampaignCountDelta, ServerCountDelta, SendDelta)
    )


def snapshot_check(rt: Runtime) -> None:
    """The union read against the messages, both in one snapshot."""
    with rt.db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        with conn.begin():
            assert_rollups_match(conn)


def test_the_scenario_on_postgresql_before_and_after_the_fold(runtime: Runtime) -> None:
    run_scenario(runtime, assert_rollups_match)
    assert runtime.db.transaction(deltas) > 0  # nothing folded yet: the reads added the deltas
    assert runtime.db.transaction(rollups.fold)
    assert runtime.db.transaction(deltas) == 0
    runtime.db.transaction(assert_rollups_match, totals_only=True)


def test_workers_writing_back_at_once_with_folds_beside_them(runtime: Runtime) -> None:
    ids = run_scenario(runtime, lambda conn: None)
    now = datetime.now(UTC)
    big = runtime.db.transaction(_big_campaign, "b", 1200, now)
    launch(runtime.db.engine, big, now, batch_size=400)
    smtp, ses = int(ids["smtp"]), int(ids["ses"])
    errors: list[BaseException] = []
    done = threading.Event()

    def worker(name: str) -> None:
        outcomes = [("sent", smtp), ("sent", ses), ("deferred", ses), ("failed", smtp)]
        try:
            while write_back(runtime, name, now + timedelta(seconds=1), outcomes):
                pass
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def folder() -> None:
        try:
            while not done.is_set():
                runtime.db.transaction(rollups.fold)
                snapshot_check(runtime)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    folding = threading.Thread(target=folder)
    folding.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=300)
    done.set()
    folding.join(timeout=60)
    assert not errors, errors
    snapshot_check(runtime)
    runtime.db.transaction(rollups.fold)
    assert runtime.db.transaction(deltas) == 0
    runtime.db.transaction(assert_rollups_match, totals_only=True)
    sent = runtime.db.transaction(
        rollups.sent_by_server, [smtp, ses], now - timedelta(hours=1), now + timedelta(hours=1)
    )
    assert sent[smtp] > 300 and sent[ses] > 300


def test_a_second_fold_skips_while_one_runs(runtime: Runtime) -> None:
    run_scenario(runtime, lambda conn: None)
    with runtime.db.engine.begin() as first:
        assert rollups.fold(first)
        with runtime.db.engine.begin() as second:
            assert not rollups.fold(second)


def plans(conn: Connection, statements: list[tuple[str, object]]) -> list[str]:
    out = []
    for sql, params in statements:
        rows = conn.exec_driver_sql("EXPLAIN " + sql, params).all()  # type: ignore[arg-type]
        out.append("\n".join(str(r[0]) for r in rows))
    return out


def bounded_nodes(plan: str) -> list[tuple[str, bool]]:
    """Each plan node on messages, and whether an Index Cond or Recheck Cond bounds it."""
    lines = plan.splitlines()
    out = []
    for i, line in enumerate(lines):
        if " on messages " in line + " ":
            details = []
            for later in lines[i + 1 :]:
                if "->" in later:
                    break
                details.append(later)
            out.append((line, any("Index Cond" in d or "Recheck Cond" in d for d in details)))
    return out


def test_the_readers_never_scan_messages(runtime: Runtime) -> None:
    """EXPLAIN of every statement the rollup reads issue: messages only by an index range."""
    ids = run_scenario(runtime, lambda conn: None)
    runtime.db.transaction(lambda c: c.exec_driver_sql("ANALYZE"))
    seen: list[tuple[str, object]] = []

    def capture(*args: object) -> None:
        seen.append((str(args[2]), args[3]))

    now = datetime.now(UTC)
    event.listen(runtime.db.engine, "before_cursor_execute", capture)
    try:
        with runtime.db.engine.begin() as conn:
            rollups.server_counts(conn)
            rollups.campaign_counts(conn, [int(ids["big"])])
            rollups.campaigns_pending(conn)
            rollups.queue_depth(conn, now)
            rollups.sent_counts(conn, now - timedelta(hours=24, seconds=13), now)
            _queue_of(conn, refs.plan_id(conn, "Shared"), now)
            sent_by_plan(conn, now - timedelta(days=30))
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", capture)
    with runtime.db.engine.connect() as conn:
        # With seq scans priced out a tiny table still shows which index could serve the read;
        # a read no index can serve stays a Seq Scan and fails.
        conn.exec_driver_sql("SET enable_seqscan = off")
        for plan in plans(conn, seen):
            # Every node on messages is bounded by a condition on an index (a range or a
            # look-up); a Seq Scan, or an index scan with no condition, reads it whole.
            assert "Seq Scan on messages" not in plan, plan
            for node in bounded_nodes(plan):
                assert node[1], plan


async def test_a_workers_heartbeat_folds_the_deltas_once_a_minute(runtime: Runtime) -> None:
    """Workers alone (no `serve`) keep the deltas short: their heartbeat folds them."""
    run_scenario(runtime, lambda conn: None)
    assert runtime.db.transaction(deltas) > 0
    now = datetime.now(UTC)
    await runtime.catalog.heartbeat("w-fold", now)
    assert runtime.db.transaction(deltas) == 0
    runtime.db.transaction(assert_rollups_match, totals_only=True)

    more = runtime.db.transaction(_big_campaign, "b", 20, now)
    launch(runtime.db.engine, more, now)
    await runtime.catalog.heartbeat("w-fold", now + timedelta(seconds=5))
    assert runtime.db.transaction(deltas) > 0  # a heartbeat, not yet a minute on
    await runtime.catalog.heartbeat("w-fold", now + timedelta(seconds=61))
    assert runtime.db.transaction(deltas) == 0
    runtime.db.transaction(assert_rollups_match, totals_only=True)


def test_deleting_transactional_mail_forgets_the_pending_and_keeps_the_sent(
    runtime: Runtime,
) -> None:
    assert delete_transactional(runtime) == (2, 3)
