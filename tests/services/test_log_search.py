"""The message log's search by recipient: exact and prefix, any case, an index range, never LIKE."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.errors import FieldError
from sendpool.services.messages.log import log_query, message_log
from sendpool.services.tenancy import customers
from sendpool.store.tables import Message, table

NOW = datetime(2030, 11, 27, 12, tzinfo=UTC)
OURS = [
    "Ann.Lee@Example.com",
    "ann.lee@example.com.au",
    "anna@example.com",
    "bob@example.com",
    "%x@example.com",
    "a_b@example.com",
    "a\\b@example.com",
]
THEIRS = ["ann.lee@example.com"]


def add_messages(conn: Connection, customer_id: int, recipients: list[str]) -> None:
    base = conn.execute(select(func.count()).select_from(Message)).scalar_one()
    rows = [
        {
            "uid": f"m{base + n}",
            "customer_id": customer_id,
            "recipient": r,
            "kind": "transactional",
            "status": "sent",
            "attempts": 1,
            "attempts_here": 1,
            "due_at": NOW,
            "queued_at": NOW,
            "updated_at": NOW,
        }
        for n, r in enumerate(recipients)
    ]
    conn.execute(table(Message).insert(), rows)


def two_customers(conn: Connection) -> tuple[int, int]:
    ids = []
    for name, recipients in (("acme", OURS), ("other", THEIRS)):
        customers.create_customer(conn, fields={"name": name}, actor="t", now=NOW)
        ids.append(refs.customer_id(conn, name))
        add_messages(conn, ids[-1], recipients)
    return ids[0], ids[1]


def found(conn: Connection, customer_id: int, query: str, match: str = "prefix") -> list[str]:
    rows = message_log(conn, customer_id=customer_id, recipient=query, match=match)
    return sorted(r.recipient for r in rows)


SEARCHES = [
    ("ann.lee@", "prefix", ["Ann.Lee@Example.com", "ann.lee@example.com.au"]),
    ("ANN.LEE@EXAMPLE.COM", "exact", ["Ann.Lee@Example.com"]),
    ("ann.lee@example.com", "prefix", ["Ann.Lee@Example.com", "ann.lee@example.com.au"]),
    (
        "a",
        "prefix",
        [
            "Ann.Lee@Example.com",
            "a\\b@example.com",
            "a_b@example.com",
            "ann.lee@example.com.au",
            "anna@example.com",
        ],
    ),  # fmt: skip
    ("%", "prefix", ["%x@example.com"]),  # a plain character, not LIKE's "anything"
    ("a_", "prefix", ["a_b@example.com"]),  # not "any one character": anna does not match
    ("a\\", "prefix", ["a\\b@example.com"]),
    ("anna@example.co", "exact", []),
    ("nobody", "prefix", []),
]


def check_searches(runtime: Runtime) -> None:
    ours, theirs = runtime.db.transaction(two_customers)
    with runtime.db.engine.connect() as conn:
        for query, match, expected in SEARCHES:
            assert found(conn, ours, query, match) == expected, (query, match)
        assert found(conn, theirs, "ann.lee@example.com", "exact") == THEIRS


def test_exact_and_prefix_ignore_case_and_treat_like_characters_as_text(runtime: Runtime) -> None:
    check_searches(runtime)


BAD = [
    ("", "give at least one character"),
    ("   ", "give at least one character"),
    ("x" * 10_000, "at most 320 characters"),
    ("ann\x00lee", "control characters"),
    ("ann\r\nlee", "control characters"),
    ("ann\ufffd", "not valid UTF-8"),
]


@pytest.mark.parametrize(("query", "says"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_searches_are_refused_by_name(runtime: Runtime, query: str, says: str) -> None:
    ours, _ = runtime.db.transaction(two_customers)
    with runtime.db.engine.connect() as conn, pytest.raises(FieldError) as refused:
        message_log(conn, customer_id=ours, recipient=query)
    assert refused.value.errors[0][0] == "recipient" and says in refused.value.errors[0][1]


def test_keyset_pages_read_on_from_the_last_uid(runtime: Runtime) -> None:
    ours, _ = runtime.db.transaction(two_customers)
    runtime.db.transaction(add_messages, ours, ["Zed@example.com"] * 5)
    with runtime.db.engine.connect() as conn:
        seen: list[str] = []
        after = None
        while True:
            page = message_log(conn, customer_id=ours, recipient="zed@", limit=2, after=after)
            seen += [r.uid for r in page]
            if len(page) < 2:
                break
            after = page[-1].uid
        every = (
            conn.execute(
                select(Message.uid)
                .where(Message.recipient == "Zed@example.com")
                .order_by(Message.id)
            )
            .scalars()
            .all()
        )
        assert seen == list(every)
        with pytest.raises(FieldError, match="no message 'nope'"):
            message_log(conn, customer_id=ours, after="nope")


def plan_of(conn: Connection, **query: Any) -> list[str]:
    compiled = log_query(conn, **query).compile(conn)
    params = tuple(compiled.params[k] for k in compiled.positiontup or ())
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, params).all()
    return [str(r[-1]) for r in rows]


def test_the_search_reads_the_recipient_index_and_no_whole_table(runtime: Runtime) -> None:
    ours, _ = runtime.db.transaction(two_customers)
    with runtime.db.engine.connect() as conn:
        for match in ("exact", "prefix"):
            plan = plan_of(conn, customer_id=ours, recipient="Ann.Lee@", match=match)
            reads = [p for p in plan if p.startswith(("SCAN messages", "SEARCH messages"))]
            # The range in the index alone, then the page's rows by id: nothing else.
            assert reads == [
                "SEARCH messages USING INTEGER PRIMARY KEY (rowid=?)",
                "SEARCH messages USING COVERING INDEX ix_messages_customer_recipient"
                + (" (customer_id=? AND recipient=?)" if match == "exact"
                   else " (customer_id=? AND recipient>? AND recipient<?)"),
            ], plan  # fmt: skip
