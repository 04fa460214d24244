"""Padded lists: few statement texts for SQLite to compile, the same rows changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from sendpool.runtime import Runtime
from sendpool.store.holdings import mark_handed_sync
from sendpool.store.queue import claim_sync, record_sync
from sendpool.store.records import MessageUpdate, RecordBatch
from sendpool.store.sqlite_lists import LENGTHS, marks, pad, padded_length
from sendpool.store.tables import Message, table
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.settings import make_settings

NOW = datetime.now(UTC) + timedelta(hours=1)  # every message of the campaign is due


@pytest.mark.parametrize(
    ("n", "length"),
    [(0, 1), (1, 1), (2, 2), (5, 6), (13, 16), (129, 192), (1024, 1024), (1025, 1025)],
)
def test_a_list_is_padded_to_the_next_length_and_never_cut(n: int, length: int) -> None:
    assert padded_length(n) == length
    assert len(pad(list(range(n)))) == max(n, length) == marks(n).count("?")


def test_no_padded_list_is_more_than_half_again_as_long_as_itself() -> None:
    assert list(LENGTHS) == sorted(set(LENGTHS))
    for n in range(1, LENGTHS[-1] + 1):
        assert n <= padded_length(n) <= max(2, n * 3 // 2)
    assert pad(["a", "b", "c", "d", "e"]) == ("a", "b", "c", "d", "e", None)


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    runtime = Runtime.open(make_settings(tmp_path))
    apply(
        runtime,
        {
            "servers": [smtp_server("s", 1)],
            "plans": [{"name": "P", "servers": ["s"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    return runtime


def texts_while(rt: Runtime, fn: Any) -> set[str]:
    """The distinct statement texts sent to SQLite while ``fn`` runs."""
    seen: set[str] = set()

    def note(_conn: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        seen.add(statement)

    event.listen(rt.db.engine, "before_cursor_execute", note)
    try:
        fn()
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", note)
    return seen


def test_batches_of_every_size_share_a_few_statements_and_change_exactly_their_rows(
    rt: Runtime,
) -> None:
    make_campaign(rt, 400)
    claimed = rt.db.transaction(claim_sync, "w", 400, NOW, NOW)
    ids = sorted(m.id for m in claimed)
    assert len(ids) == 400
    sizes = list(range(1, 25))
    sizes.append(len(ids) - sum(sizes))
    batches, start = [], 0
    for size in sizes:
        batches.append(ids[start : start + size])
        start += size

    def handed_and_written() -> None:
        for batch in batches:
            rt.db.transaction(mark_handed_sync, "w", batch, NOW)
            updates = [MessageUpdate(i, "sent", NOW, 1, None, sent_at=NOW) for i in batch]
            rt.db.transaction(record_sync, "w", RecordBatch(updates=updates), NOW)

    texts = texts_while(rt, handed_and_written)
    handed = {t for t in texts if t.startswith("UPDATE messages SET handed_at")}
    written = {t for t in texts if "UPDATE messages AS m" in t}
    lengths = {padded_length(s) for s in sizes}
    assert len(handed) == len(written) == len(lengths) < len(sizes) / 2
    M = table(Message)
    rows = rt.db.transaction(
        lambda c: c.execute(select(M.c.status, M.c.claimed_by).where(M.c.id.in_(ids))).all()
    )
    assert sorted(set(rows)) == [("sent", None)] and len(rows) == 400
