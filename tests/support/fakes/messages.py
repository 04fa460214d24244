"""Outgoing messages for the transport tests, rendered the way the campaign renderer does."""

from __future__ import annotations

import itertools
from email.utils import formataddr

from sendpool.transports.message import OutgoingMessage

_uids = itertools.count(1)


def outgoing(
    recipient: str = "bob@example.org",
    *,
    sender: str = "news@example.com",
    name: str = "Example News",
    text: str | None = "Hello Bob,\nthis is the news.",
    html: str | None = "<p>Hello Bob, this is the news.</p>",
) -> OutgoingMessage:
    uid = f"m{next(_uids):05d}"
    return OutgoingMessage(
        uid=uid,
        envelope_from=f"bounces+{uid}@example.com",
        recipient=recipient,
        from_header=formataddr((name, sender), "utf-8"),
        subject="The news, in brief",
        text=text,
        html=html,
        message_id=f"<{uid}@sendpool.example.com>",
        date="Fri, 27 Nov 2026 18:00:00 +0000",
        headers={
            "List-Unsubscribe": f"<https://example.com/u/{uid}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
