"""The last step before a transport: a slot on the server, a last look at the pool, a durable mark.

Each server gets as many slots as it has connections. A job dealt to a
server waits here for a slot; once it has one, the pool is looked at again
(docs/design.md §3): a server disabled, detached from the job's plan, or
degraded since the job was dealt gets nothing more, and the job goes back to
the dispatcher at once with its unit returned. A server that is degraded
wakes every job waiting for it, so a blackhole (a relay that accepts TCP and
never greets) holds the rest of its jobs for one timeout, not one each.

A job is given to the transport only once it is marked handed over, durably:
a crash after the mark keeps the unit spent, a crash before it gives the unit
back (``store/holdings.py``). The next few jobs of each server are marked
ahead of their slots, in one write, so the mark never holds a slot up.

The hand-over also keeps what each server holds on this worker and how fast
it has been sending, so the dispatcher never deals a server more than it can
send within a lease.

A server's ``max_connections`` to a provider group (core/providers.py) is a
second slot per server x group, per worker: a job of that group takes it
before its server's slot, so mail of other groups never waits behind it.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.prepare import Job
from sendpool.pipeline.slots import Slots

MarkHanded = Callable[[Sequence[int], datetime], Awaitable[None]]

# A pace is trusted once it rests on this many sends over this many seconds;
# before that a server is dealt its even share, whatever it holds.
PACE_MIN_SENDS = 4
PACE_MIN_SECONDS = 2.0
# Of a lease, the share a server's backlog on one worker may take to drain.
LEASE_SHARE = 0.5
PACE_WINDOW = 10.0
UNLIMITED = 1 << 30  # seconds of completions the pace is measured over
# Jobs per connection kept marked handed over ahead of their slot (the low
# mark), and how many a refill marks in one write.
MARK_AHEAD_PER_CONNECTION = 2
MARK_BATCH_PER_CONNECTION = 8


class _Pace:
    """Completions per second over the last few seconds, for one server."""

    def __init__(self) -> None:
        self.done: deque[float] = deque()

    def add(self, at: float) -> None:
        self.done.append(at)
        while self.done and self.done[0] < at - PACE_WINDOW:
            self.done.popleft()

    def per_second(self, now: float) -> float | None:
        while self.done and self.done[0] < now - PACE_WINDOW:
            self.done.popleft()
        if len(self.done) < PACE_MIN_SENDS or now - self.done[0] < PACE_MIN_SECONDS:
            return None
        return len(self.done) / (now - self.done[0])


class _Lane:
    """One server's slots, the jobs waiting for them in order, and their hand-over marks."""

    def __init__(self, connections: int) -> None:
        self.slot = Slots(connections)
        self.waiting: dict[int, None] = {}  # message ids, in the order they came
        self.marks: dict[int, asyncio.Future[None]] = {}
        self.ahead = connections * MARK_AHEAD_PER_CONNECTION
        self.batch = connections * MARK_BATCH_PER_CONNECTION


