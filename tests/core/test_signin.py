"""Sign-in throttling: growing delays per account and address, a bounded account-wide one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendpool.core.signin import Failures, SigninCounts, SigninPolicy, retry_after_seconds

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = SigninPolicy()
S = timedelta(seconds=1)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("failures", "free", "cap", "expected"),
    [
        (0, 3, timedelta(minutes=15), 0 * S),
        (2, 3, timedelta(minutes=15), 0 * S),
        (3, 3, timedelta(minutes=15), 1 * S),
        (4, 3, timedelta(minutes=15), 2 * S),
        (5, 3, timedelta(minutes=15), 4 * S),
        (12, 3, timedelta(minutes=15), 512 * S),
        (13, 3, timedelta(minutes=15), 900 * S),  # 1024 s, capped at 15 min
        (10_000, 3, timedelta(minutes=15), 900 * S),  # no overflow however many
        (40, 30, timedelta(minutes=1), 60 * S),
    ],
)
def test_delays_double_after_the_free_failures_up_to_the_cap(
    failures: int, free: int, cap: timedelta, expected: timedelta
) -> None:
    assert POLICY.delay_after(failures, free=free, cap=cap) == expected


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (SigninCounts(), None),
        # two failures for this account from this address: still free
        (SigninCounts(pair=Failures(2, ago(0))), None),
        # the third: the next attempt waits 1 s from the last failure
        (SigninCounts(pair=Failures(3, ago(0))), NOW + S),
        (SigninCounts(pair=Failures(3, ago(1))), None),  # the wait is over
        (SigninCounts(pair=Failures(6, ago(3))), NOW + 5 * S),  # 8 s after the last
        # this address guessing at many accounts
        (SigninCounts(address=Failures(9, ago(0))), None),
        (SigninCounts(address=Failures(11, ago(0))), NOW + 2 * S),
        # the longest wait of all wins
        (SigninCounts(pair=Failures(4, ago(0)), address=Failures(12, ago(1))), NOW + 3 * S),
        # old failures are forgotten
        (SigninCounts(pair=Failures(50, ago(24 * 3600))), None),
        (SigninCounts(pair=Failures(50, ago(10))), NOW + 890 * S),
        # many addresses at one account: bounded at one minute
        (SigninCounts(account=Failures(29, ago(0))), None),
        (SigninCounts(account=Failures(30, ago(0))), NOW + S),
        (SigninCounts(account=Failures(1000, ago(0))), NOW + 60 * S),
        (SigninCounts(account=Failures(1000, ago(60))), None),
        # ... and not at all from where the account signed in lately
        (SigninCounts(account=Failures(1000, ago(0)), known_address=True), None),
        # a known address still waits for its own failures
        (SigninCounts(pair=Failures(3, ago(0)), known_address=True), NOW + S),
    ],
)
def test_retry_at(counts: SigninCounts, expected: datetime | None) -> None:
    assert POLICY.retry_at(counts, NOW) == expected


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (Failures(), 0),
        (Failures(7, ago(10)), 7),
        (Failures(7, ago(24 * 3600)), 0),
    ],
)
def test_current_forgets_old_counts(failures: Failures, expected: int) -> None:
    assert POLICY.current(failures, NOW) == expected


@pytest.mark.parametrize(
    ("wait", "expected"),
    [(timedelta(seconds=2), 2), (timedelta(seconds=2.1), 3), (timedelta(0), 1), (-S, 1)],
)
def test_retry_after_is_whole_seconds_and_at_least_one(wait: timedelta, expected: int) -> None:
    assert retry_after_seconds(NOW + wait, NOW) == expected


def test_after_failure_counts_one_more_on_each_count_and_forgets_old_ones() -> None:
    before = SigninCounts(
        pair=Failures(2, ago(5)), address=Failures(9, ago(24 * 3600)), known_address=True
    )
    after = POLICY.after_failure(before, NOW)
    assert after == SigninCounts(Failures(3, NOW), Failures(1, NOW), Failures(1, NOW), True)
    assert POLICY.retry_at(after, NOW) == NOW + S
