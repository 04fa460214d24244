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
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta

from sendpool.config import Settings
from sendpool.core.outcomes import Outcome, OutcomeKind
from sendpool.core.retry import RetryPolicy
from sendpool.core.states import MessageStatus
from sendpool.metrics import MESSAGES, latency
from sendpool.pipeline.collector import calm_gc
from sendpool.pipeline.dispatch import Dispatcher, Waiting
from sendpool.pipeline.group_writes import GroupWrites
from sendpool.pipeline.handover import Handover
from sendpool.pipeline.health import HealthChecker
from sendpool.pipeline.mx import mx_cache
from sendpool.pipeline.periodic import Every, sleep_unless_stopped
from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.ports import Catalog, MessageQueue, QuotaLedger
from sendpool.pipeline.prepare import Job, Preparer
from sendpool.pipeline.record import OutcomeRecorder
from sendpool.pipeline.takeback import not_yet, take_back
from sendpool.store.records import MessageUpdate
from sendpool.transports.base import Transport
from sendpool.transports.registry import build_transport
from sendpool.transports.spec import ServerSpec

log = logging.getLogger("sendpool.worker")

Clock = Callable[[], datetime]
TransportFactory = Callable[[ServerSpec], Transport]
HEARTBEAT_SECONDS = 5.0
# How long a message another worker left waits while the ledger is rebuilt.
LEFT_WAIT_SECONDS = 1.0
# At a stop, sends under way get this long before they are given up (SIGTERM in 10 s).
STOP_GRACE_SECONDS = 8.0
# A wait longer than this is checked against a freshly read pool before it is written.
LONG_WAIT = timedelta(seconds=30)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _waits_long(waiting: list[Waiting], now: datetime) -> bool:
    """Whether some job waits for a window rather than a moment (a rate, a busy server)."""
    return any(w.until > now + LONG_WAIT for w in waiting)


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
        return_path_key: bytes | None = None,
        unsubscribe_key: bytes | None = None,
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
        # Provider groups by MX pattern need MX hosts: looked up in the background (§1.9).
        self.mx = mx_cache(settings) if settings.mx_lookups else None
        self.pool = PoolCache(
            catalog,
            ttl=2.0,
            send_timeout=settings.send_timeout,
            bounce_domain=settings.bounce_domain,
            bounce_local=settings.bounce_local,
            mx=self.mx,
        )
        self.preparer = Preparer(
            catalog,
            public_url=settings.public_url,
            burst_threshold=settings.burst_threshold,
            return_path_key=return_path_key,
            unsubscribe_key=unsubscribe_key,
            bounce_domain=settings.bounce_domain,
        )
        self.handover = Handover(
            self.pool,
            GroupWrites(lambda ids, at: self.queue.mark_handed(self.id, ids, at)),
            clock=clock,
            lease_seconds=settings.lease_seconds,
        )
        self.dispatcher = Dispatcher(
            ledger,
            idle_recheck=settings.idle_recheck_seconds,
            room=self.handover.room,
            holder=self.id,
            mark_first=None
            if ledger.marks_reservations
            else lambda pairs, at: self.queue.mark_reserved(self.id, pairs, at),
        )
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

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        # The loop's own create_task: ensure_future's checks cost 5 % at a task per message.
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the loops --------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish what is in flight and write it back."""
        calm_gc()
        self._halt.clear()
        await self.catalog.heartbeat(self.id, self.clock())
        lease_every, leases = self.settings.lease_seconds / 4, self._renew_leases
        periodic = {
            "flush": Every(self.flush_interval, self.flush, tick_first=False),
            "heartbeat": Every(HEARTBEAT_SECONDS, self._heartbeat, tick_first=False),
            "leases": Every(
                lease_every, leases, tick_first=False, survive_errors=True, what="renewing leases"
            ),
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
        # Jobs still waiting for a slot go back at once; sends under way get a
        # short grace, then stop (their outcome is unknown, their unit spent).
        self.handover.close()
        if self.mx is not None:
            await self.mx.close()
        sends = list(self._tasks)
        if sends:
            grace = min(self.settings.send_timeout + 5, STOP_GRACE_SECONDS)
            _, late = await asyncio.wait(sends, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
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
            # Every claimed message is unflushed until its write-back, sending or not.
            room = s.max_in_flight - self._unflushed
            if room < min(s.batch_size, s.max_in_flight) // 2 or room <= 0:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), 1.0)
                continue
            try:
                claimed = await self.step(min(s.batch_size, room))
            except Exception:  # the database went away: hold on, nothing is lost
                log.exception("claiming failed; trying again in %.0fs", max(1.0, s.poll_interval))
                await sleep_unless_stopped(stop, max(1.0, s.poll_interval))
                continue
            self.idle = claimed == 0
            if self.idle:
                await sleep_unless_stopped(stop, s.poll_interval)

    async def step(self, limit: int) -> int:
        """Claim up to ``limit`` due messages and start sending them; return how many."""
        now = self.clock()
        asked = time.monotonic()
        lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        claimed = await self.queue.claim(self.id, limit, now, lease_until)
        if not claimed:
            return 0
        claimed, later = await not_yet(claimed, self.ledger)
        if later:
            due = now + timedelta(seconds=LEFT_WAIT_SECONDS)
            await self.queue.release_claims(self.id, [m.id for m in later], now, due)
            if not claimed:
                return 0
        self._unflushed += len(claimed)
        try:
            pool = await self.pool.get(now)
            await take_back(
                claimed, pool, self.ledger, lambda ids: self.queue.clear_reservations(self.id, ids)
            )
            prepared = await self.preparer.prepare(claimed, now, pool)
            assignment = await self.dispatcher.assign(prepared.jobs, pool, now)
            ready = [(job, pool) for job in assignment.ready]
            if _waits_long(assignment.waiting, now) and self.pool.loaded_before(asked):
                # Mail made due because room was added would otherwise be judged by the
                # pool as it was before, and sent back to wait for hours: look afresh.
                self.pool.invalidate()
                fresh = await self.pool.get(now)
                for w in assignment.waiting:
                    w.job.row.waited = True  # its skips were just counted
                again = await self.dispatcher.assign(
                    [w.job for w in assignment.waiting], fresh, now
                )
                ready += [(job, fresh) for job in again.ready]
                assignment.waiting = again.waiting
        except Exception:
            # Nothing of this claim was started: hand it all back at once, marks and all
            # (a unit reserved meanwhile comes back at the next claim's take-over), or
            # this worker would hold the claim until its lease ran out and, counting it
            # as in flight, soon have no room to claim anything else.
            self._unflushed -= len(claimed)
            with contextlib.suppress(Exception):
                await self.queue.release_claims(self.id, [m.id for m in claimed], now)
            raise
        for update in prepared.settled:
            self.recorder.settle(update)
        if assignment.waiting:
            MESSAGES.labels("waiting", "").inc(len(assignment.waiting))
        for w in assignment.waiting:
            row = w.job.row
            self.recorder.settle(
                MessageUpdate(
                    row.id,
                    MessageStatus.QUEUED,
                    w.until,
                    row.attempts,
                    last_error=w.reason[:2000],
                    retry_server_id=row.retry_server_id,
                )
            )
        for job, seen in ready:
            assert job.server is not None
            spec = seen.specs[job.server.id]
            transport = self.transport_for(spec)
            self.in_flight[job.row.id] = job
            self.handover.dealt(job.server.id)
            self._spawn(self._send(job, transport, spec))
        return len(claimed)

    async def _send(self, job: Job, transport: Transport, spec: ServerSpec) -> None:
        assert job.server is not None
        server_id = job.server.id
        try:
            why = await self.handover.enter(job, spec.max_connections)
        except Exception as exc:  # the hand-over mark could not be written
            why = f"could not record the hand-over: {exc!r}"
        if why is not None:
            self.recorder.not_started(job, why, self.clock())
            self.handover.finished(server_id, sent=False)
            self.in_flight.pop(job.row.id, None)
            return
        started = time.perf_counter()
        try:
            outcome = await transport.send(job.message)
            latency(spec.type).observe(time.perf_counter() - started)
        except asyncio.CancelledError:  # the worker is stopping and the grace ran out
            outcome = Outcome(
                OutcomeKind.UNKNOWN, None, None, None, "the worker stopped during the send"
            )
        except Exception as exc:  # a transport bug must not lose the message
            log.exception("transport for %s raised", job.server.name)
            outcome = Outcome(
                OutcomeKind.SERVER_FAILURE, None, None, None, f"transport error: {exc!r}"
            )
        finally:
            self.handover.leave(job)
        self.recorder.outcome(job, outcome, self.clock())
        self.handover.finished(server_id, sent=outcome.kind is OutcomeKind.ACCEPTED)
        if outcome.kind in (OutcomeKind.SERVER_FAILURE, OutcomeKind.UNKNOWN):
            self.handover.server_changed(server_id)  # wake its waiting jobs to look again
        self.in_flight.pop(job.row.id, None)

    async def flush(self) -> None:
        async with self._flush_lock:
            batch, releases = self.recorder.take()
            held = self.recorder.take_held()
            batch.skips = [*batch.skips, *self.dispatcher.tally.drain()]
            try:
                if held:
                    await self.ledger.release(releases, held)
                    held = []
                if batch:
                    await self.queue.record(self.id, batch, self.clock())
            except Exception:
                # Kept for the next flush: a write-back is idempotent by claim.
                log.exception("writing outcomes back failed; keeping them for the next try")
                self.recorder.restore(batch, held)
                return
            if batch.updates:
                # Settled in the database: the ledger no longer holds their units apart.
                await self.ledger.forget([u.id for u in batch.updates])
            self._unflushed = max(0, self._unflushed - len(batch.updates))
            self._room.set()

    async def _renew_leases(self) -> None:
        """Messages this worker still holds keep their lease, however slow their relay."""
        # Under the write-back's lock: two transactions of this worker updating the
        # same rows in different orders could deadlock on PostgreSQL.
        async with self._flush_lock:
            held = sorted(self.in_flight)
            if held:
                until = self.clock() + timedelta(seconds=self.settings.lease_seconds)
                await self.queue.renew_leases(self.id, held, until)

    async def _finish_stalled_launches(self) -> None:
        """Finish launches whose launcher died, so no campaign stays half-queued."""
        taken = await self.catalog.finish_stalled_launches(self.clock(), self._halt)
        for campaign_id in taken:
            log.warning("finished the launch of campaign %d, left off by its launcher", campaign_id)

    async def _heartbeat(self) -> None:
        await self.catalog.heartbeat(self.id, self.clock())
