"""The capacity forecast checked against what the workers then do, on a clock the test moves.

relay-a may send 10 an hour and 25 a day; 40 messages wait. The forecast
says when it fills its day and how many then wait until when; the worker,
run hour by hour on the test's clock, must do exactly that.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from sendpool.runtime import Runtime
from sendpool.services.campaigns.report import campaign_report
from sendpool.services.operations.doctor_checks import read_pool
from sendpool.services.operations.forecasts import forecasts_now
from sendpool.store.tables import Message
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.sinks import StartSinks


async def _run_at(rt: Runtime, at: datetime, expect_sent: int) -> None:
    """One worker on a clock stopped at ``at``, until ``expect_sent`` are sent in all."""
    worker = rt.worker(health_checks=False, clock=lambda: at)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(60):  # a hang guard, not a speed check
            while True:
                await asyncio.sleep(0.05)
                if task.done():
                    task.result()
                sent = rt.db.transaction(
                    lambda c: c.execute(
                        select(func.count()).where(Message.status == "sent")
                    ).scalar_one()
                )
                waiting = rt.db.transaction(
                    lambda c: c.execute(
                        select(func.count()).where(Message.status == "queued", Message.due_at > at)
                    ).scalar_one()
                )
                if sent == expect_sent and sent + waiting == 40:
                    return
    finally:
        stop.set()
        await task


async def test_the_forecast_is_what_happens(runtime: Runtime, sinks: StartSinks) -> None:
    (sink,) = await sinks(1)
    apply(
        runtime,
        {
            "servers": [smtp_server("relay-a", sink.port, 25, hourly_limit=10)],
            "plans": [{"name": "P", "servers": ["relay-a"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    campaign_id, _uid = make_campaign(runtime, 40)
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    t0 = datetime(day.year, day.month, day.day, 8, 5, tzinfo=UTC)

    (f,) = runtime.db.transaction(lambda c: forecasts_now(c, read_pool(c, t0), t0))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    assert [(h.server, h.at) for h in f.hits] == [("relay-a", t0.replace(hour=10, minute=0))]
    assert (f.waiting, f.until) == (15, midnight)
    assert f.sentence == (
        "relay-a reaches its daily cap at 10:00 UTC; 15 messages would then wait until 00:00 UTC"
    )

    # What happens: 10 in the first hour, 10 in the next, the last 5 at 10:00, then the wait.
    await _run_at(runtime, t0, 10)
    await _run_at(runtime, t0.replace(hour=9, minute=0), 20)
    full = t0.replace(hour=10, minute=0)
    await _run_at(runtime, full, 25)
    last = runtime.db.transaction(
        lambda c: c.execute(select(func.max(Message.sent_at))).scalar_one()
    )
    assert last is not None and last.replace(tzinfo=UTC) == full  # it filled at 10:00
    report = runtime.db.transaction(campaign_report, campaign_id, full)
    assert report.waiting == f.waiting
    until = runtime.db.transaction(
        lambda c: c.execute(
            select(func.min(Message.due_at)).where(Message.status == "queued")
        ).scalar_one()
    )
    assert until.replace(tzinfo=UTC) == f.until
    assert len(sink.messages) == 25
