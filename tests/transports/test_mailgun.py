"""The Mailgun transport against a local fake of Mailgun's API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sendpool.core.outcomes import OutcomeKind, Stage
from sendpool.transports.mailgun import MailgunTransport
from sendpool.transports.registry import ServerSettingsError, build_transport, validate_settings
from tests.support.fakes.http_fake import Reply
from tests.support.fakes.mailgun import MailgunFake
from tests.support.fakes.messages import outgoing
from tests.support.vendor_specs import vendor_spec

pytest_plugins = ["tests.support.fakes.fixtures"]


def mailgun_transport(base_url: str, *, key: str = "key-mailgun-test", **settings: Any) -> Any:
    settings = {"domain": "mg.example.com", "base_url": base_url, **settings}
    return build_transport(vendor_spec("mailgun", settings, {"api_key": key}))


@pytest.fixture
async def mailgun(mailgun_fake: MailgunFake) -> AsyncIterator[Any]:
    transport = mailgun_transport(mailgun_fake.url)
    yield transport
    await transport.close()


async def test_send_posts_the_mime_bytes_and_returns_mailguns_id(
    mailgun: Any, mailgun_fake: MailgunFake
) -> None:
    message = outgoing()
    outcome = await mailgun.send(message)
    assert outcome.kind is OutcomeKind.ACCEPTED
    assert outcome.remote_id == "20261127.1@mg.example.com"
    assert outcome.text == "Queued. Thank you."
    assert mailgun_fake.accepted == [("bob@example.org", message.mime)]


async def test_sends_reuse_one_connection(mailgun: Any, mailgun_fake: MailgunFake) -> None:
    for _ in range(3):
        assert (await mailgun.send(outgoing())).kind is OutcomeKind.ACCEPTED
    assert len(mailgun_fake.accepted) == 3
    assert mailgun_fake.connections == 1


async def test_wrong_key_is_a_server_failure_that_never_shows_the_key(
    mailgun_fake: MailgunFake,
) -> None:
    transport = mailgun_transport(mailgun_fake.url, key="key-wrong-and-secret")
    try:
        outcome = await transport.send(outgoing())
        health = await transport.check()
    finally:
        await transport.close()
    assert outcome.kind is OutcomeKind.SERVER_FAILURE
    assert (outcome.code, outcome.text) == (401, "Forbidden")
    assert not outcome.reached
    assert not health.ok
    for shown in (outcome.describe(), health.detail, repr(transport), repr(vars(transport))):
        assert "key-wrong-and-secret" not in shown


async def test_rate_limit_throttles_with_retry_after(
    mailgun: Any, mailgun_fake: MailgunFake
) -> None:
    mailgun_fake.queue(Reply(429, {"message": "Too many requests"}, {"Retry-After": "12"}))
    outcome = await mailgun.send(outgoing())
    assert outcome.kind is OutcomeKind.THROTTLED
    assert outcome.retry_after == 12.0
    assert outcome.text == "Too many requests"
    assert not outcome.reached


async def test_bad_recipient_is_permanent_and_suppressed(mailgun: Any) -> None:
    outcome = await mailgun.send(outgoing("bob-at-example.org"))
    assert (outcome.kind, outcome.stage, outcome.code) == (OutcomeKind.PERMANENT, Stage.RCPT, 400)
    assert "'to' parameter is not a valid address" in outcome.text
    assert outcome.suppresses_recipient


async def test_other_bad_request_fails_the_message_only(
    mailgun: Any, mailgun_fake: MailgunFake
) -> None:
    mailgun_fake.queue(Reply(400, {"message": "Message size exceeds the limit"}))
    outcome = await mailgun.send(outgoing())
    assert (outcome.kind, outcome.stage) == (OutcomeKind.PERMANENT, Stage.API)
    assert not outcome.suppresses_recipient


@pytest.mark.parametrize(
    "text",
    [
        "Domain example.com is not allowed to send: Free accounts are for test purposes only",
        "Relay access denied",
        "Rejected: IP 192.0.2.7 listed in bl.example.net",
    ],
)
async def test_a_refusal_about_the_sender_is_a_server_failure(
    mailgun: Any, mailgun_fake: MailgunFake, text: str
) -> None:
    mailgun_fake.queue(Reply(400, {"message": text}))
    outcome = await mailgun.send(outgoing())
    assert (outcome.kind, outcome.stage) == (OutcomeKind.SERVER_FAILURE, Stage.API)
    assert not outcome.suppresses_recipient and not outcome.reached


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_server_failures(
    mailgun: Any, mailgun_fake: MailgunFake, status: int
) -> None:
    mailgun_fake.queue(Reply(status, {"message": "Internal Server Error"}))
    outcome = await mailgun.send(outgoing())
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, status)


async def test_unknown_domain_is_a_server_failure(mailgun_fake: MailgunFake) -> None:
    transport = mailgun_transport(mailgun_fake.url, domain="other.example.com")
    try:
        outcome = await transport.send(outgoing())
        health = await transport.check()
    finally:
        await transport.close()
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, 404)
    assert "Domain not found" in outcome.text
    assert not health.ok and "404" in health.detail


async def test_connection_refused_is_a_server_failure(closed_port: int) -> None:
    transport = mailgun_transport(f"http://127.0.0.1:{closed_port}")
    try:
        outcome = await transport.send(outgoing())
        health = await transport.check()
    finally:
        await transport.close()
    assert (outcome.kind, outcome.stage, outcome.code) == (
        OutcomeKind.SERVER_FAILURE,
        Stage.API,
        None,
    )
    assert "ConnectError" in outcome.text
    assert not health.ok


async def test_check_reads_the_domain(mailgun: Any, mailgun_fake: MailgunFake) -> None:
    health = await mailgun.check()
    assert health.ok
    assert health.facts == {"domain": "mg.example.com", "state": "active", "type": "custom"}
    mailgun_fake.state = "disabled"
    health = await mailgun.check()
    assert not health.ok and "disabled" in health.detail


async def test_check_fails_on_a_server_error(mailgun: Any, mailgun_fake: MailgunFake) -> None:
    mailgun_fake.queue(Reply(503, "Service Unavailable"))
    health = await mailgun.check()
    assert not health.ok and "503" in health.detail


def test_region_picks_the_endpoint() -> None:
    spec = vendor_spec("mailgun", {"domain": "mg.example.com", "region": "eu"}, {"api_key": "k"})
    assert MailgunTransport(spec).base_url == "https://api.eu.mailgun.net"
    spec = vendor_spec("mailgun", {"domain": "mg.example.com"}, {"api_key": "k"})
    assert MailgunTransport(spec).base_url == "https://api.mailgun.net"


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"domain": "mg.example.com", "region": "asia"},
        {"domain": "mg.example.com", "base_url": "http://mailgun.example.net"},
        {"domain": "mg.example.com", "api_key": "in the wrong place"},
    ],
)
def test_settings_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ServerSettingsError):
        validate_settings("mailgun", settings)
