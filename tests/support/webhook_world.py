"""A pool of the four vendors, a campaign sent through it, and the keys their webhooks sign with.

SES runs on moto (server mode), Mailgun, Postmark and SendGrid on their local
fakes; messages go out through the real transports, so every message carries
its sendpool uid to the vendor (tag, variable, metadata, custom arg) and keeps
the vendor's id. The tests then post what each vendor would report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.services.webhooks import secret
from sendpool.store.tables import Message, SendingServer
from tests.support.fakes.mailgun import MailgunFake
from tests.support.fakes.moto_ses import MotoSes
from tests.support.fakes.postmark import PostmarkFake
from tests.support.fakes.sendgrid import SendgridFake
from tests.support.scenario import apply, make_campaign, send_until_settled
from tests.support.webhooks import mailgun as mailgun_signing
from tests.support.webhooks import sendgrid as sendgrid_signing
from tests.support.webhooks.sns import TOPIC_ARN

KEY_ID, SES_SECRET = "AKIAFAKEWEBHOOK0TEST", "webhook-world-secret"
VENDORS = ("ses", "mailgun", "postmark", "sendgrid")


@dataclass(frozen=True)
class Sent:
    uid: str
    recipient: str
    remote_id: str


@dataclass
class VendorWorld:
    rt: Runtime
    campaign_uid: str
    server_uids: dict[str, str]  # vendor -> server uid (the server is named after its vendor)
    mailgun_key: str
    sendgrid_keys: sendgrid_signing.SendGridKeys
    sent: dict[str, list[Sent]] = field(default_factory=dict)  # vendor -> its messages

    def path(self, vendor: str) -> str:
        return secret.path(self.server_uids[vendor], vendor)

    def password(self, vendor: str) -> str:
        return secret.password(self.rt.box, self.server_uids[vendor])


def vendor_pool(
    rt: Runtime,
    *,
    moto: MotoSes,
    mailgun: MailgunFake,
    postmark: PostmarkFake,
    sendgrid: SendgridFake,
    limit: int = 100_000,
    topics: tuple[str, ...] = (TOPIC_ARN,),
) -> tuple[str, sendgrid_signing.SendGridKeys]:
    """Declare the four servers in one plan; returns Mailgun's signing key and SendGrid's keys."""
    ses = boto3.client(
        "sesv2",
        region_name="us-east-1",
        endpoint_url=moto.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SES_SECRET,
    )
    ses.create_email_identity(EmailIdentity="example.com")
    ses.close()
    mailgun_key = mailgun_signing.new_signing_key()
    keys = sendgrid_signing.new_keys()
    servers: list[dict[str, Any]] = [
        {
            "name": "ses", "type": "ses", "region": "us-east-1", "endpoint_url": moto.url,
            "access_key_id": KEY_ID, "secret_access_key_env": "SES_SECRET",
            "sns_topic_arns": list(topics), "sending_limit": limit,
        },
        {
            "name": "mailgun", "type": "mailgun", "domain": mailgun.domain,
            "base_url": mailgun.url, "api_key_env": "MAILGUN_KEY",
            "webhook_signing_key_env": "MAILGUN_SIGNING_KEY", "sending_limit": limit,
        },
        {
            "name": "postmark", "type": "postmark", "base_url": postmark.url,
            "server_token_env": "POSTMARK_TOKEN", "sending_limit": limit,
        },
        {
            "name": "sendgrid", "type": "sendgrid", "base_url": sendgrid.url,
            "api_key_env": "SENDGRID_KEY", "webhook_public_key": keys.public,
            "sending_limit": limit,
        },
    ]  # fmt: skip
    apply(
        rt,
        {
            "servers": servers,
            "plans": [{"name": "Vendors", "servers": list(VENDORS)}],
            "customers": [{"name": "acme", "plan": "Vendors", "sending_domains": ["example.com"]}],
        },
        {
            "SES_SECRET": SES_SECRET,
            "MAILGUN_KEY": mailgun.api_key,
            "MAILGUN_SIGNING_KEY": mailgun_key,
            "POSTMARK_TOKEN": postmark.token,
            "SENDGRID_KEY": sendgrid.api_key,
        },
    )
    return mailgun_key, keys


async def send_campaign(
    rt: Runtime, n: int, *, mailgun_key: str, keys: sendgrid_signing.SendGridKeys
) -> VendorWorld:
    """Send ``n`` messages (a quarter per vendor) and gather what each vendor accepted."""
    _, uid = make_campaign(rt, n)
    result = await send_until_settled(rt, uid, [rt.worker(health_checks=False)], timeout=300)
    assert result.by_status == {"sent": n}, result.by_status
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(SendingServer.name, SendingServer.uid, Message.uid, Message.recipient,
                   Message.remote_id)
            .join(SendingServer, SendingServer.id == Message.server_id)
            .order_by(Message.id)
        ).all()
    )  # fmt: skip
    world = VendorWorld(rt, uid, {}, mailgun_key, keys)
    for name, server_uid, message_uid, recipient, remote_id in rows:
        world.server_uids[name] = server_uid
        world.sent.setdefault(name, []).append(Sent(message_uid, recipient, remote_id or ""))
    return world
