"""Say when sticky routing falls back, without one log line per message or per batch.

While a domain's server is out (cap, health, paused), every batch to that
domain falls back again; a worker claims many batches a second. The counter
counts every message; the log says it in one line per deal, at INFO at most
once a minute per plan and at DEBUG in between.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sendpool.core.selectors.sticky import Fallback
from sendpool.core.servers import ServerView
from sendpool.metrics import STICKY_FALLBACKS

log = logging.getLogger("sendpool.worker")

EVERY = timedelta(minutes=1)
SHOWN = 3  # domains named in one line; the rest are counted


def describe(fell: Sequence[Fallback], names: Mapping[int, ServerView]) -> str:
    """``sticky fallback: gmail.com from relay-a to relay-b (40 messages); ...``."""

    def name(sid: int) -> str:
        view = names.get(sid)
        return view.name if view is not None else f"server {sid}"

    ranked = sorted(fell, key=lambda f: (-f.messages, f.domain, f.taken_by))
    parts = [
        f"{f.domain} from {name(f.preferred)} to {name(f.taken_by)} ({f.messages} messages)"
        for f in ranked[:SHOWN]
    ]
    more = len({f.domain for f in ranked[SHOWN:]} - {f.domain for f in ranked[:SHOWN]})
    tail = f"; and {more} more domain(s)" if more else ""
    return "sticky fallback: " + "; ".join(parts) + tail


class FallbackNotes:
    """Counts every fallback; logs at INFO at most once per ``EVERY`` per plan."""

    def __init__(self) -> None:
        self._last: dict[str, datetime] = {}

    def note(
        self, plan: str, fell: Sequence[Fallback], names: Mapping[int, ServerView], now: datetime
    ) -> None:
        if not fell:
            return
        STICKY_FALLBACKS.labels(plan).inc(sum(f.messages for f in fell))
        last = self._last.get(plan)
        loud = last is None or now - last >= EVERY
        if loud:
            self._last[plan] = now
        level = logging.INFO if loud else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "plan %s: %s", plan, describe(fell, names))


# One per process: the rate limit is about what one process writes to its log.
NOTES = FallbackNotes()
