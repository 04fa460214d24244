"""The write-back as one statement per batch does exactly what one UPDATE per message did.

Each test sets up pairs of messages in the same state, writes a batch back
for the first of each pair with ``record_sync`` and the same updates for the
second with the per-message statement the write-back used before, then
compares the pairs column by column, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, select, update

from sendpool.core.states import CampaignStatus, MessageStatus
from sendpool.runtime import Runtime
from sendpool.store import write_back
from sendpool.store.queue import record_sync
from sendpool.store.records import MessageUpdate, RecordBatch
from sendpool.store.tables import Campaign, Message, SendingServer, table
from sendpool.store.types import driver_time
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.services import PgDatabases
from tests.support.settings import make_settings

NOW = datetime(2030, 11, 27, 12, tzinfo=UTC)
COMPARED = (
    "status", "due_at", "attempts", "attempts_here", "server_id", "sent_at", "last_error",
    "smtp_code", "smtp_reply", "message_id", "remote_id", "hold", "retry_server_id",
    "claimed_by", "updated_at", "reserved_server_id", "reserved_at", "handed_at",
)  # fmt: skip


@pytest.fixture(scope="module")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    url = None
    if request.param == "postgresql":
        dbs: PgDatabases = request.getfixturevalue("pg_databases")
        url = dbs.create()
    settings = make_settings(tmp_path, **({"database_url": url} if url else {}))
    runtime = Runtime.open(settings)
    yield runtime
    runtime.close()
    if url is not None:
        dbs.drop(url)


def per_message(conn: Connection, worker: str, batch: RecordBatch, now: datetime) -> None:
    """The write-back as it was: one UPDATE per message, in id order (executemany)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cols = ("status", "due_at", "attempts", "server_id", "sent_at", "last_error", "smtp_code")
    cols += ("smtp_reply", "message_id", "remote_id", "hold", "retry_server_id")
    sql = (
        f"UPDATE messages SET attempts_here = CASE WHEN server_id = {mark} "
        f"THEN attempts_here + {mark} - attempts ELSE {mark} - attempts END, "
        + ", ".join(f"{c} = {mark}" for c in cols)
        + f", claimed_by = NULL, updated_at = {mark}, reserved_server_id = NULL, "
        f"reserved_at = NULL, handed_at = NULL WHERE id = {mark} AND claimed_by = {mark}"
    )
    t = driver_time(conn)
    rows = [
        (
            u.server_id, u.attempts, u.attempts, u.status, t(u.due_at), u.attempts, u.server_id,
            t(u.sent_at), u.last_error, u.smtp_code, u.smtp_reply, u.message_id, u.remote_id,
            u.hold, u.retry_server_id, t(now), u.id, worker,
        )
        for u in sorted(batch.updates, key=lambda u: u.id)
    ]  # fmt: skip
    conn.exec_driver_sql(sql, rows)


