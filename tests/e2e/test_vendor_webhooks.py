"""Four vendors report by webhook what became of a campaign, and the pool learns from it.

A campaign of 2,000 goes out through SES (moto, server mode), Mailgun, Postmark
and SendGrid (local fakes), 500 each. ``sendpool``'s app serves on a loopback
port. Each vendor then reports over real HTTP, signed as it signs: moto's SNS
itself posts the SES events (it signs with version 2; the certificate is
fetched over HTTPS from the pinned SNS host name, mapped to a local server that
hands out moto's certificate), and the tests post Mailgun's, Postmark's and
SendGrid's. SendGrid reports 4 % hard bounces and 0.2 % complaints: its rates
move, its recipients are suppressed, it pauses itself past the complaint
threshold, and the daily rebalancer cuts its limit. The others report a hard
bounce (suppressed), a first soft bounce (not) and a delivery, each on its own
server only.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import httpx
import pytest
from sqlalchemy import select, update

from sendpool.core.states import ServerStatus
from sendpool.core.webhooks.events import EventKind
from sendpool.http.app import create_app
from sendpool.runtime import Runtime
from sendpool.serve import serve_asgi
from sendpool.services.operations.rebalance import policy_from, rebalance
from sendpool.services.servers.stats import activity_24h
from sendpool.services.webhooks.receive import WebhookReceiver
from sendpool.store.tables import DeliveryEvent, Message, SendingServer, Suppression
from tests.support.fakes.mailgun import MailgunFake
from tests.support.fakes.moto_ses import MotoSes
from tests.support.fakes.postmark import PostmarkFake
from tests.support.fakes.sendgrid import SendgridFake
from tests.support.settings import make_settings
from tests.support.webhook_world import VendorWorld, send_campaign, vendor_pool
from tests.support.webhooks.mailgun import mailgun_event, mailgun_request
from tests.support.webhooks.postmark import postmark_event, postmark_request
from tests.support.webhooks.sendgrid import sendgrid_event, sendgrid_request
from tests.support.webhooks.sns import Route, SnsHttpsServer, certificates_for, ses_event

pytest_plugins = ["tests.support.fakes.fixtures"]
pytestmark = pytest.mark.slow

N = 2000  # 500 per vendor
BOUNCES, COMPLAINTS = 20, 1  # of SendGrid's 500: 4 % and 0.2 %
KEY = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    # The rebalancer judges a day from 400 sends: each server's oldest send is moved to
    # yesterday below, the history a server has before its limit may move.
    runtime = Runtime.open(make_settings(tmp_path, rebalance_min_sent=400))
    yield runtime
    runtime.close()


class MotoCertificates(SnsHttpsServer):
    """SNS's HTTPS host on loopback, handing out the certificate moto signed each message with."""

    def __init__(self, moto_url: str) -> None:
        super().__init__()
        self.moto_url = moto_url

    def route(self, path: str) -> Route | None:
        if not path.startswith("/SimpleNotificationService-"):
            return None
        # moto's server picks the service by a SigV4 credential scope; the PEM needs no key.
        scope = "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/sns/aws4_request, x"
        request = urllib.request.Request(self.moto_url + path, headers={"Authorization": scope})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return Route(200, answer.read())


@pytest.fixture
async def served(rt: Runtime, moto_ses: MotoSes) -> AsyncIterator[tuple[str, MotoCertificates]]:
    """The app on a loopback port in this event loop, reading SNS certificates from moto."""
    with MotoCertificates(moto_ses.url) as sns:
        app = create_app(rt)
        app.state.webhooks = WebhookReceiver(rt, certs=certificates_for(sns))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        stop = asyncio.Event()
        task = asyncio.create_task(serve_asgi(app, sock, stop))
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}", sns
        finally:
            stop.set()
            await task
            await app.state.webhooks.close()


def _now() -> datetime:
    return datetime.now(UTC)


