"""The Postmark transport against a local fake of Postmark's Email API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sendpool.core.outcomes import OutcomeKind, Stage
from sendpool.transports.postmark import build_payload, classify_postmark
from sendpool.transports.registry import ServerSettingsError, build_transport, validate_settings
from tests.support.fakes.http_fake import Reply
from tests.support.fakes.messages import outgoing
from tests.support.fakes.postmark import PostmarkFake, error
from tests.support.vendor_specs import vendor_spec

pytest_plugins = ["tests.support.fakes.fixtures"]


def postmark_transport(
    base_url: str, *, token: str = "pm-server-token-test", **settings: Any
) -> Any:
    settings = {"base_url": base_url, **settings}
    return build_transport(vendor_spec("postmark", settings, {"server_token": token}))


@pytest.fixture
async def postmark(postmark_fake: PostmarkFake) -> AsyncIterator[Any]:
    transport = postmark_transport(postmark_fake.url)
    yield transport
    await transport.close()


async def test_send_posts_the_documented_json(postmark: Any, postmark_fake: PostmarkFake) -> None:
    message = outgoing()
    message.headers["Reply-To"] = "desk@example.com"
    outcome = await postmark.send(message)
    assert outcome.kind is OutcomeKind.ACCEPTED
    assert outcome.remote_id and len(outcome.remote_id) == 36
    [body] = postmark_fake.accepted
    assert body["From"] == '"Example News" <news@example.com>'
    assert (body["To"], body["Subject"]) == ("bob@example.org", "The news, in brief")
    assert body["TextBody"] == message.text and body["HtmlBody"] == message.html
    assert body["MessageStream"] == "outbound"
    assert body["ReplyTo"] == "desk@example.com"
    headers = {h["Name"]: h["Value"] for h in body["Headers"]}
    assert headers == {
        "Message-ID": message.message_id,
        "List-Unsubscribe": message.headers["List-Unsubscribe"],
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


async def test_sends_reuse_one_connection(postmark: Any, postmark_fake: PostmarkFake) -> None:
    for _ in range(3):
        assert (await postmark.send(outgoing())).kind is OutcomeKind.ACCEPTED
    assert postmark_fake.connections == 1


def test_payload_keeps_one_body_and_the_stream() -> None:
    payload = build_payload(outgoing(html=None), "broadcast")
    assert "HtmlBody" not in payload and payload["TextBody"]
    assert payload["MessageStream"] == "broadcast"


async def test_bad_token_is_a_server_failure_that_never_shows_the_token(
    postmark_fake: PostmarkFake,
) -> None:
    transport = postmark_transport(postmark_fake.url, token="pm-wrong-token-secret")
    try:
        outcome = await transport.send(outgoing())
        health = await transport.check()
    finally:
        await transport.close()
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, 401)
    assert outcome.text.startswith("ErrorCode 10: The Server Token you provided")
    assert not health.ok and "ErrorCode 10" in health.detail
    for shown in (outcome.describe(), health.detail, repr(transport), repr(vars(transport))):
        assert "pm-wrong-token-secret" not in shown


async def test_rate_limit_throttles(postmark: Any, postmark_fake: PostmarkFake) -> None:
    postmark_fake.queue(
        Reply(429, {"ErrorCode": 429, "Message": "Rate limit exceeded."}, {"Retry-After": "3"}),
        error(429, 429, "Rate limit exceeded."),
    )
    first = await postmark.send(outgoing())
    second = await postmark.send(outgoing())
    assert first.kind is second.kind is OutcomeKind.THROTTLED
    assert (first.retry_after, second.retry_after) == (3.0, None)
    assert first.text == "ErrorCode 429: Rate limit exceeded."


async def test_invalid_recipient_is_permanent_and_suppressed(postmark: Any) -> None:
    outcome = await postmark.send(outgoing("bob@@example"))
    assert (outcome.kind, outcome.stage, outcome.code) == (OutcomeKind.PERMANENT, Stage.RCPT, 422)
    assert outcome.text == "ErrorCode 300: Invalid 'To' address: 'bob@@example'."
    assert outcome.suppresses_recipient


async def test_inactive_recipient_is_permanent_and_suppressed(
    postmark: Any, postmark_fake: PostmarkFake
) -> None:
    postmark_fake.inactive.add("gone@example.org")
    outcome = await postmark.send(outgoing("gone@example.org"))
    assert (outcome.kind, outcome.stage) == (OutcomeKind.PERMANENT, Stage.RCPT)
    assert outcome.text.startswith("ErrorCode 406: You tried to send to recipient(s)")


async def test_unknown_sender_signature_is_a_server_failure_not_the_address(
    postmark: Any,
) -> None:
    # Like an SMTP 5.7.1 to MAIL FROM: this server may not send for that From;
    # another server of the plan may, and the recipient is never suppressed for it.
    outcome = await postmark.send(outgoing(sender="ceo@elsewhere.example"))
    assert (outcome.kind, outcome.stage) == (OutcomeKind.SERVER_FAILURE, Stage.API)
    assert not outcome.suppresses_recipient and not outcome.reached
    assert "not a Sender Signature" in outcome.text


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_server_failures(
    postmark: Any, postmark_fake: PostmarkFake, status: int
) -> None:
    postmark_fake.queue(Reply(status, "<html>Service Unavailable</html>"))
    outcome = await postmark.send(outgoing())
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, status)
    assert outcome.text == "<html>Service Unavailable</html>"


async def test_connection_refused_is_a_server_failure(closed_port: int) -> None:
    transport = postmark_transport(f"http://127.0.0.1:{closed_port}")
    try:
        outcome = await transport.send(outgoing())
        health = await transport.check()
    finally:
        await transport.close()
    assert (outcome.kind, outcome.stage) == (OutcomeKind.SERVER_FAILURE, Stage.API)
    assert not outcome.reached
    assert not health.ok and "ConnectError" in health.detail


async def test_check_reads_the_server_and_hides_its_tokens(
    postmark: Any, postmark_fake: PostmarkFake
) -> None:
    health = await postmark.check()
    assert health.ok
    assert health.facts == {
        "server": "sendpool-test",
        "delivery_type": "Live",
        "stream": "outbound",
    }
    assert postmark_fake.token not in repr(health)
    postmark_fake.delivery_type = "Sandbox"
    assert "never delivered" in (await postmark.check()).detail


async def test_check_fails_on_maintenance(postmark: Any, postmark_fake: PostmarkFake) -> None:
    postmark_fake.queue(error(503, 100, "Maintenance"))
    health = await postmark.check()
    assert not health.ok and "ErrorCode 100: Maintenance" in health.detail


@pytest.mark.parametrize(
    ("code", "status", "about", "kind", "stage"),
    [
        (10, 401, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (100, 503, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (405, 422, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (412, 422, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (413, 422, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (429, 429, False, OutcomeKind.THROTTLED, Stage.API),
        (406, 422, False, OutcomeKind.PERMANENT, Stage.RCPT),
        (300, 422, True, OutcomeKind.PERMANENT, Stage.RCPT),
        (300, 422, False, OutcomeKind.PERMANENT, Stage.API),
        (400, 422, False, OutcomeKind.SERVER_FAILURE, Stage.API),  # sender signature
        (401, 422, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (402, 422, False, OutcomeKind.PERMANENT, Stage.API),
        (411, 422, False, OutcomeKind.PERMANENT, Stage.API),
        (406, 200, False, OutcomeKind.PERMANENT, Stage.RCPT),
        (None, 500, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (None, 413, False, OutcomeKind.PERMANENT, Stage.API),
    ],
)
def test_error_codes(
    code: int | None, status: int, about: bool, kind: OutcomeKind, stage: Stage
) -> None:
    assert classify_postmark(code, status, about_recipient=about) == (kind, stage)


def test_settings() -> None:
    assert validate_settings("postmark", {}) == {"message_stream": "outbound"}
    with pytest.raises(ServerSettingsError):
        validate_settings("postmark", {"message_stream": ""})
    with pytest.raises(ServerSettingsError):
        validate_settings("postmark", {"server_token": "belongs in secrets"})