def setup_pairs(rt: Runtime, pairs: int, seed: int) -> tuple[list[int], list[int]]:
    """2 x ``pairs`` messages in varied states, message 2k and 2k+1 alike; their ids."""
    apply(
        rt,
        {
            "servers": [smtp_server("s", 1), smtp_server("t", 2)],
            "plans": [{"name": "P", "servers": ["s", "t"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(rt, 2 * pairs)
    rng = random.Random(seed)
    M = table(Message)
    with rt.db.engine.begin() as conn:
        servers = list(conn.execute(select(SendingServer.id).order_by(SendingServer.id)).scalars())
        ids = list(conn.execute(select(M.c.id).order_by(M.c.id)).scalars())
        for a, b in zip(ids[::2], ids[1::2], strict=True):
            state = {
                "status": "sending",
                "attempts": rng.randint(0, 3),
                "attempts_here": rng.randint(0, 2),
                "server_id": rng.choice([None, *servers]),
                "claimed_by": rng.choice(["w", "w", "w", "other", None]),
                "reserved_server_id": rng.choice([None, servers[0]]),
                "reserved_at": NOW - timedelta(seconds=5),
                "handed_at": rng.choice([None, NOW - timedelta(seconds=1)]),
                "last_error": rng.choice([None, "earlier"]),
            }
            conn.execute(update(M).where(M.c.id.in_([a, b])).values(**state))
    return ids[::2], ids[1::2]


def random_update(rng: random.Random, mid: int, servers: list[int]) -> MessageUpdate:
    status = rng.choice(list(MessageStatus))
    sent = status is MessageStatus.SENT
    return MessageUpdate(
        mid,
        status,
        NOW + timedelta(seconds=rng.randint(0, 600)),
        rng.randint(0, 5),
        rng.choice([None, *servers]),
        sent_at=NOW if sent else None,
        last_error=rng.choice([None, "451 4.7.1 try later", "naïve ünïcode"]),
        smtp_code=rng.choice([None, 250, 451, 550]),
        smtp_reply=rng.choice([None, "2.0.0 Ok: queued as ABC"]),
        message_id=rng.choice([None, "<x@example.com>"]),
        remote_id="ABC" if sent else None,
        hold=rng.choice([None, "campaign_paused"]),
        retry_server_id=rng.choice([None, *servers]),
    )


def rows_of(rt: Runtime, ids: list[int]) -> list[tuple[Any, ...]]:
    M = table(Message)
    cols = [M.c[c] for c in COMPARED]
    stmt = select(*cols).where(M.c.id.in_(ids)).order_by(M.c.id)
    return [tuple(r) for r in rt.db.transaction(lambda c: c.execute(stmt).all())]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_batch_applies_what_one_update_per_message_did(rt: Runtime, seed: int) -> None:
    compare_with_per_message(rt, seed)


def test_a_batch_over_sqlites_bound_is_split_and_applies_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(write_back, "SQLITE_ROWS", 7)  # as if 2,000 were 7: many statements
    with Runtime.open(make_settings(tmp_path)) as rt:
        compare_with_per_message(rt, 6)


def compare_with_per_message(rt: Runtime, seed: int) -> None:
    firsts, seconds = setup_pairs(rt, 60, seed)
    servers = list(rt.db.transaction(lambda c: c.execute(select(SendingServer.id)).scalars().all()))
    rng = random.Random(seed)
    both: list[tuple[MessageUpdate, MessageUpdate]] = []
    for a, b in zip(firsts, seconds, strict=True):
        if rng.random() < 0.1:
            continue  # a claimed message with no outcome yet: untouched by both
        u = random_update(rng, a, servers)
        both.append((u, MessageUpdate(b, *_fields(u)[1:])))
        if rng.random() < 0.1:  # named twice: only the first applies, as before
            again = random_update(rng, a, servers)
            both.append((again, MessageUpdate(b, *_fields(again)[1:])))
    rng.shuffle(both)  # outcomes arrive in any order
    batch = RecordBatch(updates=[u for u, _ in both])
    reference = RecordBatch(updates=[r for _, r in both])
    before = rows_of(rt, firsts)
    rt.db.transaction(record_sync, "w", batch, NOW)
    rt.db.transaction(per_message, "w", reference, NOW)
    after = rows_of(rt, firsts)
    assert after == rows_of(rt, seconds)
    changed = sum(x != y for x, y in zip(before, after, strict=True))
    claimed = sum(r[COMPARED.index("claimed_by")] == "w" for r in before)
    assert 0 < changed < len(firsts)  # some rows were another's, or had no outcome
    assert changed <= claimed


def _fields(u: MessageUpdate) -> tuple[Any, ...]:
    return (
        u.id, u.status, u.due_at, u.attempts, u.server_id, u.sent_at, u.last_error, u.smtp_code,
        u.smtp_reply, u.message_id, u.remote_id, u.hold, u.retry_server_id,
    )  # fmt: skip


def test_a_row_claimed_by_another_worker_is_untouched(rt: Runtime) -> None:
    firsts, _ = setup_pairs(rt, 3, 0)
    M = table(Message)
    rt.db.transaction(lambda c: c.execute(update(M).values(claimed_by="other", attempts=1)))
    before = rows_of(rt, firsts)
    batch = RecordBatch(updates=[MessageUpdate(i, "sent", NOW, 2, sent_at=NOW) for i in firsts])
    rt.db.transaction(record_sync, "w", batch, NOW)
    assert rows_of(rt, firsts) == before


def test_attempts_here_counts_the_run_on_one_server(rt: Runtime) -> None:
    """Two deferrals on s, then one on t: s's run is 2, t's starts again at 1."""
    firsts, _ = setup_pairs(rt, 1, 0)
    mid = firsts[0]
    s, t = rt.db.transaction(
        lambda c: c.execute(select(SendingServer.id).order_by(SendingServer.id)).scalars().all()
    )
    M = table(Message)
    start = {"claimed_by": "w", "attempts": 0, "attempts_here": 0, "server_id": None}
    rt.db.transaction(lambda c: c.execute(update(M).where(M.c.id == mid).values(**start)))
    here = []
    for attempts, server in ((1, s), (2, s), (3, t)):
        rt.db.transaction(
            lambda c: c.execute(update(M).where(M.c.id == mid).values(claimed_by="w"))
        )
        u = MessageUpdate(mid, "deferred", NOW, attempts, server)
        rt.db.transaction(record_sync, "w", RecordBatch(updates=[u]), NOW)
        here.append(rows_of(rt, [mid])[0][COMPARED.index("attempts_here")])
    assert here == [1, 2, 1]


def test_a_batch_is_one_update_of_messages(rt: Runtime) -> None:
    firsts, seconds = setup_pairs(rt, 150, 4)
    M = table(Message)
    rt.db.transaction(lambda c: c.execute(update(M).values(claimed_by="w")))
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith(("UPDATE MESSAGES", "WITH")):
            statements.append(statement)

    updates = [MessageUpdate(i, "sent", NOW, 1, sent_at=NOW) for i in firsts + seconds]
    event.listen(rt.db.engine, "before_cursor_execute", seen)
    try:
        rt.db.transaction(record_sync, "w", RecordBatch(updates=updates), NOW)
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    assert {r[0] for r in rows_of(rt, firsts + seconds)} == {"sent"}


def test_the_last_messages_settled_finish_their_campaign(rt: Runtime) -> None:
    firsts, seconds = setup_pairs(rt, 2, 5)
    M, C = table(Message), table(Campaign)
    rt.db.transaction(lambda c: c.execute(update(M).values(claimed_by="w")))
    ids = firsts + seconds
    status = select(C.c.status)
    sent = [MessageUpdate(i, "sent", NOW, 1, sent_at=NOW) for i in ids[:-1]]
    rt.db.transaction(record_sync, "w", RecordBatch(updates=sent), NOW)
    assert rt.db.transaction(lambda c: c.execute(status).scalar_one()) == CampaignStatus.SENDING
    # The last one deferred leaves the campaign sending; sent, it finishes it.
    later = [MessageUpdate(ids[-1], "deferred", NOW, 1)]
    rt.db.transaction(record_sync, "w", RecordBatch(updates=later), NOW)
    assert rt.db.transaction(lambda c: c.execute(status).scalar_one()) == CampaignStatus.SENDING
    rt.db.transaction(lambda c: c.execute(update(M).values(claimed_by="w")))
    last = [MessageUpdate(ids[-1], "sent", NOW, 2, sent_at=NOW)]
    rt.db.transaction(record_sync, "w", RecordBatch(updates=last), NOW)
    assert rt.db.transaction(lambda c: c.execute(status).scalar_one()) == CampaignStatus.DONE


def test_sqlite_finds_each_row_by_its_key(tmp_path: Path) -> None:
    """The batch is joined to messages by primary key, never by scanning the table."""
    rt = Runtime.open(make_settings(tmp_path))
    try:
        plan = rt.db.transaction(
            lambda c: c.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + write_back.write_back_sql("sqlite", 3),
                (None,) * (3 * 13 + 2),
            ).all()
        )
    finally:
        rt.close()
    details = [str(row[-1]) for row in plan]
    assert any("m USING INTEGER PRIMARY KEY" in d for d in details), details
    assert not any(d.startswith("SCAN m") for d in details), details
