"""The careful rebalancer's verdicts (core.rebalance.judge), one row per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendpool.core.rebalance import Action, Activity, RebalancePolicy, Standing, judge

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=3)
POLICY = RebalancePolicy(min_sent=500, raise_when_used=0.8)


def standing(**kw: object) -> Standing:
    values: dict[str, object] = {
        "limit": 7000,
        "activity": Activity(sent=6000, bounces=6),  # 0.1 % bounces, 86 % of the cap used
        "day_cap": 7000,
        "first_sent_at": OLD,
    }
    values.update(kw)
    return Standing(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("s", "action", "new", "why"),
    [
        (standing(), Action.RAISE, 7700, "under 1.00%"),
        (standing(limit=0, day_cap=0), Action.KEEP, 0, "sends nothing"),
        (standing(warming=True, day_cap=1500), Action.KEEP, 7000, "warming"),
        (standing(first_sent_at=None), Action.KEEP, 7000, "sent nothing yet"),
        # The first serve: 277 messages, a second of data. Nothing moves.
        (
            standing(activity=Activity(sent=277), first_sent_at=NOW - timedelta(seconds=1)),
            Action.KEEP,
            7000,
            "0.0 h of sends on record",
        ),
        (standing(first_sent_at=NOW - timedelta(hours=23)), Action.KEEP, 7000, "full day"),
        (standing(first_sent_at=NOW - timedelta(hours=24)), Action.RAISE, 7700, "under"),
        (standing(activity=Activity(sent=499)), Action.KEEP, 7000, "500 needed"),
        # An idle server does not grow: 10 % of its cap used.
        (standing(activity=Activity(sent=700)), Action.KEEP, 7000, "used 10% of its cap 7,000"),
        (standing(activity=Activity(sent=5600)), Action.RAISE, 7700, "under"),  # exactly 80 %
        (standing(day_cap=0, limit=7000), Action.KEEP, 7000, "used 0%"),
        (standing(ceiling=7500), Action.RAISE, 7500, "held to its ceiling 7,500"),
        (standing(ceiling=7000), Action.KEEP, 7000, "already at its ceiling 7,000"),
        (standing(ceiling=9000), Action.RAISE, 7700, "under"),
        # SES says the account may send 7,200 a day: never past it.
        (standing(vendor_limit=7200), Action.RAISE, 7200, "the vendor's limit 7,200"),
        (standing(vendor_limit=7200, ceiling=7100), Action.RAISE, 7100, "its ceiling 7,100"),
        (standing(vendor_limit=5000), Action.KEEP, 7000, "already at the vendor's limit"),
        # A cut is never held back by the gates of a raise.
        (standing(activity=Activity(sent=600, bounces=60)), Action.CUT, 5250, "over 3.00%"),
        (standing(activity=Activity(sent=6000, bounces=120)), Action.KEEP, 7000, "band"),
        (standing(paused=True), Action.KEEP, 7000, "paused"),
    ],
)
def test_verdicts(s: Standing, action: Action, new: int, why: str) -> None:
    d = judge(s, POLICY, NOW)
    assert (d.action, d.old_limit, d.new_limit) == (action, s.limit, new)
    assert why in d.reason


def test_raise_when_used_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="raise_when_used"):
        RebalancePolicy(raise_when_used=1.5)
