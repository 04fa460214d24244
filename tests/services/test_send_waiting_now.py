"""Added capacity acts at once: mail waiting for a window is looked at again, by plan.

A backlog waits for relay-a's daily window; attaching an idle server, raising
a cap, lifting a pause, a degraded server passing its check, or the operator's
"send waiting now" each make it due at once, with its stale reason gone, and
the workers send it through the new room.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select, update

from sendpool.errors import InputError, NotFoundError
from sendpool.runtime import Runtime
from sendpool.services.access import tokens
from sendpool.services.campaigns import lifecycle
from sendpool.services.campaigns.report import CampaignReport
from sendpool.services.errors import ConflictError
from sendpool.services.messages.waiting import send_waiting_now
from sendpool.services.servers import commands
from sendpool.services.tenancy import plans
from sendpool.store.queue import record_sync
from sendpool.store.records import HealthChange, RecordBatch
from sendpool.store.tables import (
    Campaign,
    DispatchSkip,
    Message,
    Plan,
    PlanServer,
    SendingServer,
)
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, make_campaign, report, smtp_server
from tests.support.sinks import StartSinks
from tests.support.workers import noon_zone
from tests.support.world import client_for

N = 8
CAP = 5


def _pool(rt: Runtime, ports: list[int], *, attached: list[str]) -> None:
    zone = noon_zone(datetime.now(UTC))  # no day window ends while the test runs
    apply(
        rt,
        {
            "servers": [
                smtp_server("relay-a", ports[0], CAP, timezone=zone),
                smtp_server("relay-c", ports[1], 100, timezone=zone),
            ],
            "plans": [{"name": "P", "servers": attached}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )


async def _run_until(
    rt: Runtime, uid: str, done: Callable[[CampaignReport], bool], timeout: float = 60.0
) -> CampaignReport:
    """Run one worker until ``done`` holds for the campaign's report (a hang guard, not a timer)."""
    worker = rt.worker(health_checks=False)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while True:
                await asyncio.sleep(0.05)
                if task.done():
                    task.result()
                r = await report(rt, uid)
                if done(r):
                    return r
    finally:
        stop.set()
        await task


def _waiting(conn: Connection, now: datetime) -> list[Any]:
    return list(
        conn.execute(
            select(Message.due_at, Message.last_error).where(
                Message.status == "queued", Message.due_at > now
            )
        ).all()
    )


async def _backlog(rt: Runtime, sinks: StartSinks, attached: list[str]) -> tuple[int, str]:
    a, c = await sinks(2)
    _pool(rt, [a.port, c.port], attached=attached)
    campaign_id, uid = make_campaign(rt, N)
    r = await _run_until(rt, uid, lambda r: r.by_status.get("sent", 0) == CAP and r.waiting > 0)
    assert r.waiting == N - CAP
    rows = rt.db.transaction(_waiting, datetime.now(UTC))
    assert len(rows) == N - CAP
    assert all("relay-a: daily cap 5/5" in (e or "") for _, e in rows)
    return campaign_id, uid


def _made_due(rt: Runtime, at: datetime) -> None:
    """Nothing waits any more and no reason of the old wait is left on the messages."""
    assert rt.db.transaction(_waiting, at) == []
    stale = rt.db.transaction(
        lambda c: c.execute(
            select(func.count()).where(
                Message.status == "queued", Message.last_error.like("waiting:%")
            )
        ).scalar_one()
    )
    assert stale == 0


async def test_attaching_an_idle_server_releases_the_backlog_at_once(
    runtime: Runtime, sinks: StartSinks
) -> None:
    _, uid = await _backlog(runtime, sinks, ["relay-a"])
    now = datetime.now(UTC)
    runtime.db.transaction(plans.attach_server, "P", "relay-c", attach=True, actor="test", now=now)
    _made_due(runtime, now)
    r = await _run_until(runtime, uid, lambda r: r.by_status == {"sent": N})
    assert r.by_server == {"relay-a": CAP, "relay-c": N - CAP}


async def test_raising_a_cap_releases_the_backlog(runtime: Runtime, sinks: StartSinks) -> None:
    _, uid = await _backlog(runtime, sinks, ["relay-a"])
    now = datetime.now(UTC)
    runtime.db.transaction(
        commands.update_server,
        runtime.box,
        "relay-a",
        changes={"sending_limit": 50},
        actor="test",
        now=now,
    )
    _made_due(runtime, now)
    r = await _run_until(runtime, uid, lambda r: r.by_status == {"sent": N})
    assert r.by_server == {"relay-a": N}


