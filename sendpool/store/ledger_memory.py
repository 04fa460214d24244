"""The quota ledger in memory, for one process: simulations and tests of the dispatcher.

Same arithmetic as the SQL and Redis back ends (core.quota, core.ratelimit);
atomic because asyncio runs one coroutine at a time and nothing here awaits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sendpool.core.quota import Denial, Grant, grantable
from sendpool.core.ratelimit import Throttle, take_rates
from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import ServerWindows
from sendpool.store.records import Held, ReservationMark


class MemoryLedger:
    def __init__(self) -> None:
        self.used: dict[tuple[int, str, str], int] = {}
        self.tat: dict[int, float] = {}
        self.group_tat: dict[tuple[int, str], float] = {}  # server x provider group
        self.cursors: dict[int, int] = {}

    marks_reservations = False

    def close(self) -> None:
        """Nothing to close: it is a few dictionaries."""

    def _get(self, server_id: int, w: ServerWindows) -> Usage:
        return Usage(
            self.used.get((server_id, "day", w.day.key), 0),
            self.used.get((server_id, "hour", w.hour.key), 0),
        )

    async def usage(self, servers: Mapping[int, ServerWindows]) -> dict[int, Usage]:
        return {sid: self._get(sid, w) for sid, w in servers.items()}

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
        n, denial = grantable(caps, self._get(server_id, windows), count)
        retry_after = None
        if n > 0 and (caps.rate or throttle is not None):
            gkey = (server_id, throttle.group if throttle else "")
            d = take_rates(
                n,
                now.timestamp(),
                caps.rate,
                self.tat.get(server_id, 0.0),
                throttle,
                self.group_tat.get(gkey, 0.0),
            )
            if d.server_tat is not None:
                self.tat[server_id] = d.server_tat
            if d.group_tat is not None:
                self.group_tat[gkey] = d.group_tat
            if d.limited_by is not None:
                n, denial, retry_after = d.granted, Denial(d.limited_by), d.retry_after
        for kind, key in (("day", windows.day.key), ("hour", windows.hour.key)):
            self.used[(server_id, kind, key)] = self.used.get((server_id, kind, key), 0) + n
        return Grant(n, denial, retry_after)

    async def release(
        self, releases: Mapping[tuple[int, ServerWindows], int], held: Sequence[Held] = ()
    ) -> None:
        # The counts say it all here: one store, and no unit is held apart from its marks.
        for (server_id, w), n in releases.items():
            for kind, key in (("day", w.day.key), ("hour", w.hour.key)):
                self.used[(server_id, kind, key)] = max(
                    0, self.used.get((server_id, kind, key), 0) - n
                )

    async def forget(self, message_ids: Sequence[int]) -> None:
        return None  # units are not noted per message here

    async def whole(self) -> bool:
        return True  # one store, one transaction: a unit given back is always counted

    async def advance_cursor(self, plan_id: int, count: int) -> int:
        start = self.cursors.get(plan_id, 0)
        self.cursors[plan_id] = start + count
        return start
