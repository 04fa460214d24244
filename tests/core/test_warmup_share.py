"""Warm-up by share: a warming server's percent of its plan's sends, and the deal's weights."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sendpool.core.selectors import DealItem, DealRequest, selector_for
from sendpool.core.servers import ServerView
from sendpool.core.shares import shaped
from sendpool.core.warmup_share import ShareWarmup, deal_weights, is_uniform

START = date(2026, 12, 1)
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)  # day 3 of the warm-up


@pytest.mark.parametrize(
    ("start", "per_day", "day", "held", "percent"),
    [
        (10, 5, START, 0, 10),
        (10, 5, date(2026, 12, 3), 0, 20),
        (10, 5, date(2026, 11, 20), 0, 10),  # before the start: the start
        (10, 5, date(2026, 12, 3), 1, 15),  # a day held back by the bounce gate
        (50, 40, date(2026, 12, 5), 0, 100),  # never past all of it
        (10, 0, date(2027, 1, 1), 0, 10),
    ],
    ids=["day-0", "day-2", "before", "held", "capped", "no-growth"],
)
def test_percent_on(start: int, per_day: int, day: date, held: int, percent: int) -> None:
    assert ShareWarmup(per_day, START, start).percent_on(day, held) == percent


@pytest.mark.parametrize(
    ("start", "per_day"), [(0, 5), (101, 5), (10, -1), (10, 101)], ids=["0", "101", "-1", "g101"]
)
def test_bounds(start: int, per_day: int) -> None:
    with pytest.raises(ValueError, match="warm-up share"):
        ShareWarmup(per_day, START, start)


@pytest.mark.parametrize(
    ("ids", "weights", "percents", "expected"),
    [
        ([1, 2], {}, {}, {1: 1, 2: 1}),
        ([1, 2], {1: 7, 2: 3}, {2: 10}, {1: 9, 2: 1}),  # 10 % of 70/30's sends
        ([1, 2], {1: 7, 2: 3}, {2: 30}, {1: 7, 2: 3}),  # reached its weight's share: warm
        ([1, 2, 3, 4, 5], {}, {5: 10}, {1: 9, 2: 9, 3: 9, 4: 9, 5: 4}),  # 4/40 = 10 %
        ([1, 2], {}, {1: 10, 2: 20}, {1: 1, 2: 2}),  # everyone warming: by their percents
        ([1, 2], {}, {3: 10}, {1: 1, 2: 1}),  # a warming server that is not a candidate
    ],
    ids=["none", "70-30-at-10", "warm", "round-robin-five", "all-warming", "not-candidate"],
)
def test_deal_weights(
    ids: list[int], weights: dict[int, int], percents: dict[int, int], expected: dict[int, int]
) -> None:
    assert deal_weights(ids, weights, percents) == expected


def test_huge_exact_weights_are_rounded_to_a_period_of_steps() -> None:
    ids = list(range(1, 51))
    weights = {i: 997 if i % 2 else 1000 for i in ids}  # 2 % each
    dealt = deal_weights(ids, weights, {50: 1})
    assert sum(dealt.values()) <= 10_050
    assert abs(dealt[50] / sum(dealt.values()) - 0.01) < 0.0001


def view(i: int, share: ShareWarmup | None = None) -> ServerView:
    return ServerView(i, f"s{i}", warmup_share=share)


@pytest.mark.parametrize(
    ("selector", "servers", "weights", "dealer", "dealt"),
    [
        ("round_robin", [view(1), view(2)], {1: 7}, "round_robin", {1: 7}),  # untouched
        (
            "round_robin",
            [view(1), view(2, ShareWarmup(5, START))],
            {},
            "smooth_weighted",
            {1: 3, 2: 1},
        ),  # 25 % today
        (
            "round_robin",
            [view(1), view(2, ShareWarmup(5, START, 50))],
            {},
            "round_robin",
            {1: 1, 2: 1},
        ),  # 50 %+: warm, equal again
        (
            "smooth_weighted",
            [view(1), view(2, ShareWarmup(0, START))],
            {1: 9, 2: 1},
            "smooth_weighted",
            {1: 9, 2: 1},
        ),
    ],
    ids=["no-warming", "rr-warming", "rr-warm", "weighted-warming"],
)
def test_shaped(
    selector: str,
    servers: list[ServerView],
    weights: dict[int, int],
    dealer: str,
    dealt: dict[int, int],
) -> None:
    chosen, used = shaped(selector_for(selector), servers, weights, NOW)
    assert chosen.name == dealer
    assert dict(used) == dealt
    request = DealRequest(0, [DealItem("example.com")] * 4, used)
    assert len(chosen.deal(servers, request)) == 4
    assert is_uniform({}) and not is_uniform({1: 1, 2: 2})
