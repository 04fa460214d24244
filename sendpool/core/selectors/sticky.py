"""Sticky routing: a recipient domain (or mailbox provider) keeps going to one server.

Receivers judge a sender by the IPs they see; mail to one domain that hops
between every server of a pool builds no reputation anywhere. Weighted
rendezvous (highest-random-weight) hashing gives each key an order of the
servers: each server scores ``-weight / ln(u)``, with ``u`` in (0, 1) drawn
from a stable hash of (key, server id), and the highest score wins. A key's
server depends only on the key and the candidates, so every worker and every
process agrees without sharing any state; adding a server moves only the keys
it now wins (about 1/n of them), removing one moves only its own keys, and
each server wins keys in proportion to its weight (docs/design.md §1.3).

The candidates are the servers the filters kept (and, after a denial at
reservation, without the denied one), so when a key's server is out the next
server in that key's order takes its mail: ``fallbacks`` says which did.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


# What this module reads of a server, a message (DealItem) and a deal (DealRequest),
# said here so that it needs nothing from the package that registers it.
class _HasId(Protocol):
    @property
    def id(self) -> int: ...


class DealItem(Protocol):
    @property
    def domain(self) -> str: ...
    @property
    def group(self) -> str | None: ...


class DealRequest(Protocol):
    @property
    def items(self) -> Sequence[DealItem]: ...
    @property
    def weights(self) -> Mapping[int, int]: ...


S = TypeVar("S", bound=_HasId)

_BITS = 52  # u = (n + 1/2) / 2**52 is exact in a float and never 0 or 1


def unit(key: str, server_id: int) -> float:
    """A number in (0, 1) fixed by (key, server): blake2b, the same in every process."""
    digest = hashlib.blake2b(f"{key}\x00{server_id}".encode(), digest_size=8).digest()
    n = int.from_bytes(digest, "big") >> (64 - _BITS)
    return (n + 0.5) / (1 << _BITS)


@functools.lru_cache(maxsize=1 << 16)
def _draw(key: str, server_id: int) -> float:
    # Batch after batch deals the same domains to the same servers: hash each pair once.
    return -1.0 / math.log(unit(key, server_id))


def score(key: str, server_id: int, weight: int) -> float:
    """The server's draw for the key: weight w wins a share w / (sum of weights) of keys."""
    return max(weight, 0) * _draw(key, server_id)


def order(candidates: Sequence[S], key: str, weights: Mapping[int, int]) -> list[S]:
    """The candidates in the key's order of preference: highest score first, ties by id."""
    return sorted(candidates, key=lambda s: (-score(key, s.id, weights.get(s.id, 1)), s.id))


def top(candidates: Sequence[S], key: str, weights: Mapping[int, int]) -> S:
    """The key's server among ``candidates`` (which must not be empty)."""
    return min(candidates, key=lambda s: (-score(key, s.id, weights.get(s.id, 1)), s.id))


class Sticky:
    """Each message goes to its key's top server among the candidates."""

    name = "sticky_domain"

    def key(self, item: DealItem) -> str:
        return item.domain

    def deal(self, candidates: Sequence[S], request: DealRequest) -> list[S]:
        if not candidates:
            return []
        chosen: dict[str, S] = {}  # a batch holds many messages per domain: hash each once
        out = []
        for item in request.items:
            k = self.key(item)
            if k not in chosen:
                chosen[k] = top(candidates, k, request.weights)
            out.append(chosen[k])
        return out


class StickyProvider(Sticky):
    """Keyed by provider group, so gmail.com and googlemail.com share a server."""

    name = "sticky_provider"

    def key(self, item: DealItem) -> str:
        return item.group or item.domain


@dataclass(frozen=True, slots=True)
class Fallback:
    """Messages of one domain dealt away from their sticky server, which was not a candidate."""

    domain: str
    preferred: int  # the key's top server among all the plan's servers
    taken_by: int  # the server the deal gave them
    messages: int


def fallbacks(
    selector: object,
    members: Collection[int],
    candidates: Sequence[S],
    request: DealRequest,
    dealt: Sequence[S],
    weights: Mapping[int, int] | None = None,
) -> list[Fallback]:
    """Which messages of a deal went past their sticky server, per domain and server pair.

    A message falls back when its key's top server among every server of the plan
    (``members``, by id, weighed by the plan's ``weights``, else the deal's) is not
    among the ``candidates``; the next server in the key's order then took it.
    Non-sticky selectors never fall back.
    """
    if not isinstance(selector, Sticky):
        return []
    present = {s.id for s in candidates}
    if present.issuperset(members):
        return []  # the preferred server of every key is a candidate
    ids = sorted(members)
    w = request.weights if weights is None else weights
    preferred: dict[str, int] = {}
    counts: dict[tuple[str, int, int], int] = {}
    for item, server in zip(request.items, dealt, strict=True):
        k = selector.key(item)
        if k not in preferred:
            preferred[k] = min(ids, key=lambda i: (-score(k, i, w.get(i, 1)), i))
        if preferred[k] not in present:
            pair = (item.domain, preferred[k], server.id)
            counts[pair] = counts.get(pair, 0) + 1
    return [Fallback(d, p, t, n) for (d, p, t), n in counts.items()]
