"""The named states: which are pending or settled, and which campaign moves are allowed."""

from __future__ import annotations

import pytest

from sendpool.core.states import CampaignStatus as C
from sendpool.core.states import MessageStatus as M
from sendpool.core.states import can_move


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
        (C.LAUNCHING, C.SENDING, True),
        (C.SENDING, C.PAUSED, True),
        (C.PAUSED, C.SENDING, True),
        (C.SENDING, C.DONE, True),
        (C.DONE, C.SENDING, False),
        (C.PAUSED, C.DONE, False),
    ],
)
def test_campaign_moves(src: C, dst: C, allowed: bool) -> None:
    assert can_move(src, dst) is allowed


def test_states_are_their_stored_text() -> None:
    assert M.SENT == "sent" and C.DONE == "done"
