"""Which reports suppress their recipient, and which figures pause a server."""

from __future__ import annotations

import pytest

from sendpool.core.bounce_policy import (
    BouncePolicy,
    pause_reason,
    sends_that_matter,
    suppresses,
)
from sendpool.core.reports import ReportKind as K

POLICY = BouncePolicy()

# kind, soft bounces already seen in the window, suppresses
SUPPRESSION = [
    (K.HARD, 0, True),
    (K.COMPLAINT, 0, True),
    (K.SOFT, 0, False),
    (K.SOFT, 1, False),
    (K.SOFT, 2, True),  # the third within soft_days
    (K.SOFT, 9, True),
    (K.REPUTATION, 0, False),  # about the sending server, never the address
    (K.REPUTATION, 99, False),
    (K.DELAY, 0, False),
    (K.DELIVERED, 0, False),
    (K.AUTO_REPLY, 0, False),
    (K.UNKNOWN, 0, False),
    (K.NOT_A_REPORT, 0, False),
]


@pytest.mark.parametrize(("kind", "soft_before", "expected"), SUPPRESSION)
def test_suppresses(kind: K, soft_before: int, expected: bool) -> None:
    assert suppresses(kind, soft_before, POLICY) is expected


def test_the_soft_limit_is_the_policys() -> None:
    assert suppresses(K.SOFT, 0, BouncePolicy(soft_limit=1))
    assert not suppresses(K.SOFT, 3, BouncePolicy(soft_limit=5))


def test_defaults() -> None:
    assert POLICY == BouncePolicy(3, 7, 500, 0.05, 0.001)


# sent, bounces, complaints, reason
PAUSES = [
    (0, 0, 0, None),
    (499, 400, 400, None),  # below the minimum volume: noise, whatever the rates
    (1_000, 49, 0, None),  # 4.9 %
    (1_000, 50, 0, "bounce rate 5.0 % over 1,000 sends"),
    (1_000, 62, 0, "bounce rate 6.2 % over 1,000 sends"),
    (2_140, 0, 2, None),  # 0.09 %
    (2_140, 0, 7, "complaint rate 0.33 % over 2,140 sends"),
    (2_000, 2, 2, "complaint rate 0.10 % over 2,000 sends"),
    (
        1_000,
        100,
        5,
        "bounce rate 10.0 % over 1,000 sends; complaint rate 0.50 % over 1,000 sends",
    ),
]


@pytest.mark.parametrize(("sent", "bounces", "complaints", "expected"), PAUSES)
def test_pause_reason(sent: int, bounces: int, complaints: int, expected: str | None) -> None:
    assert pause_reason(sent, bounces, complaints, POLICY) == expected


def test_a_zero_minimum_volume_never_divides_by_zero() -> None:
    assert pause_reason(0, 0, 0, BouncePolicy(min_volume=0)) is None
    assert pause_reason(-5, 1, 1, BouncePolicy(min_volume=0)) is None
    assert pause_reason(10, 1, 0, BouncePolicy(min_volume=0)) == "bounce rate 10.0 % over 10 sends"


def test_the_thresholds_are_the_policys() -> None:
    strict = BouncePolicy(min_volume=100, pause_bounce_rate=0.01, pause_complaint_rate=0.5)
    assert pause_reason(100, 1, 49, strict) == "bounce rate 1.0 % over 100 sends"


@pytest.mark.parametrize(
    ("bounces", "complaints", "expected"),
    [
        (0, 0, None),  # nothing reported: nothing to count
        (24, 0, None),  # 24 / 5 % = 480 sends at most, under the minimum of 500
        (25, 0, 502),  # 500 sends at most would still pause: count to 502
        (0, 1, 1002),  # one complaint pauses up to 1,000 sends at 0.1 %
        (50, 1, 1002),  # the larger bound wins
        (100, 0, 2002),
    ],
)
def test_sends_that_matter(bounces: int, complaints: int, expected: int | None) -> None:
    assert sends_that_matter(bounces, complaints, BouncePolicy()) == expected


@pytest.mark.parametrize("sent", [1, 499, 500, 501, 999, 1000, 1001, 1999, 2000, 2001, 5000])
@pytest.mark.parametrize(("bounces", "complaints"), [(25, 0), (49, 0), (100, 0), (0, 1), (3, 2)])
def test_sends_past_the_limit_never_pause(sent: int, bounces: int, complaints: int) -> None:
    # What makes it safe to stop counting at the limit: beyond it, no pause.
    limit = sends_that_matter(bounces, complaints, BouncePolicy())
    if limit is None or sent >= limit - 1:
        assert pause_reason(sent, bounces, complaints, BouncePolicy()) is None
