"""The named states: which are pending or settled, which campaign moves are allowed, hold reasons."""

from __future__ import annotations

import pytest

from sendpool.core.states import (
    CAMPAIGN_TRANSITIONS,
    UNFINISHED_CAMPAIGN_STATES,
    HoldReason,
    can_move,
)
from sendpool.core.states import CampaignStatus as C
from sendpool.core.states import MessageStatus as M


@pytest.mark.parametrize(
    ("status", "pending", "settled"),
    [
        (M.QUEUED, True, False),
        (M.SENDING, True, False),
        (M.DEFERRED, True, False),
        (M.SENT, False, True),
        (M.FAILED, False, True),
    ],
)
def test_every_message_state_is_pending_or_settled(status: M, pending: bool, settled: bool) -> None:
    assert (status.pending, status.settled) == (pending, settled)


@pytest.mark.parametrize(
    ("src", "dst", "allowed"),
    [
        (C.DRAFT, C.LAUNCHING, True),
        (C.DRAFT, C.SENDING, False),
        (C.DRAFT, C.PAUSED, False),
        (C.LAUNCHING, C.LAUNCHING, True),  # a launch carried on
        (C.LAUNCHING, C.SENDING, True),
        (C.LAUNCHING, C.PAUSED, False),  # only a sending campaign pauses
        (C.SENDING, C.PAUSED, True),
        (C.SENDING, C.LAUNCHING, False),
        (C.PAUSED, C.SENDING, True),
        (C.PAUSED, C.LAUNCHING, False),
        (C.SENDING, C.DONE, True),  # its last message settled
        (C.DONE, C.PAUSED, False),
        (C.DONE, C.SENDING, False),
        (C.PAUSED, C.DONE, False),
    ],
)
def test_campaign_moves(src: C, dst: C, allowed: bool) -> None:
    assert can_move(src, dst) is allowed


def test_every_campaign_state_has_its_moves() -> None:
    assert set(CAMPAIGN_TRANSITIONS) == set(C)
    assert UNFINISHED_CAMPAIGN_STATES == {C.DRAFT, C.LAUNCHING, C.SENDING, C.PAUSED}


def test_states_are_their_stored_text() -> None:
    assert M.SENT == "sent" and C.DONE == "done"
    assert HoldReason.CAMPAIGN_PAUSED == "campaign_paused"


def test_a_hold_reason_reads_as_people_say_it() -> None:
    assert HoldReason.CAMPAIGN_PAUSED.text == "campaign paused"
