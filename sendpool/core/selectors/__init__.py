"""Selectors: how the servers left after the filters share a plan's messages.

A plan names its selector (``Plan.selector``); the dispatcher asks
``selector_for`` for it and deals each batch through it. Round-robin is the
default. Every selector is a pure function of the candidates and a
``DealRequest``: the plan's shared cursor where this deal starts (moved on by
the batch's size in the quota ledger, so any number of workers together walk
one sequence), what each message is keyed by for stickiness, and the weight
of each server in the plan (docs/design.md §1.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sendpool.core.selectors.round_robin import RoundRobin
from sendpool.core.selectors.smooth_weighted import SmoothWeighted
from sendpool.core.selectors.sticky import Sticky, StickyProvider


class HasId(Protocol):
    @property
    def id(self) -> int: ...


S = TypeVar("S", bound=HasId)

DEFAULT = "round_robin"


@dataclass(frozen=True, slots=True)
class DealItem:
    """What a selector may know of one message: its recipient's domain and provider group."""

    domain: str  # lower-case, as it goes on the wire (A-labels)
    group: str | None = None  # the provider group of the domain (core/providers.py), if any


@dataclass(frozen=True, slots=True)
class DealRequest:
    """One deal: where the plan's shared cursor stood, the messages, the servers' weights."""

    start: int
    items: Sequence[DealItem]
    # Server id -> its weight in this plan (1 when the attachment names none), with
    # warm-up shares applied; a candidate missing here weighs 1.
    weights: Mapping[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.items)


class Selector(Protocol):
    name: str

    def deal(self, candidates: Sequence[S], request: DealRequest) -> list[S]:
        """The server for each message of ``request``, in order, from ``candidates``."""
        ...


SELECTORS: dict[str, Selector] = {RoundRobin.name: RoundRobin()}
SELECTORS[SmoothWeighted.name] = SmoothWeighted()  # each server its weight's share
# Sticky by recipient domain, or by provider group where the domain has one.
SELECTORS.update({s.name: s for s in (Sticky(), StickyProvider())})


class UnknownSelector(ValueError):
    """A plan names a selector sendpool does not have."""


def selector_for(name: str | None) -> Selector:
    """The selector a plan names; no name means round-robin."""
    try:
        return SELECTORS[name or DEFAULT]
    except KeyError:
        known = ", ".join(sorted(SELECTORS))
        raise UnknownSelector(f"unknown selector {name!r}; use one of {known}") from None
