"""Smooth weighted rotation: every prefix within one message of each server's share."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendpool.core.selectors import DealItem, DealRequest, selector_for
from sendpool.core.selectors.smooth_weighted import (
    SmoothWeighted,
    period,
    reduced,
    weighted_deal,
)
from sendpool.core.servers import ServerView
from tests.support.weighted_cursor import within_one

WEIGHTS = st.lists(st.integers(1, 1000), min_size=1, max_size=8)


@given(WEIGHTS)
@settings(max_examples=200, deadline=None)
def test_every_prefix_is_within_one_message(weights: list[int]) -> None:
    ws = reduced(weights)
    seq = period(ws)
    assert len(seq) == sum(ws)
    assert [seq.count(i) for i in range(len(ws))] == list(ws)  # a whole period is exact
    assert within_one(ws, seq + seq)  # and the next period starts where it began


@given(
    WEIGHTS,
    st.lists(st.tuples(st.integers(0, 7), st.integers(1, 50)), min_size=1, max_size=40),
)
@settings(max_examples=150, deadline=None)
def test_workers_sharing_one_cursor_deal_one_sequence(
    weights: list[int], takes: list[tuple[int, int]]
) -> None:
    """Any interleaving of 1-8 workers taking blocks of the shared cursor: one exact sequence."""
    servers = [ServerView(i + 1, f"s{i}") for i in range(len(weights))]
    named = {s.id: w for s, w in zip(servers, weights, strict=True)}
    cursor = 0
    by_position: dict[int, int] = {}
    for _worker, size in takes:
        start, cursor = cursor, cursor + size  # what advance_cursor answers, atomically
        request = DealRequest(start, [DealItem("example.com")] * size, named)
        for k, s in enumerate(SmoothWeighted().deal(servers, request)):
            by_position[start + k] = s.id - 1
    dealt = [by_position[k] for k in range(cursor)]
    assert within_one(weights, dealt)


def test_nginx_rule_would_miss_the_bound() -> None:
    """The weights where picking the server furthest behind goes 1.23 messages behind."""
    ws = reduced([10, 813, 9, 206, 3, 9, 817, 5])
    assert within_one(ws, period(ws))


@pytest.mark.parametrize(
    ("weights", "start", "count", "expected"),
    [
        ((7, 3), 0, 10, [0, 0, 1, 0, 0, 1, 0, 0, 0, 1]),
        ((70, 30), 12, 4, [1, 0, 0, 1]),  # 70/30 is 7/3, period 10
        ((1, 1, 1), 4, 4, [1, 2, 0, 1]),  # equal weights: round-robin
        ((2, 1), 0, 6, [0, 0, 1, 0, 0, 1]),
        ((5,), 3, 3, [0, 0, 0]),
    ],
    ids=["70-30", "70-30-second-period", "equal", "2-1", "one-server"],
)
def test_deal_by_position(
    weights: tuple[int, ...], start: int, count: int, expected: list[int]
) -> None:
    servers = [ServerView(i + 1, f"s{i}") for i in range(len(weights))]
    named = {s.id: w for s, w in zip(servers, weights, strict=True)}
    assert [servers.index(s) for s in weighted_deal(servers, named, start, count)] == expected


def test_no_candidates_no_deal_and_unnamed_weigh_one() -> None:
    assert weighted_deal([], {}, 0, 3) == []
    a, b = ServerView(1, "a"), ServerView(2, "b")
    assert weighted_deal([a, b], {}, 0, 4) == [a, b, a, b]
    assert selector_for("smooth_weighted").name == "smooth_weighted"


@given(WEIGHTS, st.integers(1, 7), st.integers(0, 2000), st.integers(1, 3000))
@settings(max_examples=100, deadline=None)
def test_a_server_back_from_a_dropout_gets_its_share_and_no_burst(
    weights: list[int], gone: int, left_at: int, run: int
) -> None:
    """While out, the others share by their weights; back, it is within 2 of its share.

    Nothing remembers what it missed, so there is no catch-up burst: over the run after
    its return it has within two messages of run * w / W (a run can begin anywhere in
    the period, hence two, not one).
    """
    servers = [ServerView(i + 1, f"s{i}") for i in range(len(weights))]
    named = {s.id: w for s, w in zip(servers, weights, strict=True)}
    out = servers[gone % len(servers)]
    if len(servers) > 1:
        others = [s for s in servers if s is not out]
        away = weighted_deal(others, named, left_at, 100)
        assert out not in away
    back = weighted_deal(servers, named, left_at + 100, run)
    total = sum(weights)
    for s in servers:
        assert abs(back.count(s) * total - run * named[s.id]) <= 2 * total
