"""Each fault mode against the whole pipeline: the message's end, the server's health, the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.sinks import SmtpSink
from sendpool.store.ledger_sql import usage_sync
from sendpool.store.tables import DeliveryEvent, Message, SendingServer, Suppression
from tests.support.faulty_smtp import BUSY_GREETING, Data, Fault, FaultyServer, Tls
from tests.support.loopback import TlsKit, refusing_port
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.settings import make_settings


@dataclass
class Row:
    status: str
    attempts: int
    server: str | None
    last_error: str | None
    smtp_code: int | None
    due_at: datetime


def message(rt: Runtime) -> Row:
    return rt.db.transaction(message_in)


def message_in(conn: Any) -> Row:
    r = conn.execute(
        select(
            Message.status,
            Message.attempts,
            SendingServer.name,
            Message.last_error,
            Message.smtp_code,
            Message.due_at,
        ).outerjoin(SendingServer, SendingServer.id == Message.server_id)
    ).one()
    return Row(*r)


def health(rt: Runtime, name: str) -> tuple[str, str | None]:
    return rt.db.transaction(
        lambda c: c.execute(
            select(SendingServer.health, SendingServer.health_error).where(
                SendingServer.name == name
            )
        ).one()
    )


def used_today(rt: Runtime, server_id: int) -> int:
    w = windows_at(datetime.now(UTC))
    return rt.db.transaction(usage_sync, {server_id: w})[server_id].day_used


async def run_until(rt: Runtime, done: Callable[[Row], bool], timeout: float = 20.0) -> Row:
    worker = rt.worker(health_checks=False)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while True:
                await asyncio.sleep(0.02)
                row = await rt.db.run(message_in)
                if done(row):
                    return row
    finally:
        stop.set()
        await task


def pool(rt: Runtime, faulty_port: int, *, with_backup: int | None, **faulty: Any) -> None:
    servers = [smtp_server("faulty", faulty_port, helo_name="test", **faulty)]
    if with_backup is not None:
        servers.append(smtp_server("backup", with_backup, helo_name="test"))
    apply(
        rt,
        {
            "servers": servers,
            "plans": [{"name": "P", "servers": [s["name"] for s in servers]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
        {"PW": "secret"},
    )


@pytest.fixture
def fast_runtime(tmp_path: Path) -> Runtime:
    rt = Runtime.open(make_settings(tmp_path, send_timeout=0.5, retry_base_seconds=30.0))
    yield rt  # type: ignore[misc]
    rt.close()


SERVER_LEVEL = {
    "421 at the greeting": ({"default": BUSY_GREETING}, {}),
    "535 on AUTH": (
        {
            "default": Fault(auth="535 5.7.8 Authentication credentials invalid"),
            "credentials": ("mailer", "secret"),
        },
        {"username": "mailer", "password_env": "PW"},
    ),
    "TLS handshake fails": (
        {"default": Fault(tls=Tls.UNTRUSTED), "tls": "starttls"},
        {"encryption": "starttls"},
    ),
}


@pytest.mark.parametrize("case", sorted(SERVER_LEVEL))
async def test_a_server_failure_degrades_the_server_and_another_server_sends(
    fast_runtime: Runtime, case: str
) -> None:
    options, settings = SERVER_LEVEL[case]
    if options.get("tls"):
        options = {**options, "tls_kit": TlsKit.create()}
    async with FaultyServer(**options) as faulty:
        backup = await SmtpSink("backup").start()
        try:
            pool(fast_runtime, faulty.port, with_backup=backup.port, **settings)
            make_campaign(fast_runtime, 1)
            row = await run_until(fast_runtime, lambda r: r.status == "sent")
        finally:
            await backup.stop()
        assert faulty.connections >= 1, "the faulty server was tried first"
        assert faulty.accepted == 0
    assert (row.server, row.attempts) == ("backup", 1), "the failed try is not counted"
    assert backup.count == 1
    state, error = health(fast_runtime, "faulty")
    assert state == "degraded" and error
    assert used_today(fast_runtime, 1) == 0, "the faulty server's unit was given back"
    assert used_today(fast_runtime, 2) == 1


LOST_REPLY = {
    "dropped in the middle of DATA": Fault(data=Data.DROP),
    "stalls until the client times out": Fault(data=Data.STALL),
}


@pytest.mark.parametrize("case", sorted(LOST_REPLY))
async def test_a_lost_reply_keeps_the_unit_and_the_resend_says_it_may_be_a_duplicate(
    tmp_path: Path, case: str
) -> None:
    # Once the body went out, no reply is no proof of no delivery (RFC 1047): the
    # unit stays spent, the server is degraded, and the message comes back after a
    # back-off, marked, to the server that is healthy.
    settings = make_settings(tmp_path, send_timeout=0.5, retry_base_seconds=0.2)
    with Runtime.open(settings) as rt:
        async with FaultyServer(default=LOST_REPLY[case]) as faulty:
            backup = await SmtpSink("backup").start()
            try:
                pool(rt, faulty.port, with_backup=backup.port)
                make_campaign(rt, 1)
                row = await run_until(rt, lambda r: r.status == "sent")
            finally:
                await backup.stop()
        assert (row.server, row.attempts) == ("backup", 2)
        assert used_today(rt, 1) == 1, "the faulty server's unit stays spent"
        assert used_today(rt, 2) == 1
        assert health(rt, "faulty")[0] == "degraded"
        (received,) = backup.handler.messages
        assert b"X-Sendpool-Possible-Duplicate: yes" in received.data


async def test_a_refused_connection_fails_over(fast_runtime: Runtime) -> None:
    backup = await SmtpSink("backup").start()
    try:
        with refusing_port() as port:
            pool(fast_runtime, port, with_backup=backup.port)
            make_campaign(fast_runtime, 1)
            row = await run_until(fast_runtime, lambda r: r.status == "sent")
    finally:
        await backup.stop()
    assert row.server == "backup"
    assert health(fast_runtime, "faulty")[0] == "degraded"
    assert "connect" in (health(fast_runtime, "faulty")[1] or "")
    assert used_today(fast_runtime, 1) == 0


TRANSIENT = {
    "451 on RCPT": "451 4.3.0 Temporary failure",
    "452 on RCPT": "452 4.5.3 Too many recipients",
    "421 on RCPT": "421 4.4.2 Connection dropped",
}


@pytest.mark.parametrize("case", sorted(TRANSIENT))
async def test_a_transient_recipient_failure_defers_with_back_off(
    fast_runtime: Runtime, case: str
) -> None:
    reply = TRANSIENT[case]
    async with FaultyServer(default=Fault(rcpt=reply)) as faulty:
        pool(fast_runtime, faulty.port, with_backup=None)
        make_campaign(fast_runtime, 1)
        before = datetime.now(UTC)
        row = await run_until(fast_runtime, lambda r: r.status == "deferred")
    assert (row.attempts, row.smtp_code, row.server) == (1, int(reply[:3]), "faulty")
    assert row.last_error and reply[:3] in row.last_error
    assert (row.due_at - before).total_seconds() >= 14, "retried later, not at once"
    assert health(fast_runtime, "faulty")[0] != "degraded", "the recipient, not the server, failed"
    assert used_today(fast_runtime, 1) == 1, "the server took part: the unit is spent"


async def test_a_550_fails_the_message_suppresses_the_address_and_counts_a_bounce(
    fast_runtime: Runtime,
) -> None:
    refuse = {"user0@example.com": "550 5.1.1 <user0@example.com>: Recipient address rejected"}
    async with FaultyServer(default=Fault(refuse=refuse)) as faulty:
        pool(fast_runtime, faulty.port, with_backup=None)
        make_campaign(fast_runtime, 1)
        row = await run_until(fast_runtime, lambda r: r.status == "failed")
    assert (row.attempts, row.smtp_code, row.server) == (1, 550, "faulty")
    suppressed = fast_runtime.db.transaction(
        lambda c: c.execute(select(Suppression.email)).scalars().all()
    )
    assert suppressed == ["user0@example.com"]
    events = fast_runtime.db.transaction(
        lambda c: c.execute(select(DeliveryEvent.kind, DeliveryEvent.server_id)).all()
    )
    assert [tuple(e) for e in events] == [("hard_bounce", 1)]
    assert health(fast_runtime, "faulty")[0] != "degraded"
    assert used_today(fast_runtime, 1) == 1


async def test_a_slow_server_still_delivers(fast_runtime: Runtime) -> None:
    async with FaultyServer(default=Fault(data_delay=0.3)) as slow:
        pool(fast_runtime, slow.port, with_backup=None)
        make_campaign(fast_runtime, 1)
        row = await run_until(fast_runtime, lambda r: r.status == "sent")
        assert slow.accepted == 1
    assert row.server == "faulty"
    assert health(fast_runtime, "faulty")[0] != "degraded"


async def test_retries_stop_at_the_deadline_with_the_last_reply(tmp_path: Path) -> None:
    rt = Runtime.open(make_settings(tmp_path, retry_base_seconds=0.05, max_age_seconds=1.0))
    try:
        async with FaultyServer(default=Fault(rcpt="451 4.7.1 Greylisted, try later")) as faulty:
            pool(rt, faulty.port, with_backup=None)
            make_campaign(rt, 1)
            row = await run_until(rt, lambda r: r.status == "failed")
    finally:
        rt.close()
    assert row.attempts > 1
    assert row.last_error and row.last_error.startswith(f"gave up after {row.attempts} attempts")
    assert "451 4.7.1 Greylisted" in row.last_error
