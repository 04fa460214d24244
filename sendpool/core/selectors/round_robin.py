"""Round-robin over the candidates, driven by a counter shared by every worker.

The counter is one number per plan that only ever grows (an atomic increment in
the ledger's store). A worker that takes ``n`` messages advances it by ``n`` and
deals the messages out from where it stood, so workers interleave without
stickiness and equal servers stay within one message of each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


# What this module reads of a deal (core/selectors DealRequest), declared here so
# the package's registry can import this module without a cycle.
class DealRequest(Protocol):
    @property
    def start(self) -> int: ...

    @property
    def count(self) -> int: ...


T = TypeVar("T")


def rotate(candidates: Sequence[T], cursor: int) -> list[T]:
    """The candidates in the order to try them, starting at the cursor's position."""
    if not candidates:
        return []
    i = cursor % len(candidates)
    return [*candidates[i:], *candidates[:i]]


def deal(candidates: Sequence[T], start: int, count: int) -> list[T]:
    """The server for each of ``count`` messages, one step of the cursor each."""
    n = len(candidates)
    if n == 0:
        return []
    return [candidates[(start + k) % n] for k in range(count)]


class RoundRobin:
    """Even shares in a stable order: equal servers stay within one message of each other."""

    name = "round_robin"

    def deal(self, candidates: Sequence[T], request: DealRequest) -> list[T]:
        return deal(candidates, request.start, request.count)
