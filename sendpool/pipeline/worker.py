"""The worker: one loop that claims, dispatches and sends, and one that writes back.

Sends run as tasks, bounded by ``max_in_flight`` (claimed but not yet written
back); each transport bounds its own connections. Outcomes are written in
batches every ``flush_interval``, so a busy worker makes a few transactions a
second, not one per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sendpool.config import Settings
from sendpool.core.outcomes import Outcome, OutcomeKind
from sendpool.core.retry import RetryPolicy
from sendpool.metrics import MESSAGES, latency
from sendpool.pipeline.dispatch import Dispatcher
from sendpool.pipeline.health import HealthChecker
from sendpool.pipeline.periodic import Every, sleep_unless_stopped
from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.ports import Catalog, MessageQueue, QuotaLedger
from sendpool.pipeline.prepare import Job, Preparer
from sendpool.pipeline.record import OutcomeRecorder
from sendpool.store.records import MessageUpdate
from sendpool.transports.base import Transport
from sendpool.transports.registry import build_transport
from sendpool.transports.spec import ServerSpec

log = logging.getLogger("sendpool.worker")

Clock = Callable[[], datetime]
TransportFactory = Callable[[ServerSpec], Transport]
HEARTBEAT_SECONDS = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        *,
        queue: MessageQueue,
        ledger: QuotaLedger,
        catalog: Catalog,
        settings: Settings,
        transport_factory: TransportFactory = build_transport,
        clock: Clock = utc_now,
        worker_id: str | None = None,
        health_checks: bool = True,
        flush_interval: float = 0.05,
        launch_check_interval: float = 15.0,
        rng: random.Random | None = None,
    ) -> None:
        self.id = worker_id or new_worker_id()
        self.queue = queue
        self.ledger = ledger
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.transport_factory = transport_factory
        self.flush_interval = flush_interval
        self.launch_check_interval = launch_check_interval
        self._halt = threading.Event()  # tells a launch running on a thread to stop
        self.pool = PoolCache(catalog, ttl=2.0, send_timeout=settings.send_timeout)
        self.preparer = Preparer(
            catalog, public_url=settings.public_url, burst_threshold=settings.burst_threshold
        )
        self.dispatcher = Dispatcher(ledger, idle_recheck=settings.idle_recheck_seconds)
        retry = RetryPolicy(
            settings.retry_base_seconds, settings.retry_max_delay_seconds, settings.max_age_seconds
        )
        self.recorder = OutcomeRecorder(
            self.pool, retry=retry, health_interval=settings.health_check_interval, rng=rng
        )
        self.health = (
            HealthChecker(
                pool=self.pool,
                catalog=catalog,
                transport_for=self.transport_for,
                record=self.recorder.batch_health,
                flush=self.flush,
                clock=clock,
                interval=settings.health_check_interval,
            )
            if health_checks
            else None
        )
        self.transports: dict[int, tuple[ServerSpec, Transport]] = {}
        self.in_flight: dict[int, Job] = {}
        self._unflushed = 0
        self._room = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flush_lock = asyncio.Lock()
        self.idle = False

    # -- transports -------------------------------------------------------

    def transport_for(self, spec: ServerSpec) -> Transport:
        known = self.transports.get(spec.id)
        if known is not None and known[0] == spec:
            return known[1]
        if known is not None:
            self._spawn(known[1].close())
        transport = self.transport_factory(spec)
        self.transports[spec.id] = (spec, transport)
        return transport

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the loops --------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish what is in flight and write it back."""
        self._halt.clear()
        await self.catalog.heartbeat(self.id, self.clock())
        periodic = {
            "flush": Every(self.flush_interval, self.flush, tick_first=False),
            "heartbeat": Every(HEARTBEAT_SECONDS, self._heartbeat, tick_first=False),
            "launches": Every(
                self.launch_check_interval,
                self._finish_stalled_launches,
                survive_errors=True,
                what="finishing stalled launches",
            ),
        }
        loops = [asyncio.create_task(self._claim_loop(stop), name="claim")]
        loops += [asyncio.create_task(job.run(stop), name=n) for n, job in periodic.items()]
        if self.health is not None:
            loops.append(asyncio.create_task(self.health.run(stop), name="health"))
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            stop.set()
            self._halt.set()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._finish()

    async def _finish(self) -> None:
        sends = list(self._tasks)
        if sends:
            await asyncio.wait(sends, timeout=self.settings.send_timeout + 5)
        await self.flush()
        leftover = list(self.in_flight)
        if leftover:
            await self.queue.release_claims(self.id, leftover, self.clock())
        for _spec, transport in self.transports.values():
            with contextlib.suppress(Exception):
                await transport.close()
        self.transports.clear()
        with contextlib.suppress(Exception):
            await self.catalog.heartbeat(self.id, self.clock(), stopping=True)

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        s = self.settings
        while not stop.is_set():
            room = s.max_in_flight - len(self.in_flight) - self._unflushed
            if room < min(s.batch_size, s.max_in_flight) // 2 or room <= 0:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), 1.0)
                continue
            claimed = await self.step(min(s.batch_size, room))
            self.idle = claimed == 0
            if self.idle:
                await sleep_unless_stopped(stop, s.poll_interval)

    async def step(self, limit: int) -> int:
        """Claim up to ``limit`` due messages and start sending them; return how many."""
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        claimed = await self.queue.claim(self.id, limit, now, lease_until)
        if not claimed:
            return 0
        self._unflushed += len(claimed)
        pool = await self.pool.get(now)
        prepared = await self.preparer.prepare(claimed, now, pool)
        for update in prepared.settled:
            self.recorder.settle(update)
        assignment = await self.dispatcher.assign(prepared.jobs, pool, now)
        if assignment.waiting:
            MESSAGES.labels("waiting", "").inc(len(assignment.waiting))
        for w in assignment.waiting:
            row = w.job.row
            self.recorder.settle(
                MessageUpdate(row.id, "queued", w.until, row.attempts, last_error=w.reason[:2000])
            )
        for job in assignment.ready:
            assert job.server is not None
            spec = pool.specs[job.server.id]
            transport = self.transport_for(spec)
            self.in_flight[job.row.id] = job
            self._spawn(self._send(job, transport, spec.type))
        return len(claimed)

    async def _send(self, job: Job, transport: Transport, server_type: str) -> None:
        started = time.perf_counter()
        try:
            outcome = await transport.send(job.message)
            latency(server_type).observe(time.perf_counter() - started)
        except Exception as exc:  # a transport bug must not lose the message
            log.exception("transport for %s raised", job.server.name if job.server else "?")
            outcome = Outcome(
                OutcomeKind.SERVER_FAILURE, None, None, None, f"transport error: {exc!r}"
            )
        self.recorder.outcome(job, outcome, self.clock())
        self.in_flight.pop(job.row.id, None)

    async def flush(self) -> None:
        async with self._flush_lock:
            batch, releases = self.recorder.take()
            batch.skips = self.dispatcher.tally.drain()
            if releases:
                await self.ledger.release(releases)
            if batch:
                await self.queue.record(self.id, batch, self.clock())
            self._unflushed = max(0, self._unflushed - len(batch.updates))
            self._room.set()

    async def _finish_stalled_launches(self) -> None:
        """Finish launches whose launcher died, so no campaign stays half-queued."""
        taken = await self.catalog.finish_stalled_launches(self.clock(), self._halt)
        for campaign_id in taken:
            log.warning("finished the launch of campaign %d, left off by its launcher", campaign_id)

    async def _heartbeat(self) -> None:
        await self.catalog.heartbeat(self.id, self.clock())
