"""The pool page reads the pool once, in one transaction, and shows what the separate reads say."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, event, select

from sendpool.services.operations.backoffs import active_backoffs
from sendpool.services.operations.explain import plan_stories
from sendpool.services.operations.provider_limits import group_limits
from sendpool.store.tables import SendingServer
from sendpool.web.views.pool import pool_page, pool_screen
from tests.support.admin_world import Web
from tests.web.test_backoff_visibility import engage


def _server_name(web: Web) -> str:
    uid = web.ids["server_smtp"]
    query = select(SendingServer.name).where(SendingServer.uid == uid)
    return str(web.rt.db.transaction(lambda c: c.execute(query).scalar_one()))


def test_the_screen_is_what_each_part_reads_by_itself(admin: Web) -> None:
    engage(admin.rt, _server_name(admin))  # a back-off, which the pool load carries
    now = datetime.now(UTC)

    def both(conn: Connection) -> tuple[Any, ...]:
        alone = (
            pool_page(conn, admin.rt.box, now),
            plan_stories(conn, now),
            active_backoffs(conn, now),
            group_limits(conn),
        )
        return alone, pool_screen(conn, now)

    (page, stories, backoffs, limits), screen = admin.rt.db.transaction(both)
    assert screen.pool == page and screen.pool.servers  # the same lines, in the same order
    assert screen.stories == stories and stories
    assert screen.backoffs == backoffs and backoffs
    assert screen.provider_limits == limits


def test_the_screen_skips_what_the_page_does_not_show(admin: Web) -> None:
    """No server's 24-hour returns (the page shows none), no per-plan re-reads of the pool."""
    seen: list[str] = []

    def capture(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        seen.append(statement)

    engine = admin.rt.db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        screen = admin.rt.db.transaction(pool_screen, datetime.now(UTC))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert all(line.bounce_rate == 0.0 for line in screen.pool.servers)
    assert not [s for s in seen if "delivery_events" in s or "events_by_minute" in s]
    assert sum("FROM sending_servers" in s for s in seen) == 2  # the pool, and its order
    assert sum("FROM customers" in s for s in seen) == 1
    assert sum("FROM region_rules" in s for s in seen) == 1


async def test_the_page_is_one_read(admin: Web) -> None:
    """Its servers, forecasts, back-offs and limits in one transaction of the readers."""
    begun: list[object] = []

    def count(conn: object) -> None:
        begun.append(conn)

    reader = admin.rt.db.reader
    event.listen(reader, "begin", count)
    try:
        before = len(begun)
        page = (await admin.client.get("/admin/pool")).text
        reads = len(begun) - before
    finally:
        event.remove(reader, "begin", count)
    assert 'data-test="forecast"' in page and 'data-test="pool-usage"' in page
    assert reads == 1, reads


def test_the_page_lines_equal_the_servers_page_s_but_for_returns(admin: Web) -> None:
    from sendpool.web.views.servers import server_lines

    now = datetime.now(UTC)
    lines = admin.rt.db.transaction(server_lines, admin.rt.box, now)
    screen = admin.rt.db.transaction(pool_screen, now)
    plain = [dataclasses.replace(x, bounce_rate=0.0, bounce_level="ok") for x in lines]
    assert screen.pool.servers == plain
