"""What every vendor's webhook comes to: verified events, or a refusal that changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sendpool.core.reports.kinds import ReportKind, kind_of_status

# The name under which a message carries its sendpool uid to the vendor and back:
# an SES message tag, a Mailgun ``v:`` variable, Postmark metadata, a SendGrid custom
# arg. SES tag names and values allow only letters, digits, "_" and "-".
METADATA_KEY = "sendpool_message"

MAX_EVENTS = 1000  # per request: SendGrid batches; more is refused whole (413)
MAX_BODY = 1_048_576  # bytes per request, checked by the route before anything is parsed
FRESHNESS_SECONDS = 300  # Mailgun's and SendGrid's signed timestamps: 5 minutes either way
MAX_TEXT = 300  # characters of a vendor's own words kept in ``detail``
MAX_DIAGNOSTIC = 1000


class EventKind(StrEnum):
    """What a vendor event says happened to one message."""

    HARD = "hard"  # the address does not exist: suppress; counts in the bounce rate
    SOFT = "soft"  # mailbox full, a transient failure the vendor gave up on
    REPUTATION = "reputation"  # refused for the sender's reputation or policy (X.7.x)
    COMPLAINT = "complaint"  # the recipient marked it as spam
    DELAY = "delay"  # a deferral: the vendor still tries; counts as a reputation signal
    DELIVERED = "delivered"  # accepted by the receiving server: changes no figure
    UNSUBSCRIBE = "unsubscribe"  # the recipient unsubscribed at the vendor: suppress
    SUPPRESSED = "suppressed"  # the vendor would not send, the address being on its own list
    IGNORED = "ignored"  # an event type sendpool does not act on (opens, clicks, ...)
    UNKNOWN = "unknown"  # a failure nothing in it lets us classify: kept for an operator


# The kinds that become delivery events applied as a report is (apply_event).
REPORT_KINDS: dict[EventKind, ReportKind] = {
    EventKind.HARD: ReportKind.HARD,
    EventKind.SOFT: ReportKind.SOFT,
    EventKind.REPUTATION: ReportKind.REPUTATION,
    EventKind.COMPLAINT: ReportKind.COMPLAINT,
    EventKind.DELAY: ReportKind.DELAY,
}


@dataclass(frozen=True, slots=True)
class VendorEvent:
    """One event about one message, as the vendor reported it, its signature verified."""

    vendor: str  # "ses" | "mailgun" | "postmark" | "sendgrid"
    event_id: str  # the vendor's id for this event, the same on every redelivery; <= 128
    kind: EventKind
    recipient: str | None  # the address the event is about, <= 320
    our_id: str | None  # METADATA_KEY's value: the message's sendpool uid, <= 64
    vendor_message_id: str | None  # as the transport kept it in messages.remote_id, <= 255
    status: str | None  # RFC 3463 "5.1.1", <= 16
    diagnostic: str | None  # the receiving server's words, <= MAX_DIAGNOSTIC
    detail: str  # the vendor's own classification in words ("Permanent/NoEmail"), <= MAX_TEXT
    occurred_at: datetime | None  # aware UTC
    reported_by: str | None  # the remote MTA or the vendor's feedback source, <= 255
    feedback_type: str | None = None  # a complaint's type ("abuse"), <= 40


@dataclass(frozen=True, slots=True)
class Verified:
    """A request whose signature verified, and the events it carries.

    ``replay_key``: a one-time value the vendor signed (Mailgun's token). The
    adapter refuses the request if it saw the value before, and keeps it until
    ``replay_until``, in the same transaction that applies the events.
    """

    events: tuple[VendorEvent, ...]
    replay_key: str | None = None
    replay_until: datetime | None = None


class WebhookRefused(ValueError):  # noqa: N818  (a refusal is the outcome, not a failure)
    """The request is not one sendpool accepts; nothing was changed.

    ``status``: 400 malformed, 401 no or wrong credentials, 403 a signature that
    does not verify, a stale timestamp, a replay, a topic or certificate not
    allowed; 413 too many events; 415 a wrong content type.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def failure_kind(status: str | None, diagnostic: str | None, *, permanent: bool) -> EventKind:
    """A failure's kind by its RFC 3463 code and text, as a DSN's is read (reports.kinds).

    A vendor's "permanent" with a code saying nothing specific is a hard bounce;
    "temporary" is a deferral: the vendor is still trying.
    """
    if not permanent:
        return EventKind.DELAY
    kind = kind_of_status(status, diagnostic, "failed")
    if kind is ReportKind.REPUTATION:
        return EventKind.REPUTATION
    if kind is ReportKind.SOFT:
        return EventKind.SOFT
    return EventKind.HARD
