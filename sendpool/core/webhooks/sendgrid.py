"""SendGrid's Event Webhook: an ECDSA P-256 signature over the timestamp and the raw body.

"Signed Event Webhook Requests": SendGrid signs, with SHA-256 and its private
key, the value of the ``X-Twilio-Email-Event-Webhook-Timestamp`` header
followed by the body bytes exactly as posted, and sends the base64 DER
signature in ``X-Twilio-Email-Event-Webhook-Signature``. The console shows the
public key as base64 of its DER SubjectPublicKeyInfo, without PEM armour. The
body is a batch: a JSON array of events, each with the message's custom args
as top-level fields.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

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
from sendpool.core.webhooks.vendor_fields import (
    MAX_OUR_ID,
    MAX_RECIPIENT,
    MAX_VENDOR_ID,
    cap,
    check_fresh,
    epoch,
    event_id,
    ident,
    load_json,
    refine,
    require_aware,
    signed_unix_time,
    status_in,
)
from sendpool.core.webhooks.vendor_fields import text as field

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
MAX_SIGNATURE = 200  # base64 of a DER P-256 signature is at most 96 characters
# ``dropped`` reasons for which SendGrid did not send because the address is on one of
# its own suppression lists (or is not an address at all).
SUPPRESS_REASONS = frozenset(
    {"bounced address", "spam reporting address", "unsubscribed address", "invalid"}
)
KINDS = {
    "deferred": EventKind.DELAY,
    "spamreport": EventKind.COMPLAINT,
    "delivered": EventKind.DELIVERED,
    "unsubscribe": EventKind.UNSUBSCRIBE,
    "group_unsubscribe": EventKind.UNSUBSCRIBE,
}


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key, as its console shows it (base64 DER) or as a PEM.

    ValueError, saying what is wrong, for anything but a P-256 public key.
    """
    armoured = text.strip()
    try:
        if armoured.startswith("-----BEGIN"):
            key = load_pem_public_key(armoured.encode("ascii"))
        else:
            key = load_der_public_key(base64.b64decode("".join(armoured.split()), validate=True))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
        raise ValueError(
            "not a SendGrid verification key: expected the base64 text SendGrid's "
            "console shows (a DER public key) or a PEM public key"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(
            f"not an elliptic-curve key ({type(key).__name__}): SendGrid signs with P-256"
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"a key on curve {key.curve.name}: SendGrid signs with P-256 (secp256r1)")
    return key


def _signature(value: str) -> bytes | None:
    """The DER bytes of a base64 signature header; None when it is not base64 of a sane size."""
    if len(value) > MAX_SIGNATURE:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None


def _verify(body: bytes, headers: Mapping[str, str], public_key: str, now: datetime) -> None:
    signature = (headers.get(SIGNATURE_HEADER) or "").strip()
    timestamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
    for name, value in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp)):
        if not value:
            raise WebhookRefused(401, f"no {name} header: is the signed event webhook on?")
    try:
        key = load_public_key(public_key)
    except ValueError as exc:
        raise WebhookRefused(401, f"this server's SendGrid verification key: {exc}") from exc
    signed_at = signed_unix_time(timestamp)  # digits, so its bytes are its ASCII
    der = _signature(signature)
    if der is None:
        raise WebhookRefused(403, "the SendGrid signature is not base64 DER")
    try:
        key.verify(der, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise WebhookRefused(403, "the SendGrid signature does not verify") from exc
    check_fresh(signed_at, now)


def _kind(
    name: str, item: Mapping[str, object], status: str | None, words: str | None
) -> EventKind:
    if name == "bounce":
        if str(item.get("type", "")).lower() == "blocked":
            # SendGrid's "blocked": refused for content or reputation, the address kept;
            # only a status code saying otherwise makes it another failure.
            return refine(EventKind.REPUTATION, status, words)
        return failure_kind(status, words, permanent=True)
    if name == "dropped":
        reason = str(item.get("reason", "")).strip().lower()
        return EventKind.SUPPRESSED if reason in SUPPRESS_REASONS else EventKind.IGNORED
    return KINDS.get(name, EventKind.IGNORED)


def _event(number: int, item: Mapping[str, object]) -> VendorEvent:
    name = field(item.get("event"), 40)
    if name is None:
        raise WebhookRefused(400, f"event {number} has no event type")
    name = name.lower()
    # The server's words: a bounce's reason, a delivery's or deferral's response.
    words = field(item.get("response"), MAX_DIAGNOSTIC) or field(item.get("reason"), MAX_DIAGNOSTIC)
    status = status_in(field(item.get("status"), 16), words)
    own = [name, field(item.get("type"), 40), field(item.get("bounce_classification"), 60)]
    if name == "dropped":
        own.append(field(item.get("reason"), 120))
        words = None  # SendGrid's own reason: nothing was sent to a server
    sg_message_id = item.get("sg_message_id")
    # sg_message_id is the X-Message-Id the transport kept, then "." and SendGrid's suffix.
    vendor_id = (
        ident(sg_message_id.split(".", 1)[0], MAX_VENDOR_ID)
        if isinstance(sg_message_id, str)
        else None
    )
    recipient = ident(item.get("email"), MAX_RECIPIENT)
    return VendorEvent(
        vendor="sendgrid",
        event_id=event_id(
            item.get("sg_event_id"), name, sg_message_id, recipient, item.get("timestamp")
        ),
        kind=_kind(name, item, status, words),
        recipient=recipient,
        our_id=ident(item.get(METADATA_KEY), MAX_OUR_ID),
        vendor_message_id=vendor_id,
        status=status,
        diagnostic=words,
        detail=cap("/".join(w for w in own if w), MAX_TEXT),
        occurred_at=epoch(item.get("timestamp")),
        reported_by=None,
    )


def read_sendgrid(
    body: bytes, headers: Mapping[str, str], public_key: str, now: datetime
) -> Verified:
    """The events of one SendGrid Event Webhook batch, its signature and freshness verified.

    ``headers`` are lower-cased; ``public_key`` is the server's verification key
    (``load_public_key``). Refusals: 401 a signature header missing, or no
    usable key for the server; 403 a signature that does not verify, or a
    timestamp more than FRESHNESS_SECONDS from ``now``; 400 not a JSON array
    of objects; 413 more than MAX_EVENTS events.
    """
    require_aware(now)
    _verify(body, headers, public_key, now)
    batch = load_json(body)
    if not isinstance(batch, list):
        raise WebhookRefused(400, "a SendGrid webhook body is a JSON array of events")
    if len(batch) > MAX_EVENTS:
        raise WebhookRefused(413, f"{len(batch)} events in one request; at most {MAX_EVENTS}")
    if not all(isinstance(item, dict) for item in batch):
        raise WebhookRefused(400, "every event in a SendGrid batch is a JSON object")
    return Verified(events=tuple(_event(n, item) for n, item in enumerate(batch, 1)))
