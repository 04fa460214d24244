"""What an operator needs to connect a vendor server's webhook, and to see that it works.

The URL to paste into the vendor's console, what the server still lacks before
its events can verify (a signing key, a public key, an allowed topic), the last
event accepted and the last request refused (with why), and the latest events
no message matched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.services.webhooks import secret
from sendpool.services.webhooks.receive import Refusal
from sendpool.store.webhooks import Receipt, receipt, server_by_id, unmatched_events

# What each vendor's console calls the place to paste the URL, and what to tick there.
WHERE = {
    "ses": "SNS console: the topic of the SES configuration set (or identity) > Create "
    "subscription > HTTPS > this URL; then list the topic's ARN in the server's sns_topic_arns",
    "mailgun": "Mailgun: Sending > Webhooks > Add webhook, for failed (permanent and "
    "temporary), complained, delivered and unsubscribed; copy the HTTP webhook signing key "
    "into the server's webhook_signing_key",
    "postmark": "Postmark: the server > the message stream > Webhooks > Add webhook, with "
    "Bounce, Spam Complaint, Delivery and Subscription Change; the URL carries the password",
    "sendgrid": "SendGrid: Settings > Mail Settings > Event Webhook, with Bounced, Dropped, "
    "Deferred, Spam Reports, Delivered and Unsubscribed; enable Signed Event Webhook and copy "
    "its verification key into the server's webhook_public_key",
}


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    server: str
    vendor: str
    url: str  # with the password, where the vendor needs one
    shown_url: str  # the same with the password masked
    where: str
    missing: tuple[str, ...]  # what the server lacks before events can verify
    receipt: Receipt | None
    refusal: Refusal | None  # in the serving process; None elsewhere or when none was refused
    unmatched: list[dict[str, Any]] = field(default_factory=list)


def missing_settings(
    vendor: str, settings: dict[str, Any], secret_names: set[str]
) -> tuple[str, ...]:
    if vendor == "ses" and not settings.get("sns_topic_arns"):
        return ("sns_topic_arns: the ARN of each SNS topic that may post here",)
    if vendor == "mailgun" and "webhook_signing_key" not in secret_names:
        return ("webhook_signing_key: Mailgun's HTTP webhook signing key",)
    if vendor == "sendgrid" and not settings.get("webhook_public_key"):
        return ("webhook_public_key: the Signed Event Webhook's verification key",)
    return ()


def webhook_info(
    conn: Connection,
    box: SecretBox,
    public_url: str,
    ref: str,
    refusals: Mapping[int, Refusal] | None = None,
) -> WebhookInfo | None:
    """None for a server that is not a vendor's (an SMTP relay reports by mail)."""
    server = server_by_id(conn, refs.server_id(conn, ref))
    if server is None or server.type not in secret.VENDORS:
        return None
    full = secret.url(public_url, box, server.uid, server.type)
    names = set(box.open(server.secrets_sealed))
    return WebhookInfo(
        server=server.name,
        vendor=server.type,
        url=full,
        shown_url=secret.shown(full),
        where=WHERE[server.type],
        missing=missing_settings(server.type, server.settings, names),
        receipt=receipt(conn, server.id),
        refusal=(refusals or {}).get(server.id),
        unmatched=unmatched_events(conn, server.id, limit=20),
    )
