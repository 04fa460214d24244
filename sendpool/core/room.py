"""Whether a change to a server may give its plans more room, so waiting mail should look again.

Mail waits when no server of its plan had room at its last dispatch. Only a
change that may add room is worth waking it for: a lower cap leaves it
waiting as it was (its wait ends no later than it would have), while a
higher one, an enabled server or a moved window may let it go now. A change
whose effect is hard to judge (a warm-up, a time zone) wakes it: waking
costs one look, not waking costs hours.
"""

from __future__ import annotations

from collections.abc import Mapping

# Fields where None means "no such cap": unlimited, the most room there is.
_OPTIONAL_CAPS = frozenset({"hourly_limit", "rate_per_second"})
_CAPS = frozenset({"sending_limit", "max_connections"}) | _OPTIONAL_CAPS
_ALWAYS = frozenset({"warmup", "timezone"})


def _grew(field: str, before: object, after: object) -> bool:
    if field in _OPTIONAL_CAPS:
        if after is None:
            return before is not None
        if before is None:
            return False
    if not isinstance(before, int | float) or not isinstance(after, int | float):
        return before != after
    return after > before


def adds_room(field: str, before: object, after: object) -> bool:
    """True when setting ``field`` from ``before`` to ``after`` may let waiting mail go now."""
    if before == after:
        return False
    if field == "status":
        return after == "active"
    if field == "health":
        return before == "degraded"  # unknown servers are tried, degraded ones are not
    if field in _CAPS:
        return _grew(field, before, after)
    return field in _ALWAYS


def any_adds_room(changes: Mapping[str, tuple[object, object]]) -> bool:
    """Whether any of ``{field: (before, after)}`` may add room."""
    return any(adds_room(f, b, a) for f, (b, a) in changes.items())
