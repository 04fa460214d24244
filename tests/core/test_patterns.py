"""What a plan's split means (sendpool.core.patterns), with the seed's two tables as cases."""

from __future__ import annotations

import pytest

from sendpool.core.patterns import (
    Pattern,
    ServerSplit,
    judge_split,
    predicted_split,
)

S = ServerSplit


@pytest.mark.parametrize(
    ("servers", "pattern", "words"),
    [
        ([], Pattern.NOTHING_SENT, "nothing sent in the window"),
        ([S("A", 0, 100)], Pattern.NOTHING_SENT, "nothing sent"),
        ([S("A", 900, 1000)], Pattern.SINGLE, "one server only (A): no split"),
        # The seed's table: 33/33/34, 80/15/5, 60/40, 100/0.
        (
            [S("A", 330, 7000), S("B", 330, 7000), S("C", 340, 7000)],
            Pattern.ROUND_ROBIN,
            "healthy round-robin",
        ),
        (
            [S("A", 8000, 10000), S("B", 1500, 1500, True), S("C", 500, 500, True)],
            Pattern.RAMP_UP,
            "one large + two warming: expected during ramp-up",
        ),
        ([S("A", 6000, 7000), S("B", 4000, 4000)], Pattern.LOWER_CAP, "B has a lower cap"),
        (
            [S("A", 5000, 9000), S("B", 2500, 2500), S("C", 2500, 2500)],
            Pattern.LOWER_CAP,
            "B and C have lower caps: adjust caps to align",
        ),
        (
            [S("A", 1000, 7000), S("B", 0, 3000, sending=False)],
            Pattern.STARVED,
            "B disabled or out of the plan: bug — fix",
        ),
        (
            [S("A", 4100, 9000), S("B", 2950, 3000), S("C", 2950, 3000)],
            Pattern.LOWER_CAP,
            "B and C have lower caps",
        ),
        # Uneven though every cap had room: something else holds servers back.
        ([S("A", 7000, 9000), S("B", 3000, 9000)], Pattern.UNEVEN, "beyond what the caps"),
        # Warming and a lower cap mixed: read as caps.
        (
            [S("A", 6000, 9000), S("B", 2000, 2000, True), S("C", 2000, 2000)],
            Pattern.LOWER_CAP,
            "B and C have lower caps",
        ),
    ],
)
def test_verdicts(servers: list[ServerSplit], pattern: Pattern, words: str) -> None:
    v = judge_split(servers)
    assert v.pattern is pattern
    assert words in v.words
    assert v.is_bug is (pattern is Pattern.STARVED)


def test_observed_and_predicted_shares_are_given_side_by_side() -> None:
    v = judge_split([S("A", 8000, 10000), S("B", 1500, 1500, True), S("C", 500, 500, True)])
    assert [(s.name, round(s.observed), round(s.predicted)) for s in v.shares] == [
        ("A", 80, 80),
        ("B", 15, 15),
        ("C", 5, 5),
    ]


@pytest.mark.parametrize(
    ("volume", "capacity", "expected"),
    [
        (300, {"A": 1000, "B": 1000, "C": 1000}, {"A": 100, "B": 100, "C": 100}),
        (10000, {"A": 7000, "B": 4000}, {"A": 6000, "B": 4000}),
        (12000, {"A": 7000, "B": 4000}, {"A": 7000, "B": 4000}),  # more than all can send
        (100, {"A": -5, "B": 100}, {"A": 0, "B": 100}),
        (0, {"A": 10}, {"A": 0}),
        (10, {}, {}),
    ],
)
def test_predicted_split(volume: int, capacity: dict[str, int], expected: dict[str, int]) -> None:
    got = predicted_split(volume, capacity)
    assert {n: round(v) for n, v in got.items()} == expected


def test_many_servers_are_counted_in_figures() -> None:
    servers = [S("A", 9000, 100000)] + [S(f"w{i}", 100, 100, True) for i in range(10)]
    assert "one large + 10 warming" in judge_split(servers).words
