from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendpool.core.plans import resolve_plan
from sendpool.core.quota import Denial, grantable
from sendpool.core.ratelimit import gcra
from sendpool.core.retry import RetryPolicy
from sendpool.core.selectors.round_robin import deal, rotate
from sendpool.core.servers import Caps, Usage

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def test_rotate_and_deal() -> None:
    assert rotate([1, 2, 3], 4) == [2, 3, 1]
    assert rotate([], 3) == []
    assert deal(["a", "b", "c"], 2, 5) == ["c", "a", "b", "c", "a"]
    assert deal([], 0, 3) == []


def test_grantable() -> None:
    assert grantable(Caps(10), Usage(4, 0), 3) == (3, None)
    assert grantable(Caps(10), Usage(8, 0), 5) == (2, Denial.DAILY_CAP)
    assert grantable(Caps(10, hourly=5), Usage(0, 4), 3) == (1, Denial.HOURLY_CAP)
    assert grantable(Caps(10), Usage(12, 0), 1) == (0, Denial.DAILY_CAP)


def test_gcra_grants_a_second_at_once_then_spaces_sends() -> None:
    first = gcra(0.0, 100.0, 10.0, 25)
    assert first.granted == 10 and first.retry_after == pytest.approx(0.1)
    again = gcra(first.new_tat, 100.0, 10.0, 1)
    assert again.granted == 0
    later = gcra(first.new_tat, 100.55, 10.0, 10)
    assert later.granted == 5
    assert gcra(0.0, 1.0, 0.0, 3).granted == 0
    assert gcra(0.0, 1.0, 2.0, 1, burst=1).granted == 1


def test_retry_backs_off_with_jitter_until_the_deadline() -> None:
    policy = RetryPolicy(base_seconds=60, max_delay_seconds=600, max_age_seconds=3600)
    assert policy.delay(1, 0.0) == 30 and policy.delay(1, 1.0) == 60
    assert policy.delay(3, 0.5) == 180
    assert policy.delay(10, 1.0) == 600
    assert policy.delay(1, 7.0) == 60
    assert policy.next_try(1, NOW, NOW, 0.0) == NOW + timedelta(seconds=30)
    assert policy.next_try(8, NOW, NOW + timedelta(minutes=55), 1.0) is None


def test_resolve_plan_order() -> None:
    rules = {"eu": 9}
    assert resolve_plan(1, 2, "eu", rules) == 1
    assert resolve_plan(None, 2, "eu", rules) == 9
    assert resolve_plan(None, 2, "us", rules) == 2
    assert resolve_plan(None, None, None, rules) is None
