"""read_sns end to end on loopback: each refusal, and a confirmation only with the secret."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sendpool.core.webhooks.events import EventKind, Verified, WebhookRefused
from sendpool.services.webhooks.sns import read_sns
from sendpool.services.webhooks.sns_certs import SnsCertificates
from tests.support.webhooks.sns import (
    CERT_PATH,
    CERT_URL,
    NOW,
    SNS_HOST,
    SUBSCRIBE_URL,
    TOPIC_ARN,
    SnsHttpsServer,
    SnsSigner,
    notification,
    ses_event,
    subscription_confirmation,
)

pytest_plugins = ["tests.support.webhooks.sns_fixtures"]


async def _read(certs: SnsCertificates, body: bytes, *, secret_ok: bool = False) -> Verified:
    return await read_sns(
        body, allowed_topics=[TOPIC_ARN], secret_ok=secret_ok, certs=certs, now=NOW
    )


async def _refused(
    certs: SnsCertificates, body: bytes, *, secret_ok: bool = False
) -> WebhookRefused:
    with pytest.raises(WebhookRefused) as caught:
        await _read(certs, body, secret_ok=secret_ok)
    return caught.value


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_notification_gives_its_ses_events(
    signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates, version: str
) -> None:
    body = notification(signer, ses_event("Complaint", message_uid="u9"), version=version)
    verified = await _read(certs, body)
    assert [(e.kind, e.our_id) for e in verified.events] == [(EventKind.COMPLAINT, "u9")]
    assert sns.requests == [CERT_PATH] and sns.confirmations == []


def _changed(body: bytes, **fields: str) -> bytes:
    return json.dumps({**json.loads(body), **fields}).encode()


async def test_refusals(signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates) -> None:
    other = SnsSigner.create()
    good = notification(signer, ses_event("Bounce"))
    sns.serve("/moved.pem", b"", status=302, headers={"Location": CERT_URL})
    cases = [
        ("bad signature", _changed(good, Signature="AAAA"), 403, "signature does not verify"),
        ("wrong key", notification(other, ses_event("Bounce")), 403, "signature does not verify"),
        ("changed after signing", good.replace(b"Permanent", b"Transient"), 403,
         "signature does not verify"),
        ("stale", notification(signer, "{}", timestamp=NOW - timedelta(hours=2)), 403, "stale"),
        ("a topic not allowed", notification(signer, "{}", topic_arn=TOPIC_ARN + "-x"), 403,
         "topic not allowed — add it to the server's sns_topic_arns"),
        ("a redirect", notification(signer, "{}", cert_url=f"https://{SNS_HOST}/moved.pem"), 403,
         "redirect"),
        ("invalid JSON", b'{"Type": "Notification",', 400, "not valid JSON"),
        ("not an SES event", notification(signer, "plain text"), 400, "not JSON"),
    ]  # fmt: skip
    for name, body, status, reason in cases:
        refused = await _refused(certs, body)
        assert (name, refused.status) == (name, status)
        assert reason in refused.reason, name


@pytest.mark.parametrize(
    ("cert_url", "reason"),
    [
        (f"https://evil.example{CERT_PATH}", "host 'evil.example'"),
        (f"http://{SNS_HOST}{CERT_PATH}", "only https"),
    ],
)
async def test_certificate_urls_off_sns_fetch_nothing(
    signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates, cert_url: str, reason: str
) -> None:
    refused = await _refused(certs, notification(signer, "{}", cert_url=cert_url))
    assert refused.status == 403 and reason in refused.reason
    assert sns.requests == []


async def test_a_confirmation_with_the_secret_visits_the_subscribe_url(
    signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates
) -> None:
    verified = await _read(certs, subscription_confirmation(signer), secret_ok=True)
    assert verified.events == ()
    assert sns.confirmations == [SUBSCRIBE_URL.removeprefix(f"https://{SNS_HOST}")]


async def test_a_confirmation_without_the_secret_is_refused_401_and_fetches_nothing(
    signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates
) -> None:
    refused = await _refused(certs, subscription_confirmation(signer), secret_ok=False)
    assert refused.status == 401
    assert refused.reason == (
        "a subscription is confirmed only with the server's webhook secret in the URL"
    )
    assert sns.requests == []


@pytest.mark.parametrize(
    "subscribe_url",
    [
        "https://evil.example/?Action=ConfirmSubscription",
        "https://169.254.169.254/latest/meta-data/?Action=ConfirmSubscription",
        f"https://{SNS_HOST}/?Action=Publish",
    ],
)
async def test_a_subscribe_url_off_sns_is_refused_and_not_visited(
    signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates, subscribe_url: str
) -> None:
    body = subscription_confirmation(signer, subscribe_url=subscribe_url)
    refused = await _refused(certs, body, secret_ok=True)
    assert refused.status == 403 and refused.reason.startswith("SubscribeURL refused")
    assert sns.requests == []


async def test_an_unverified_confirmation_is_not_visited(
    signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates
) -> None:
    forged = notification(SnsSigner.create(), "{}")  # any other key
    body = _changed(subscription_confirmation(signer), Signature=json.loads(forged)["Signature"])
    refused = await _refused(certs, body, secret_ok=True)
    assert refused.reason == "signature does not verify"
    other_topic = subscription_confirmation(signer, topic_arn=TOPIC_ARN + "-x")
    assert "topic not allowed" in (await _refused(certs, other_topic, secret_ok=True)).reason
    assert sns.confirmations == []


async def test_confirm_may_be_given(
    signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates
) -> None:
    visited: list[str] = []

    async def confirm(url: str) -> None:
        visited.append(url)

    body = subscription_confirmation(signer)
    verified = await read_sns(
        body, allowed_topics=[TOPIC_ARN], secret_ok=True, certs=certs, now=NOW, confirm=confirm
    )
    assert verified.events == () and visited == [SUBSCRIBE_URL]
    assert sns.confirmations == []


async def test_an_unsubscribe_confirmation_is_verified_and_changes_nothing(
    signer: SnsSigner, sns: SnsHttpsServer, certs: SnsCertificates
) -> None:
    body = subscription_confirmation(signer, kind="UnsubscribeConfirmation")
    assert (await _read(certs, body)).events == ()
    assert sns.confirmations == []
    forged = _changed(body, Token="another")
    assert (await _refused(certs, forged)).reason == "signature does not verify"
