"""A relay that refuses us (relay denied, a policy rejection) fails over; no recipient pays for it.

Once, a relay answering ``554 5.7.1 Relay access denied`` at RCPT failed and
suppressed every recipient of a campaign, and the next campaign lost them too,
while the relay stayed healthy. Such replies are about the sender
(docs/design.md §1.5): the relay is degraded with the reply, and another server
of the plan sends every message. Checked against the scripted faulty server and
against a real Postfix.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sendpool.runtime import Runtime
from sendpool.sinks import SmtpSink
from sendpool.store.tables import DeliveryEvent, Message, SendingServer, Suppression
from tests.support.faulty_smtp import Fault, FaultyServer
from tests.support.postfix import running_postfix
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.settings import make_settings

RELAY_DENIED = "554 5.7.1 Relay access denied"


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(make_settings(tmp_path, send_timeout=2.0))
    yield runtime
    runtime.close()


def two_server_pool(rt: Runtime, refusing_port: int, backup_port: int) -> None:
    """The refusing relay has the lower id, so rotation deals it messages from the start."""
    apply(
        rt,
        {
            "servers": [
                smtp_server("refusing", refusing_port, helo_name="test"),
                smtp_server("backup", backup_port, helo_name="test"),
            ],
            "plans": [{"name": "P", "servers": ["refusing", "backup"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )


def by_status(conn: Any) -> dict[str, int]:
    rows = conn.execute(select(Message.status, func.count()).group_by(Message.status))
    return {str(s): int(n) for s, n in rows}


def where_sent(conn: Any) -> dict[str, str | None]:
    rows = conn.execute(
        select(Message.recipient, SendingServer.name).outerjoin(
            SendingServer, SendingServer.id == Message.server_id
        )
    )
    return {r: s for r, s in rows}


def health(conn: Any, name: str) -> tuple[str, str | None]:
    row = conn.execute(
        select(SendingServer.health, SendingServer.health_error).where(SendingServer.name == name)
    ).one()
    return row[0], row[1]


def suppressed_and_bounced(conn: Any) -> tuple[list[str], int]:
    emails = conn.execute(select(Suppression.email)).scalars().all()
    bounces = conn.execute(
        select(func.count()).where(DeliveryEvent.kind == "hard_bounce")
    ).scalar_one()
    return list(emails), int(bounces)


async def run_until(rt: Runtime, done: Callable[[dict[str, int]], bool]) -> dict[str, int]:
    """Run a worker (no health checks, so a degraded server stays so) until ``done``."""
    worker = rt.worker(health_checks=False)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(30):
            while True:
                await asyncio.sleep(0.05)
                counts = await rt.db.run(by_status)
                if done(counts):
                    return counts
    finally:
        stop.set()
        await task


def all_sent(n: int) -> Callable[[dict[str, int]], bool]:
    return lambda counts: counts.get("sent", 0) == n or counts.get("failed", 0) > 0


async def test_relay_denied_at_rcpt_fails_over_and_suppresses_no_one(rt: Runtime) -> None:
    async with FaultyServer(default=Fault(rcpt=RELAY_DENIED)) as refusing:
        backup = await SmtpSink("backup").start()
        try:
            two_server_pool(rt, refusing.port, backup.port)
            make_campaign(rt, 20)
            counts = await run_until(rt, all_sent(20))
        finally:
            await backup.stop()
        assert refusing.connections >= 1, "the refusing relay was tried"
        assert refusing.accepted == 0
    assert counts == {"sent": 20}, "nothing failed"
    assert backup.count == 20
    assert set(rt.db.transaction(where_sent).values()) == {"backup"}
    assert rt.db.transaction(suppressed_and_bounced) == ([], 0)
    assert rt.db.transaction(health, "refusing") == ("degraded", "rcpt: " + RELAY_DENIED)
    attempts = rt.db.transaction(lambda c: c.execute(select(Message.attempts)).scalars().all())
    assert set(attempts) == {1}, "the refused try is not counted"


@pytest.mark.slow
async def test_a_real_postfix_denying_relay_fails_over(rt: Runtime) -> None:
    with running_postfix() as postfix:
        backup = await SmtpSink("backup").start()
        try:
            two_server_pool(rt, postfix.port, backup.port)
            make_campaign(rt, 10)
            counts = await run_until(rt, all_sent(10))
        finally:
            await backup.stop()
        log = postfix.log()
    assert "Relay access denied" in log, log[-2000:]
    assert counts == {"sent": 10}
    assert backup.count == 10
    assert rt.db.transaction(suppressed_and_bounced) == ([], 0)
    state, error = rt.db.transaction(health, "refusing")
    assert state == "degraded"
    assert error is not None and error.startswith("rcpt: 554 5.7.1 <user")
    assert error.endswith(">: Relay access denied")


@pytest.mark.slow
async def test_a_real_postfix_policy_rejection_of_one_address_suppresses_no_one(
    rt: Runtime,
) -> None:
    refuse = {"user0@example.com": "REJECT Policy rejection: not accepted here"}
    with running_postfix(relay_domains=["example.com"], refuse=refuse) as postfix:
        backup = await SmtpSink("backup").start()
        try:
            two_server_pool(rt, postfix.port, backup.port)
            make_campaign(rt, 3)
            counts = await run_until(rt, all_sent(3))
        finally:
            await backup.stop()
        log = postfix.log()
    assert "Recipient address rejected: Policy rejection" in log, log[-2000:]
    assert counts == {"sent": 3}
    assert rt.db.transaction(where_sent)["user0@example.com"] == "backup"
    assert rt.db.transaction(suppressed_and_bounced) == ([], 0)
    assert rt.db.transaction(health, "refusing") == (
        "degraded",
        "rcpt: 554 5.7.1 <user0@example.com>: Recipient address rejected: "
        "Policy rejection: not accepted here",
    )
