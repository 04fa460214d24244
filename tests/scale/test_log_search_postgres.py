"""The message log's search on PostgreSQL: the same answers, and a plan that reads the index."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, text

from sendpool.runtime import Runtime
from sendpool.services.messages.log import log_query
from tests.scale.partition_plans import as_parent
from tests.services.test_log_search import check_searches, two_customers

pytestmark = pytest.mark.services


def test_exact_and_prefix_ignore_case_on_postgres(runtime: Runtime) -> None:
    check_searches(runtime)


def plan_of(conn: Connection, **query: Any) -> str:
    compiled = log_query(conn, **query).compile(conn)
    rows = conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).all()
    return as_parent(conn, "\n".join(str(r[0]) for r in rows))


def test_the_search_reads_the_index_range_at_any_table_size(runtime: Runtime) -> None:
    ours, theirs = runtime.db.transaction(two_customers)
    with runtime.db.engine.begin() as conn:  # enough rows that a scan would cost
        conn.execute(
            text(
                "INSERT INTO messages (uid, customer_id, recipient, kind, status, attempts,"
                " attempts_here, due_at, queued_at, updated_at)"
                " SELECT 'bulk' || g, CASE WHEN g % 2 = 0 THEN :a ELSE :b END,"
                " 'user' || g || '@example.com', 'transactional', 'sent', 1, 1,"
                " now(), now(), now() FROM generate_series(1, 20000) AS g"
            ),
            {"a": ours, "b": theirs},
        )
        conn.execute(text("ANALYZE messages"))
    with runtime.db.engine.connect() as conn:
        # A prefix that matches most of a customer's rows ("u") may be read by a scan:
        # it costs the same as the range then. Anything narrower reads the range.
        for match, query in (
            ("exact", "User42@Example.com"),
            ("prefix", "user42"),
            ("prefix", "user4"),
        ):
            plan = plan_of(conn, customer_id=ours, recipient=query, match=match)
            assert "ix_messages_customer_recipient" in plan, plan
            assert "Seq Scan on messages" not in plan, plan
            # The table is read by id for the page's rows only, never walked and filtered.
            assert "Filter: (customer_id" not in plan, plan
        assert [r for r in conn.execute(log_query(conn, customer_id=ours, recipient="USER42@"))]
