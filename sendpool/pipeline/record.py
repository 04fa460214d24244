"""What each outcome does to its message, its server and the ledger (DESIGN §1's table)."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sendpool.core.outcomes import Outcome, OutcomeKind
from sendpool.core.retry import RetryPolicy
from sendpool.core.windows import ServerWindows
from sendpool.metrics import message_counter
from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.prepare import Job
from sendpool.store.records import HealthChange, MessageUpdate, RecordBatch

log = logging.getLogger("sendpool.pipeline")

DEFAULT_PAUSE_SECONDS = 60.0


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
        self.releases: dict[tuple[int, ServerWindows], int] = defaultdict(int)
        self.counters = Counters()

    def take(self) -> tuple[RecordBatch, dict[tuple[int, ServerWindows], int]]:
        batch, releases = self.batch, dict(self.releases)
        self.batch = RecordBatch()
        self.releases.clear()
        return batch, releases

    def settle(self, update: MessageUpdate) -> None:
        self.batch.updates.append(update)

    def outcome(self, job: Job, outcome: Outcome, now: datetime) -> None:
        server = job.server
        assert server is not None and job.windows is not None
        m = job.row
        self.counters.by_kind[outcome.kind.value] += 1
        kind = outcome.kind
        reply = outcome.text or None
        if kind is OutcomeKind.ACCEPTED:
            message_counter("sent", server.name).inc()
            self.counters.sent_by_server[server.name] += 1
            self.batch.activity[server.id] = now
            self.settle(
                MessageUpdate(
                    m.id,
                    "sent",
                    now,
                    m.attempts + 1,
                    server.id,
                    sent_at=now,
                    smtp_code=outcome.code,
                    smtp_reply=reply,
                    message_id=job.message.message_id,
                    remote_id=outcome.remote_id,
                )
            )
            return
        if not outcome.reached:
            # The server never took part: give its unit back and let another
            # server have the message at once, without counting an attempt.
            self.releases[(server.id, job.windows)] += 1
            if kind is OutcomeKind.THROTTLED:
                until = now + timedelta(seconds=outcome.retry_after or DEFAULT_PAUSE_SECONDS)
                self.pool.mark_paused(server.id, until)
                self.batch.paused[server.id] = until
            else:
                self._degrade(server.id, server.name, outcome, now)
            message_counter("requeued", server.name).inc()
            note = f"{server.name}: {outcome.describe()}; moved to another server"
            self.settle(MessageUpdate(m.id, "queued", now, m.attempts, last_error=note[:2000]))
            return
        self.batch.activity[server.id] = now
        attempts = m.attempts + 1
        base = MessageUpdate(
            m.id,
            "failed",
            now,
            attempts,
            server.id,
            smtp_code=outcome.code,
            smtp_reply=reply,
            message_id=job.message.message_id,
            last_error=f"{server.name}: {outcome.describe()}"[:2000],
        )
        if kind is OutcomeKind.TRANSIENT:
            at = self.retry.next_try(attempts, m.queued_at, now, self.rng.random())
            if at is not None:
                base.status, base.due_at = "deferred", at
            else:
                base.last_error = f"gave up after {attempts} attempts: {base.last_error}"
            message_counter(base.status, server.name).inc()
            self.settle(base)
            return
        message_counter("failed", server.name).inc()
        self.settle(base)
        if outcome.suppresses_recipient:
            self.batch.suppressions.append(
                (m.customer_id, m.recipient, outcome.describe(), server.id)
            )
            self.batch.events.append((server.id, m.id, "hard_bounce", outcome.describe()))
        else:
            self.batch.events.append((server.id, m.id, "rejected", outcome.describe()))

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
                HealthChange(server_id, "degraded", now, outcome.describe(), next_check)
            )
