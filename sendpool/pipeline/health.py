"""Health checks: degraded servers are re-checked every interval, idle ones too.

A passing check makes a degraded server healthy again; a failing one keeps it
degraded until the next interval. Only one worker checks a server per
interval: each check is claimed in the database first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.pipeline.periodic import Periodic
from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.ports import Catalog
from sendpool.store.records import HealthChange, ServerRow
from sendpool.transports.base import Health, Transport
from sendpool.transports.registry import learns_smtputf8
from sendpool.transports.smtp import SMTPUTF8_FACT
from sendpool.transports.spec import ServerSpec

log = logging.getLogger("sendpool.health")
VENDOR_DAILY_LIMIT_FACT = "Max24HourSend"  # what SES's GetAccount reports (transports/ses.py)


def check_due(row: ServerRow, now: datetime, interval: float) -> bool:
    if row.status != ServerStatus.ACTIVE:
        return False
    if row.health == ServerHealth.DEGRADED:
        return row.next_check_at is None or row.next_check_at <= now
    horizon = now - timedelta(seconds=interval)
    idle = row.last_activity_at is None or row.last_activity_at <= horizon
    stale = row.health_checked_at is None or row.health_checked_at <= horizon
    # A busy server whose SMTPUTF8 is still unknown is checked too: mail with a
    # non-ASCII address waits for that answer (docs/design.md §1.2).
    unknown = row.smtputf8 is None and learns_smtputf8(row.type)
    return (idle or unknown) and stale


def learned_vendor_limit(health: Health) -> int | None:
    """The daily sending limit a vendor's check reported (SES: Max24HourSend), or None.

    Rebalancing never raises a server's limit past it: the vendor would refuse the rest.
    """
    said = health.facts.get(VENDOR_DAILY_LIMIT_FACT) if health.ok else None
    try:
        limit = int(float(said)) if said is not None else 0
    except ValueError:
        return None
    return limit if limit > 0 else None


def learned_smtputf8(health: Health) -> bool | None:
    """What a passing check learnt of SMTPUTF8 (RFC 6531), or None if it did not say."""
    said = health.facts.get(SMTPUTF8_FACT) if health.ok else None
    return None if said is None else said == "yes"


class HealthChecker(Periodic):
    """Checks the servers that are due, records what it learnt, and tells the pool at once.

    It is handed what it works with: the pool cache it marks, the catalog that
    claims each check, the transport for a server, where a health change is
    recorded, the write-back to run after a round of checks, and the clock.
    """

    what = "health checks"

    def __init__(
        self,
        *,
        pool: PoolCache,
        catalog: Catalog,
        transport_for: Callable[[ServerSpec], Transport],
        record: Callable[[HealthChange], None],
        flush: Callable[[], Awaitable[None]],
        clock: Callable[[], datetime],
        interval: float,
    ) -> None:
        self.pool = pool
        self.catalog = catalog
        self.transport_for = transport_for
        self.record = record
        self.flush = flush
        self.clock = clock
        self.check_interval = interval
        self.interval = max(0.05, min(5.0, interval / 4))  # how often to look for due checks

    async def tick(self) -> None:
        await self.check_due_servers()

    async def check_due_servers(self) -> list[tuple[str, Health]]:
        now = self.clock()
        state = await self.pool.get(now)
        every = timedelta(seconds=self.check_interval)
        results = []
        for row in state.rows.servers:
            if not check_due(row, now, self.check_interval):
                continue
            if not await self.catalog.claim_health_check(row.id, now, now + every):
                continue
            health = await self.check(state.specs[row.id])
            results.append((row.name, health))
            at = self.clock()
            status = ServerHealth.HEALTHY if health.ok else ServerHealth.DEGRADED
            error = None if health.ok else health.detail
            learned = learned_smtputf8(health)
            self.record(
                HealthChange(
                    row.id,
                    status,
                    at,
                    error,
                    at + every,
                    checked=True,
                    smtputf8=learned,
                    vendor_daily_limit=learned_vendor_limit(health),
                )
            )
            was_degraded = row.health == ServerHealth.DEGRADED or state.views[row.id].degraded
            if health.ok:
                if was_degraded:
                    log.warning("server %s is healthy again: %s", row.name, health.detail)
                self.pool.mark_healthy(row.id)
            elif not was_degraded:
                log.warning("server %s failed its health check: %s", row.name, health.detail)
                self.pool.mark_degraded(row.id, at, at + every)
        if results:
            await self.flush()
        return results

    async def check(self, spec: ServerSpec) -> Health:
        transport = self.transport_for(spec)
        try:
            return await asyncio.wait_for(transport.check(), spec.timeout + 5)
        except TimeoutError:
            return Health(False, f"health check timed out after {spec.timeout + 5:.0f}s")
        except Exception as exc:  # a broken check is a failed check, not a dead worker
            return Health(False, f"health check raised {exc!r}")
