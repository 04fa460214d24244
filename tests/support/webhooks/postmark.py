"""Postmark webhook requests for tests: one record per request, behind basic auth.

Postmark signs nothing; it sends the credentials written into the webhook URL
as HTTP basic auth, which the route checks against the server's secret::

    record = postmark_event(EventKind.HARD, message_uid=uid, vendor_id=remote_id,
                            recipient="a@example.com", at=now)
    body, headers = postmark_request(record, username="postmark", password=secret)
    # POST body with headers to /api/v1/webhooks/{server_uid}/postmark

``vendor_id`` is Postmark's MessageID, as the transport kept it in
``messages.remote_id``. Without a username and password no Authorization
header is sent (to test the refusal).
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Any

from sendpool.core.webhooks.events import METADATA_KEY, EventKind

# kind -> (RecordType, bounce Type or SubscriptionChange reason, Details)
SHAPES: dict[EventKind, tuple[str, str | None, str]] = {
    EventKind.HARD: (
        "Bounce",
        "HardBounce",
        "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    ),
    EventKind.SOFT: ("Bounce", "SoftBounce", "smtp;552 5.2.2 Mailbox full"),
    EventKind.REPUTATION: (
        "Bounce",
        "Blocked",
        "smtp;550 5.7.1 Service unavailable, client host blocked using zen.spamhaus.org",
    ),
    EventKind.DELAY: ("Bounce", "Transient", "smtp;451 4.4.1 Connection timed out"),
    EventKind.SUPPRESSED: ("Bounce", "ManuallyDeactivated", "Manually deactivated"),
    EventKind.UNKNOWN: ("Bounce", "Unknown", "Unable to classify"),
    EventKind.COMPLAINT: ("SpamComplaint", "SpamComplaint", "Test spam complaint details"),
    EventKind.DELIVERED: ("Delivery", None, "smtp;250 2.0.0 OK"),
    EventKind.UNSUBSCRIBE: ("SubscriptionChange", "ManualSuppression", ""),
    EventKind.IGNORED: ("Open", None, ""),
}
TIME_FIELDS = {"Delivery": "DeliveredAt", "SubscriptionChange": "ChangedAt", "Open": "ReceivedAt"}


def postmark_event(
    kind: EventKind,
    *,
    message_uid: str | None,
    vendor_id: str,
    recipient: str,
    at: datetime,
    bounce_id: int | None = None,
) -> dict[str, Any]:
    """One Postmark webhook record that sendpool reads as ``kind``."""
    record_type, sub_type, details = SHAPES[kind]
    record: dict[str, Any] = {
        "RecordType": record_type,
        "MessageID": vendor_id,
        "ServerID": 23,
        "MessageStream": "outbound",
        "Tag": "",
        "Metadata": {} if message_uid is None else {METADATA_KEY: message_uid},
    }
    when = at.isoformat()
    if record_type in ("Bounce", "SpamComplaint"):
        record.update(
            ID=bounce_id if bounce_id is not None else secrets.randbelow(10**9),
            Type=sub_type,
            Email=recipient,
            BouncedAt=when,
            Details=details,
            Description="",
            Inactive=kind in (EventKind.HARD, EventKind.COMPLAINT),
        )
        return record
    record.update(Recipient=recipient, Details=details)
    record[TIME_FIELDS[record_type]] = when
    if record_type == "SubscriptionChange":
        record.update(SuppressSending=True, SuppressionReason=sub_type, Origin="Recipient")
    return record


def basic_auth(username: str, password: str) -> str:
    """The Authorization header value Postmark sends for credentials in the webhook URL."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def postmark_request(
    record: dict[str, Any], *, username: str | None = None, password: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and (lower-cased) headers of Postmark's POST of ``record``."""
    headers = {"content-type": "application/json"}
    if username is not None and password is not None:
        headers["authorization"] = basic_auth(username, password)
    return json.dumps(record).encode(), headers
