"""Health checks: degraded servers are re-checked every interval, idle ones too.

A passing check makes a degraded server healthy again; a failing one keeps it
degraded until the next interval. Only one worker checks a server per
interval: each check is claimed in the database first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sendpool.store.records import HealthChange, ServerRow
from sendpool.transports.base import Health

if TYPE_CHECKING:
    from sendpool.pipeline.worker import Worker

log = logging.getLogger("sendpool.health")


def check_due(row: ServerRow, now: datetime, interval: float) -> bool:
    if row.status != "active":
        return False
    if row.health == "degraded":
        return row.next_check_at is None or row.next_check_at <= now
    horizon = now - timedelta(seconds=interval)
    idle = row.last_activity_at is None or row.last_activity_at <= horizon
    stale = row.health_checked_at is None or row.health_checked_at <= horizon
    return idle and stale


class HealthChecker:
    def __init__(self, worker: Worker, *, interval: float) -> None:
        self.worker = worker
        self.interval = interval

    async def run(self, stop: asyncio.Event) -> None:
        tick = max(0.05, min(5.0, self.interval / 4))
        while not stop.is_set():
            await self.check_due_servers()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

    async def check_due_servers(self) -> list[tuple[str, Health]]:
        w = self.worker
        now = w.clock()
        state = await w.pool.get(now)
        results = []
        for row in state.rows.servers:
            if not check_due(row, now, self.interval):
                continue
            until = now + timedelta(seconds=self.interval)
            if not await w.catalog.claim_health_check(row.id, now, until):
                continue
            health = await self.check(row.id, state.specs[row.id])
            results.append((row.name, health))
            at = w.clock()
            status = "healthy" if health.ok else "degraded"
            w.recorder.batch.health.append(
                HealthChange(
                    row.id,
                    status,
                    at,
                    None if health.ok else health.detail,
                    at + timedelta(seconds=self.interval),
                    checked=True,
                )
            )
            was_degraded = row.health == "degraded" or state.views[row.id].degraded
            if health.ok:
                if was_degraded:
                    log.warning("server %s is healthy again: %s", row.name, health.detail)
                w.pool.mark_healthy(row.id)
            elif not was_degraded:
                log.warning("server %s failed its health check: %s", row.name, health.detail)
                w.pool.mark_degraded(row.id, at, at + timedelta(seconds=self.interval))
        if results:
            await w.flush()
        return results

    async def check(self, server_id: int, spec: object) -> Health:
        from sendpool.transports.spec import ServerSpec

        assert isinstance(spec, ServerSpec)
        transport = self.worker.transport_for(spec)
        try:
            return await asyncio.wait_for(transport.check(), spec.timeout + 5)
        except TimeoutError:
            return Health(False, f"health check timed out after {spec.timeout + 5:.0f}s")
        except Exception as exc:  # a broken check is a failed check, not a dead worker
            return Health(False, f"health check raised {exc!r}")
