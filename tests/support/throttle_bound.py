"""The bound a GCRA throttle keeps, checked over recorded grants (core/ratelimit.py).

Over any span [a, b] of reservation times, at most ``burst + rate * (b - a)``
units are granted, whatever the order the workers' calls landed in and
whatever each worker's clock said: so never more than ``burst + rate`` in any
one-second window.
"""

from __future__ import annotations

from collections.abc import Sequence

# Epoch seconds carry about 1e-7 s of float error; a unit is never that early.
SLACK = 1e-6


def worst_window(grants: Sequence[tuple[float, int]], rate: float, burst: float) -> float:
    """The largest excess over the bound, for every span between two grant times (<= 0: kept)."""
    points = sorted((t, n) for t, n in grants if n > 0)
    worst = float("-inf")
    for i, (a, _) in enumerate(points):
        total = 0
        for b, n in points[i:]:
            total += n
            worst = max(worst, total - (burst + rate * (b - a)))
    return worst


def one_second_windows(grants: Sequence[tuple[float, int]], length: float = 1.0) -> int:
    """The most units granted in any window [t, t + length) of reservation times."""
    points = sorted((t, n) for t, n in grants if n > 0)
    best = 0
    for i, (a, _) in enumerate(points):
        best = max(best, sum(n for b, n in points[i:] if b < a + length))
    return best