class Handover:
    def __init__(
        self,
        pool: PoolCache,
        mark_handed: MarkHanded,
        *,
        clock: Callable[[], datetime],
        lease_seconds: float,
    ) -> None:
        self.pool = pool
        self.mark_handed = mark_handed
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.held: dict[int, int] = defaultdict(int)
        self._lanes: dict[int, _Lane] = {}
        self._pace: dict[int, _Pace] = defaultdict(_Pace)
        self._writes: set[asyncio.Task[None]] = set()
        self.closed = False
        # (server id, group) -> (its limit, its slots); message id -> the slots it holds.
        self._group_lanes: dict[tuple[int, str], tuple[int, asyncio.Semaphore]] = {}
        self._group_held: dict[int, asyncio.Semaphore] = {}

    # -- what the dispatcher asks ------------------------------------------

    def room(self, server_id: int, connections: int) -> int:
        """How many more jobs this server may hold on this worker."""
        pace = self._pace[server_id].per_second(time.monotonic())
        if pace is None:
            return UNLIMITED
        budget = int(pace * self.lease_seconds * LEASE_SHARE)
        return max(budget, connections) - self.held[server_id]

    def dealt(self, server_id: int, count: int = 1) -> None:
        self.held[server_id] += count

    def finished(self, server_id: int, *, sent: bool) -> None:
        self.held[server_id] = max(0, self.held[server_id] - 1)
        if sent:
            self._pace[server_id].add(time.monotonic())

    # -- what a send waits for ---------------------------------------------

    def server_changed(self, server_id: int) -> None:
        """The server was degraded (or changed): wake whoever waits for it to look again."""
        lane = self._lanes.get(server_id)
        if lane is not None:
            lane.slot.wake_all()

    def close(self) -> None:
        """Stopping: nobody waiting gets a slot any more."""
        self.closed = True
        for lane in self._lanes.values():
            lane.slot.wake_all()

    def _lane(self, server_id: int, connections: int) -> _Lane:
        lane = self._lanes.get(server_id)
        if lane is None:
            lane = self._lanes[server_id] = _Lane(max(1, connections))
        return lane

    async def enter(self, job: Job, connections: int) -> str | None:
        """Wait for a slot; None once the job may be sent, else why it goes back."""
        await self._enter_group(job)
        try:
            why = await self._enter(job, connections)
        except BaseException:
            self._leave_group(job)
            raise
        if why is not None:
            self._leave_group(job)
        return why

    async def _enter_group(self, job: Job) -> None:
        """Take the job's server x group slot, if its server limits connections to the group."""
        assert job.server is not None
        if job.group is None:
            return
        state = await self.pool.get(self.clock())
        limits = state.group_limits(job.server.id, job.group)
        if limits is None or limits.max_connections is None:
            return
        key = (job.server.id, job.group)
        lane = self._group_lanes.get(key)
        if lane is None or lane[0] != limits.max_connections:
            # A changed limit starts afresh; slots taken under the old one still go back to it.
            lane = self._group_lanes[key] = (
                limits.max_connections,
                asyncio.Semaphore(limits.max_connections),
            )
        await lane[1].acquire()
        self._group_held[job.row.id] = lane[1]

    def _leave_group(self, job: Job) -> None:
        slot = self._group_held.pop(job.row.id, None)
        if slot is not None:
            slot.release()

    async def _enter(self, job: Job, connections: int) -> str | None:
        assert job.server is not None
        server_id, message_id = job.server.id, job.row.id
        lane = self._lane(server_id, connections)
        lane.waiting[message_id] = None
        self._mark_ahead(lane)
        cancelled = False
        try:
            while True:
                got = await self._acquire(lane)
                why = await self.why_not(job)
                if why is not None:
                    if got:
                        lane.slot.release()
                    return why
                if got:
                    break  # else woken for nothing that concerns this job: wait again
            try:
                await lane.marks[message_id]
            except BaseException:
                lane.slot.release()
                raise
            return None
        except asyncio.CancelledError:
            cancelled = True  # the worker is going: mark nothing more for it
            raise
        finally:
            lane.waiting.pop(message_id, None)
            lane.marks.pop(message_id, None)
            if not cancelled and not self.closed:
                self._mark_ahead(lane)

    async def _acquire(self, lane: _Lane) -> bool:
        """A slot, or False once the server changed or the worker stops while waiting."""
        if lane.slot.try_take():
            return True  # the common case: no future, no wait
        if self.closed:
            return False
        # Woken without a slot: the caller looks at the pool again.
        return await lane.slot.take()

    def leave(self, job: Job) -> None:
        assert job.server is not None
        self._lanes[job.server.id].slot.release()
        self._leave_group(job)

    async def why_not(self, job: Job) -> str | None:
        """Why this job may no longer go to its server, as the pool stands now."""
        assert job.server is not None
        if self.closed:
            return "the worker is stopping"
        state = await self.pool.get(self.clock())
        view = state.views.get(job.server.id)
        name = job.server.name
        if view is None:
            return f"{name} was removed"
        if not view.enabled:
            return f"{name} was disabled"
        if job.plan_id is not None and job.server.id not in state.plan_members(job.plan_id):
            return f"{name} was detached from the plan"
        if view.degraded:
            return f"{name} is degraded"
        return None

    def _mark_ahead(self, lane: _Lane) -> None:
        """Mark handed over the next few jobs of the lane, before their slots come free.

        The write then never holds a slot up. A crash leaves at most these few
        marked without having been sent: their units stay spent, which costs a
        little capacity and never a cap.
        """
        if len(lane.marks) >= lane.ahead:
            return
        # Below the low mark: mark a batch at once, so it is one write per batch.
        todo: list[int] = []
        for message_id in lane.waiting:
            if len(todo) + len(lane.marks) >= lane.batch:
                break
            if message_id not in lane.marks:
                todo.append(message_id)
        if not todo:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for message_id in todo:
            lane.marks[message_id] = done
        task = asyncio.ensure_future(self._write_marks(todo, done))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_marks(self, ids: list[int], done: asyncio.Future[None]) -> None:
        try:
            await self.mark_handed(ids, self.clock())
        except asyncio.CancelledError:
            done.cancel()  # the worker is going: its jobs wait for no mark
            raise
        except Exception as exc:
            done.set_exception(exc)
            done.exception()  # retrieved here: every job that waits on it sees it too
        else:
            done.set_result(None)
