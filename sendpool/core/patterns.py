"""What a plan's split over its servers means: observed beside predicted, and a verdict in words.

Round-robin deals every server of a plan an equal share until one runs out of
room, so the split the caps and warm-ups predict is a water-fill: equal
shares, each held to what the server could send, the rest spread over the
others. Set beside the split actually observed over a window, four patterns
cover what operators see:

- 33/33/34: a healthy round-robin;
- 80/15/5 with the small ones warming: expected during ramp-up;
- 60/40 where the 40 has a lower cap: adjust the caps to align;
- 100/0: a server that should send got nothing, disabled or out of the plan: a bug to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

TOLERANCE = 5.0  # percentage points between shares that still read as "the same"
_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class Pattern(StrEnum):
    NOTHING_SENT = "nothing_sent"
    SINGLE = "single"  # one server in the plan: nothing to split
    ROUND_ROBIN = "round_robin"
    RAMP_UP = "ramp_up"
    LOWER_CAP = "lower_cap"
    STARVED = "starved"  # 100/0: a server that should send got nothing
    UNEVEN = "uneven"


@dataclass(frozen=True, slots=True)
class ServerSplit:
    """One server of a plan over the window: what it sent and what it could have sent."""

    name: str
    sent: int
    capacity: int  # what its caps (and warm-up) let it send over the window
    warming: bool = False
    sending: bool = True  # attached, enabled and healthy now


@dataclass(frozen=True, slots=True)
class Share:
    name: str
    observed: float  # percent of the plan's messages
    predicted: float  # percent the caps and warm-ups predict for the same volume


@dataclass(frozen=True, slots=True)
class Verdict:
    pattern: Pattern
    words: str
    shares: tuple[Share, ...]

    @property
    def is_bug(self) -> bool:
        return self.pattern is Pattern.STARVED


def predicted_split(volume: int, capacity: Mapping[str, int]) -> dict[str, float]:
    """Messages per server a round-robin deals ``volume`` into: equal, held to each capacity."""
    left = {n: max(0, c) for n, c in capacity.items()}
    out = dict.fromkeys(capacity, 0.0)
    rest = float(volume)
    while rest > 1e-9 and left:
        each = rest / len(left)
        full = {n: c for n, c in left.items() if c - out[n] <= each}
        if not full:
            for n in left:
                out[n] += each
            break
        for n in full:
            rest -= left[n] - out[n]
            out[n] = float(left[n])
            del left[n]
    return out


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _count(n: int) -> str:
    return _WORDS[n] if n < len(_WORDS) else str(n)


def judge_split(servers: Sequence[ServerSplit]) -> Verdict:
    """The pattern of one plan's split, with what it means in words."""
    total = sum(s.sent for s in servers)
    if total == 0:
        return Verdict(Pattern.NOTHING_SENT, "nothing sent in the window", ())
    expected = predicted_split(total, {s.name: s.capacity for s in servers})
    shares = tuple(
        Share(s.name, 100.0 * s.sent / total, 100.0 * expected[s.name] / total) for s in servers
    )
    if len(servers) == 1:
        return Verdict(Pattern.SINGLE, f"one server only ({servers[0].name}): no split", shares)
    starved = [s.name for s, sh in zip(servers, shares, strict=True) if sh.observed < 0.5]
    if starved and max(sh.observed for sh in shares) > 99.5:
        words = f"{_names(starved)} disabled or out of the plan: bug — fix"
        return Verdict(Pattern.STARVED, words, shares)
    even = 100.0 / len(servers)
    if all(abs(sh.observed - even) <= TOLERANCE for sh in shares):
        return Verdict(Pattern.ROUND_ROBIN, "healthy round-robin", shares)
    if all(abs(sh.observed - sh.predicted) <= TOLERANCE for sh in shares):
        below = [(s, sh) for s, sh in zip(servers, shares, strict=True) if sh.observed < even]
        low = [s for s, sh in below if sh.observed < even - TOLERANCE] or [s for s, _ in below]
        if low and all(s.warming for s in low):
            large = len(servers) - len(low)
            words = f"{_count(large)} large + {_count(len(low))} warming: expected during ramp-up"
            return Verdict(Pattern.RAMP_UP, words, shares)
        names = [s.name for s in low]
        verb = "has a lower cap" if len(names) == 1 else "have lower caps"
        return Verdict(Pattern.LOWER_CAP, f"{_names(names)} {verb}: adjust caps to align", shares)
    words = "uneven beyond what the caps predict: see why servers were skipped"
    return Verdict(Pattern.UNEVEN, words, shares)
