"""The outcome table: what each kind of attempt does to the message, the server and the recipient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendpool.core.consequences import (
    DEFAULT_PAUSE_SECONDS,
    Consequence,
    EventKind,
    ServerEffect,
    consequence,
)
from sendpool.core.outcomes import Outcome, OutcomeKind, Stage, accepted
from sendpool.core.retry import RetryPolicy
from sendpool.core.states import MessageStatus as M

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RETRY = RetryPolicy(base_seconds=60, max_delay_seconds=3600, max_age_seconds=3 * 86400)

REFUSED = Outcome(OutcomeKind.SERVER_FAILURE, Stage.CONNECT, None, None, "refused")
THROTTLED = Outcome(OutcomeKind.THROTTLED, Stage.API, 429, None, "slow down", retry_after=30)
THROTTLED_SILENT = Outcome(OutcomeKind.THROTTLED, Stage.API, 429, None, "slow down")
GREYLISTED = Outcome(OutcomeKind.TRANSIENT, Stage.RCPT, 451, "4.7.1", "try later")
UNKNOWN_USER = Outcome(OutcomeKind.PERMANENT, Stage.RCPT, 550, "5.1.1", "no such user")
REJECTED_DATA = Outcome(OutcomeKind.PERMANENT, Stage.DATA, 554, "5.6.0", "content refused")


def decide(outcome: Outcome, attempts: int = 0, age: timedelta = timedelta(0)) -> Consequence:
    return consequence(
        outcome,
        server_name="relay-a",
        attempts=attempts,
        queued_at=NOW - age,
        now=NOW,
        retry=RETRY,
        draw=0.0,
    )


# outcome, status, attempts after, counter, unit back, server effect, suppress, event
TABLE = [
    (accepted("id-1"), M.SENT, 1, "sent", False, ServerEffect.NONE, False, None),
    (REFUSED, M.QUEUED, 0, "requeued", True, ServerEffect.DEGRADE, False, None),
    (THROTTLED, M.QUEUED, 0, "requeued", True, ServerEffect.PAUSE, False, None),
    (GREYLISTED, M.DEFERRED, 1, "deferred", False, ServerEffect.NONE, False, None),
    (UNKNOWN_USER, M.FAILED, 1, "failed", False, ServerEffect.NONE, True, EventKind.HARD_BOUNCE),
    (REJECTED_DATA, M.FAILED, 1, "failed", False, ServerEffect.NONE, False, EventKind.REJECTED),
]


@pytest.mark.parametrize(
    ("outcome", "status", "attempts", "counter", "unit_back", "effect", "suppress", "event"), TABLE
)
def test_outcome_table(
    outcome: Outcome,
    status: M,
    attempts: int,
    counter: str,
    unit_back: bool,
    effect: ServerEffect,
    suppress: bool,
    event: EventKind | None,
) -> None:
    c = decide(outcome)
    assert (c.status, c.attempts, c.counter) == (status, attempts, counter)
    assert (c.release_unit, c.server, c.suppress, c.event) == (unit_back, effect, suppress, event)
    assert c.reached is outcome.reached


def test_accepted_carries_no_error_and_is_due_now() -> None:
    c = decide(accepted())
    assert c.last_error is None and c.due_at == NOW


def test_server_failure_says_which_server_and_that_the_message_moves() -> None:
    c = decide(REFUSED, attempts=2)
    assert c.attempts == 2  # the server never took part: the attempt does not count
    assert c.last_error == "relay-a: connect: refused; moved to another server"


def test_throttled_server_rests_as_long_as_the_provider_asked() -> None:
    assert decide(THROTTLED).pause_until == NOW + timedelta(seconds=30)
    assert decide(THROTTLED_SILENT).pause_until == NOW + timedelta(seconds=DEFAULT_PAUSE_SECONDS)


def test_transient_failure_is_retried_with_back_off() -> None:
    c = decide(GREYLISTED, attempts=1)
    assert c.due_at == NOW + timedelta(seconds=RETRY.delay(2, 0.0))
    assert c.last_error == "relay-a: rcpt: 451 4.7.1 try later"


def test_transient_failure_past_the_deadline_gives_up() -> None:
    c = decide(GREYLISTED, attempts=4, age=timedelta(days=3))
    assert (c.status, c.counter, c.event) == (M.FAILED, "failed", None)
    assert c.last_error is not None and c.last_error.startswith("gave up after 5 attempts: ")


def test_long_replies_are_cut_to_fit_the_log() -> None:
    long = Outcome(OutcomeKind.PERMANENT, Stage.DATA, 554, None, "x" * 5000)
    c = decide(long)
    assert c.last_error is not None and len(c.last_error) == 2000


LOST_REPLY = Outcome(OutcomeKind.UNKNOWN, Stage.DATA, None, None, "connection reset")


def test_a_lost_reply_keeps_the_unit_and_retries_on_the_same_server_first() -> None:
    c = decide(LOST_REPLY, attempts=0)
    assert (c.status, c.attempts, c.counter) == (M.DEFERRED, 1, "unknown")
    assert not c.release_unit and c.reached and c.retry_here
    assert c.server is ServerEffect.DEGRADE and not c.suppress and c.event is None
    assert c.due_at == NOW + timedelta(seconds=RETRY.delay(1, 0.0))
    assert c.last_error is not None and "may have been delivered" in c.last_error


def test_a_lost_reply_past_the_deadline_gives_up() -> None:
    c = decide(LOST_REPLY, attempts=4, age=timedelta(days=3))
    assert (c.status, c.retry_here) == (M.FAILED, False)


def test_a_send_given_up_at_a_stop_does_not_degrade_the_server() -> None:
    stopped = Outcome(OutcomeKind.UNKNOWN, None, None, None, "the worker stopped during the send")
    c = decide(stopped)
    assert (c.status, c.retry_here, c.release_unit) == (M.DEFERRED, True, False)
    assert c.server is ServerEffect.NONE