async def test_lowering_a_cap_leaves_the_wait_alone(runtime: Runtime, sinks: StartSinks) -> None:
    """Less room cannot let anything go sooner: no needless wake of the whole backlog."""
    await _backlog(runtime, sinks, ["relay-a"])
    now = datetime.now(UTC)
    runtime.db.transaction(
        commands.update_server,
        runtime.box,
        "relay-a",
        changes={"sending_limit": 4},
        actor="test",
        now=now,
    )
    assert len(runtime.db.transaction(_waiting, now)) == N - CAP


def _join_quietly(rt: Runtime, server: str, **values: Any) -> int:
    """Put a server in plan P by a direct write, which wakes nothing by itself."""

    def join(c: Connection) -> int:
        sid = c.execute(select(SendingServer.id).where(SendingServer.name == server)).scalar_one()
        pid = c.execute(select(Plan.id).where(Plan.name == "P")).scalar_one()
        c.execute(insert(PlanServer).values(plan_id=pid, server_id=sid))
        if values:
            c.execute(update(SendingServer).where(SendingServer.id == sid).values(**values))
        return int(sid)

    return rt.db.transaction(join)


async def test_pause_and_resume_looks_again(runtime: Runtime, sinks: StartSinks) -> None:
    campaign_id, uid = await _backlog(runtime, sinks, ["relay-a"])
    _join_quietly(runtime, "relay-c")
    customer = runtime.db.transaction(
        lambda c: c.execute(select(Campaign.customer_id).where(Campaign.id == campaign_id))
    ).scalar_one()
    now = datetime.now(UTC)
    runtime.db.transaction(lifecycle.pause_campaign, customer, uid, now)
    assert len(runtime.db.transaction(_waiting, now)) == N - CAP  # paused: held as they were
    runtime.db.transaction(lifecycle.resume_campaign, customer, uid, now)
    _made_due(runtime, now)
    r = await _run_until(runtime, uid, lambda r: r.by_status == {"sent": N})
    assert r.by_server == {"relay-a": CAP, "relay-c": N - CAP}


async def test_a_degraded_server_passing_its_check_wakes_its_plans(
    runtime: Runtime, sinks: StartSinks
) -> None:
    _, uid = await _backlog(runtime, sinks, ["relay-a"])
    c_id = _join_quietly(runtime, "relay-c", health="degraded")
    now = datetime.now(UTC)
    assert len(runtime.db.transaction(_waiting, now)) == N - CAP
    batch = RecordBatch(health=[HealthChange(c_id, "healthy", now, None, now, checked=True)])
    runtime.db.transaction(record_sync, "checker", batch, now)
    _made_due(runtime, now)
    r = await _run_until(runtime, uid, lambda r: r.by_status == {"sent": N})
    assert r.by_server == {"relay-a": CAP, "relay-c": N - CAP}


async def test_a_passing_check_of_a_healthy_server_wakes_nothing(
    runtime: Runtime, sinks: StartSinks
) -> None:
    await _backlog(runtime, sinks, ["relay-a"])
    a_id = runtime.db.transaction(
        lambda c: c.execute(
            select(SendingServer.id).where(SendingServer.name == "relay-a")
        ).scalar_one()
    )
    now = datetime.now(UTC)
    batch = RecordBatch(health=[HealthChange(a_id, "healthy", now, None, now, checked=True)])
    runtime.db.transaction(record_sync, "checker", batch, now)
    assert len(runtime.db.transaction(_waiting, now)) == N - CAP


async def test_send_waiting_now_by_campaign_and_by_plan(
    runtime: Runtime, sinks: StartSinks
) -> None:
    campaign_id, uid = await _backlog(runtime, sinks, ["relay-a"])
    now = datetime.now(UTC)
    assert runtime.db.transaction(send_waiting_now, campaign_id=campaign_id, now=now) == N - CAP
    _made_due(runtime, now)
    assert runtime.db.transaction(send_waiting_now, campaign_id=campaign_id, now=now) == 0
    # Sent back to wait by the next dispatch, with the reason as it is now.
    await _run_until(runtime, uid, lambda r: r.waiting == N - CAP)
    later = datetime.now(UTC)
    plan_id = runtime.db.transaction(
        lambda c: c.execute(select(Plan.id).where(Plan.name == "P")).scalar_one()
    )
    assert runtime.db.transaction(send_waiting_now, plan_id=plan_id, now=later) == N - CAP
    _made_due(runtime, later)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, InputError),
        ({"campaign_id": 1, "plan_id": 1}, InputError),
        ({"campaign_id": 999}, NotFoundError),
        ({"plan_id": 999}, NotFoundError),
    ],
)
def test_send_waiting_now_refuses_bad_input(
    runtime: Runtime, kwargs: dict[str, int], error: type[Exception]
) -> None:
    with pytest.raises(error):
        runtime.db.transaction(send_waiting_now, now=datetime.now(UTC), **kwargs)


