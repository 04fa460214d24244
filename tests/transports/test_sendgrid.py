"""The SendGrid transport against a local fake of SendGrid's v3 Mail Send API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sendpool.core.outcomes import OutcomeKind, Stage
from sendpool.transports.registry import ServerSettingsError, build_transport, validate_settings
from sendpool.transports.sendgrid import SendgridTransport
from tests.support.fakes.http_fake import Reply
from tests.support.fakes.messages import outgoing
from tests.support.fakes.sendgrid import SendgridFake, errors
from tests.support.vendor_specs import vendor_spec

pytest_plugins = ["tests.support.fakes.fixtures"]


def sendgrid_transport(base_url: str, *, key: str = "SG.test-key.sendpool") -> Any:
    return build_transport(vendor_spec("sendgrid", {"base_url": base_url}, {"api_key": key}))


@pytest.fixture
async def sendgrid(sendgrid_fake: SendgridFake) -> AsyncIterator[Any]:
    transport = sendgrid_transport(sendgrid_fake.url)
    yield transport
    await transport.close()


async def test_send_posts_the_documented_json(sendgrid: Any, sendgrid_fake: SendgridFake) -> None:
    message = outgoing()
    message.headers["Reply-To"] = "Desk <desk@example.com>"
    outcome = await sendgrid.send(message)
    assert (outcome.kind, outcome.code) == (OutcomeKind.ACCEPTED, 202)
    assert outcome.remote_id == "sg0001.filter-test"
    [body] = sendgrid_fake.accepted
    assert body["personalizations"] == [{"to": [{"email": "bob@example.org"}]}]
    assert body["from"] == {"email": "news@example.com", "name": "Example News"}
    assert body["reply_to"] == {"email": "desk@example.com", "name": "Desk"}
    assert body["subject"] == "The news, in brief"
    assert body["content"] == [
        {"type": "text/plain", "value": message.text},
        {"type": "text/html", "value": message.html},
    ]
    assert body["headers"] == {
        "Message-ID": message.message_id,
        "List-Unsubscribe": message.headers["List-Unsubscribe"],
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


async def test_sends_reuse_one_connection(sendgrid: Any, sendgrid_fake: SendgridFake) -> None:
    for _ in range(3):
        assert (await sendgrid.send(outgoing(html=None))).kind is OutcomeKind.ACCEPTED
    assert sendgrid_fake.connections == 1


async def test_bad_key_is_a_server_failure_that_never_shows_the_key(
    sendgrid_fake: SendgridFake,
) -> None:
    transport = sendgrid_transport(sendgrid_fake.url, key="SG.wrong-and-secret")
    try:
        outcome = await transport.send(outgoing())
        health = await transport.check()
    finally:
        await transport.close()
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, 401)
    assert outcome.text == "The provided authorization grant is invalid, expired, or revoked"
    assert not health.ok
    for shown in (outcome.describe(), health.detail, repr(transport), repr(vars(transport))):
        assert "SG.wrong-and-secret" not in shown


async def test_rate_limit_throttles_until_the_reset(
    sendgrid: Any, sendgrid_fake: SendgridFake
) -> None:
    reset = int(time.time()) + 3600
    sendgrid_fake.queue(
        errors(
            429,
            (None, "too many requests"),
            headers={"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                     "X-RateLimit-Reset": str(reset)},
        )
    )  # fmt: skip
    outcome = await sendgrid.send(outgoing())
    assert (outcome.kind, outcome.text) == (OutcomeKind.THROTTLED, "too many requests")
    assert outcome.retry_after is not None and 0 < outcome.retry_after <= 3600


async def test_invalid_recipient_is_permanent_and_suppressed(sendgrid: Any) -> None:
    outcome = await sendgrid.send(outgoing("bob.example.org"))
    assert (outcome.kind, outcome.stage, outcome.code) == (OutcomeKind.PERMANENT, Stage.RCPT, 400)
    assert outcome.text == (
        "Does not contain a valid address. (field personalizations.0.to.0.email)"
    )
    assert outcome.suppresses_recipient


async def test_unverified_sender_is_a_server_failure_not_the_address(sendgrid: Any) -> None:
    # A 403 that is a sender-policy answer: another server of the plan may send it.
    outcome = await sendgrid.send(outgoing(sender="ceo@elsewhere.example"))
    assert (outcome.kind, outcome.stage, outcome.code) == (
        OutcomeKind.SERVER_FAILURE,
        Stage.API,
        403,
    )
    assert "verified Sender Identity" in outcome.text
    assert not outcome.suppresses_recipient and not outcome.reached


async def test_a_refusal_about_our_reputation_is_a_server_failure(
    sendgrid: Any, sendgrid_fake: SendgridFake
) -> None:
    text = "Sending suspended: this account has a poor reputation"
    sendgrid_fake.queue(Reply(400, {"errors": [{"message": text, "field": None}]}))
    outcome = await sendgrid.send(outgoing())
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, 400)
    assert not outcome.suppresses_recipient


async def test_forbidden_key_is_a_server_failure(
    sendgrid: Any, sendgrid_fake: SendgridFake
) -> None:
    sendgrid_fake.scopes = ["user.account.read"]
    outcome = await sendgrid.send(outgoing())
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, 403)
    health = await sendgrid.check()
    assert not health.ok and health.facts["mail.send"] == "no"


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_server_failures(
    sendgrid: Any, sendgrid_fake: SendgridFake, status: int
) -> None:
    sendgrid_fake.queue(Reply(status, ""))
    outcome = await sendgrid.send(outgoing())
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, status)
    assert outcome.text  # the reason phrase when the body is empty


async def test_connection_refused_is_a_server_failure(closed_port: int) -> None:
    transport = sendgrid_transport(f"http://127.0.0.1:{closed_port}")
    try:
        outcome = await transport.send(outgoing())
        health = await transport.check()
    finally:
        await transport.close()
    assert (outcome.kind, outcome.stage) == (OutcomeKind.SERVER_FAILURE, Stage.API)
    assert not health.ok


async def test_check_lists_the_scopes(sendgrid: Any) -> None:
    health = await sendgrid.check()
    assert health.ok
    assert health.facts == {"scopes": "2", "mail.send": "yes"}


async def test_check_fails_on_a_server_error(sendgrid: Any, sendgrid_fake: SendgridFake) -> None:
    sendgrid_fake.queue(errors(500, (None, "internal error")))
    health = await sendgrid.check()
    assert not health.ok and "500 internal error" in health.detail


def test_region_and_settings() -> None:
    spec = vendor_spec("sendgrid", {"region": "eu"}, {"api_key": "k"})
    assert SendgridTransport(spec).base_url == "https://api.eu.sendgrid.com"
    with pytest.raises(ServerSettingsError):
        validate_settings("sendgrid", {"region": "us"})
    with pytest.raises(ServerSettingsError):
        validate_settings("sendgrid", {"base_url": "http://sendgrid.example.net"})