def _sns_topic(moto_url: str, endpoint: str, name: str) -> tuple[Any, str]:
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_url, **KEY)
    arn = sns.create_topic(Name=name)["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint)
    return sns, arn


async def test_vendor_events_move_rates_suppress_pause_and_cut(
    rt: Runtime,
    moto_ses: MotoSes,
    mailgun_fake: MailgunFake,
    postmark_fake: PostmarkFake,
    sendgrid_fake: SendgridFake,
    served: tuple[str, MotoCertificates],
) -> None:
    base, _ = served
    # moto's backends are the process's: a topic of its own, whatever other tests made.
    topic = f"arn:aws:sns:us-east-1:123456789012:ses-events-{uuid.uuid4().hex[:12]}"
    mailgun_key, keys = vendor_pool(
        rt, moto=moto_ses, mailgun=mailgun_fake, postmark=postmark_fake, sendgrid=sendgrid_fake,
        topics=(topic,),
    )  # fmt: skip
    world = await send_campaign(rt, N, mailgun_key=mailgun_key, keys=keys)
    assert {v: len(s) for v, s in world.sent.items()} == dict.fromkeys(world.sent, 500)
    # Each vendor was handed the message's sendpool uid (tag, variable, metadata, custom arg).
    assert {v["sendpool_message"] for v in mailgun_fake.variables} == {
        m.uid for m in world.sent["mailgun"]
    }
    assert {p["Metadata"]["sendpool_message"] for p in postmark_fake.accepted} == {
        m.uid for m in world.sent["postmark"]
    }
    assert {p["custom_args"]["sendpool_message"] for p in sendgrid_fake.accepted} == {
        m.uid for m in world.sent["sendgrid"]
    }

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await _sendgrid_reports(world, http)
        await _mailgun_and_postmark_report(world, http)
    await _ses_reports_through_moto(world, moto_ses.url, base, topic)

    _assert_the_pool_learnt(world)


async def _sendgrid_reports(world: VendorWorld, http: httpx.AsyncClient) -> None:
    sent = world.sent["sendgrid"]
    kinds = [EventKind.HARD] * BOUNCES + [EventKind.COMPLAINT] * COMPLAINTS
    kinds += [EventKind.DELIVERED] * (len(sent) - len(kinds))
    batch = [
        sendgrid_event(
            k, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=_now()
        )
        for k, m in zip(kinds, sent, strict=True)
    ]
    # SendGrid batches its events; here in batches of 100, and the first batch twice.
    for start in (0, *range(0, len(batch), 100)):
        body, headers = sendgrid_request(
            batch[start : start + 100], keys=world.sendgrid_keys, now=_now()
        )
        answer = await http.post(world.path("sendgrid"), content=body, headers=headers)
        assert answer.status_code == 200, answer.text


async def _mailgun_and_postmark_report(world: VendorWorld, http: httpx.AsyncClient) -> None:
    m = world.sent["mailgun"][0]
    data = mailgun_event(
        EventKind.HARD, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=_now()
    )
    body, headers = mailgun_request(data, signing_key=world.mailgun_key, now=_now())
    answer = await http.post(world.path("mailgun"), content=body, headers=headers)
    assert answer.json() == {"accepted": 1, "applied": 1}
    p = world.sent["postmark"][0]
    record = postmark_event(
        EventKind.SOFT, message_uid=p.uid, vendor_id=p.remote_id, recipient=p.recipient,
        at=_now(),
    )  # fmt: skip
    body, headers = postmark_request(
        record, username="sendpool", password=world.password("postmark")
    )
    answer = await http.post(world.path("postmark"), content=body, headers=headers)
    assert answer.json() == {"accepted": 1, "applied": 1}


async def _ses_reports_through_moto(
    world: VendorWorld, moto_url: str, base: str, topic: str
) -> None:
    """moto's SNS posts, signed, to the server's URL: a bounce and a delivery of SES's."""
    endpoint = base + world.path("ses")
    sns, arn = await asyncio.to_thread(_sns_topic, moto_url, endpoint, topic.rsplit(":", 1)[1])
    assert arn == topic
    bounced, delivered = world.sent["ses"][:2]
    for kind, m in (("Bounce", bounced), ("Delivery", delivered)):
        event = ses_event(
            kind, message_uid=m.uid, message_id=m.remote_id, recipient=m.recipient, timestamp=_now()
        )
        # boto3 waits while moto posts to the app, which runs in this event loop.
        await asyncio.to_thread(sns.publish, TopicArn=arn, Message=event)
    sns.close()


def _assert_the_pool_learnt(world: VendorWorld) -> None:
    rt = world.rt
    servers = {
        s.name: s for s in rt.db.transaction(lambda c: c.execute(select(SendingServer)).all())
    }
    events = rt.db.transaction(
        lambda c: c.execute(
            select(DeliveryEvent.kind, DeliveryEvent.server_id, DeliveryEvent.source)
        ).all()
    )
    by_server: dict[str, list[str]] = {}
    for kind, server_id, source in events:
        name = next(n for n, s in servers.items() if s.id == server_id)
        assert source == f"webhook:{name}"
        by_server.setdefault(name, []).append(kind)
    assert sorted(by_server["sendgrid"]) == ["complaint"] + ["hard_bounce"] * BOUNCES
    assert by_server["mailgun"] == ["hard_bounce"]
    assert by_server["postmark"] == ["soft_bounce"]
    assert by_server["ses"] == ["hard_bounce"], "moto's SNS delivered the SES bounce"

    suppressed = dict(
        rt.db.transaction(lambda c: c.execute(select(Suppression.email, Suppression.kind)).all())
    )
    bad = world.sent["sendgrid"][: BOUNCES + COMPLAINTS]
    for m in bad:
        assert suppressed.pop(m.recipient) in ("hard_bounce", "complaint")
    assert sorted(suppressed) == sorted(
        [world.sent["mailgun"][0].recipient, world.sent["ses"][0].recipient]
    )  # fmt: skip

    now = _now()
    sendgrid = servers["sendgrid"]
    activity = rt.db.transaction(activity_24h, [sendgrid.id], now)[sendgrid.id]
    assert (activity.sent, activity.bounces, activity.complaints) == (500, BOUNCES, COMPLAINTS)
    assert sendgrid.status == ServerStatus.PAUSED
    assert "complaint rate" in (sendgrid.status_reason or "")
    assert {s.status for n, s in servers.items() if n != "sendgrid"} == {ServerStatus.ACTIVE}

    # A day of history for each server: its oldest send moved to yesterday.
    def backdate(conn: Any) -> None:
        for s in servers.values():
            first = conn.execute(
                select(Message.id).where(Message.server_id == s.id).order_by(Message.id).limit(1)
            ).scalar_one()
            conn.execute(
                update(Message).where(Message.id == first).values(sent_at=now - timedelta(hours=25))
            )

    rt.db.transaction(backdate)
    run = rt.db.transaction(
        lambda c: rebalance(
            c, policy=policy_from(rt.settings), now=now, dry_run=False, actor="test"
        )
    )
    cut = [
        (d.name, d.decision.action.value) for d in run.changed if d.decision.action.value == "cut"
    ]
    assert cut == [("sendgrid", "cut")]
    after = rt.db.transaction(
        lambda c: c.execute(
            select(SendingServer.sending_limit).where(SendingServer.id == sendgrid.id)
        ).scalar_one()
    )
    assert after < sendgrid.sending_limit
