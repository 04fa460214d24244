"""Built-in rebalancing: the API, the CLI and the daily job all apply the policy and audit it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.scheduler import Scheduler
from sendpool.services.operations.rebalance import policy_from, run_if_due, slot_start
from tests.support.cli_env import CliEnv
from tests.support.seeding import seed_activity
from tests.support.world import World

ADMIN = "/api/v1/admin"
# server -> (sent, hard bounces) in the last 24 hours
TRAFFIC = {"smtp-1": (1000, 5), "ses-1": (1000, 20), "mailgun-1": (1000, 50), "postmark-1": (0, 0)}
AFTER = {"smtp-1": 1100, "ses-1": 1000, "mailgun-1": 750, "postmark-1": 1000, "sendgrid-1": 1000}


def seed(rt: Runtime, now: datetime) -> None:
    def run(conn: Any) -> None:
        from sqlalchemy import delete

        from sendpool.store.tables import DeliveryEvent, Message, SendsByMinute

        conn.execute(delete(DeliveryEvent))  # the world's own complaints and sends: start clean
        conn.execute(delete(Message))
        conn.execute(delete(SendsByMinute))  # deleted messages keep their sends, by design
        for name, (sent, bounces) in TRAFFIC.items():
            seed_activity(conn, name, sent=sent, bounces=bounces, complaints=0, now=now)
            # Old traffic counts for nothing.
            seed_activity(
                conn, name, sent=10, bounces=10, complaints=0, now=now - timedelta(days=2)
            )

    rt.db.transaction(run)


async def limits(world: World) -> dict[str, int]:
    r = await world.client.get(ADMIN + "/sending-servers", headers=world.auth("admin"))
    return {s["name"]: s["sending_limit"] for s in r.json() if s["name"] in AFTER}


async def test_dry_run_changes_nothing_and_a_run_applies_the_policy(world: World) -> None:
    seed(world.rt, datetime.now(UTC))
    admin = world.auth("admin")
    dry = await world.client.post(ADMIN + "/rebalance", params={"dry_run": True}, headers=admin)
    assert {s["name"]: s["new_limit"] for s in dry.json()["servers"] if s["name"] in AFTER} == AFTER
    assert set((await limits(world)).values()) == {1000}
    run = await world.client.post(ADMIN + "/rebalance", headers=admin)
    lines = {s["name"]: s for s in run.json()["servers"]}
    assert lines["smtp-1"]["bounce_rate_last_24h"] == 0.005 and lines["smtp-1"]["action"] == "raise"
    assert lines["mailgun-1"]["action"] == "cut" and lines["ses-1"]["action"] == "keep"
    assert await limits(world) == AFTER
    audit = await world.client.get(
        ADMIN + "/audit-log", params={"action": "rebalance."}, headers=admin
    )
    changes = {
        e["server_name"]: e["detail"]
        for e in audit.json()
        if e["action"] in ("rebalance.raise", "rebalance.cut")
    }
    assert set(changes) == {"smtp-1", "mailgun-1"}
    # Every limit kept is in the log too, with its reason.
    kept = {e["server_name"]: e["detail"] for e in audit.json() if e["action"] == "rebalance.keep"}
    assert {"ses-1", "postmark-1", "sendgrid-1"} <= set(kept)
    assert "too little" in kept["postmark-1"]["reason"] or "needed" in kept["postmark-1"]["reason"]
    assert changes["mailgun-1"]["from"] == 1000 and changes["mailgun-1"]["to"] == 750
    assert changes["mailgun-1"]["bounce_rate_last_24h"] == 0.05
    assert [e["action"] for e in audit.json()].count("rebalance.run") == 1


def test_the_cli_runs_it_too(world_settings: Settings, cli: CliEnv) -> None:
    rt = Runtime.open(world_settings)
    try:
        seed(rt, datetime.now(UTC))
    finally:
        rt.close()
    cli.use(world_settings).wide()
    dry = cli.invoke(["rebalance", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "1,000 -> 1,100" in dry.output
    real = cli.invoke(["rebalance"])
    assert real.exit_code == 0 and "2 server(s) changed" in real.output
    again = cli.invoke(["rebalance", "--dry-run"])
    assert "1,100 -> 1,210" in again.output


def test_thresholds_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDPOOL_REBALANCE_RAISE_BELOW", "0.02")
    monkeypatch.setenv("SENDPOOL_REBALANCE_CUT_ABOVE", "0.04")
    monkeypatch.setenv("SENDPOOL_REBALANCE_RAISE_BY", "0.5")
    policy = policy_from(Settings())
    assert (policy.raise_below, policy.cut_above, policy.raise_by) == (0.02, 0.04, 0.5)
    monkeypatch.setenv("SENDPOOL_REBALANCE_RAISE_BELOW", "0.5")
    with pytest.raises(ValueError, match="raise_below"):
        Settings()


def test_the_daily_slot() -> None:
    at = time(3, 0)
    assert slot_start(datetime(2026, 5, 2, 10, 0, tzinfo=UTC), at) == datetime(
        2026, 5, 2, 3, 0, tzinfo=UTC
    )
    assert slot_start(datetime(2026, 5, 2, 2, 59, tzinfo=UTC), at) == datetime(
        2026, 5, 1, 3, 0, tzinfo=UTC
    )


def test_the_daily_job_runs_once_per_slot_and_catches_up(world_settings: Settings) -> None:
    rt = Runtime.open(world_settings)
    try:
        day = datetime(2026, 5, 2, tzinfo=UTC)
        seed(rt, day + timedelta(hours=2))
        policy, at = policy_from(rt.settings), time(3, 0)

        def due(now: datetime) -> bool:
            run = rt.db.transaction(run_if_due, policy=policy, now=now, at=at, actor="scheduler")
            return run is not None

        assert due(day + timedelta(hours=4))  # the first start after 03:00 catches up
        assert not due(day + timedelta(hours=5))  # same slot: not again
        assert not due(day + timedelta(days=1, hours=2))  # before the next slot
        assert due(day + timedelta(days=1, hours=3))  # the next slot
    finally:
        rt.close()


async def test_the_scheduler_in_serve_runs_the_job(world_settings: Settings) -> None:
    rt = Runtime.open(world_settings)
    try:
        now = datetime.now(UTC)
        seed(rt, now)
        scheduler = Scheduler(rt.db, rt.settings, clock=lambda: now, tick=0.01)
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop))
        async with asyncio.timeout(60):  # a hang guard, not a speed check
            while scheduler.runs == 0:
                await asyncio.sleep(0.01)
        stop.set()
        await task
        assert scheduler.runs == 1
        off = Scheduler(rt.db, rt.settings.model_copy(update={"rebalance_enabled": False}))
        await off.run_due_jobs()
        assert off.runs == 0
    finally:
        rt.close()
