"""Amazon SES events, read from the SNS ``Message`` they arrive in, one event per recipient.

SES writes two shapes to SNS: identity notifications (``notificationType``:
Bounce, Complaint, Delivery) and configuration-set event publishing
(``eventType``: those and DeliveryDelay, Reject, Send, Open, Click, ...). Both
carry the same ``mail`` object, and event publishing adds ``mail.tags``, where
the transport's message tag names the message's sendpool uid.

A bounce is classified by its recipient's RFC 3463 code first (reports.kinds):
SES calls a "550 5.7.1 blocked" a Permanent bounce, and suppressing the address
for it would punish the recipient for the sending server's reputation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from sendpool.core.reports.kinds import ReportKind, format_status, kind_of_status, status_code
from sendpool.core.webhooks.events import (
    MAX_DIAGNOSTIC,
    MAX_EVENTS,
    MAX_TEXT,
    METADATA_KEY,
    EventKind,
    VendorEvent,
    Verified,
    WebhookRefused,
    failure_kind,
)
from sendpool.core.webhooks.sns import parse_timestamp

VENDOR = "ses"
MAX_EVENT_ID = 128
MAX_RECIPIENT = 320
MAX_OUR_ID = 64
MAX_MESSAGE_ID = 255
MAX_REPORTED_BY = 255
MAX_FEEDBACK_TYPE = 40
# SES's own suppression lists: it refused to send, so no receiver said anything.
SUPPRESSION_SUBTYPES = frozenset({"Suppressed", "OnAccountSuppressionList"})
# The object each event type's details are in (event publishing names it so).
DETAIL_KEYS: Mapping[str, str] = {
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Delivery": "delivery",
    "DeliveryDelay": "deliveryDelay",
    "Reject": "reject",
    "Send": "send",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "failure",
    "Subscription": "subscription",
}

Json = dict[str, Any]


def _bad(reason: str) -> WebhookRefused:
    return WebhookRefused(400, f"SES event: {reason}")


def _text(data: Mapping[str, Any], key: str) -> str | None:
    """An optional string field; anything else SES never sends is read as absent."""
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _cap(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def _fits(text: str | None, limit: int) -> str | None:
    """An id or an address is kept whole or not at all: a cut one would name another."""
    return text if text is not None and len(text) <= limit else None


def _event_id(*parts: str | None) -> str:
    """Stable across SNS redeliveries; hashed when the parts run past the contract's length."""
    joined = "ses:" + ":".join(part or "" for part in parts)
    if len(joined) <= MAX_EVENT_ID:
        return joined
    return "ses:sha256:" + hashlib.sha256(joined.encode("utf-8")).hexdigest()


def _object(data: Mapping[str, Any], key: str) -> Json:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _bad(f"{key} is not an object")
    return value


class _Mail:
    """What every event of one message shares: ids, tags and the time SES took it."""

    def __init__(self, mail: Json, now: datetime) -> None:
        message_id = mail.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise _bad("mail.messageId is missing")
        self.message_id = message_id
        self.now = now
        self.timestamp = _text(mail, "timestamp")
        tags = mail.get("tags")
        values = tags.get(METADATA_KEY) if isinstance(tags, dict) else None
        first = values[0] if isinstance(values, list) and values else None
        self.our_id = _fits(first if isinstance(first, str) else None, MAX_OUR_ID)
        destination = mail.get("destination")
        sole = destination[0] if isinstance(destination, list) and len(destination) == 1 else None
        self.sole_recipient = sole if isinstance(sole, str) else None

    def occurred_at(self, stamp: str | None) -> datetime:
        """The event's own time, else the send's; never later than the clock that got it."""
        when = parse_timestamp(stamp or "") or parse_timestamp(self.timestamp or "") or self.now
        return min(when, self.now)

    def event(
        self, event_id: str, recipient: str | None, stamp: str | None, facts: _Facts
    ) -> VendorEvent:
        return VendorEvent(
            vendor=VENDOR,
            event_id=event_id,
            kind=facts.kind,
            recipient=_fits(recipient, MAX_RECIPIENT),
            our_id=self.our_id,
            vendor_message_id=_fits(self.message_id, MAX_MESSAGE_ID),
            status=format_status(status_code(facts.status) or status_code(facts.diagnostic)),
            diagnostic=_cap(facts.diagnostic, MAX_DIAGNOSTIC),
            detail=facts.detail[:MAX_TEXT],
            occurred_at=self.occurred_at(stamp),
            reported_by=_cap(facts.reported_by, MAX_REPORTED_BY),
            feedback_type=_cap(facts.feedback_type, MAX_FEEDBACK_TYPE),
        )


