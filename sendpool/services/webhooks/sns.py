"""Amazon SES events through SNS: verify the POST exactly as AWS documents, then read it.

Every check that needs no network runs first (the body's shape, the pinned
certificate and subscription URLs, the webhook secret for a subscription), so a
stranger's request costs no fetch. Only then is the certificate fetched, the
signature, topic and time verified, and, for a SubscriptionConfirmation, the
SubscribeURL visited: the one request sendpool makes because a body said so,
made only for a server whose secret was in the URL and a message SNS signed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sendpool.core.webhooks.events import Verified, WebhookRefused
from sendpool.core.webhooks.ses import ses_events
from sendpool.core.webhooks.sns import (
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    check_cert_url,
    check_subscribe_url,
    parse_sns,
    verify_sns,
)
from sendpool.services.webhooks.sns_certs import SnsCertificates

NO_SECRET = "a subscription is confirmed only with the server's webhook secret in the URL"


async def read_sns(
    body: bytes,
    *,
    allowed_topics: Sequence[str],
    secret_ok: bool,
    certs: SnsCertificates,
    now: datetime,
    confirm: Callable[[str], Awaitable[None]] | None = None,
) -> Verified:
    """The SES events in one SNS POST body, or WebhookRefused; nothing else is changed.

    ``secret_ok``: the route found this server's webhook secret in the request
    (basic auth). ``confirm`` GETs a verified SubscribeURL; by default through
    ``certs``, pinned and TLS-checked like the certificates.
    """
    msg = parse_sns(body)
    check_cert_url(msg.signing_cert_url)
    subscribe_url = msg.subscribe_url or ""
    if msg.type == SUBSCRIPTION_CONFIRMATION:
        if not secret_ok:
            raise WebhookRefused(401, NO_SECRET)
        check_subscribe_url(subscribe_url)
    pem = await certs.certificate(msg.signing_cert_url, now=now)
    verify_sns(msg, pem, allowed_topics=allowed_topics, now=now)
    if msg.type == NOTIFICATION:
        return ses_events(msg.message, now)
    if msg.type == SUBSCRIPTION_CONFIRMATION:
        await (confirm or certs.confirm)(subscribe_url)
    return Verified(events=())
