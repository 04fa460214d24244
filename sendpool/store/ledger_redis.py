"""The quota ledger, rate limiters and rotation cursors on Redis, for many workers.

One Lua script (redis_lua/reserve.lua) checks and bumps a server's day
window, hour window and per-second rate at once; counters expire with their
window; a plan's cursor is one INCRBY.

A Redis that restarts empty, or comes back from an old snapshot, or is
flushed, has forgotten units already handed out: granting against it would
exceed caps. So the counters are trusted only while a ready marker holds the
run id of the very Redis process they were built in, and every script checks
it. Without it, reservations are denied (the messages wait a moment) and one
worker rebuilds the counters from the database (``UsageRecount``) as soon as
no message claimed before the reset is still in flight, then sets the marker.

Redis and the database are two stores, so no write covers a unit and its
message together. The worker writes a message's reservation marks first and
then asks for its unit; the script notes which message each unit went to, and
when (``Keys.held``). A unit then comes back only by its message and that
reservation (redis_lua/release_held.lua): marks left by a worker that died
before it asked give nothing back, and a unit given back before a crash is
not given back again when its message is taken over. A rebuild notes as held
every unit the marks in the database still show.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from sendpool.core.quota import Denial, Grant
from sendpool.core.ratelimit import Throttle
from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import ServerWindows, Window
from sendpool.store.records import Held, ReservationMark

log = logging.getLogger("sendpool.ledger")

T = TypeVar("T")
Unreachable = (RedisConnectionError, RedisTimeoutError)

# Counters outlive their window a little: a worker whose clock runs late
# must still find the window it believes it is in.
GRACE = timedelta(minutes=10)
REBUILD_LOCK_MS = 30_000
WAIT_SECONDS = 0.5  # how long a message waits while the counters are rebuilt
_UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"


@dataclass(frozen=True, slots=True)
class Recounted:
    """Units used per server in its current windows, and the units still held per message.

    ``held`` maps each message whose reservation marks are still in the
    database to their time: those units may yet come back (``release_held``).
    """

    usage: Mapping[int, tuple[ServerWindows, Usage]]
    held: Mapping[int, datetime]


class UsageRecount(Protocol):
    """Units each server has used in its current windows, counted from the messages.

    None while a message claimed before ``reset_at`` may still be in flight:
    its unit is in no record yet.
    """

    async def __call__(self, now: datetime, reset_at: datetime) -> Recounted | None: ...


def _lua(name: str) -> str:
    return (Path(__file__).with_name("redis_lua") / f"{name}.lua").read_text()


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Keys:
    """Every key shares one hash tag, so the scripts also run on a Redis Cluster."""

    def __init__(self, prefix: str) -> None:
        self.base = f"{{{prefix}}}"
        self.ready = f"{self.base}:ready"
        self.reset = f"{self.base}:reset"
        self.lock = f"{self.base}:rebuild"
        self.held = f"{self.base}:held"  # message id -> its reservation's time (epoch ms)

    def counter(self, server_id: int, w: Window) -> str:
        return f"{self.base}:q:{server_id}:{w.kind}:{w.key}"

    def rate(self, server_id: int) -> str:
        return f"{self.base}:rate:{server_id}"

    def group_rate(self, server_id: int, group: str) -> str:
        return f"{self.base}:grate:{server_id}:{group}"

    def cursor(self, plan_id: int) -> str:
        return f"{self.base}:cursor:{plan_id}"


class RedisLedger:
    """The ledger interface over Redis; blocking redis-py calls run on a few threads."""

    # Redis holds the units, the database the messages: the worker marks them first,
    # and Redis notes which message each unit went to (``Keys.held``).
    marks_reservations = False

    def __init__(
        self,
        client: redis.Redis,
        recount: UsageRecount,
        *,
        prefix: str = "sendpool",
        threads: int = 4,
        unavailable_retry: float = 1.0,
    ) -> None:
        self.client = client
        self.recount = recount
        self.keys = Keys(prefix)
        self.unavailable_retry = unavailable_retry
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sendpool-redis")
        self._reserve = client.register_script(_lua("reserve"))
        self._release = client.register_script(_lua("release"))
        self._release_held = client.register_script(_lua("release_held"))
        self._whole = client.register_script(_lua("whole"))
        self._recover = client.register_script(_lua("recover"))
        self._install = client.register_script(_lua("install"))
        self._unlock = client.register_script(_UNLOCK)
        self._cursors: dict[int, int] = {}  # stand-in while Redis is unreachable
        self._down = False
        self._reset_seen: str | None = None

    @classmethod
    def open(cls, url: str, recount: UsageRecount, **kwargs: Any) -> RedisLedger:
        # No retries inside redis-py: a message waits a second instead, and
        # a worker never stalls for long on a Redis that is down.
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, recount, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def _script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        return await self._run(script, keys=keys, args=args)

    def _unreachable(self, exc: Exception) -> None:
        if not self._down:
            self._down = True
            log.warning("Redis is unreachable (%s): reservations wait until it is back", exc)

    def _reachable(self) -> None:
        if self._down:
            self._down = False
            log.warning("Redis is reachable again")

    # -- the ledger interface ---------------------------------------------

    async def usage(self, servers: Mapping[int, ServerWindows]) -> dict[int, Usage]:
        ids = list(servers)
        keys = [self.keys.counter(s, w) for s in ids for w in (servers[s].day, servers[s].hour)]
        if not keys:
            return {}
        try:
            values = await self._run(self.client.mget, keys)
        except Unreachable as exc:
            self._unreachable(exc)
            return {s: Usage() for s in ids}  # reserve() will say no, with the reason
        self._reachable()
        n = [int(v or 0) for v in values]
        return {s: Usage(n[2 * i], n[2 * i + 1]) for i, s in enumerate(ids)}

    async def reserve(
        self,
        server_id: int,
        windows: ServerWindows,
        caps: Caps,
        count: int,
        now: datetime,
        mark: ReservationMark | None = None,
        throttle: Throttle | None = None,
    ) -> Grant:
        if count <= 0:
            return Grant(0)
        k = self.keys
        keys = [
            k.counter(server_id, windows.day),
            k.counter(server_id, windows.hour),
            k.rate(server_id),
            k.ready,
            k.held,
            k.group_rate(server_id, throttle.group if throttle else ""),
        ]
        args: list[Any] = [
            count,
            caps.daily,
            -1 if caps.hourly is None else caps.hourly,
            repr(float(caps.rate or 0.0)),
            repr(now.timestamp()),
            _ms(windows.day.end + GRACE),
            _ms(windows.hour.end + GRACE),
            _ms(now),
            repr(float(throttle.rate if throttle else 0.0)),
            repr(float(throttle.burst or 0.0) if throttle else 0.0),
            *(mark.message_ids if mark is not None else ()),
        ]
        for _ in range(2):
            try:
                granted, denial, retry = await self._script(self._reserve, keys, args)
                if denial != "not_ready":
                    self._reachable()
                    return Grant(
                        int(granted), Denial(denial) if denial else None, float(retry or 0) or None
                    )
                wait = await self._rebuild(now)
            except Unreachable as exc:
                self._unreachable(exc)
                return Grant(0, Denial.UNAVAILABLE, self.unavailable_retry)
            if wait is not None:
                return Grant(0, Denial.UNAVAILABLE, wait)
        return Grant(0, Denial.UNAVAILABLE, WAIT_SECONDS)

    async def release(
        self, releases: Mapping[tuple[int, ServerWindows], int], held: Sequence[Held] = ()
    ) -> None:
        """Give units back: by message when ``held`` names them (exact), else by count."""
        if held:
            await self.release_held(held)
            return
        keys = [self.keys.ready]
        args: list[int] = []
        for (server_id, w), n in sorted(releases.items(), key=lambda r: r[0][0]):
            if n > 0:
                keys += [self.keys.counter(server_id, w.day), self.keys.counter(server_id, w.hour)]
                args += [n, n]
        if not args:
            return
        try:
            await self._script(self._release, keys, args)
        except Unreachable as exc:
            # Units not given back only make the window fill early: never unsafe.
            self._unreachable(exc)

    async def release_held(self, held: Sequence[Held]) -> int:
        """Give back each named message's unit if Redis still holds it for that reservation."""
        k = self.keys
        keys, args = [k.ready, k.held], []
        for h in held:
            keys += [k.counter(h.server_id, h.windows.day), k.counter(h.server_id, h.windows.hour)]
            args += [h.message_id, _ms(h.reserved_at)]
        if not args:
            return 0
        try:
            return int(await self._script(self._release_held, keys, args))
        except Unreachable as exc:
            # Units not given back only make the window fill early: never unsafe.
            self._unreachable(exc)
            return 0

    async def forget(self, message_ids: Sequence[int]) -> None:
        """These messages are settled in the database: their units are no longer held."""
        if not message_ids:
            return
        try:
            await self._run(self.client.hdel, self.keys.held, *message_ids)
        except Unreachable as exc:
            # A note left behind can never give a unit back: the database has no
            # reservation of that time for the message any more.
            self._unreachable(exc)

    async def whole(self) -> bool:
        """True only while the counters are marked whole for this very Redis process."""
        try:
            return bool(int(await self._script(self._whole, [self.keys.ready], [])))
        except Unreachable as exc:
            self._unreachable(exc)
            return False

    async def advance_cursor(self, plan_id: int, count: int) -> int:
        """Move the plan's cursor on by ``count``; return where it stood before."""
        try:
            new = int(await self._run(self.client.incrby, self.keys.cursor(plan_id), count))
        except Unreachable as exc:
            self._unreachable(exc)
            start = self._cursors.get(plan_id, 0)
            self._cursors[plan_id] = start + count
            return start
        return new - count

    # -- rebuilding after a reset -----------------------------------------

    async def _rebuild(self, now: datetime) -> float | None:
        """Rebuild the counters if this worker may; None once they are whole again."""
        k = self.keys
        token = uuid.uuid4().hex
        state = await self._script(
            self._recover, [k.ready, k.reset, k.lock], [token, REBUILD_LOCK_MS]
        )
        if state[0] == "ready":
            return None
        _, run_id, reset_at, took = state
        if self._reset_seen != run_id:
            self._reset_seen = run_id
            log.warning(
                "Redis (run id %s) does not hold whole quota counters (restarted or flushed): "
                "reservations wait until they are rebuilt from the database",
                run_id[:12],
            )
        if not int(took):
            return WAIT_SECONDS
        try:
            reset = datetime.fromtimestamp(float(reset_at), UTC)
            counted = await self.recount(now, reset)
            if counted is None:
                return WAIT_SECONDS
            usage = counted.usage
            keys = [k.ready, k.reset, k.lock, k.held]
            counters: list[Any] = []
            for server_id, (w, used) in sorted(usage.items()):
                for window, n in ((w.day, used.day_used), (w.hour, used.hour_used)):
                    keys.append(k.counter(server_id, window))
                    counters += [n, _ms(window.end + GRACE)]
            args: list[Any] = [token, run_id, len(counters) // 2, *counters]
            for message_id, at in sorted(counted.held.items()):
                args += [message_id, _ms(at)]
            if not int(await self._script(self._install, keys, args)):
                return WAIT_SECONDS
        finally:
            await self._script(self._unlock, [k.lock], [token])
        log.warning("quota counters rebuilt from the database for %d server(s)", len(usage))
        policy = (await self._run(self.client.info, "memory")).get("maxmemory_policy")
        if policy not in (None, "noeviction"):
            # An evicted counter reads as zero while the marker stays: caps would break.
            log.warning("Redis maxmemory-policy is %s: set it to noeviction", policy)
        return None
