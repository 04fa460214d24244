"""A server whose bounce rate crosses the threshold over the minimum volume pauses; an operator resumes it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY
from sqlalchemy import Connection, select

from sendpool.pipeline.pool import PoolCache
from sendpool.runtime import Runtime
from sendpool.services.inbound.handle import Envelope, ReportHandler
from sendpool.services.operations.audit import list_audit
from sendpool.services.servers.commands import update_server
from sendpool.services.servers.queries import get_server
from sendpool.sinks import Received
from sendpool.store.catalog import SqlCatalog
from sendpool.store.tables import DispatchSkip, Message, SendingServer
from sendpool.web import forms
from sendpool.web.forms import server_values
from sendpool.web.views.servers import save_server, server_page
from tests.support.report_mail import Rcpt, arf, dsn
from tests.support.scenario import make_campaign, pool_of_sinks, recipients_csv, send_until_settled
from tests.support.settings import make_settings
from tests.support.sinks import StartSinks

REASON = "complaint rate 10.0 % over 10 sends"
LISTENER = Envelope("", ("bounces@bounce.example.net",), "smtp")


def status(rt: Runtime, name: str) -> tuple[str, str | None]:
    def read(conn: Connection) -> tuple[str, str | None]:
        row = conn.execute(
            select(SendingServer.status, SendingServer.status_reason).where(
                SendingServer.name == name
            )
        ).one()
        return row.status, row.status_reason

    return rt.db.transaction(read)


def pauses(server: str) -> float:
    value = REGISTRY.get_sample_value("sendpool_server_auto_pauses_total", {"server": server})
    return value or 0.0


def bounce(sent: Received) -> bytes:
    rcpt = sent.recipients[0]
    return dsn(sent, [Rcpt(rcpt, "5.1.1", diagnostic=f"550 5.1.1 <{rcpt}>: User unknown")])


async def send_campaign(rt: Runtime, n: int, start: int) -> str:
    _, uid = make_campaign(rt, n, csv=recipients_csv(n, start))
    await send_until_settled(rt, uid)
    return uid


async def test_a_bounce_spike_over_the_minimum_volume_pauses_the_server_until_resumed(
    tmp_path: Path, sinks: StartSinks
) -> None:
    settings = make_settings(
        tmp_path, bounce_domain="bounce.example.net", bounce_min_volume=20, pause_bounce_rate=0.05
    )
    with Runtime.open(settings) as rt:
        a, b = await sinks(2)
        pool_of_sinks(rt, [a, b])
        await send_campaign(rt, 38, 0)  # 19 each: under the minimum volume
        handler = ReportHandler.from_runtime(rt)
        now = datetime.now(UTC)
        first = await handler(bounce(a.messages[0]), LISTENER, now)
        assert first.outcome == "applied" and "paused" not in first.note
        assert status(rt, a.name) == ("active", None)  # 1 in 19 is 5.3 %, but too little mail

        await send_campaign(rt, 2, 100)  # one more each: 20 sends, the minimum
        before = pauses(a.name)
        second = await handler(bounce(a.messages[1]), LISTENER, datetime.now(UTC))
        assert "paused: bounce rate 10.0 % over 20 sends" in second.note
        assert status(rt, a.name) == ("paused", "bounce rate 10.0 % over 20 sends")
        assert status(rt, b.name) == ("active", None)
        assert pauses(a.name) == before + 1
        audit = rt.db.transaction(list_audit, action="server.pause")
        assert [(e.server_name, e.actor, e.detail["reason"]) for e in audit] == [
            (a.name, "sendpool", "bounce rate 10.0 % over 20 sends")
        ]
        # A third bounce finds it paused already: no second pause, no second audit entry.
        await handler(bounce(a.messages[2]), LISTENER, datetime.now(UTC))
        assert pauses(a.name) == before + 1
        assert len(rt.db.transaction(list_audit, action="server.pause")) == 1

        # Workers see it through the pool cache, and the dispatcher skips it with the reason.
        cache = PoolCache(SqlCatalog(rt.db, rt.box), ttl=0)
        views = {v.name: v for v in (await cache.get(datetime.now(UTC))).views.values()}
        assert views[a.name].paused_reason == "bounce rate 10.0 % over 20 sends"
        assert not views[a.name].enabled and views[b.name].paused_reason is None
        got_a, got_b = a.count, b.count
        await send_campaign(rt, 6, 200)
        assert (a.count, b.count) == (got_a, got_b + 6)

        def skips(conn: Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                select(DispatchSkip.code, DispatchSkip.last_reason)
                .join(SendingServer, SendingServer.id == DispatchSkip.server_id)
                .where(SendingServer.name == a.name)
            ).all()
            return [(c, r) for c, r in rows]

        assert ("server_paused", "paused: bounce rate 10.0 % over 20 sends") in rt.db.transaction(
            skips
        )
        detail = rt.db.transaction(get_server, rt.box, a.name)
        assert detail.status == "paused" and detail.status_reason is not None

        # An operator resumes it: active again, the reason gone, and it sends.
        rt.db.transaction(
            update_server,
            rt.box,
            a.name,
            changes={"status": "active"},
            actor="admin@example.com",
            now=datetime.now(UTC),
        )
        assert status(rt, a.name) == ("active", None)
        resumed = rt.db.transaction(list_audit, action="server.update")
        assert resumed[0].detail["changes"]["status"] == {"from": "paused", "to": "active"}
        await send_campaign(rt, 6, 300)
        assert a.count > got_a


async def test_a_complaint_spike_pauses_and_the_reason_is_in_the_message_log(
    tmp_path: Path, sinks: StartSinks
) -> None:
    settings = make_settings(
        tmp_path,
        bounce_domain="bounce.example.net",
        bounce_min_volume=10,
        pause_complaint_rate=0.05,
    )
    with Runtime.open(settings) as rt:
        (a,) = await sinks(1)
        pool_of_sinks(rt, [a])
        await send_campaign(rt, 10, 0)
        handled = await ReportHandler.from_runtime(rt)(
            arf(a.messages[0]), LISTENER, datetime.now(UTC)
        )
        assert handled.kind == "complaint"
        assert status(rt, a.name) == ("paused", REASON)
        # The only server is paused: new mail waits, and says why.
        make_campaign(rt, 2, csv=recipients_csv(2, 50))
        worker = rt.worker()
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))

        def waiting(conn: Connection) -> list[str | None]:
            return list(
                conn.execute(
                    select(Message.last_error).where(Message.recipient.like("user5_@%"))
                ).scalars()
            )

        try:
            async with asyncio.timeout(30):
                while not all(e and f"paused: {REASON}" in e for e in rt.db.transaction(waiting)):
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
        assert a.count == 10


async def test_enabled_in_a_pool_file_or_the_form_does_not_resume_a_paused_server(
    tmp_path: Path, sinks: StartSinks
) -> None:
    settings = make_settings(
        tmp_path, bounce_domain="bounce.example.net", bounce_min_volume=10, pause_bounce_rate=0.05
    )
    with Runtime.open(settings) as rt:
        (a,) = await sinks(1)
        pool_of_sinks(rt, [a])
        await send_campaign(rt, 10, 0)
        await ReportHandler.from_runtime(rt)(bounce(a.messages[0]), LISTENER, datetime.now(UTC))
        paused = status(rt, a.name)
        assert paused[0] == "paused"
        # The same pool file again ("enabled" by default), and the form saved as shown.
        pool_of_sinks(rt, [a])
        assert status(rt, a.name) == paused
        page = rt.db.transaction(server_page, rt.box, a.name, datetime.now(UTC))
        shown = server_values(page)
        assert shown["enabled"] == "on", "a paused server is still enabled"
        form = forms.parse_server(shown, "smtp", creating=False)
        assert form.fields["status"] == "active"
        now = datetime.now(UTC)
        rt.db.transaction(
            save_server, rt.box, a.name, changes=form.fields, handlers={}, actor="a", now=now
        )
        assert status(rt, a.name) == paused
        # Unchecking it disables the server, as it would any other.
        form = forms.parse_server({**shown, "enabled": ""}, "smtp", creating=False)
        rt.db.transaction(
            save_server, rt.box, a.name, changes=form.fields, handlers={}, actor="a", now=now
        )
        assert status(rt, a.name)[0] == "disabled"
