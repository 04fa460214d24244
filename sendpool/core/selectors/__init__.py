"""Selectors: how the servers left after the filters share a plan's messages.

A plan names its selector (``Plan.selector``); the dispatcher asks
``selector_for`` for it and deals each batch through it. Round-robin is the
default and, for now, the only one. A new selector (smooth weighted, sticky by
recipient domain) is a module here that implements ``Selector`` and a line in
``SELECTORS``; its shared state, if any, lives behind the quota ledger's
interface like the round-robin cursor (docs/design.md §1, §2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from sendpool.core.selectors.round_robin import RoundRobin

T = TypeVar("T")

DEFAULT = "round_robin"


class Selector(Protocol):
    name: str

    def deal(self, candidates: Sequence[T], start: int, count: int) -> list[T]:
        """The server for each of ``count`` messages, given the plan's shared cursor."""
        ...


SELECTORS: dict[str, Selector] = {RoundRobin.name: RoundRobin()}


class UnknownSelector(ValueError):
    """A plan names a selector sendpool does not have."""


def selector_for(name: str | None) -> Selector:
    """The selector a plan names; no name means round-robin."""
    try:
        return SELECTORS[name or DEFAULT]
    except KeyError:
        known = ", ".join(sorted(SELECTORS))
        raise UnknownSelector(f"unknown selector {name!r}; use one of {known}") from None
