"""What one delivery attempt's outcome does: the outcome table of docs/design.md §1, as data.

The recorder in the pipeline only applies what ``consequence`` decides: the
message's next status and due time, whether the attempt counts, whether the
server's unit goes back, whether the server is degraded or paused, and what
is recorded against the recipient. Time and the retry jitter are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sendpool.core.outcomes import Outcome, OutcomeKind
from sendpool.core.retry import RetryPolicy
from sendpool.core.states import MessageStatus

# How long a throttled server rests when the provider did not say.
DEFAULT_PAUSE_SECONDS = 60.0
MAX_ERROR = 2000


class ServerEffect(StrEnum):
    NONE = "none"
    DEGRADE = "degrade"  # a server failure: skipped until a health check passes
    PAUSE = "pause"  # throttled: skipped until ``pause_until``


class EventKind(StrEnum):
    """What a failure is recorded as against the server that answered it."""

    HARD_BOUNCE = "hard_bounce"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Consequence:
    status: MessageStatus
    due_at: datetime
    attempts: int
    counter: str  # the label of sendpool_messages_total this attempt counts under
    release_unit: bool = False
    reached: bool = True  # whether the server took part (its activity is recorded)
    server: ServerEffect = ServerEffect.NONE
    pause_until: datetime | None = None
    suppress: bool = False
    event: EventKind | None = None
    last_error: str | None = None
    retry_here: bool = False  # the next attempt goes to this server first


def consequence(
    outcome: Outcome,
    *,
    server_name: str,
    attempts: int,
    queued_at: datetime,
    now: datetime,
    retry: RetryPolicy,
    draw: float,
) -> Consequence:
    """The consequence of ``outcome`` for a message tried ``attempts`` times before now."""
    kind = outcome.kind
    if kind is OutcomeKind.ACCEPTED:
        return Consequence(MessageStatus.SENT, now, attempts + 1, "sent")
    said = f"{server_name}: {outcome.describe()}"
    if not outcome.reached:
        # The server never took part: its unit goes back, the attempt does not
        # count, and another server may have the message at once.
        note = f"{said}; moved to another server"[:MAX_ERROR]
        if kind is OutcomeKind.THROTTLED:
            rest = outcome.retry_after or DEFAULT_PAUSE_SECONDS
            return Consequence(
                MessageStatus.QUEUED,
                now,
                attempts,
                "requeued",
                release_unit=True,
                reached=False,
                server=ServerEffect.PAUSE,
                pause_until=now + timedelta(seconds=rest),
                last_error=note,
            )
        return Consequence(
            MessageStatus.QUEUED,
            now,
            attempts,
            "requeued",
            release_unit=True,
            reached=False,
            server=ServerEffect.DEGRADE,
            last_error=note,
        )
    tried = attempts + 1
    error = said[:MAX_ERROR]
    if kind is OutcomeKind.UNKNOWN:
        # The server took part (its unit stays spent) and may have delivered the
        # message: degrade it like any broken server, and try again after a
        # back-off on it first, so a second copy at least reaches the same place.
        at = retry.next_try(tried, queued_at, now, draw)
        if at is None:
            error = f"gave up after {tried} attempts: {error}"
            return Consequence(MessageStatus.FAILED, now, tried, "failed", last_error=error)
        # Lost at a stage of the server's (a reset, a timeout): the server is at
        # fault. Lost with no stage (this worker stopped mid-send): it is not.
        effect = ServerEffect.NONE if outcome.stage is None else ServerEffect.DEGRADE
        return Consequence(
            MessageStatus.DEFERRED,
            at,
            tried,
            "unknown",
            server=effect,
            retry_here=True,
            last_error=f"{error}; the reply was lost: it may have been delivered"[:MAX_ERROR],
        )
    if kind is OutcomeKind.TRANSIENT:
        at = retry.next_try(tried, queued_at, now, draw)
        if at is not None:
            return Consequence(MessageStatus.DEFERRED, at, tried, "deferred", last_error=error)
        error = f"gave up after {tried} attempts: {error}"
        return Consequence(MessageStatus.FAILED, now, tried, "failed", last_error=error)
    suppress = outcome.suppresses_recipient
    return Consequence(
        MessageStatus.FAILED,
        now,
        tried,
        "failed",
        suppress=suppress,
        event=EventKind.HARD_BOUNCE if suppress else EventKind.REJECTED,
        last_error=error,
    )
