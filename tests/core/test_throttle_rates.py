"""take_rates: the server's own rate and its rate to a provider group, granted together."""

from __future__ import annotations

import pytest

from sendpool.core.ratelimit import RatesDecision, Throttle, take_rates

G = Throttle("gmail", 2.0, burst=2)
NOW = 1000.0

CASES = [
    # count, server rate, server tat, throttle, group tat -> decision
    (5, None, 0.0, None, 0.0, RatesDecision(5, None, None, None, None)),
    (5, 4.0, 0.0, None, 0.0, RatesDecision(4, NOW + 1.0, None, "rate", 0.25)),
    (5, None, 0.0, G, 0.0, RatesDecision(2, None, NOW + 1.0, "group_rate", 0.5)),
    # the group binds harder: the server is charged only the two granted
    (5, 4.0, 0.0, G, 0.0, RatesDecision(2, NOW + 0.5, NOW + 1.0, "group_rate", 0.5)),
    # the server binds harder: the group is charged only the one granted
    (5, 4.0, NOW + 0.75, G, 0.0, RatesDecision(1, NOW + 1.0, NOW + 0.5, "rate", 0.25)),
    # both fit
    (2, 4.0, 0.0, G, 0.0, RatesDecision(2, NOW + 0.5, NOW + 1.0, None, None)),
    # a group already full: nothing, and the server's state is not moved past now
    (3, 4.0, 0.0, G, NOW + 1.0, RatesDecision(0, NOW, NOW + 1.0, "group_rate", 0.5)),
]


@pytest.mark.parametrize(
    ("count", "rate", "tat", "throttle", "gtat", "want"),
    CASES,
    ids=[f"case{i}" for i in range(len(CASES))],
)
def test_take_rates(
    count: int,
    rate: float | None,
    tat: float,
    throttle: Throttle | None,
    gtat: float,
    want: RatesDecision,
) -> None:
    assert take_rates(count, NOW, rate, tat, throttle, gtat) == want
