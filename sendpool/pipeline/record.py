"""Apply each outcome's consequence to its message, its server and the ledger, in batches.

The decision is core.consequences (docs/design.md §1); this module only collects
the writes it asks for into one batch per flush, and the units to give back.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sendpool.core.backoff_rules import Deferral
from sendpool.core.consequences import ServerEffect, consequence
from sendpool.core.outcomes import Outcome
from sendpool.core.retry import RetryPolicy
from sendpool.core.states import MessageStatus, ServerHealth
from sendpool.core.windows import ServerWindows
from sendpool.metrics import message_counter
from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.prepare import Job
from sendpool.store.records import (
    EventRecord,
    HealthChange,
    Held,
    MessageUpdate,
    RecordBatch,
    SuppressionRecord,
    units_of,
)

log = logging.getLogger("sendpool.pipeline")


@dataclass(slots=True)
class Counters:
    """Running totals for progress displays and metrics."""

    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sent_by_server: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class OutcomeRecorder:
    """Collects outcomes and turns them into one batch of writes."""

    def __init__(
        self,
        pool: PoolCache,
        *,
        retry: RetryPolicy,
        health_interval: float,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.retry = retry
        self.health_interval = health_interval
        self.rng = rng or random.Random()
        self.batch = RecordBatch()
        self.held: list[Held] = []  # units to give back, each named by its message
        self._taken: list[Held] = []
        self.counters = Counters()

    def take(self) -> tuple[RecordBatch, dict[tuple[int, ServerWindows], int]]:
        """The batch to write back and the units to give back, counted per server and windows."""
        batch, self._taken = self.batch, self.held
        self.batch, self.held = RecordBatch(), []
        return batch, units_of(self._taken)

    def take_held(self) -> list[Held]:
        """The units the last ``take`` counted, each named by its message."""
        held, self._taken = self._taken, []
        return held

    def settle(self, update: MessageUpdate) -> None:
        self.batch.updates.append(update)

    def not_started(self, job: Job, why: str, now: datetime) -> None:
        """The job never reached its transport: its unit goes back, it is due again now."""
        server, m = job.server, job.row
        assert server is not None and job.windows is not None
        self.held.append(job.held())
        message_counter("requeued", server.name).inc()
        note = f"{why}; moved to another server"[:2000]
        self.settle(
            MessageUpdate(
                m.id,
                MessageStatus.QUEUED,
                now,
                m.attempts,
                last_error=note,
                retry_server_id=m.retry_server_id,
            )
        )

    def restore(self, batch: RecordBatch, held: Sequence[Held] = ()) -> None:
        """Put back a batch that could not be written, ahead of what came since."""
        newer, self.batch = self.batch, batch
        batch.updates.extend(newer.updates)
        batch.health.extend(newer.health)
        batch.paused.update(newer.paused)
        batch.suppressions.extend(newer.suppressions)
        batch.events.extend(newer.events)
        batch.activity.update(newer.activity)
        batch.skips.extend(newer.skips)
        batch.deferrals.extend(newer.deferrals)
        for key, n in newer.group_sent.items():
            batch.group_sent[key] = batch.group_sent.get(key, 0) + n
        self.held[:0] = held

    def batch_health(self, change: HealthChange) -> None:
        """A health check's result, written with the next batch."""
        self.batch.health.append(change)

    def outcome(self, job: Job, outcome: Outcome, now: datetime) -> None:
        """Apply what core.consequences decides for this attempt (docs/design.md §1)."""
        server = job.server
        assert server is not None and job.windows is not None
        m = job.row
        self.counters.by_kind[outcome.kind.value] += 1
        c = consequence(
            outcome,
            server_name=server.name,
            attempts=m.attempts,
            queued_at=m.queued_at,
            now=now,
            retry=self.retry,
            draw=self.rng.random(),
        )
        message_counter(c.counter, server.name).inc()
        self._backoff_facts(job, outcome, c.status is MessageStatus.SENT, now)
        if c.release_unit:
            self.held.append(job.held())
        if c.server is ServerEffect.PAUSE:
            assert c.pause_until is not None
            self.pool.mark_paused(server.id, c.pause_until)
            self.batch.paused[server.id] = c.pause_until
        elif c.server is ServerEffect.DEGRADE:
            self._degrade(server.id, server.name, outcome, now)
        if not c.reached:
            self.settle(
                MessageUpdate(m.id, c.status, c.due_at, c.attempts, last_error=c.last_error)
            )
            return
        self.batch.activity[server.id] = now
        sent = c.status is MessageStatus.SENT
        if sent:
            self.counters.sent_by_server[server.name] += 1
        self.settle(
            MessageUpdate(
                m.id,
                c.status,
                c.due_at,
                c.attempts,
                server.id,
                sent_at=now if sent else None,
                last_error=c.last_error,
                smtp_code=outcome.code,
                smtp_reply=outcome.text or None,
                message_id=job.message.message_id,
                remote_id=outcome.remote_id if sent else None,
                retry_server_id=server.id if c.retry_here else None,
            )
        )
        if c.suppress:
            self.batch.suppressions.append(
                SuppressionRecord(m.customer_id, m.recipient, outcome.describe(), server.id)
            )
        if c.event is not None:
            self.batch.events.append(
                EventRecord(
                    server.id, m.id, c.event, outcome.describe(), m.customer_id, m.recipient,
                    outcome.enhanced,
                )
            )  # fmt: skip

    def _backoff_facts(self, job: Job, outcome: Outcome, sent: bool, now: datetime) -> None:
        """What adaptive back-off judges: a provider group's 4xx replies and its accepted mail.

        A 4xx is a deferral whatever class it took (451 4.7.500 refuses the sender
        for now, 421 4.7.28 defers the recipient): a provider asking to slow down.
        """
        server = job.server
        if job.group is None or server is None:
            return
        if sent:
            key = (server.id, job.group)
            self.batch.group_sent[key] = self.batch.group_sent.get(key, 0) + 1
        elif outcome.code is not None and 400 <= outcome.code < 500:
            self.batch.deferrals.append(
                Deferral(server.id, job.group, outcome.code, outcome.enhanced, outcome.text, now)
            )

    def _degrade(self, server_id: int, name: str, outcome: Outcome, now: datetime) -> None:
        next_check = now + timedelta(seconds=self.health_interval)
        if self.pool.mark_degraded(server_id, now, next_check):
            log.warning(
                "server %s degraded: %s; next check at %s",
                name,
                outcome.describe(),
                next_check.isoformat(timespec="seconds"),
            )
            self.batch.health.append(
                HealthChange(server_id, ServerHealth.DEGRADED, now, outcome.describe(), next_check)
            )
