"""The scheduler inside ``sendpool serve``: the daily rebalancing job and ledger upkeep.

Once a day, and at its first tick, it also makes the day partitions of
messages for the coming week (PostgreSQL, store/partitions.py).

Each tick asks the database whether today's slot has run yet, so a restart,
a late start (the job catches up) or a second ``serve`` process never runs
the job twice for one slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from sendpool.config import Settings
from sendpool.pipeline.periodic import Periodic
from sendpool.services.access.sessions import limits_from, purge_ended
from sendpool.services.operations.rebalance import policy_from, run_if_due
from sendpool.store.database import Database
from sendpool.store.ledger_sql import purge_expired_sync
from sendpool.store.partitions import ensure_partitions
from sendpool.store.rollups import upkeep as rollup_upkeep

log = logging.getLogger("sendpool.scheduler")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler(Periodic):
    """Runs the due jobs at every tick; each job records its slot, so none runs twice."""

    what = "the scheduler"

    def __init__(
        self, db: Database, settings: Settings, *, clock: Clock = utc_now, tick: float = 60.0
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.interval = tick
        self.runs = 0  # rebalancing runs this scheduler made (for tests and logs)
        self.partitions_day: date | None = None  # the UTC day partitions were last made

    async def make_partitions(self) -> None:
        """The week ahead's day partitions, at the first tick and then once a UTC day.

        A failure is logged and tried again the next day: the partitions are
        made a week ahead, and a row with no partition goes to the default one.
        """
        today = self.clock().astimezone(UTC).date()
        if self.partitions_day == today:
            return
        self.partitions_day = today
        try:
            made = await self.db.run(ensure_partitions, today)
        except Exception:
            log.exception("making the day partitions of messages failed; trying again tomorrow")
            return
        if made.created:
            log.info("day partitions of messages made: %s", ", ".join(made.created))
        for why in made.skipped:
            log.warning("day partition of messages not made: %s", why)

    async def tick(self) -> None:
        """A failing job is logged and tried again at the next tick."""
        await self.run_due_jobs()

    async def run_due_jobs(self) -> None:
        await self.make_partitions()
        try:
            # Quota windows that ended over a day ago are of no use to /stats any more.
            await self.db.run(purge_expired_sync, self.clock())
        except Exception:
            log.exception("purging expired quota windows failed; retrying at the next tick")
        try:
            # Ended admin sessions and sign-in counters that no longer count.
            await self.db.run(purge_ended, self.clock(), limits_from(self.settings))
        except Exception:
            log.exception("purging ended admin sessions failed; retrying at the next tick")
        try:
            # Settled messages and old events past their retention, once per daily slot.
            from sendpool.services.operations.retention import run_if_due as retention_if_due

            trimmed = await retention_if_due(self.db, self.settings, self.clock())
            if trimmed is not None:
                log.info("retention done: %s", trimmed.figures())
        except Exception:  # what is left goes at the next run; finished batches stay done
            log.exception("retention failed")
        try:
            # Rollup deltas into their totals (PostgreSQL), and minute buckets past use.
            await self.db.run(rollup_upkeep, self.clock())
        except Exception:
            log.exception("folding the rollups failed; retrying at the next tick")
        if not self.settings.rebalance_enabled:
            return
        try:
            run = await self.db.run(
                run_if_due,
                policy=policy_from(self.settings),
                now=self.clock(),
                at=self.settings.rebalance_at,
                actor="scheduler",
            )
        except Exception:  # the job must not take serve down; the next tick retries
            log.exception("daily rebalancing failed; retrying at the next tick")
            return
        if run is None:
            return
        self.runs += 1
        for d in run.changed:
            log.warning(
                "rebalanced %s: sending_limit %d -> %d (%s)",
                d.name,
                d.decision.old_limit,
                d.decision.new_limit,
                d.decision.reason,
            )
        log.info(
            "daily rebalancing done: %d server(s), %d changed", len(run.decisions), len(run.changed)
        )
