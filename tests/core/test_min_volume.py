"""Rates act only above a minimum volume; a paused server is skipped with its reason."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sendpool.core.filters import SkipCode
from sendpool.core.filters.health import health_filter
from sendpool.core.rebalance import Action, Activity, RebalancePolicy, decide
from sendpool.core.servers import DispatchContext, SendClass, ServerView
from sendpool.core.states import ServerStatus
from sendpool.core.warmup import WarmupSchedule, held_days

START = date(2026, 11, 20)
GATED = WarmupSchedule(100, 50.0, 1000, START, gate_bounce_rate=0.05)
# Day 1: 20 % bounces over 10 sends; day 2: 20 % over 600 sends; day 3: 1 % over 600.
RATES = {date(2026, 11, 20): 0.2, date(2026, 11, 21): 0.2, date(2026, 11, 22): 0.01}
SENT = {date(2026, 11, 20): 10, date(2026, 11, 21): 600, date(2026, 11, 22): 600}
NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("daily_sent", "min_sent", "held"),
    [
        (None, 500, 2),  # no volumes given: every day over the gate holds (as before)
        (SENT, 0, 2),  # no minimum: both days over the gate hold
        (SENT, 10, 2),  # exactly the minimum is enough to judge
        (SENT, 11, 1),  # the 10-send day is too little to judge
        (SENT, 500, 1),
        (SENT, 601, 0),  # no day had enough mail
        ({}, 1, 0),  # a day with no recorded sends is never judged
    ],
)
def test_the_warmup_gate_ignores_days_below_the_minimum_volume(
    daily_sent: dict[date, int] | None, min_sent: int, held: int
) -> None:
    got = held_days(RATES, GATED, date(2026, 11, 23), daily_sent=daily_sent, min_sent=min_sent)
    assert got == held


@pytest.mark.parametrize(
    ("sent", "bounces", "action"),
    [
        (499, 400, Action.KEEP),  # 80 % bounces, but under the minimum volume
        (500, 400, Action.CUT),
        (499, 0, Action.KEEP),
        (500, 0, Action.RAISE),
    ],
)
def test_the_rebalancer_acts_only_from_the_minimum_volume(
    sent: int, bounces: int, action: Action
) -> None:
    decision = decide(1000, Activity(sent=sent, bounces=bounces), RebalancePolicy(min_sent=500))
    assert decision.action is action


@pytest.mark.parametrize(
    ("activity", "rate"),
    [(Activity(sent=2000, complaints=3), 0.0015), (Activity(sent=0, complaints=4), 0.0)],
)
def test_the_complaint_rate_is_a_fraction_and_zero_without_sends(
    activity: Activity, rate: float
) -> None:
    assert activity.complaint_rate == rate


def test_a_paused_server_is_skipped_with_its_reason_and_a_disabled_one_as_before() -> None:
    why = "complaint rate 0.31 % over 2,140 sends"
    servers = [
        ServerView(1, "paused", enabled=False, paused_reason=why),
        ServerView(2, "off", enabled=False),
        ServerView(3, "on"),
    ]
    result = health_filter(servers, DispatchContext(NOW, SendClass.LOW_VOLUME))
    assert [s.id for s in result.kept] == [3]
    skips = {s.server_id: (s.code, s.reason, s.until) for s in result.skipped}
    assert skips == {
        1: (SkipCode.SERVER_PAUSED, f"paused: {why}", None),
        2: (SkipCode.DISABLED, "disabled", None),
    }


def test_paused_is_a_server_status() -> None:
    assert ServerStatus("paused") is ServerStatus.PAUSED
