"""Launches stop and go on: in parts, halted between batches, taken over when left off."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select

from sendpool.runtime import Runtime
from sendpool.services.campaigns.launch import start_launch
from sendpool.store.launches import (
    STALE_LAUNCH_SECONDS,
    claim_stalled_launch,
    finish_stalled_launches,
    launch_batches,
)
from sendpool.store.tables import Campaign, Message
from tests.support.scenario import apply, make_campaign, send_until_settled, smtp_server
from tests.support.threaded_sink import threaded_sinks

LATER = timedelta(seconds=STALE_LAUNCH_SECONDS + 1)


def setup(rt: Runtime, n: int, port: int = 1) -> tuple[int, str]:
    apply(
        rt,
        {
            "servers": [smtp_server("s", port)],
            "plans": [{"name": "P", "servers": ["s"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    campaign_id, uid = make_campaign(rt, n, launched=False)
    rt.db.transaction(start_launch, campaign_id, datetime.now(UTC))
    return campaign_id, uid


def state(rt: Runtime, campaign_id: int) -> tuple[str, int, int]:
    """The campaign's status, its messages, and how many distinct subscribers they are for."""

    def read(c: Connection) -> tuple[str, int, int]:
        status = c.execute(select(Campaign.status).where(Campaign.id == campaign_id)).scalar_one()
        n, distinct = c.execute(
            select(func.count(), func.count(func.distinct(Message.subscriber_id))).where(
                Message.campaign_id == campaign_id
            )
        ).one()
        return status, n, distinct

    return rt.db.transaction(read)


def test_a_launch_in_parts_is_taken_over_only_once_it_is_stale(runtime: Runtime) -> None:
    campaign_id, _ = setup(runtime, 35)
    engine, now = runtime.db.engine, datetime.now(UTC)
    assert launch_batches(engine, campaign_id, now, batch_size=10, max_batches=1) == 10
    assert state(runtime, campaign_id) == ("launching", 10, 10)
    assert finish_stalled_launches(engine, now, batch_size=10) == []  # its launcher is alive
    assert finish_stalled_launches(engine, now + LATER, batch_size=10) == [campaign_id]
    assert state(runtime, campaign_id) == ("sending", 35, 35)
    assert finish_stalled_launches(engine, now + 2 * LATER) == []


def test_a_list_that_fits_one_batch_is_done_in_one(runtime: Runtime) -> None:
    campaign_id, _ = setup(runtime, 10)
    engine, now = runtime.db.engine, datetime.now(UTC)
    assert launch_batches(engine, campaign_id, now, batch_size=11, max_batches=1) == 10
    assert state(runtime, campaign_id) == ("sending", 10, 10)


def test_halt_stops_between_batches(runtime: Runtime) -> None:
    campaign_id, _ = setup(runtime, 35)
    halt = threading.Event()
    queued = launch_batches(
        runtime.db.engine,
        campaign_id,
        datetime.now(UTC),
        batch_size=10,
        progress=lambda _: halt.set(),
        halt=halt,
    )
    assert queued == 10 and state(runtime, campaign_id) == ("launching", 10, 10)


def test_two_takers_at_once_get_a_stalled_launch_once(runtime: Runtime) -> None:
    campaign_id, _ = setup(runtime, 5)
    later = datetime.now(UTC) + LATER
    taken = [runtime.db.transaction(claim_stalled_launch, later) for _ in range(2)]
    assert taken == [campaign_id, None]  # the first claim stamped it fresh


def test_two_launchers_on_one_campaign_queue_each_recipient_once(runtime: Runtime) -> None:
    campaign_id, _ = setup(runtime, 2_000)
    engine, now = runtime.db.engine, datetime.now(UTC)
    threads = [
        threading.Thread(
            target=launch_batches, args=(engine, campaign_id, now), kwargs={"batch_size": 50}
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state(runtime, campaign_id) == ("sending", 2_000, 2_000)


async def test_a_worker_finishes_a_launch_its_launcher_left_off(runtime: Runtime) -> None:
    with threaded_sinks(1) as sinks:
        campaign_id, uid = setup(runtime, 30, sinks[0].port)
        now = datetime.now(UTC)
        launch_batches(runtime.db.engine, campaign_id, now, batch_size=10, max_batches=1)
        # The launcher's process died; a worker whose clock is past the stale mark goes on.
        worker = runtime.worker(clock=lambda: datetime.now(UTC) + LATER)
        report = await send_until_settled(runtime, uid, [worker])
        assert report.by_status == {"sent": 30}
        assert sinks[0].count == 30
