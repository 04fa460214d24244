"""The webhook route end to end in one process: signed vendor events change exactly what they say.

A campaign goes out through the real transports to the vendors' fakes (SES on
moto); the tests then post what each vendor would report, signed with keys made
here, and read the database: the event once, the suppression, the figures.
Every refusal leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from sendpool.core.webhooks.events import EventKind
from sendpool.http.app import create_app
from sendpool.runtime import Runtime
from sendpool.services.access import tokens
from sendpool.services.servers.stats import server_stats
from sendpool.services.webhooks.receive import WebhookReceiver
from sendpool.store.tables import DeliveryEvent, SendingServer, Subscriber, Suppression
from sendpool.store.tables_webhooks import WebhookUnmatched
from tests.support.fakes.mailgun import MailgunFake
from tests.support.fakes.moto_ses import MotoSes
from tests.support.fakes.postmark import PostmarkFake
from tests.support.fakes.sendgrid import SendgridFake
from tests.support.settings import make_settings
from tests.support.snapshots import db_snapshot
from tests.support.webhook_world import VendorWorld, send_campaign, vendor_pool
from tests.support.webhooks.mailgun import mailgun_event, mailgun_request
from tests.support.webhooks.postmark import basic_auth, postmark_event, postmark_request
from tests.support.webhooks.sendgrid import new_keys, sendgrid_event, sendgrid_request
from tests.support.webhooks.sns import (
    CERT_PATH,
    CERT_URL,
    SnsHttpsServer,
    SnsSigner,
    certificates_for,
    notification,
    ses_event,
    subscription_confirmation,
)

pytest_plugins = ["tests.support.fakes.fixtures"]

N = 40  # ten messages per vendor


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(make_settings(tmp_path, bounce_min_volume=10))
    yield runtime
    runtime.close()


@pytest.fixture
async def world(
    rt: Runtime,
    moto_ses: MotoSes,
    mailgun_fake: MailgunFake,
    postmark_fake: PostmarkFake,
    sendgrid_fake: SendgridFake,
) -> VendorWorld:
    mailgun_key, keys = vendor_pool(
        rt, moto=moto_ses, mailgun=mailgun_fake, postmark=postmark_fake, sendgrid=sendgrid_fake
    )
    return await send_campaign(rt, N, mailgun_key=mailgun_key, keys=keys)


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://sendpool.test") as c:
        yield c


def now() -> datetime:
    return datetime.now(UTC)


def events(rt: Runtime) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (r.kind, r.recipient, r.source, r.status_code)
        for r in rt.db.transaction(lambda c: c.execute(select(DeliveryEvent)).all())
    ]


def suppressed(rt: Runtime) -> dict[str, str]:
    rows = rt.db.transaction(lambda c: c.execute(select(Suppression.email, Suppression.kind)).all())
    return {email: str(kind) for email, kind in rows}


def mailgun_post(
    world: VendorWorld, kind: EventKind, i: int = 0, **kw: object
) -> tuple[bytes, dict[str, str]]:
    m = world.sent["mailgun"][i]
    data = mailgun_event(
        kind, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=now()
    )
    data.update(kw)
    return mailgun_request(data, signing_key=world.mailgun_key, now=now())


async def test_a_mailgun_hard_bounce_is_applied_once_and_its_replay_refused(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    body, headers = mailgun_post(world, EventKind.HARD)
    answer = await client.post(world.path("mailgun"), content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "applied": 1}
    target = world.sent["mailgun"][0].recipient
    assert events(world.rt) == [("hard_bounce", target, "webhook:mailgun", "5.1.1")]
    assert suppressed(world.rt) == {target: "hard_bounce"}

    before = db_snapshot(world.rt)
    replay = await client.post(world.path("mailgun"), content=body, headers=headers)
    assert replay.status_code == 403 and "replayed" in replay.json()["detail"]
    assert db_snapshot(world.rt) == before


async def test_the_same_event_redelivered_with_a_new_signature_counts_once(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    m = world.sent["mailgun"][1]
    data = mailgun_event(
        EventKind.COMPLAINT, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient,
        at=now(), event_id="evt-1",
    )  # fmt: skip
    for expected in ({"applied": 1}, {"duplicate": 1}):
        body, headers = mailgun_request(data, signing_key=world.mailgun_key, now=now())
        answer = await client.post(world.path("mailgun"), content=body, headers=headers)
        assert answer.json() == {"accepted": 1, **expected}
    assert [e[0] for e in events(world.rt)] == ["complaint"]


@pytest.mark.parametrize(
    "case", ["bad signature", "wrong key", "changed body", "stale", "future", "no key set"]
)
async def test_a_mailgun_request_that_does_not_verify_changes_nothing(
    world: VendorWorld, client: httpx.AsyncClient, case: str
) -> None:
    m = world.sent["mailgun"][2]
    data = mailgun_event(
        EventKind.HARD, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=now()
    )
    at = {"stale": now() - timedelta(minutes=6), "future": now() + timedelta(minutes=6)}
    key = "0" * 32 if case == "wrong key" else world.mailgun_key
    body, headers = mailgun_request(data, signing_key=key, now=at.get(case, now()))
    if case == "bad signature":
        body = body.replace(b'"signature": "', b'"signature": "00', 1)
    if case == "changed body":
        body = body.replace(b'"timestamp": "', b'"timestamp": "1', 1)
    if case == "no key set":
        world.rt.db.transaction(
            lambda c: c.execute(
                SendingServer.__table__.update()  # type: ignore[attr-defined]
                .where(SendingServer.name == "mailgun")
                .values(secrets_sealed=world.rt.box.seal({"api_key": "k"}))
            )
        )
    before = db_snapshot(world.rt)
    answer = await client.post(world.path("mailgun"), content=body, headers=headers)
    assert answer.status_code == 403, answer.text
    assert db_snapshot(world.rt) == before


async def test_an_event_about_another_servers_message_is_kept_unmatched(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    other = world.sent["postmark"][0]  # a Postmark message, reported to Mailgun's URL
    data = mailgun_event(
        EventKind.HARD, message_uid=other.uid, vendor_id="nope@mg", recipient=other.recipient,
        at=now(),
    )  # fmt: skip
    body, headers = mailgun_request(data, signing_key=world.mailgun_key, now=now())
    answer = await client.post(world.path("mailgun"), content=body, headers=headers)
    assert answer.json() == {"accepted": 1, "unmatched": 1}
    assert events(world.rt) == [] and suppressed(world.rt) == {}
    kept = world.rt.db.transaction(lambda c: c.execute(select(WebhookUnmatched)).all())
    assert [(k.vendor, k.kind, k.our_id) for k in kept] == [("mailgun", "hard", other.uid)]


async def test_an_event_without_our_id_is_found_by_the_vendors_id(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    m = world.sent["mailgun"][3]
    data = mailgun_event(
        EventKind.HARD, message_uid=None, vendor_id=m.remote_id, recipient=m.recipient, at=now()
    )
    body, headers = mailgun_request(data, signing_key=world.mailgun_key, now=now())
    answer = await client.post(world.path("mailgun"), content=body, headers=headers)
    assert answer.json() == {"accepted": 1, "applied": 1}
    assert suppressed(world.rt) == {m.recipient: "hard_bounce"}


async def test_an_event_naming_another_recipient_than_its_message_changes_nothing(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    m = world.sent["mailgun"][4]
    data = mailgun_event(
        EventKind.HARD, message_uid=m.uid, vendor_id=m.remote_id, recipient="else@example.org",
        at=now(),
    )  # fmt: skip
    body, headers = mailgun_request(data, signing_key=world.mailgun_key, now=now())
    answer = await client.post(world.path("mailgun"), content=body, headers=headers)
    assert answer.json() == {"accepted": 1, "unmatched": 1}
    assert suppressed(world.rt) == {}


async def test_postmark_needs_the_servers_password_in_the_url(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    m = world.sent["postmark"][0]
    record = postmark_event(
        EventKind.COMPLAINT, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient,
        at=now(),
    )  # fmt: skip
    before = db_snapshot(world.rt)
    for user, password in (
        (None, None),
        ("sendpool", "wrong"),
        ("other", world.password("postmark")),
    ):
        body, headers = postmark_request(record, username=user, password=password)
        answer = await client.post(world.path("postmark"), content=body, headers=headers)
        assert answer.status_code == 401, (user, password, answer.text)
    assert db_snapshot(world.rt) == before
    body, headers = postmark_request(
        record, username="sendpool", password=world.password("postmark")
    )
    answer = await client.post(world.path("postmark"), content=body, headers=headers)
    assert answer.json() == {"accepted": 1, "applied": 1}
    assert suppressed(world.rt) == {m.recipient: "complaint"}


async def test_an_unsubscribe_at_the_vendor_unsubscribes_the_subscriber(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    m = world.sent["postmark"][1]
    record = postmark_event(
        EventKind.UNSUBSCRIBE, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient,
        at=now(),
    )  # fmt: skip
    body, headers = postmark_request(
        record, username="sendpool", password=world.password("postmark")
    )
    answer = await client.post(world.path("postmark"), content=body, headers=headers)
    assert answer.json() == {"accepted": 1, "applied": 1}
    status = world.rt.db.transaction(
        lambda c: c.execute(
            select(Subscriber.status).where(Subscriber.email == m.recipient)
        ).scalar_one()
    )
    assert status == "unsubscribed" and suppressed(world.rt) == {m.recipient: "unsubscribe"}


async def test_a_sendgrid_batch_is_applied_event_by_event(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    sent = world.sent["sendgrid"]
    kinds = [EventKind.HARD, EventKind.DELAY, EventKind.DELIVERED, EventKind.SUPPRESSED,
             EventKind.IGNORED]  # fmt: skip
    batch = [
        sendgrid_event(k, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=now())
        for k, m in zip(kinds, sent, strict=False)
    ]
    body, headers = sendgrid_request(batch, keys=world.sendgrid_keys, now=now())
    answer = await client.post(world.path("sendgrid"), content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 5, "applied": 3, "delivered": 1, "ignored": 1}
    assert sorted(e[0] for e in events(world.rt)) == ["delay", "hard_bounce"]
    assert suppressed(world.rt) == {sent[0].recipient: "hard_bounce", sent[3].recipient: "vendor"}
    stats = world.rt.db.transaction(server_stats, world.rt.box, "sendgrid", now())
    assert (stats.deferrals_last_24h, stats.bounces_last_24h) == (1, 1)


@pytest.mark.parametrize(
    "case", ["other key", "changed body", "no signature", "stale", "10,000 events"]
)
async def test_a_sendgrid_request_that_does_not_verify_changes_nothing(
    world: VendorWorld, client: httpx.AsyncClient, case: str
) -> None:
    m = world.sent["sendgrid"][0]
    one = sendgrid_event(
        EventKind.HARD, message_uid=m.uid, vendor_id=m.remote_id, recipient=m.recipient, at=now()
    )
    keys = new_keys() if case == "other key" else world.sendgrid_keys
    at = now() - timedelta(minutes=6) if case == "stale" else now()
    body, headers = sendgrid_request(
        [one] * (10_000 if case == "10,000 events" else 1), keys=keys, now=at
    )
    if case == "changed body":
        body = body.replace(b"5.1.1", b"5.1.2")
    if case == "no signature":
        headers = {"content-type": "application/json"}
    before = db_snapshot(world.rt)
    answer = await client.post(world.path("sendgrid"), content=body, headers=headers)
    expected = {"no signature": 401, "10,000 events": 413}.get(case, 403)
    assert answer.status_code == expected, answer.text
    assert db_snapshot(world.rt) == before


@pytest.mark.parametrize("case", ["invalid JSON", "form data", "wrong vendor", "unknown server"])
async def test_malformed_or_misdirected_requests_change_nothing(
    world: VendorWorld, client: httpx.AsyncClient, case: str
) -> None:
    body, headers = mailgun_post(world, EventKind.HARD)
    path = world.path("mailgun")
    if case == "invalid JSON":
        body = b"{not json"
    if case == "form data":
        headers = {"content-type": "application/x-www-form-urlencoded"}
    if case == "wrong vendor":
        path = path.replace("/mailgun", "/postmark")
    if case == "unknown server":
        path = path.replace(world.server_uids["mailgun"], "0" * 32)
    before = db_snapshot(world.rt)
    answer = await client.post(path, content=body, headers=headers)
    expected = {"invalid JSON": 400, "form data": 415}.get(case, 404)
    assert answer.status_code == expected, answer.text
    assert db_snapshot(world.rt) == before


async def test_the_admin_api_gives_the_url_to_paste_and_the_last_refusal(
    world: VendorWorld, client: httpx.AsyncClient
) -> None:
    body, headers = mailgun_post(world, EventKind.HARD)
    await client.post(
        world.path("mailgun"),
        content=body.replace(b'"signature": "', b'"signature": "0', 1),
        headers=headers,
    )
    token = world.rt.db.transaction(
        tokens.create_token, name="t", customer=None, actor="test", now=now()
    )
    auth = {"authorization": f"Bearer {token.token}"}
    shown = await client.get("/api/v1/admin/sending-servers/postmark/webhook", headers=auth)
    assert shown.status_code == 200, shown.text
    assert world.password("postmark") not in shown.text
    revealed = await client.get(
        "/api/v1/admin/sending-servers/postmark/webhook", params={"reveal": "true"}, headers=auth
    )
    assert f"sendpool:{world.password('postmark')}@" in revealed.json()["url"]
    mailgun = (
        await client.get("/api/v1/admin/sending-servers/mailgun/webhook", headers=auth)
    ).json()
    assert mailgun["refused"] == 1 and mailgun["last_refusal"].startswith("403")
    assert mailgun["missing"] == []


@pytest.fixture
def sns(rt: Runtime) -> Iterator[tuple[SnsHttpsServer, SnsSigner]]:
    signer = SnsSigner.create()
    with SnsHttpsServer() as server:
        server.serve(CERT_PATH, signer.cert_pem)
        yield server, signer


@pytest.fixture
async def ses_client(
    rt: Runtime, sns: tuple[SnsHttpsServer, SnsSigner]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(rt)
    app.state.webhooks = WebhookReceiver(rt, certs=certificates_for(sns[0]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sendpool.test"
    ) as c:
        yield c
    await app.state.webhooks.close()


SNS_HEADERS = {"content-type": "text/plain; charset=UTF-8"}


@pytest.mark.parametrize("shape", ["event", "notification"])
async def test_an_ses_bounce_through_sns_is_applied(
    world: VendorWorld,
    ses_client: httpx.AsyncClient,
    sns: tuple[SnsHttpsServer, SnsSigner],
    shape: str,
) -> None:
    m = world.sent["ses"][0]
    event = ses_event(
        "Bounce", shape=shape, message_uid=m.uid, message_id=m.remote_id, recipient=m.recipient,
        timestamp=now(),
    )  # fmt: skip
    body = notification(sns[1], event, timestamp=now())
    answer = await ses_client.post(world.path("ses"), content=body, headers=SNS_HEADERS)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "applied": 1}
    assert events(world.rt) == [("hard_bounce", m.recipient, "webhook:ses", "5.1.1")]
    assert suppressed(world.rt) == {m.recipient: "hard_bounce"}


@pytest.mark.parametrize("case", ["topic not allowed", "changed body", "stale", "other host"])
async def test_an_sns_notification_that_does_not_verify_changes_nothing(
    world: VendorWorld,
    ses_client: httpx.AsyncClient,
    sns: tuple[SnsHttpsServer, SnsSigner],
    case: str,
) -> None:
    m = world.sent["ses"][1]
    event = ses_event("Bounce", message_uid=m.uid, message_id=m.remote_id, recipient=m.recipient)
    topic = (
        "arn:aws:sns:us-east-1:123456789012:someone-else" if case == "topic not allowed" else None
    )
    cert_url = (
        CERT_URL.replace("amazonaws.com", "amazonaws.com.evil.example")
        if case == "other host"
        else CERT_URL
    )
    at = now() - timedelta(hours=2) if case == "stale" else now()
    body = notification(
        sns[1], event, timestamp=at, cert_url=cert_url, **({"topic_arn": topic} if topic else {})
    )
    if case == "changed body":
        body = body.replace(b"5.1.1", b"5.1.2")
    before = db_snapshot(world.rt)
    answer = await ses_client.post(world.path("ses"), content=body, headers=SNS_HEADERS)
    assert answer.status_code == 403, answer.text
    assert db_snapshot(world.rt) == before


async def test_a_subscription_is_confirmed_only_with_the_servers_password(
    world: VendorWorld, ses_client: httpx.AsyncClient, sns: tuple[SnsHttpsServer, SnsSigner]
) -> None:
    body = subscription_confirmation(sns[1], timestamp=now())
    refused = await ses_client.post(world.path("ses"), content=body, headers=SNS_HEADERS)
    assert refused.status_code == 401 and sns[0].confirmations == []
    auth = {"authorization": basic_auth("sendpool", world.password("ses"))}
    answer = await ses_client.post(world.path("ses"), content=body, headers=SNS_HEADERS | auth)
    assert answer.status_code == 200, answer.text
    assert len(sns[0].confirmations) == 1
