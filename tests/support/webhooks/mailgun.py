"""Signed Mailgun webhook requests for tests, in the JSON shape Mailgun posts.

Make a key, give it to the server as its webhook signing key, build an event
and sign it at the time the test's clock says::

    key = new_signing_key()
    data = mailgun_event(EventKind.HARD, message_uid=uid, vendor_id=remote_id,
                         recipient="a@example.com", at=now)
    body, headers = mailgun_request(data, signing_key=key, now=now)
    # POST body with headers to /api/v1/webhooks/{server_uid}/mailgun

``vendor_id`` is what the transport kept as ``messages.remote_id`` (Mailgun's id
without angle brackets); the event names it in ``message.headers.message-id``.
Each request gets a fresh token unless one is given (to test a replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

from sendpool.core.webhooks.events import METADATA_KEY, EventKind

# kind -> (event, severity, reason, SMTP code, the server's words); None leaves it out.
SHAPES: dict[EventKind, tuple[str, str | None, str | None, int | None, str | None]] = {
    EventKind.HARD: (
        "failed",
        "permanent",
        "bounce",
        550,
        "5.1.1 The email account that you tried to reach does not exist.",
    ),
    EventKind.SOFT: (
        "failed",
        "permanent",
        "bounce",
        552,
        "5.2.2 The email account that you tried to reach is over quota.",
    ),
    EventKind.REPUTATION: (
        "failed",
        "permanent",
        "bounce",
        550,
        "5.7.1 Message rejected due to the sender's reputation",
    ),
    EventKind.DELAY: ("failed", "temporary", "generic", 421, "4.4.2 Connection timed out"),
    EventKind.SUPPRESSED: (
        "failed",
        "permanent",
        "suppress-bounce",
        605,
        "Not delivering to previously bounced address",
    ),
    EventKind.UNKNOWN: ("failed", None, None, None, None),
    EventKind.COMPLAINT: ("complained", None, None, None, None),
    EventKind.DELIVERED: ("delivered", None, None, 250, "OK"),
    EventKind.UNSUBSCRIBE: ("unsubscribed", None, None, None, None),
    EventKind.IGNORED: ("opened", None, None, None, None),
}


def new_signing_key() -> str:
    """A webhook signing key like the one Mailgun's console shows."""
    return secrets.token_hex(16)


def sign(timestamp: str, token: str, signing_key: str) -> str:
    """Mailgun's signature: hex HMAC-SHA256 of timestamp + token under the signing key."""
    digest = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256)
    return digest.hexdigest()


def mailgun_event(
    kind: EventKind,
    *,
    message_uid: str | None,
    vendor_id: str,
    recipient: str,
    at: datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The ``event-data`` of one Mailgun event that sendpool reads as ``kind``."""
    name, severity, reason, code, words = SHAPES[kind]
    data: dict[str, Any] = {
        "id": event_id or secrets.token_urlsafe(16),
        "event": name,
        "timestamp": at.timestamp(),
        "recipient": recipient,
        "log-level": "error" if name == "failed" else "info",
        "user-variables": {} if message_uid is None else {METADATA_KEY: message_uid},
        "message": {"headers": {"message-id": vendor_id, "to": recipient}},
    }
    if severity is not None:
        data["severity"] = severity
    if reason is not None:
        data["reason"] = reason
    if code is not None:
        data["delivery-status"] = {
            "code": code,
            "message": words,
            "description": "",
            "mx-host": "mx.example.net",
            "attempt-no": 1,
        }
    return data


def mailgun_request(
    event_data: dict[str, Any],
    *,
    signing_key: str,
    now: datetime,
    token: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and (lower-cased) headers of Mailgun's POST of ``event_data``, signed at ``now``."""
    timestamp = str(int(now.timestamp()))
    token = token or secrets.token_hex(25)  # Mailgun's tokens are 50 characters
    signature = {
        "timestamp": timestamp,
        "token": token,
        "signature": sign(timestamp, token, signing_key),
    }
    body = json.dumps({"signature": signature, "event-data": event_data}).encode()
    return body, {"content-type": "application/json"}
