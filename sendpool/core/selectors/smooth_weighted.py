"""Smooth weighted rotation: every prefix of a plan's sends within one message of its weights.

The sequence is a function of the plan's shared cursor alone: for the
candidates' weights (reduced by their gcd, total ``W``) it is periodic with
period ``W``, and the server for cursor position ``k`` is ``period[k mod W]``.
Workers that take blocks of positions from the one counter in the ledger
(SQL or Redis, atomic) therefore deal one sequence together, with no other
shared state.

nginx's smooth weighted round-robin picks, at each step, the server furthest
behind its share of the next step; that is not always within one message of
the share: weights 10, 813, 9, 206, 3, 9, 817, 5 put a server 1.23 messages
behind. The period here is built by earliest deadline first over each
server's messages instead (the chairman assignment of Tijdeman, 1980):
message ``j`` of a server of weight ``w`` may go at step ``t`` only once
``(j - 1) * W <= t * w`` (never a message ahead of the share) and must go by
``j * W / w`` (never a message behind); among the servers allowed, the one
whose next message is due first takes the step, ties to the lower server id.
Such windows always admit a schedule, and earliest deadline first finds one,
so for every prefix of ``k`` steps each server has within one of ``k * w / W``
(tests/core/test_smooth_weighted.py checks it for any weights).

A server that drops out (its cap, health, warm-up) changes the candidates,
and the positions dealt meanwhile follow the period of those left; when it
comes back, the sequence is that of the full set again at the cursor's
position. Nothing remembers what it missed, so it gets no burst to catch up;
over any run of positions with one set of candidates each server is within
two messages of its share (a run may start anywhere in the period).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Protocol, TypeVar


# What this module reads of a server and of a deal (core/selectors DealRequest), declared
# here so the package's registry can import this module without a cycle.
class HasId(Protocol):
    @property
    def id(self) -> int: ...


class WeightedRequest(Protocol):
    @property
    def start(self) -> int: ...

    @property
    def count(self) -> int: ...

    @property
    def weights(self) -> Mapping[int, int]: ...


S = TypeVar("S", bound=HasId)

MAX_WEIGHT = 1000  # per plan attachment: bounds the period a plan's weights can ask for
PERIODS_CACHED = 32  # candidate sets whose period a worker keeps (a few MB at most)


def reduced(weights: Sequence[int]) -> tuple[int, ...]:
    """The weights over their gcd: 70/30 and 7/3 are one sequence, ten steps long."""
    g = math.gcd(*weights)
    return tuple(w // g for w in weights)


@lru_cache(maxsize=PERIODS_CACHED)
def period(weights: tuple[int, ...]) -> tuple[int, ...]:
    """The index of the server for each step of one period; ``weights`` reduced, each >= 1.

    O(W log n) for W steps over n servers: one heap of servers whose next
    message may go (by its deadline), one of those that must wait (by the
    step they may go from).
    """
    total = sum(weights)
    sent = [0] * len(weights)
    out = [0] * total
    ready: list[tuple[int, int]] = []  # (deadline step of the next message, index)
    waiting = [(0, i) for i in range(len(weights))]  # (first step it may go, index)
    push, pop = heapq.heappush, heapq.heappop
    for t in range(total):
        step = t + 1
        while waiting and waiting[0][0] <= step:
            _, i = pop(waiting)
            push(ready, (((sent[i] + 1) * total) // weights[i], i))
        # Someone is always ready: were all ahead, more than t messages had gone.
        _, i = pop(ready)
        sent[i] += 1
        out[t] = i
        push(waiting, (-(-sent[i] * total // weights[i]), i))
    return tuple(out)


def weights_of(candidates: Sequence[HasId], weights: Mapping[int, int]) -> tuple[int, ...]:
    """The candidates' weights in their order; a candidate not named weighs 1."""
    return tuple(max(1, weights.get(c.id, 1)) for c in candidates)


def weighted_deal(
    candidates: Sequence[S], weights: Mapping[int, int], start: int, count: int
) -> list[S]:
    """The server for each of ``count`` positions from ``start`` of the shared cursor."""
    if not candidates:
        return []
    seq = period(reduced(weights_of(candidates, weights)))
    w = len(seq)
    return [candidates[seq[(start + k) % w]] for k in range(count)]


class SmoothWeighted:
    """Each server its weight's share, within one message at every prefix, any number of workers."""

    name = "smooth_weighted"

    def deal(self, candidates: Sequence[S], request: WeightedRequest) -> list[S]:
        return weighted_deal(candidates, request.weights, request.start, request.count)
