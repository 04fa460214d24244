"""The dispatcher's filters, one rule per module, each saying why it dropped a server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sendpool.core.servers import ServerView


class SkipCode(StrEnum):
    """Stable codes for metrics and pages; the text beside them is for people."""

    NOT_IN_PLAN = "not_in_plan"
    DISABLED = "disabled"
    DEGRADED = "degraded"
    PAUSED = "paused"
    SERVER_PAUSED = "server_paused"  # status "paused" (bounce or complaint rate), until resumed
    ZERO_LIMIT = "zero_limit"
    DAILY_CAP = "daily_cap"
    WARMUP_CAP = "warmup_cap"
    HOURLY_CAP = "hourly_cap"
    WARMING_BURST = "warming_burst"
    PREFER_WARMING = "prefer_warming"
    NO_SMTPUTF8 = "no_smtputf8"
    RATE = "rate"
    GROUP_RATE = "group_rate"  # its rate to the job's provider group is spent
    RACE = "race"
    BUSY = "busy"  # holds as much on this worker as it can send within a lease


@dataclass(frozen=True, slots=True)
class Skip:
    """A server left out of one pick, with a reason an operator can read."""

    server_id: int
    server_name: str
    code: SkipCode
    reason: str
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class FilterResult:
    kept: tuple[ServerView, ...]
    skipped: tuple[Skip, ...] = ()


def skip(server: ServerView, code: SkipCode, reason: str, until: datetime | None = None) -> Skip:
    return Skip(server.id, server.name, code, reason, until)
