"""A worker that dies holding messages burns no unit of a message no transport ever had."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from sendpool.core.outcomes import Outcome
from sendpool.core.windows import windows_at
from sendpool.pipeline.handover import MARK_BATCH_PER_CONNECTION
from sendpool.pipeline.takeback import take_back
from sendpool.runtime import Runtime
from sendpool.store.ledger_sql import usage_sync
from sendpool.store.recount import recount_sync
from sendpool.store.tables import Message
from sendpool.transports.base import Health
from sendpool.transports.message import OutgoingMessage
from sendpool.transports.spec import ServerSpec
from tests.support.clock import away_from_an_hour_end
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.settings import make_settings

SLOTS, N = 2, 30


class Hanging:
    """A transport whose sends never finish: the worker dies while they are under way."""

    def __init__(self, spec: ServerSpec) -> None:
        self.started = 0

    async def send(self, message: OutgoingMessage) -> Outcome:
        self.started += 1
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")

    async def check(self) -> Health:
        return Health(True, "hanging")

    async def close(self) -> None:
        return None


def handed(rt: Runtime) -> int:
    return int(
        rt.db.transaction(
            lambda c: c.execute(
                select(func.count()).where(Message.handed_at.is_not(None))
            ).scalar_one()
        )
    )


def used(rt: Runtime, at: datetime) -> int:
    return rt.db.transaction(usage_sync, {1: windows_at(at)})[1].day_used


async def crash_while_sending(rt: Runtime) -> Hanging:
    """Claim and start a batch, then die the way kill -9 does: nothing written back."""
    hanging: list[Hanging] = []

    def factory(spec: ServerSpec) -> Hanging:
        hanging.append(Hanging(spec))
        return hanging[-1]

    worker = rt.worker(health_checks=False, transport_factory=factory)
    assert await worker.step(N) == N
    async with asyncio.timeout(10):
        while not hanging or hanging[0].started < SLOTS:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the hand-over marks are written in small batches
    for task in list(worker._tasks):
        task.cancel()  # no write-back, no release: the process is gone
    await asyncio.gather(*worker._tasks, return_exceptions=True)
    # Marks already on their way to the database land; then the process is gone.
    await asyncio.gather(*worker.handover._writes, return_exceptions=True)
    return hanging[0]


def setup(tmp_path: Path) -> Runtime:
    rt = Runtime.open(make_settings(tmp_path, lease_seconds=30.0))
    apply(
        rt,
        {
            "servers": [smtp_server("relay", 2525, max_connections=SLOTS)],
            "plans": [{"name": "P", "servers": ["relay"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(rt, N)
    return rt


async def test_units_of_messages_never_handed_over_come_back(tmp_path: Path) -> None:
    with setup(tmp_path) as rt:
        now = away_from_an_hour_end()  # it looks 31 s ahead, in the same day
        hanging = await crash_while_sending(rt)
        assert hanging.started == SLOTS
        assert used(rt, now) == N, "the dead worker had reserved a unit for each"
        later = now + timedelta(seconds=31)  # its leases have run out
        marked = handed(rt)
        claimed = await rt.queue.claim("next", N, later, later + timedelta(seconds=30))
        pool = await rt.worker().pool.get(later)
        clear = rt.queue.clear_reservations
        given, kept = await take_back(claimed, pool, rt.ledger, lambda ids: clear("next", ids))
        # Marked handed over: the SLOTS under way, and the few marked ahead of their slot.
        assert SLOTS <= kept <= SLOTS * (MARK_BATCH_PER_CONNECTION + 2) < N
        assert (given, kept) == (N - marked, marked)
        assert used(rt, now) == kept, "only what was handed over stays spent"
        retried = [m for m in claimed if m.retry_server_id is not None]
        assert len(retried) == kept, "those go back to the same server first"
        # The marks are gone: a second crash now can never give a unit back twice.
        again = await rt.queue.claim("third", N, later + timedelta(seconds=31), later)
        assert all(m.reserved_server_id is None for m in again)


async def test_a_ledger_rebuild_counts_what_a_dead_worker_held(tmp_path: Path) -> None:
    with setup(tmp_path) as rt:
        now = away_from_an_hour_end()  # it looks 31 s ahead, in the same day
        await crash_while_sending(rt)
        later = now + timedelta(seconds=31)
        # Redis restarted after the crash; the rebuild runs once the leases ran out.
        restarted = now + timedelta(seconds=5)
        counted = rt.db.transaction(recount_sync, later, restarted)
        assert counted is not None
        _windows, usage = counted[1]
        assert usage.day_used >= N, "a rebuilt ledger may not forget reserved units"


async def test_a_kept_unit_is_still_counted_after_its_marks_are_cleared(tmp_path: Path) -> None:
    # A Redis ledger rebuilt after the take-over must still count the units of
    # messages that may have gone out: the row records that attempt.
    with setup(tmp_path) as rt:
        now = away_from_an_hour_end()  # it looks 31 s ahead, in the same day
        await crash_while_sending(rt)
        later = now + timedelta(seconds=31)
        claimed = await rt.queue.claim("next", N, later, later + timedelta(seconds=30))
        pool = await rt.worker().pool.get(later)
        clear = rt.queue.clear_reservations
        await take_back(claimed, pool, rt.ledger, lambda ids: clear("next", ids))
        counted = rt.db.transaction(recount_sync, later, now - timedelta(seconds=60))
        assert counted is not None
        assert counted[1][1].day_used >= SLOTS
        kept = [m.attempts for m in claimed if m.retry_server_id]
        assert len(kept) >= SLOTS and set(kept) == {1}
