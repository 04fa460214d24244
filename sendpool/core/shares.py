"""The weights a deal uses: the plan's, with today's warm-up shares (core/warmup_share.py).

A round-robin plan ignores its weights and deals exactly as ever, unless a
candidate warms by share: then its messages are dealt by smooth weighted
rotation over equal weights with the warming shares applied, so the warming
server gets its percent whichever selector its plan names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sendpool.core.selectors import SELECTORS, Selector
from sendpool.core.selectors.round_robin import RoundRobin
from sendpool.core.selectors.smooth_weighted import SmoothWeighted
from sendpool.core.servers import ServerView
from sendpool.core.warmup_share import deal_weights, is_uniform


def shaped(
    selector: Selector, candidates: Sequence[ServerView], weights: Mapping[int, int], now: datetime
) -> tuple[Selector, Mapping[int, int]]:
    """The selector to deal with and the weights to give it, for these candidates now."""
    percents = {s.id: p for s in candidates if (p := s.share_percent(now)) is not None}
    if not percents:
        return selector, weights
    plain = selector.name == RoundRobin.name
    dealt = deal_weights([s.id for s in candidates], {} if plain else weights, percents)
    if plain and not is_uniform(dealt):
        return SELECTORS[SmoothWeighted.name], dealt
    return selector, dealt
