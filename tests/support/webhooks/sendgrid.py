"""Signed SendGrid Event Webhook requests for tests, with a P-256 key pair made here.

Give the server ``keys.public`` (base64 DER, as SendGrid's console shows it)
as its verification key, then sign batches with the private half::

    keys = new_keys()
    events = [sendgrid_event(EventKind.HARD, message_uid=uid, vendor_id=remote_id,
                             recipient="a@example.com", at=now)]
    body, headers = sendgrid_request(events, keys=keys, now=now)
    # POST body with headers to /api/v1/webhooks/{server_uid}/sendgrid

``vendor_id`` is the X-Message-Id the transport kept as ``messages.remote_id``;
the event reports it as ``sg_message_id`` with SendGrid's "." suffix.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sendpool.core.webhooks.events import METADATA_KEY, EventKind

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"

# kind -> the fields that make an event sendpool reads as that kind.
SHAPES: dict[EventKind, dict[str, Any]] = {
    EventKind.HARD: {
        "event": "bounce",
        "type": "bounce",
        "status": "5.1.1",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "bounce_classification": "Invalid Address",
    },
    EventKind.SOFT: {
        "event": "bounce",
        "type": "bounce",
        "status": "5.2.2",
        "reason": "552 5.2.2 The email account that you tried to reach is over quota.",
        "bounce_classification": "Mailbox Unavailable",
    },
    EventKind.REPUTATION: {
        "event": "bounce",
        "type": "blocked",
        "status": "5.0.0",
        "reason": "550 Message rejected, see the receiver's postmaster page",
        "bounce_classification": "Reputation",
    },
    EventKind.DELAY: {
        "event": "deferred",
        "response": "421 4.7.0 Try again later",
        "attempt": "1",
    },
    EventKind.SUPPRESSED: {"event": "dropped", "reason": "Bounced Address"},
    EventKind.COMPLAINT: {"event": "spamreport"},
    EventKind.DELIVERED: {"event": "delivered", "response": "250 2.0.0 OK"},
    EventKind.UNSUBSCRIBE: {"event": "unsubscribe"},
    EventKind.IGNORED: {"event": "open", "useragent": "Mozilla/5.0"},
}


@dataclass(frozen=True)
class SendGridKeys:
    """A signing key pair: ``public`` is the text to configure as the server's key."""

    private: ec.EllipticCurvePrivateKey
    public: str


def new_keys() -> SendGridKeys:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return SendGridKeys(private=private, public=base64.b64encode(der).decode("ascii"))


def sign(keys: SendGridKeys, timestamp: str, body: bytes) -> str:
    """SendGrid's signature: base64 DER ECDSA P-256 / SHA-256 over timestamp + raw body."""
    der = keys.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der).decode("ascii")


def sendgrid_event(
    kind: EventKind,
    *,
    message_uid: str | None,
    vendor_id: str,
    recipient: str,
    at: datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One event of a SendGrid batch that sendpool reads as ``kind``.

    SendGrid has no event sendpool reads as UNKNOWN: asking for one is a ValueError.
    """
    if kind not in SHAPES:
        raise ValueError(f"no SendGrid event reads as {kind}")
    event: dict[str, Any] = {
        "email": recipient,
        "timestamp": int(at.timestamp()),
        "smtp-id": f"<{vendor_id}@ismtpd0001p1mdw1.sendgrid.net>",
        "sg_event_id": event_id or secrets.token_urlsafe(16),
        "sg_message_id": f"{vendor_id}.filterdrecv-5bd4c9b8d6-8q2dx-1-6390A4E1-2.0",
        **SHAPES[kind],
    }
    if message_uid is not None:
        event[METADATA_KEY] = message_uid  # a custom arg: a top-level field of each event
    return event


def sendgrid_request(
    events: Sequence[dict[str, Any]], *, keys: SendGridKeys, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and (lower-cased) headers of SendGrid's POST of ``events``, signed at ``now``."""
    body = json.dumps(list(events)).encode() + b"\r\n"  # SendGrid ends its body with CRLF
    timestamp = str(int(now.timestamp()))
    return body, {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign(keys, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
    }
