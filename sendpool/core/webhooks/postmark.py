"""Postmark's webhooks: one record per request, by its RecordType, and nothing signed.

Postmark signs nothing; it offers HTTP basic auth on the webhook URL instead,
so the route checks the server's own webhook secret before this reads a byte.
A Bounce record's ``Type`` is Postmark's reading of the bounce; where its
``Details`` (or ``Description``) carries an RFC 3463 code, the code refines a
hard, soft or reputation class the way a DSN's does (reports.kinds): Postmark
classifies by the remote server's words and says itself that it sometimes
"incorrectly parse[s] a bounce as a Hard Bounce".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sendpool.core.webhooks.events import (
    MAX_DIAGNOSTIC,
    MAX_TEXT,
    METADATA_KEY,
    EventKind,
    VendorEvent,
    Verified,
    WebhookRefused,
)
from sendpool.core.webhooks.vendor_fields import (
    MAX_OUR_ID,
    MAX_RECIPIENT,
    MAX_VENDOR_ID,
    cap,
    event_id,
    ident,
    iso_time,
    load_json,
    mapping,
    refine,
    require_aware,
    status_in,
    text,
)

# Bounce ``Type`` -> kind ("Bounce webhook", bounce types).
BOUNCE_TYPES = {
    "HardBounce": EventKind.HARD,
    "BadEmailAddress": EventKind.HARD,
    "SoftBounce": EventKind.SOFT,
    "DnsError": EventKind.SOFT,
    "Transient": EventKind.DELAY,  # "message delayed": Postmark still tries
    "Blocked": EventKind.REPUTATION,
    "DMARCPolicy": EventKind.REPUTATION,
    # "A receiving mail server rejects the message completely, thinking it is spam":
    # the sender's reputation, not the address.
    "SpamNotification": EventKind.REPUTATION,
    "SpamComplaint": EventKind.COMPLAINT,
    "ManuallyDeactivated": EventKind.SUPPRESSED,
    "Unknown": EventKind.UNKNOWN,
    # Replies that are not about delivery: an out-of-office, a challenge to prove we
    # sent it, a subscribe or address-change request, an open-relay probe, a virus warning.
    "AutoResponder": EventKind.IGNORED,
    "Subscribe": EventKind.IGNORED,
    "AddressChange": EventKind.IGNORED,
    "OpenRelayTest": EventKind.IGNORED,
    "ChallengeVerification": EventKind.IGNORED,
    "VirusNotification": EventKind.IGNORED,
}
# The types a receiving server's verdict decides. The unlisted ones (SMTPApiError,
# TemplateRenderingFailed, ...) are about Postmark or the message: no code in them is
# the recipient's server's.
REFINABLE = frozenset(
    {
        "HardBounce",
        "BadEmailAddress",
        "SoftBounce",
        "DnsError",
        "Blocked",
        "DMARCPolicy",
        "SpamNotification",
        "Unknown",
    }
)
# SubscriptionChange with SuppressSending true: the recipient's own request is an
# unsubscribe; Postmark's automatic suppressions are its own list.
SUPPRESSION_REASONS = {
    "ManualSuppression": EventKind.UNSUBSCRIBE,
    "HardBounce": EventKind.SUPPRESSED,
    "SpamComplaint": EventKind.SUPPRESSED,
}
# RecordType -> (the field naming the recipient, the field dating the event).
FIELDS = {
    "Bounce": ("Email", "BouncedAt"),
    "SpamComplaint": ("Email", "BouncedAt"),
    "Delivery": ("Recipient", "DeliveredAt"),
    "SubscriptionChange": ("Recipient", "ChangedAt"),
}
DEFAULT_FIELDS = ("Recipient", "ReceivedAt")  # Open, Click


def _bounce(record: Mapping[str, object]) -> tuple[EventKind, str | None, str]:
    """A Bounce record's kind, status code and detail."""
    bounce_type = text(record.get("Type"), 60) or "none"
    details = text(record.get("Details"), MAX_DIAGNOSTIC)
    status = status_in(details, text(record.get("Description"), MAX_DIAGNOSTIC))
    kind = BOUNCE_TYPES.get(bounce_type, EventKind.UNKNOWN)
    if bounce_type in REFINABLE and status is not None:
        # Only the server's words (Details) are read with the code: Postmark's
        # Description is the type's generic text ("unknown user, mailbox not found").
        kind = refine(kind, status, details)
    return kind, status, f"Bounce/{bounce_type}"


def _subscription(record: Mapping[str, object]) -> tuple[EventKind, str]:
    suppress = record.get("SuppressSending")
    reason = text(record.get("SuppressionReason"), 60)
    origin = text(record.get("Origin"), 40)
    detail = "/".join(w for w in ("SubscriptionChange", reason, origin) if w)
    if suppress is False:
        return EventKind.IGNORED, "reactivated at Postmark"
    if suppress is not True:
        raise WebhookRefused(400, "SuppressSending is neither true nor false")
    return SUPPRESSION_REASONS.get(reason or "", EventKind.SUPPRESSED), detail


def _classify(record_type: str, record: Mapping[str, object]) -> tuple[EventKind, str | None, str]:
    if record_type == "Bounce":
        return _bounce(record)
    if record_type == "SpamComplaint":
        return EventKind.COMPLAINT, None, "SpamComplaint"
    if record_type == "Delivery":
        return (
            EventKind.DELIVERED,
            status_in(text(record.get("Details"), MAX_DIAGNOSTIC)),
            "Delivery",
        )
    if record_type == "SubscriptionChange":
        kind, detail = _subscription(record)
        return kind, None, detail
    return EventKind.IGNORED, None, record_type  # Open, Click, and what Postmark adds


def read_postmark(body: bytes, now: datetime) -> Verified:
    """The event of one Postmark webhook request (Bounce, SpamComplaint, Delivery, ...).

    Call it only after the request's basic-auth secret checked out. Refusals:
    400 not JSON, not an object, no RecordType (Postmark's inbound-mail webhook
    pointed here sends none). ``now`` is taken for the same call shape as the
    signed vendors' readers; Postmark's records carry their own times.
    """
    require_aware(now)
    record = load_json(body)
    if not isinstance(record, dict):
        raise WebhookRefused(400, "a Postmark webhook body is a JSON object")
    record_type = text(record.get("RecordType"), 40)
    if record_type is None:
        raise WebhookRefused(400, "no RecordType: is this Postmark's inbound webhook?")
    kind, status, detail = _classify(record_type, record)
    recipient_field, time_field = FIELDS.get(record_type, DEFAULT_FIELDS)
    raw_recipient, raw_time = record.get(recipient_field), record.get(time_field)
    recipient = ident(raw_recipient, MAX_RECIPIENT)
    message_id = ident(record.get("MessageID"), MAX_VENDOR_ID)
    # A bounce's (or complaint's) ID; other records have none of that series, and are
    # known by what they say, the same on every redelivery.
    own_id = record.get("ID") if record_type in ("Bounce", "SpamComplaint") else None
    event = VendorEvent(
        vendor="postmark",
        event_id=event_id(own_id, record_type, message_id, raw_recipient, raw_time),
        kind=kind,
        recipient=recipient,
        our_id=ident(mapping(record.get("Metadata")).get(METADATA_KEY), MAX_OUR_ID),
        vendor_message_id=message_id,
        status=status,
        diagnostic=text(record.get("Details"), MAX_DIAGNOSTIC),
        detail=cap(detail, MAX_TEXT),
        occurred_at=iso_time(raw_time),
        reported_by=None,
    )
    return Verified(events=(event,))
