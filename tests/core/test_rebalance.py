"""The rebalancing policy: raise under 1 %, cut over 3 %, keep in between or without evidence."""

from __future__ import annotations

import pytest

from sendpool.core.rebalance import Action, Activity, RebalancePolicy, decide

POLICY = RebalancePolicy()


def test_bounce_rate_is_a_fraction_and_zero_without_sends() -> None:
    assert Activity(sent=200, bounces=3).bounce_rate == 0.015
    assert Activity(sent=0, bounces=5).bounce_rate == 0.0


@pytest.mark.parametrize(
    ("limit", "sent", "bounces", "action", "new"),
    [
        (1000, 1000, 0, Action.RAISE, 1100),  # 0 % < 1 %
        (1000, 1000, 9, Action.RAISE, 1100),  # 0.9 %
        (1000, 1000, 10, Action.KEEP, 1000),  # exactly 1 %: not under
        (1000, 1000, 30, Action.KEEP, 1000),  # exactly 3 %: not over
        (1000, 1000, 31, Action.CUT, 750),  # 3.1 % > 3 %
        (1000, 100, 50, Action.CUT, 750),
        (5, 100, 0, Action.RAISE, 6),  # a raise adds at least one
        (1, 100, 50, Action.CUT, 1),  # a cut never reaches 0
        (3, 100, 50, Action.CUT, 2),
        (0, 100, 0, Action.KEEP, 0),  # 0 means "sends nothing": left alone
        (1000, 0, 0, Action.KEEP, 1000),  # nothing sent: nothing to judge
        (1000, 0, 7, Action.KEEP, 1000),
    ],
)
def test_decisions(limit: int, sent: int, bounces: int, action: Action, new: int) -> None:
    d = decide(limit, Activity(sent=sent, bounces=bounces), POLICY)
    assert (d.action, d.old_limit, d.new_limit) == (action, limit, new)
    assert d.reason


def test_a_paused_server_is_cut_but_never_raised() -> None:
    clean, bouncing = Activity(sent=1000), Activity(sent=1000, bounces=80)
    assert decide(1000, clean, POLICY, paused=True).action is Action.KEEP
    assert "paused" in decide(1000, clean, POLICY, paused=True).reason
    assert decide(1000, bouncing, POLICY, paused=True).new_limit == 750


def test_floats_do_not_add_a_unit() -> None:
    # 1000 * 1.1 is 1100.0000000000002 in floating point; the limit must be 1100.
    assert decide(1000, Activity(sent=10), POLICY).new_limit == 1100
    assert decide(110, Activity(sent=10), POLICY).new_limit == 121


def test_thresholds_and_steps_are_configurable() -> None:
    policy = RebalancePolicy(
        raise_below=0.05, cut_above=0.2, raise_by=0.5, cut_by=0.5, min_sent=100
    )
    assert decide(100, Activity(sent=100, bounces=4), policy).new_limit == 150
    assert decide(100, Activity(sent=100, bounces=21), policy).new_limit == 50
    assert decide(100, Activity(sent=99, bounces=0), policy).action is Action.KEEP
    assert decide(100, Activity(sent=100), RebalancePolicy(raise_by=0)).new_limit == 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"raise_below": 0.05, "cut_above": 0.01},
        {"cut_above": 1.5},
        {"raise_by": -0.1},
        {"cut_by": 1.0},
        {"min_sent": -1},
    ],
)
def test_a_policy_that_cannot_work_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RebalancePolicy(**kwargs)  # type: ignore[arg-type]
