"""Whole campaigns through misbehaving servers: failover, retries, recovery, crash safety."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.services.campaigns.report import campaign_report
from sendpool.sinks import SmtpSink
from sendpool.store.ledger_sql import usage_sync
from sendpool.store.tables import Message, SendingServer
from tests.support.faulty_smtp import Connect, Data, Fault, FaultyServer, Moment
from tests.support.live_process import SENDPOOL
from tests.support.scenario import apply, make_campaign, report, send_until_settled, smtp_server
from tests.support.settings import make_settings
from tests.support.threaded_sink import threaded_sinks


def health_of(rt: Runtime, name: str) -> str:
    return rt.db.transaction(
        lambda c: c.execute(
            select(SendingServer.health).where(SendingServer.name == name)
        ).scalar_one()
    )


def ids_of(servers: list[FaultyServer]) -> Counter[str]:
    return Counter(r.message_id for s in servers for r in s.received if r.message_id)


@pytest.mark.slow
async def test_5000_messages_over_a_refusing_a_flaky_and_a_healthy_server(tmp_path: Path) -> None:
    rt = Runtime.open(make_settings(tmp_path, retry_base_seconds=0.2, retry_max_delay_seconds=1.0))

    def refuse_after_1000(m: Moment) -> Fault | None:
        if m.accepted < 1000:
            return None
        # New connections are hung up on; a connection already open is cut in DATA,
        # before the message is accepted.
        return Fault(connect=Connect.CLOSE) if m.stage == "connect" else Fault(data=Data.DROP)

    caps = {"refusing": 3000, "flaky": 1500, "healthy": 3500}
    async with (
        FaultyServer(hook=refuse_after_1000) as refusing,
        FaultyServer(default=Fault(rcpt="421 4.7.0 Try again later", rcpt_every=10)) as flaky,
        FaultyServer() as healthy,
    ):
        servers = {"refusing": refusing, "flaky": flaky, "healthy": healthy}
        apply(
            rt,
            {
                "servers": [
                    smtp_server(n, s.port, caps[n], helo_name="test") for n, s in servers.items()
                ],
                "plans": [{"name": "P", "servers": list(servers)}],
                "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
            },
        )
        _, uid = make_campaign(rt, 5000)
        result = await send_until_settled(rt, uid, timeout=240)
        received = {n: s.accepted for n, s in servers.items()}
        ids = ids_of(list(servers.values()))
        rcpts_at_flaky = flaky._rcpts
    try:
        assert result.by_status == {"sent": 5000}, "nothing lost"
        assert len(ids) == 5000 and max(ids.values()) == 1, "no duplicates at the sinks"
        assert sum(received.values()) == 5000
        assert 1000 <= received["refusing"] <= 1010
        assert result.by_server == received
        w = windows_at(datetime.now(UTC))
        used = rt.db.transaction(usage_sync, {1: w, 2: w, 3: w})
        for i, name in enumerate(servers, start=1):
            assert received[name] <= caps[name]
            assert used[i].day_used <= caps[name], f"{name} over its cap in the ledger"
        # Its 421 answers spent units too (the server took part), so it filled its cap
        # with fewer accepted messages: one unit per RCPT it answered, no more.
        assert used[2].day_used == caps["flaky"] == rcpts_at_flaky
        assert received["flaky"] < caps["flaky"]
        assert health_of(rt, "refusing") == "degraded"
        assert health_of(rt, "flaky") != "degraded"
        retried = rt.db.transaction(
            lambda c: c.execute(select(func.count()).where(Message.attempts > 1)).scalar_one()
        )
        assert retried > 0, "421 answers were retried"
    finally:
        rt.close()


async def test_a_degraded_server_comes_back_when_its_check_passes(tmp_path: Path) -> None:
    rt = Runtime.open(make_settings(tmp_path, health_check_interval=0.3))
    sink = await SmtpSink("relay").start()
    port = sink.port
    await sink.stop()  # the relay is down when the campaign starts
    try:
        apply(
            rt,
            {
                "servers": [smtp_server("relay", port, helo_name="test")],
                "plans": [{"name": "P", "servers": ["relay"]}],
                "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
            },
        )
        _, uid = make_campaign(rt, 50)
        worker = rt.worker()
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            async with asyncio.timeout(30):
                while health_of(rt, "relay") != "degraded":
                    await asyncio.sleep(0.05)
                waiting = await report(rt, uid)
                assert waiting.by_status.get("failed", 0) == 0, "no server is no reason to fail"
                sink = await SmtpSink("relay").start(port)  # the relay is back
                while not (await report(rt, uid)).by_status == {"sent": 50}:
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
        assert sink.count == 50
        assert health_of(rt, "relay") == "healthy"
    finally:
        await sink.stop()
        rt.close()


# Enough that the kill lands mid-campaign with hundreds in flight, on every run.
N_KILLED = 5000


@pytest.mark.slow
def test_a_worker_killed_mid_campaign_loses_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, lease_seconds=3.0)
    env = {
        **os.environ,
        "SENDPOOL_DATABASE_URL": settings.database_url,
        "SENDPOOL_SECRET_KEY": settings.secret_key or "",
        "SENDPOOL_LEASE_SECONDS": "3",
        "SENDPOOL_POLL_INTERVAL": "0.05",
    }
    rt = Runtime.open(settings)
    try:
        with threaded_sinks(3) as sinks:
            apply(
                rt,
                {
                    "servers": [smtp_server(s.name, s.port, helo_name="test") for s in sinks],
                    "plans": [{"name": "P", "servers": [s.name for s in sinks]}],
                    "customers": [
                        {"name": "acme", "plan": "P", "sending_domains": ["example.com"]}
                    ],
                },
            )
            _, uid = make_campaign(rt, N_KILLED)
            first = subprocess.Popen([SENDPOOL, "worker"], env=env, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            while sum(s.count for s in sinks) < N_KILLED * 3 // 10:
                assert time.monotonic() < deadline and first.poll() is None
                time.sleep(0.02)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            in_flight = rt.db.transaction(
                lambda c: c.execute(
                    select(func.count()).where(Message.status == "sending")
                ).scalar_one()
            )
            second = subprocess.Popen([SENDPOOL, "worker"], env=env, stderr=subprocess.DEVNULL)
            try:
                while True:
                    assert time.monotonic() < deadline + 120
                    r = rt.db.transaction(campaign_report, uid, datetime.now(UTC))
                    if r.settled:
                        break
                    time.sleep(0.2)
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(30) == 0
            ids: Counter[str] = Counter()
            for s in sinks:
                ids.update(s.handler.message_ids)
            delivered = sum(s.count for s in sinks)
    finally:
        rt.close()
    assert r.by_status == {"sent": N_KILLED}, "every message accounted for and sent"
    assert len(ids) == N_KILLED, "every message reached a sink"
    duplicates = delivered - len(ids)
    assert duplicates <= in_flight, f"{duplicates} sent twice, {in_flight} were in flight"