def _recipients(details: Json, key: str) -> list[Any]:
    value = details.get(key)
    if not isinstance(value, list):
        raise _bad(f"{key} is not a list")
    if len(value) > MAX_EVENTS:
        raise WebhookRefused(413, f"SES event: more than {MAX_EVENTS} recipients")
    return value


def _address(entry: Any, key: str) -> tuple[str, Json]:
    """A recipient entry's address and fields: SES lists objects, or bare strings."""
    fields: Json = entry if isinstance(entry, dict) else {}
    address = fields.get("emailAddress") if fields else entry
    if not isinstance(address, str) or not address:
        raise _bad(f"{key} holds an entry with no email address")
    return address, fields


def bounce_kind(
    bounce_type: str | None, sub_type: str | None, status: str | None, diagnostic: str | None
) -> EventKind:
    """SES's bounce type and subtype, refined by the recipient's RFC 3463 code."""
    if bounce_type == "Permanent":
        if sub_type in SUPPRESSION_SUBTYPES:
            return EventKind.SUPPRESSED
        return failure_kind(status, diagnostic, permanent=True)
    if bounce_type == "Transient":
        # SES gave up on a temporary failure; a 4.7.x / 5.7.x (ContentRejected often is)
        # is still about the sender, and no transient failure suppresses an address.
        by_code = kind_of_status(status, diagnostic, "failed")
        return EventKind.REPUTATION if by_code is ReportKind.REPUTATION else EventKind.SOFT
    return EventKind.UNKNOWN  # Undetermined: SES could not tell either


class _Facts(NamedTuple):
    """What one recipient's event says, before the ids and times every event shares."""

    kind: EventKind
    detail: str
    status: str | None = None
    diagnostic: str | None = None
    reported_by: str | None = None
    feedback_type: str | None = None


def _bounce(bounce: Json, fields: Json) -> _Facts:
    kind_type, sub_type = _text(bounce, "bounceType"), _text(bounce, "bounceSubType")
    status, diagnostic = _text(fields, "status"), _text(fields, "diagnosticCode")
    kind = bounce_kind(kind_type, sub_type, status, diagnostic)
    detail = f"{kind_type or 'Undetermined'}/{sub_type or 'Undetermined'}"
    return _Facts(kind, detail, status, diagnostic, _text(bounce, "reportingMTA"))


def _complaint(complaint: Json, fields: Json) -> _Facts:
    feedback_type = _text(complaint, "complaintFeedbackType")
    sub_type = _text(complaint, "complaintSubType")
    # SES did not send to an address on the account's list: nobody complained this time.
    kind = EventKind.SUPPRESSED if sub_type in SUPPRESSION_SUBTYPES else EventKind.COMPLAINT
    detail = "Complaint/" + (sub_type or feedback_type or "unspecified")
    reported_by = _text(complaint, "userAgent")
    return _Facts(kind, detail, reported_by=reported_by, feedback_type=feedback_type)


def _delivery(delivery: Json, fields: Json) -> _Facts:
    reply, mta = _text(delivery, "smtpResponse"), _text(delivery, "reportingMTA")
    return _Facts(EventKind.DELIVERED, "Delivery", diagnostic=reply, reported_by=mta)


def _delay(delay: Json, fields: Json) -> _Facts:
    detail = f"DeliveryDelay/{_text(delay, 'delayType') or 'Undetermined'}"
    status, diagnostic = _text(fields, "status"), _text(fields, "diagnosticCode")
    return _Facts(EventKind.DELAY, detail, status, diagnostic, _text(delay, "reportingMTA"))