async def test_send_waiting_now_refuses_a_paused_campaign(
    runtime: Runtime, sinks: StartSinks
) -> None:
    campaign_id, uid = await _backlog(runtime, sinks, ["relay-a"])
    customer = runtime.db.transaction(
        lambda c: c.execute(select(Campaign.customer_id).where(Campaign.id == campaign_id))
    ).scalar_one()
    now = datetime.now(UTC)
    runtime.db.transaction(lifecycle.pause_campaign, customer, uid, now)
    with pytest.raises(ConflictError):
        runtime.db.transaction(send_waiting_now, campaign_id=campaign_id, now=now)
    assert len(runtime.db.transaction(_waiting, now)) == N - CAP


async def test_a_running_worker_sends_through_the_new_room_within_seconds(
    runtime: Runtime, sinks: StartSinks
) -> None:
    """The worker keeps its pool for a moment: mail woken meanwhile is judged by a fresh one."""
    a, c = await sinks(2)
    _pool(runtime, [a.port, c.port], attached=["relay-a"])
    _, uid = make_campaign(runtime, N)
    worker = runtime.worker(health_checks=False)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(60):
            while not (await report(runtime, uid)).waiting:
                await asyncio.sleep(0.02)
            await worker.pool.get(datetime.now(UTC))  # the worker's pool is the old one
            now = datetime.now(UTC)
            runtime.db.transaction(
                plans.attach_server, "P", "relay-c", attach=True, actor="test", now=now
            )
            # Judged by the old pool, the woken mail would wait for tomorrow's window.
            while (r := await report(runtime, uid)).by_status != {"sent": N}:
                assert not task.done()
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    assert r.by_server == {"relay-a": CAP, "relay-c": N - CAP}


async def test_send_waiting_now_in_the_api(runtime: Runtime, sinks: StartSinks) -> None:
    _, uid = await _backlog(runtime, sinks, ["relay-a"])
    now = datetime.now(UTC)
    issued = runtime.db.transaction(
        tokens.create_token, name="ops", customer=None, actor="t", now=now
    )
    admin = {"Authorization": f"Bearer {issued.token}"}
    async with client_for(runtime) as client:
        url = f"/api/v1/admin/campaigns/{uid}/send-waiting-now"
        r = await client.post(url, headers=admin)
        assert r.status_code == 200 and r.json() == {"woken": N - CAP}
        _made_due(runtime, datetime.now(UTC))
        r = await client.post("/api/v1/admin/plans/P/send-waiting-now", headers=admin)
        assert r.status_code == 200 and r.json() == {"woken": 0}
        r = await client.post("/api/v1/admin/campaigns/nope/send-waiting-now", headers=admin)
        assert r.status_code == 404
        r = await client.post("/api/v1/admin/plans/nope/send-waiting-now", headers=admin)
        assert r.status_code == 404


async def test_send_waiting_now_in_the_cli(cli: CliEnv, sinks: StartSinks) -> None:
    with cli.open() as rt:
        _, uid = await _backlog(rt, sinks, ["relay-a"])
    cli.wide()
    done = cli.invoke(["send-waiting-now", "--campaign", uid])
    assert done.exit_code == 0, done.output
    assert f"{N - CAP} waiting message(s) made due now" in done.output
    with cli.open() as rt:
        _made_due(rt, datetime.now(UTC))
    again = cli.invoke(["send-waiting-now", "--plan", "p"])  # a plan by name, any case
    assert again.exit_code == 0 and "0 waiting message(s)" in again.output
    for args, said in [
        ([], "either a campaign or a plan"),
        (["--campaign", uid, "--plan", "P"], "either a campaign or a plan"),
        (["--campaign", "nope"], "no campaign 'nope'"),
        (["--plan", "nope"], "unknown plan 'nope'"),
    ]:
        refused = cli.invoke(["send-waiting-now", *args])
        assert refused.exit_code == 2 and said in refused.output, refused.output


async def test_the_skip_counts_are_messages_however_often_they_are_looked_at(
    runtime: Runtime, sinks: StartSinks
) -> None:
    """Each of the 3 messages relay-a's daily cap left out counts once, not once per look."""
    campaign_id, uid = await _backlog(runtime, sinks, ["relay-a"])
    for _ in range(2):  # woken and sent back to wait, twice
        runtime.db.transaction(send_waiting_now, campaign_id=campaign_id, now=datetime.now(UTC))
        await _run_until(runtime, uid, lambda r: r.waiting == N - CAP)
    counts = runtime.db.transaction(
        lambda c: c.execute(
            select(DispatchSkip.code, func.sum(DispatchSkip.count)).group_by(DispatchSkip.code)
        ).all()
    )
    assert dict(counts) == {"daily_cap": N - CAP}
