"""The report store on both back ends: insert-or-nothing, rates by send time, per sending domain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, update

from sendpool.runtime import Runtime
from sendpool.secretbox import RETURN_PATH_PURPOSE
from sendpool.services.inbound.handle import Envelope, ReportHandler, policy_from
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.services.servers.stats import activity_24h, activity_by_domain_24h, server_stats
from sendpool.store.tables import Customer, Message, SendingServer
from tests.support.report_mail import Rcpt, arf, dsn
from tests.support.scenario import apply, make_campaign, send_until_settled, smtp_server
from tests.support.services import PgDatabases
from tests.support.settings import make_settings
from tests.support.sinks import StartSinks

LISTENER = Envelope("", ("bounces@bounce.example.net",), "smtp")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    overrides: dict[str, object] = {"bounce_domain": "bounce.example.net"}
    dbs = None
    if request.param == "postgresql":
        dbs = PgDatabases(request.getfixturevalue("pg_url"))
        overrides["database_url"] = dbs.create()
    runtime = Runtime.open(make_settings(tmp_path, **overrides))
    try:
        yield runtime
    finally:
        runtime.close()
        if dbs is not None:
            dbs.drop(str(overrides["database_url"]))
            dbs.close()


async def test_reports_apply_once_and_count_per_server_and_sending_domain(
    rt: Runtime, sinks: StartSinks
) -> None:
    (sink,) = await sinks(1)
    apply(
        rt,
        {
            "servers": [smtp_server(sink.name, sink.port)],
            "plans": [{"name": "P", "servers": [sink.name]}],
            "customers": [
                {
                    "name": "acme",
                    "plan": "P",
                    "sending_domains": ["example.com", "mail.example.com"],
                }
            ],
        },
    )
    _, uid = make_campaign(rt, 4, sender="news@example.com")
    await send_until_settled(rt, uid)
    handler = ReportHandler.from_runtime(rt)
    by_rcpt = {m.recipients[0]: m for m in sink.messages}
    now = datetime.now(UTC) + timedelta(minutes=5)
    raw = dsn(by_rcpt["user0@example.com"], [Rcpt("user0@example.com", "5.1.1")])
    got = [await handler(raw, LISTENER, now) for _ in range(3)]
    outcomes = [h.outcome for h in got]
    assert outcomes == ["applied", "duplicate", "duplicate"]
    complaint = arf(by_rcpt["user1@example.com"])
    assert (await handler(complaint, LISTENER, now)).outcome == "applied"
    assert (await handler(complaint, LISTENER, now)).outcome == "duplicate"

    stats = rt.db.transaction(server_stats, rt.box, sink.name, now)
    assert (stats.sent_last_24h, stats.bounces_last_24h, stats.complaints_last_24h) == (4, 1, 1)
    assert stats.bounce_rate_last_24h == 0.25 and stats.complaint_rate_last_24h == 0.25

    def transactional(conn: Connection) -> None:
        customer = conn.execute(select(Customer.id)).scalar_one()
        server = conn.execute(select(SendingServer.id)).scalar_one()
        uid = enqueue_transactional(
            conn,
            customer_id=customer,
            to="t@example.org",
            subject="hi",
            from_email="alerts@Mail.Example.com",
            text="hello",
            now=now,
        )
        # As the recorder leaves it once sent: the From is only in its payload.
        sent = {"status": "sent", "server_id": server, "sent_at": now}
        conn.execute(update(Message).where(Message.uid == uid).values(**sent))

    rt.db.transaction(transactional)
    rows = rt.db.transaction(activity_by_domain_24h, now)
    got = {(r.domain, r.activity.sent, r.activity.bounces, r.activity.complaints) for r in rows}
    assert got == {("example.com", 4, 1, 1), ("mail.example.com", 1, 0, 0)}


async def test_the_pause_counts_sends_only_as_far_as_they_matter(
    rt: Runtime, sinks: StartSinks
) -> None:
    (sink,) = await sinks(1)
    apply(
        rt,
        {
            "servers": [smtp_server(sink.name, sink.port)],
            "plans": [{"name": "P", "servers": [sink.name]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    _, uid = make_campaign(rt, 40)
    await send_until_settled(rt, uid)
    # A minimum of 10 sends and 4 %: one bounce could pause at most 25 sends, and
    # there are 40, so one does not (the sends are not counted past 27); two do.
    policy = {"bounce_min_volume": 10, "pause_bounce_rate": 0.04}
    settings = rt.settings.model_copy(update=policy)
    key = rt.box.derive(RETURN_PATH_PURPOSE)
    handler = ReportHandler(rt.db, key, policy_from(settings))
    msgs = {m.recipients[0]: m for m in sink.messages}
    now = datetime.now(UTC)
    for i, expect_paused in ((0, False), (1, True)):  # 2 in 40 is 5 %: paused
        rcpt = f"user{i}@example.com"
        handled = await handler(dsn(msgs[rcpt], [Rcpt(rcpt, "5.1.1")]), LISTENER, now)
        assert handled.outcome == "applied", handled.note
        assert ("paused: bounce rate 5.0 % over 40 sends" in handled.note) is expect_paused, (
            handled.note,
            rt.db.transaction(lambda c: activity_24h(c, [1], now)),
        )
    status = rt.db.transaction(lambda c: c.execute(select(SendingServer.status)).scalar_one())
    assert status == "paused"
