"""The selector seam: a plan's selector by name, round-robin when it names none."""

from __future__ import annotations

import pytest

from sendpool.core.selectors import UnknownSelector, selector_for
from sendpool.core.selectors.round_robin import RoundRobin


@pytest.mark.parametrize("name", [None, "", "round_robin"])
def test_round_robin_is_the_default(name: str | None) -> None:
    assert isinstance(selector_for(name), RoundRobin)


def test_round_robin_deals_from_the_shared_cursor() -> None:
    assert selector_for(None).deal(["a", "b", "c"], 4, 4) == ["b", "c", "a", "b"]


def test_an_unknown_selector_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownSelector, match="unknown selector 'sticky'; use one of round_robin"):
        selector_for("sticky")
