"""The named states of messages, campaigns and servers, which moves are allowed, why a message waits.

They are ``StrEnum``s: the database stores their values as plain text, and a
member compares equal to its value, so rows read back need no conversion.
See docs/design.md §1 (outcomes) and §4 (contracts).
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    """Where one message is. Every message ends ``sent`` or ``failed``, or is still pending."""

    QUEUED = "queued"  # due at ``due_at``; claimable then
    SENDING = "sending"  # claimed by a worker under a lease
    DEFERRED = "deferred"  # a transient failure; retried with back-off
    SENT = "sent"
    FAILED = "failed"

    @property
    def pending(self) -> bool:
        return self in PENDING_MESSAGE_STATES

    @property
    def settled(self) -> bool:
        return self in SETTLED_MESSAGE_STATES


PENDING_MESSAGE_STATES = frozenset(
    {MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING}
)
SETTLED_MESSAGE_STATES = frozenset({MessageStatus.SENT, MessageStatus.FAILED})


class CampaignStatus(StrEnum):
    """A campaign's life: drafted, launched in batches, sent, perhaps paused, then done."""

    DRAFT = "draft"
    LAUNCHING = "launching"  # recipients being queued in batches
    SENDING = "sending"
    PAUSED = "paused"  # its messages are held, not sent, until it resumes
    DONE = "done"  # every recipient's message is sent or failed


# The moves a stored campaign may make; anything else is refused with the campaign's state.
# A launch may be started again while it is launching (to carry on an interrupted one).
CAMPAIGN_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.LAUNCHING}),
    CampaignStatus.LAUNCHING: frozenset({CampaignStatus.LAUNCHING, CampaignStatus.SENDING}),
    CampaignStatus.SENDING: frozenset({CampaignStatus.PAUSED, CampaignStatus.DONE}),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.SENDING}),
    CampaignStatus.DONE: frozenset(),
}

# A paused campaign is not done, even when nothing of it is left to send.
UNFINISHED_CAMPAIGN_STATES = frozenset(CampaignStatus) - {CampaignStatus.DONE}


def can_move(src: CampaignStatus, dst: CampaignStatus) -> bool:
    """Whether a campaign in ``src`` may become ``dst``."""
    return dst in CAMPAIGN_TRANSITIONS[src]


class HoldReason(StrEnum):
    """Why a queued message is held back rather than sent when it falls due."""

    CAMPAIGN_PAUSED = "campaign_paused"

    @property
    def text(self) -> str:
        """The reason as people read it, in the message log."""
        return _HOLD_TEXT[self]


_HOLD_TEXT = {HoldReason.CAMPAIGN_PAUSED: "campaign paused"}


class ServerStatus(StrEnum):
    """An active server may send; a disabled one never does; a paused one waits for an operator.

    sendpool pauses a server itself when its bounce or complaint rate crosses a
    threshold (``status_reason`` says which, with the figures); an operator
    resumes it by making it active again.
    """

    ACTIVE = "active"
    DISABLED = "disabled"
    PAUSED = "paused"


class ServerHealth(StrEnum):
    """What sendpool learnt: a degraded server waits for a passing check."""

    UNKNOWN = "unknown"  # never checked, or its connection settings just changed
    HEALTHY = "healthy"
    DEGRADED = "degraded"
