"""Back-off for transient failures: exponential, jittered, bounded by a deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 60.0
    max_delay_seconds: float = 3600.0
    max_age_seconds: float = 3 * 24 * 3600.0

    def delay(self, attempt: int, draw: float) -> float:
        """Delay before try ``attempt + 1``; ``draw`` in [0, 1) spreads retries out.

        Equal jitter: half the exponential step is fixed, half is random, so a
        burst of deferrals never comes back as one burst.
        """
        step = min(self.max_delay_seconds, self.base_seconds * 2.0 ** max(0, attempt - 1))
        return step / 2 + step / 2 * min(max(draw, 0.0), 1.0)

    def next_try(
        self, attempt: int, first_queued_at: datetime, now: datetime, draw: float
    ) -> datetime | None:
        """When to try again, or None when the next try would pass the deadline."""
        at = now + timedelta(seconds=self.delay(attempt, draw))
        if at - first_queued_at > timedelta(seconds=self.max_age_seconds):
            return None
        return at
