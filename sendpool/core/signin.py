"""Sign-in throttling: how long a client waits after failed sign-ins, never a lock-out.

Failures are counted three ways: for one account from one client address, for
one client address over every account, and for one account over every address.
Past a few free failures each count makes the next attempt wait a delay that
doubles with every further failure (1 s, 2 s, 4 s ...), up to a cap. The two
counts that involve the client's own address may grow to ``max_delay``; the
account-wide count (guesses from many addresses, a botnet) is capped far lower,
at ``account_max_delay``, and does not apply at all to an address this account
signed in from lately, so no stranger can keep the real admin out.

Attempts answered "wait" are not counted: hammering during a delay does not
lengthen it. A count whose last failure is ``forget_after`` old starts again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

# Past this many doublings every cap has long been reached; it keeps the shift small.
_MAX_DOUBLINGS = 40


@dataclass(frozen=True, slots=True)
class Failures:
    """One counter as stored: failures so far and when the last one was."""

    count: int = 0
    last_at: datetime | None = None


NO_FAILURES = Failures()


@dataclass(frozen=True, slots=True)
class SigninCounts:
    """Everything the policy looks at for one attempt (one account, one client address)."""

    pair: Failures = NO_FAILURES  # this account from this address
    address: Failures = NO_FAILURES  # this address, any account
    account: Failures = NO_FAILURES  # this account, any address
    known_address: bool = False  # this account signed in from this address lately


@dataclass(frozen=True, slots=True)
class SigninPolicy:
    pair_free: int = 3
    address_free: int = 10
    account_free: int = 30
    first_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=15)
    account_max_delay: timedelta = timedelta(minutes=1)
    forget_after: timedelta = timedelta(hours=24)
    known_for: timedelta = timedelta(days=30)

    def current(self, failures: Failures, now: datetime) -> int:
        """The count that still matters: none once the last failure is ``forget_after`` old."""
        if failures.last_at is None or now - failures.last_at >= self.forget_after:
            return 0
        return failures.count

    def delay_after(self, failures: int, *, free: int, cap: timedelta) -> timedelta:
        """The wait that ``failures`` impose: none below ``free``, then doubling up to ``cap``."""
        if failures < free:
            return timedelta(0)
        doublings = min(failures - free, _MAX_DOUBLINGS)
        return min(cap, self.first_delay * (1 << doublings))

    def retry_at(self, counts: SigninCounts, now: datetime) -> datetime | None:
        """When this client's next attempt may be checked; None when it may be checked now."""
        rules = [
            (counts.pair, self.pair_free, self.max_delay),
            (counts.address, self.address_free, self.max_delay),
        ]
        if not counts.known_address:
            rules.append((counts.account, self.account_free, self.account_max_delay))
        latest: datetime | None = None
        for failures, free, cap in rules:
            delay = self.delay_after(self.current(failures, now), free=free, cap=cap)
            if failures.last_at is None or not delay:
                continue
            until = failures.last_at + delay
            if until > now and (latest is None or until > latest):
                latest = until
        return latest

    def after_failure(self, counts: SigninCounts, now: datetime) -> SigninCounts:
        """The counts once this attempt's failure is recorded (the store does the same in SQL)."""

        def more(failures: Failures) -> Failures:
            return Failures(self.current(failures, now) + 1, now)

        return SigninCounts(
            more(counts.pair), more(counts.address), more(counts.account), counts.known_address
        )


def retry_after_seconds(retry_at: datetime, now: datetime) -> int:
    """The Retry-After value (RFC 9110 §10.2.3: whole seconds), at least 1."""
    return max(1, math.ceil((retry_at - now).total_seconds()))
