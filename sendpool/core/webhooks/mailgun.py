"""Mailgun's event webhook: an HMAC over the signed timestamp and token, then one event.

Mailgun puts its signature in the JSON body, not in a header ("Securing
Webhooks"): ``signature.signature`` is the hex HMAC-SHA256, keyed with the
domain's HTTP webhook signing key, of ``timestamp`` followed by ``token`` with
no separator. The token is random and used once, so it is the replay key; the
timestamp must be within FRESHNESS_SECONDS of now. A subaccount's events also
carry ``parent-signature``, the same HMAC with the primary account's key, so
either key configured for the server verifies them.

Only the JSON webhooks Mailgun has sent since 2018 are read; the legacy
form-encoded ones are refused as not JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from sendpool.core.webhooks.events import (
    FRESHNESS_SECONDS,
    MAX_DIAGNOSTIC,
    MAX_TEXT,
    METADATA_KEY,
    EventKind,
    VendorEvent,
    Verified,
    WebhookRefused,
    failure_kind,
)
from sendpool.core.webhooks.vendor_fields import (
    MAX_OUR_ID,
    MAX_RECIPIENT,
    MAX_REPLAY_KEY,
    MAX_REPORTED_BY,
    MAX_VENDOR_ID,
    cap,
    check_fresh,
    epoch,
    event_id,
    ident,
    load_json,
    mapping,
    require_aware,
    same_digest,
    signed_unix_time,
    status_in,
    text,
)

# Reasons of a ``failed`` event for which Mailgun did not try at all: the address is
# on the domain's own bounce, complaint or unsubscribe list.
SUPPRESS_REASONS = frozenset({"suppress-bounce", "suppress-complaint", "suppress-unsubscribe"})
SMTP_CODE = re.compile(r"[245][0-9][0-9]")  # RFC 5321 §4.2; ASCII digits only
KINDS = {
    "complained": EventKind.COMPLAINT,
    "delivered": EventKind.DELIVERED,
    "unsubscribed": EventKind.UNSUBSCRIBE,
}


def _verify(body: Mapping[str, object], signing_key: str, now: datetime) -> tuple[str, datetime]:
    """The token and the signed time of a request whose signature verifies, or a refusal."""
    if not signing_key:
        raise WebhookRefused(401, "no Mailgun webhook signing key is set for this server")
    block = body.get("signature")
    if not isinstance(block, dict):
        raise WebhookRefused(401, "no Mailgun signature in the body")
    timestamp, token = block.get("timestamp"), block.get("token")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    given = (block.get("signature"), block.get("parent-signature"))
    if not isinstance(timestamp, str) or not isinstance(token, str) or not token:
        raise WebhookRefused(401, "the Mailgun signature lacks its timestamp or token")
    if not any(isinstance(g, str) for g in given):
        raise WebhookRefused(401, "the Mailgun signature block has no signature")
    if len(token) > MAX_REPLAY_KEY:
        raise WebhookRefused(400, "the Mailgun token is too long")
    expected = hmac.new(
        signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not any([same_digest(expected, g) for g in given]):  # both compared, always
        raise WebhookRefused(403, "the Mailgun signature does not verify")
    signed_at = signed_unix_time(timestamp)
    check_fresh(signed_at, now)
    return token, signed_at


def _smtp_code(value: object) -> str | None:
    """Delivery-status ``code`` when it is an SMTP reply code; Mailgun's own 6xx are not."""
    code = text(value, 4)
    return code if code is not None and SMTP_CODE.fullmatch(code) else None


def _failure(data: Mapping[str, object], status: str | None, diagnostic: str | None) -> EventKind:
    if str(data.get("reason", "")).lower() in SUPPRESS_REASONS:
        return EventKind.SUPPRESSED
    severity = str(data.get("severity", "")).lower()
    if severity == "permanent":
        return failure_kind(status, diagnostic, permanent=True)
    if severity == "temporary":
        return EventKind.DELAY
    return EventKind.UNKNOWN  # a failure Mailgun gave no severity: an operator looks


def _event(data: Mapping[str, object]) -> VendorEvent:
    name = text(data.get("event"), 40)
    if name is None:
        raise WebhookRefused(400, "event-data has no event name")
    name = name.lower()
    delivery = mapping(data.get("delivery-status"))
    words = [
        w
        for w in (
            _smtp_code(delivery.get("code")),
            text(delivery.get("message"), MAX_DIAGNOSTIC),
            text(delivery.get("description"), MAX_DIAGNOSTIC),
        )
        if w
    ]
    diagnostic = text(" ".join(dict.fromkeys(words)), MAX_DIAGNOSTIC)  # once each, in order
    status = status_in(text(delivery.get("enhanced-code"), 16), diagnostic)
    if name == "failed":
        kind = _failure(data, status, diagnostic)
    else:
        kind = KINDS.get(name, EventKind.IGNORED)
    headers = mapping(mapping(data.get("message")).get("headers"))
    message_id = headers.get("message-id")
    # The transport keeps Mailgun's id without its angle brackets (messages.remote_id).
    message_id = (
        ident(message_id.strip().strip("<>"), MAX_VENDOR_ID)
        if isinstance(message_id, str)
        else None
    )
    recipient = ident(data.get("recipient"), MAX_RECIPIENT)
    own_words = [name, text(data.get("severity"), 40), text(data.get("reason"), 80)]
    return VendorEvent(
        vendor="mailgun",
        event_id=event_id(data.get("id"), name, message_id, recipient, data.get("timestamp")),
        kind=kind,
        recipient=recipient,
        our_id=ident(mapping(data.get("user-variables")).get(METADATA_KEY), MAX_OUR_ID),
        vendor_message_id=message_id,
        status=status,
        diagnostic=diagnostic,
        detail=cap("/".join(w for w in own_words if w), MAX_TEXT),
        occurred_at=epoch(data.get("timestamp")),
        reported_by=text(delivery.get("mx-host"), MAX_REPORTED_BY),
    )


def read_mailgun(body: bytes, signing_key: str, now: datetime) -> Verified:
    """The event of one Mailgun webhook request, its signature and freshness verified.

    Refusals: 400 not JSON or not Mailgun's shape; 401 no signature, or no key
    set for the server; 403 a signature that does not verify, or a timestamp
    more than FRESHNESS_SECONDS from ``now``. The adapter refuses a token it has
    seen before (``replay_key``) and remembers it until ``replay_until``.
    """
    require_aware(now)
    parsed = load_json(body)
    if not isinstance(parsed, dict):
        raise WebhookRefused(400, "a Mailgun webhook body is a JSON object")
    token, signed_at = _verify(parsed, signing_key, now)
    data = parsed.get("event-data")
    if not isinstance(data, dict):
        raise WebhookRefused(400, "the Mailgun body has no event-data object")
    return Verified(
        events=(_event(data),),
        replay_key=token,
        replay_until=signed_at + timedelta(seconds=FRESHNESS_SECONDS),
    )