# Event type -> the list of recipients in its details, and how one entry reads.
PER_RECIPIENT: Mapping[str, tuple[str, Callable[[Json, Json], _Facts]]] = {
    "Bounce": ("bouncedRecipients", _bounce),
    "Complaint": ("complainedRecipients", _complaint),
    "Delivery": ("recipients", _delivery),
    "DeliveryDelay": ("delayedRecipients", _delay),
}


def _per_recipient(mail: _Mail, event_type: str, details: Json) -> list[VendorEvent]:
    list_key, read = PER_RECIPIENT[event_type]
    # SES's feedbackId names one bounce or complaint: the same in both shapes and on
    # every redelivery, so an event published both ways is applied once.
    stamp, feedback = _text(details, "timestamp"), _text(details, "feedbackId")
    events = []
    for entry in _recipients(details, list_key):
        address, fields = _address(entry, list_key)
        event_id = (
            _event_id(feedback, address)
            if feedback
            else _event_id(mail.message_id, address, event_type, stamp)
        )
        events.append(mail.event(event_id, address, stamp, read(details, fields)))
    return events


def _reject(mail: _Mail, reject: Json) -> list[VendorEvent]:
    # SES refused the message itself (a virus, say): nothing about the recipient.
    reason = _text(reject, "reason") or "no reason given"
    event_id = _event_id(mail.message_id, mail.sole_recipient, "Reject", mail.timestamp)
    facts = _Facts(EventKind.IGNORED, f"Reject: SES refused the message ({reason})")
    return [mail.event(event_id, mail.sole_recipient, mail.timestamp, facts)]


def _ignored(event_type: str, data: Json, message: str, now: datetime) -> VendorEvent:
    """An event sendpool does not act on, kept so an operator can see it arrived."""
    facts = _Facts(EventKind.IGNORED, f"{event_type}: not acted on")
    mail_data = data.get("mail")
    if not isinstance(mail_data, dict) or not _text(mail_data, "messageId"):
        # SES's own notices (AmazonSnsSubscriptionSucceeded) name no message.
        digest = hashlib.sha256(message.encode("utf-8")).hexdigest()
        return replace(
            _Mail({"messageId": digest}, now).event(f"ses:{digest}", None, None, facts),
            vendor_message_id=None,
        )
    mail = _Mail(mail_data, now)
    details = data.get(DETAIL_KEYS.get(event_type, ""))
    stamp = _text(details, "timestamp") if isinstance(details, dict) else None
    stamp = stamp or mail.timestamp
    event_id = _event_id(mail.message_id, mail.sole_recipient, event_type, stamp)
    return mail.event(event_id, mail.sole_recipient, stamp, facts)


def ses_events(message: str, now: datetime) -> Verified:
    """The events in one SES notification (the SNS ``Message``), or WebhookRefused.

    400 when ``message`` is not a JSON object naming an ``eventType`` or a
    ``notificationType`` with the fields its type needs; 413 past MAX_EVENTS
    recipients. ``now`` (aware UTC) stands in for a time SES did not give.
    """
    try:
        data = json.loads(message)
    except (ValueError, RecursionError) as exc:
        raise _bad("the SNS Message is not JSON") from exc
    if not isinstance(data, dict):
        raise _bad("the SNS Message is not a JSON object")
    event_type = data.get("eventType", data.get("notificationType"))
    if not isinstance(event_type, str) or not event_type:
        raise _bad("neither eventType nor notificationType names the event")
    if event_type not in PER_RECIPIENT and event_type != "Reject":
        return Verified(events=(_ignored(event_type, data, message, now),))
    mail = _Mail(_object(data, "mail"), now)
    details = _object(data, DETAIL_KEYS[event_type])
    if event_type == "Reject":
        return Verified(events=tuple(_reject(mail, details)))
    return Verified(events=tuple(_per_recipient(mail, event_type, details)))
