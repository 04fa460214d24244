"""The selector seam: a plan's selector by name, round-robin when it names none."""

from __future__ import annotations

import pytest

from sendpool.core.selectors import DealItem, DealRequest, UnknownSelector, selector_for
from sendpool.core.selectors.round_robin import RoundRobin
from sendpool.core.servers import ServerView

A, B, C = (ServerView(i, name) for i, name in ((1, "a"), (2, "b"), (3, "c")))
SERVERS = [A, B, C]


@pytest.mark.parametrize("name", [None, "", "round_robin"])
def test_round_robin_is_the_default(name: str | None) -> None:
    assert isinstance(selector_for(name), RoundRobin)


def test_round_robin_deals_from_the_shared_cursor() -> None:
    items = [DealItem("example.com")] * 4
    assert selector_for(None).deal(SERVERS, DealRequest(4, items)) == [B, C, A, B]


def test_an_unknown_selector_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownSelector, match="unknown selector 'sticky'; use one of ") as err:
        selector_for("sticky")
    # Each selector this test knows of is listed; others may join the list.
    known = str(err.value).partition("use one of ")[2].split(", ")
    assert {"round_robin", "sticky_domain", "sticky_provider"} <= set(known)
