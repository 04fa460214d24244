"""Ordinary trouble, no crash: a slow relay, a lost reply, a blackhole, a change mid-campaign.

Each case once broke a promise (a message sent twice, a cap exceeded, mail
standing still while healthy servers had room); each test here failed before
the change that mended it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.services.servers import commands as server_commands
from sendpool.sinks import SmtpSink
from sendpool.store.ledger_sql import usage_sync
from sendpool.store.tables import Message, SendingServer
from tests.support.faulty_smtp import STALL_GREETING, Data, Fault, FaultyServer
from tests.support.scenario import apply, make_campaign, report, smtp_server
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow


def plan_of(rt: Runtime, servers: list[dict[str, Any]]) -> None:
    apply(
        rt,
        {
            "servers": servers,
            "plans": [{"name": "P", "servers": [s["name"] for s in servers]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )


def server_id(rt: Runtime, name: str) -> int:
    return int(
        rt.db.transaction(
            lambda c: c.execute(select(SendingServer.id).where(SendingServer.name == name)).scalar()
        )
    )


def used_today(rt: Runtime, name: str) -> int:
    sid = server_id(rt, name)
    return rt.db.transaction(usage_sync, {sid: windows_at(datetime.now(UTC))})[sid].day_used


def statuses(rt: Runtime) -> Counter[str]:
    rows = rt.db.transaction(
        lambda c: c.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    )
    return Counter({str(s): int(n) for s, n in rows})


async def run_worker_until(rt: Runtime, done: Any, timeout: float = 60.0) -> None:
    worker = rt.worker(health_checks=False)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not await done():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_a_slow_relay_beside_fast_ones_gets_nothing_twice(tmp_path: Path) -> None:
    # Its share takes several leases to send: the worker renews the leases of what
    # it holds and never claims its own rows again.
    n = 450
    settings = make_settings(tmp_path, lease_seconds=1.0, batch_size=100, max_in_flight=450)
    with Runtime.open(settings) as rt:
        async with FaultyServer(default=Fault(data_delay=0.02)) as slow:
            fast = [await SmtpSink(f"fast{i}").start() for i in range(2)]
            try:
                plan_of(
                    rt,
                    [
                        smtp_server("slow", slow.port, max_connections=2),
                        *(smtp_server(s.name, s.port) for s in fast),
                    ],
                )
                _, uid = make_campaign(rt, n)

                async def settled() -> bool:
                    return (await report(rt, uid)).by_status.get("sent", 0) == n

                await run_worker_until(rt, settled)
                ids = Counter(m.message_id for m in slow.received)
                for s in fast:
                    ids.update(s.handler.message_ids)
            finally:
                for s in fast:
                    await s.stop()
        assert sum(ids.values()) == n and set(ids.values()) == {1}, "no message twice"
        assert slow.accepted == n // 3, "the slow relay still got its even share"


async def test_a_lost_reply_never_takes_a_server_past_its_cap(tmp_path: Path) -> None:
    # The relay takes each message and hangs up before its 250. Giving the unit
    # back would let more messages through than the cap (and send them twice).
    cap, n = 5, 12
    settings = make_settings(tmp_path, send_timeout=1.0, retry_base_seconds=0.1)
    with Runtime.open(settings) as rt:
        async with FaultyServer(default=Fault(data=Data.LOSE_REPLY)) as lossy:
            backup = await SmtpSink("backup").start()
            try:
                plan_of(
                    rt, [smtp_server("lossy", lossy.port, cap), smtp_server("backup", backup.port)]
                )
                _, uid = make_campaign(rt, n)

                async def settled() -> bool:
                    return (await report(rt, uid)).by_status.get("sent", 0) == n

                await run_worker_until(rt, settled)
            finally:
                await backup.stop()
        assert lossy.accepted <= cap
        assert used_today(rt, "lossy") == lossy.accepted, "every delivery there spent a unit"
        resent = [m for m in backup.handler.messages if b"X-Sendpool-Possible-Duplicate" in m.data]
        assert len(resent) == lossy.accepted, "each copy after a lost reply says so"


async def test_a_blackhole_holds_its_share_for_one_timeout_not_one_each(tmp_path: Path) -> None:
    # A relay that accepts TCP and never greets: after its first timeout, what was
    # dealt to it and not yet started goes back to the dispatcher at once.
    n = 120
    settings = make_settings(tmp_path, send_timeout=1.0)
    with Runtime.open(settings) as rt:
        async with FaultyServer(default=STALL_GREETING) as hole:
            good = await SmtpSink("good").start()
            try:
                plan_of(
                    rt,
                    [
                        smtp_server("hole", hole.port, max_connections=2),
                        smtp_server("good", good.port),
                    ],
                )
                _, uid = make_campaign(rt, n)

                async def settled() -> bool:
                    return (await report(rt, uid)).by_status.get("sent", 0) == n

                await run_worker_until(rt, settled)
            finally:
                await good.stop()
        assert good.count == n
        # One wave of connections at most (its two slots), not one per message dealt.
        assert hole.connections <= 2
        assert used_today(rt, "hole") == 0, "nothing reached it: every unit came back"


async def test_a_stopping_worker_returns_what_waits_and_gives_up_a_hung_send(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, send_timeout=60.0)
    with Runtime.open(settings) as rt:
        async with FaultyServer(default=STALL_GREETING) as hole:
            plan_of(rt, [smtp_server("hole", hole.port, max_connections=1)])
            make_campaign(rt, 20)
            worker = rt.worker(health_checks=False)
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop))
            async with asyncio.timeout(10):
                while hole.connections == 0:
                    await asyncio.sleep(0.02)
            stop.set()
            # The hung connect would take 60 s; the stop takes the grace at most.
            await asyncio.wait_for(task, timeout=12)
        counts = statuses(rt)
        assert counts["queued"] + counts["deferred"] == 20 and counts["sending"] == 0
        # One send was under way (its outcome unknown, its unit spent); the rest came back.
        assert used_today(rt, "hole") == 1


@pytest.mark.parametrize("change", ["disable", "detach"])
async def test_a_server_changed_mid_campaign_gets_nothing_more(tmp_path: Path, change: str) -> None:
    n = 300
    with Runtime.open(make_settings(tmp_path)) as rt:
        async with FaultyServer(default=Fault(data_delay=0.02)) as slow:
            other = await SmtpSink("other").start()
            try:
                plan_of(
                    rt,
                    [
                        smtp_server("slow", slow.port, max_connections=1),
                        smtp_server("other", other.port),
                    ],
                )
                _, uid = make_campaign(rt, n)
                worker = rt.worker(health_checks=False)
                stop = asyncio.Event()
                task = asyncio.create_task(worker.run(stop))
                async with asyncio.timeout(30):
                    while slow.accepted < 5:
                        await asyncio.sleep(0.01)
                changes: dict[str, Any] = (
                    {"status": "disabled"} if change == "disable" else {"plans": []}
                )
                rt.db.transaction(
                    server_commands.update_server,
                    rt.box,
                    "slow",
                    changes=changes,
                    actor="test",
                    now=datetime.now(UTC),
                )
                await asyncio.sleep(2.5)  # the pool as workers see it refreshes every 2 s
                after_refresh = slow.accepted
                async with asyncio.timeout(60):
                    while (await report(rt, uid)).by_status.get("sent", 0) < n:
                        await asyncio.sleep(0.05)
                stop.set()
                await task
            finally:
                await other.stop()
        assert slow.accepted == after_refresh, "nothing more once the change was seen"
        assert slow.accepted < n // 2, "what was dealt to it before the change went elsewhere"
        assert other.count == n - slow.accepted
