"""The SES transport against moto in server mode, and a fake for what moto cannot answer."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from sendpool.core.outcomes import OutcomeKind, Stage
from sendpool.transports.registry import ServerSettingsError, build_transport, validate_settings
from sendpool.transports.ses import QUOTA_WAIT, RATE_WAIT, classify_ses, error_parts
from tests.support.fakes.messages import outgoing
from tests.support.fakes.moto_ses import MotoSes
from tests.support.fakes.ses import SesFake, ses_error
from tests.support.vendor_specs import vendor_spec

pytest_plugins = ["tests.support.fakes.fixtures"]

REGION = "eu-west-1"
KEY_ID = "AKIAFAKESES0000TEST"
SECRET = "ses-secret-access-key-never-shown"


def ses_transport(endpoint_url: str, *, secret: str = SECRET, **settings: Any) -> Any:
    settings = {"region": REGION, "endpoint_url": endpoint_url, "access_key_id": KEY_ID, **settings}
    return build_transport(vendor_spec("ses", settings, {"secret_access_key": secret}))


@pytest.fixture(scope="module")
def moto_url(moto_ses: MotoSes) -> Iterator[str]:
    """moto with the sending domain verified, as an operator verifies it in SES first."""
    admin = boto3.client(
        "sesv2",
        region_name=REGION,
        endpoint_url=moto_ses.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    admin.create_email_identity(EmailIdentity="example.com")
    yield moto_ses.url
    admin.close()


@pytest.fixture
async def ses(moto_url: str) -> AsyncIterator[Any]:
    transport = ses_transport(moto_url)
    yield transport
    await transport.close()


@pytest.fixture
async def ses_on_fake(ses_fake: SesFake) -> AsyncIterator[Any]:
    transport = ses_transport(ses_fake.url)
    yield transport
    await transport.close()


async def test_send_hands_the_raw_mime_to_ses(ses: Any) -> None:
    message = outgoing()
    outcome = await ses.send(message)
    assert outcome.kind is OutcomeKind.ACCEPTED
    assert outcome.remote_id
    sent = {m.id: m for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages}
    raw = sent[outcome.remote_id]
    assert raw.raw_data == message.mime.decode()
    assert "bob@example.org" in raw.destinations


async def test_sender_not_verified_is_a_server_failure_not_the_address(ses: Any) -> None:
    # This account may not send for that From; another server of the plan may.
    outcome = await ses.send(outgoing(sender="news@unverified.example"))
    assert (outcome.kind, outcome.stage, outcome.code) == (
        OutcomeKind.SERVER_FAILURE,
        Stage.API,
        400,
    )
    assert outcome.text.startswith("MessageRejected: Did not have authority")
    assert not outcome.suppresses_recipient and not outcome.reached


async def test_invalid_recipient_is_permanent_and_suppressed(ses: Any) -> None:
    outcome = await ses.send(outgoing("bob@"))
    assert (outcome.kind, outcome.stage) == (OutcomeKind.PERMANENT, Stage.RCPT)
    assert outcome.text.startswith("InvalidParameterValue:")
    assert outcome.suppresses_recipient


async def test_bad_credentials_are_a_server_failure(moto_ses: MotoSes, moto_url: str) -> None:
    transport = ses_transport(moto_url, secret="wrong-secret-never-shown")
    try:
        with moto_ses.checking_credentials():
            outcome = await transport.send(outgoing())
    finally:
        await transport.close()
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, 403)
    assert outcome.text == (
        "InvalidClientTokenId: The security token included in the request is invalid."
    )
    for shown in (outcome.describe(), repr(transport), repr(vars(transport))):
        assert "wrong-secret-never-shown" not in shown


async def test_client_and_its_connection_are_reused(ses_on_fake: Any, ses_fake: SesFake) -> None:
    for _ in range(3):
        assert (await ses_on_fake.send(outgoing())).kind is OutcomeKind.ACCEPTED
    assert ses_fake.connections == 1
    body = ses_fake.accepted[0]
    assert body["FromEmailAddress"] == "news@example.com"
    assert body["Destination"] == {"ToAddresses": ["bob@example.org"]}
    assert base64.b64decode(body["Content"]["Raw"]["Data"]).startswith(b"From: ")


async def test_configuration_set_is_named(ses_fake: SesFake) -> None:
    transport = ses_transport(ses_fake.url, configuration_set="bounces-to-sendpool")
    try:
        assert (await transport.send(outgoing())).kind is OutcomeKind.ACCEPTED
    finally:
        await transport.close()
    assert ses_fake.accepted[0]["ConfigurationSetName"] == "bounces-to-sendpool"


@pytest.mark.parametrize(
    ("status", "code", "text", "wait"),
    [
        (429, "TooManyRequestsException", "Maximum sending rate exceeded.", RATE_WAIT),
        (400, "Throttling", "Maximum sending rate exceeded.", RATE_WAIT),
        (400, "LimitExceededException", "Daily message quota exceeded.", QUOTA_WAIT),
    ],
)
async def test_throttling_waits_instead_of_failing(
    ses_on_fake: Any, ses_fake: SesFake, status: int, code: str, text: str, wait: float
) -> None:
    ses_fake.queue(ses_error(status, code, text))
    outcome = await ses_on_fake.send(outgoing())
    assert (outcome.kind, outcome.retry_after) == (OutcomeKind.THROTTLED, wait)
    assert outcome.text == f"{code}: {text}"
    assert not outcome.reached
    assert len(ses_fake.requests) == 1  # botocore did not retry on its own


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalFailure"), (503, "ServiceUnavailable")]
)
async def test_server_errors_are_server_failures_without_retries(
    ses_on_fake: Any, ses_fake: SesFake, status: int, code: str
) -> None:
    ses_fake.queue(ses_error(status, code, "try again later"))
    outcome = await ses_on_fake.send(outgoing())
    assert (outcome.kind, outcome.code) == (OutcomeKind.SERVER_FAILURE, status)
    assert len(ses_fake.requests) == 1


async def test_paused_account_is_a_server_failure(ses_on_fake: Any, ses_fake: SesFake) -> None:
    ses_fake.queue(ses_error(400, "SendingPausedException", "Sending is paused for this account."))
    outcome = await ses_on_fake.send(outgoing())
    assert outcome.kind is OutcomeKind.SERVER_FAILURE


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (
            "MessageRejected",
            "Sending suspended for this account. For more information, please check the"
            " inbox of the email address associated with your AWS account.",
        ),
        ("AccountSendingPausedException", "Email sending is disabled for your entire account."),
        ("MessageRejected", "Message rejected: sending IP blocked using bl.example.net"),
    ],
)
async def test_an_account_level_refusal_never_suppresses_the_recipient(
    ses_on_fake: Any, ses_fake: SesFake, code: str, text: str
) -> None:
    # The first names "the email address", and was once taken for the recipient's.
    ses_fake.queue(ses_error(400, code, text))
    outcome = await ses_on_fake.send(outgoing())
    assert (outcome.kind, outcome.stage) == (OutcomeKind.SERVER_FAILURE, Stage.API)
    assert not outcome.suppresses_recipient and not outcome.reached


async def test_connection_refused_is_a_server_failure(closed_port: int) -> None:
    transport = ses_transport(f"http://127.0.0.1:{closed_port}")
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
    assert outcome.text.startswith("EndpointConnectionError")
    assert not health.ok and "EndpointConnectionError" in health.detail


async def test_check_reports_the_quota(ses_on_fake: Any) -> None:
    health = await ses_on_fake.check()
    assert health.ok
    assert health.facts == {
        "Max24HourSend": "50000",
        "MaxSendRate": "14",
        "SentLast24Hours": "120",
        "ProductionAccessEnabled": "true",
        "EnforcementStatus": "HEALTHY",
    }
    assert health.detail == "120/50000 sent in 24 h, 14/s"


async def test_check_fails_when_sending_is_paused(ses_on_fake: Any, ses_fake: SesFake) -> None:
    ses_fake.sending_enabled = False
    health = await ses_on_fake.check()
    assert not health.ok and "paused" in health.detail
    assert health.facts["Max24HourSend"] == "50000"


async def test_check_fails_on_bad_credentials(ses_fake: SesFake) -> None:
    ses_fake.access_key_id = "AKIASOMEONEELSE00000"
    transport = ses_transport(ses_fake.url)
    try:
        health = await transport.check()
    finally:
        await transport.close()
    assert not health.ok
    assert "UnrecognizedClientException" in health.detail
    assert SECRET not in health.detail


@pytest.mark.parametrize(
    ("code", "message", "status", "kind", "stage"),
    [
        ("TooManyRequestsException", "Too many requests.", 429, OutcomeKind.THROTTLED, Stage.API),
        ("Throttling", "Maximum sending rate exceeded.", 400, OutcomeKind.THROTTLED, Stage.API),
        ("InvalidClientTokenId", "bad token", 403, OutcomeKind.SERVER_FAILURE, Stage.API),
        ("SignatureDoesNotMatch", "bad signature", 403, OutcomeKind.SERVER_FAILURE, Stage.API),
        ("AccessDeniedException", "not allowed", 403, OutcomeKind.SERVER_FAILURE, Stage.API),
        ("AccountSuspendedException", "suspended", 400, OutcomeKind.SERVER_FAILURE, Stage.API),
        (
            "NotFoundException",
            "no such configuration set",
            404,
            OutcomeKind.SERVER_FAILURE,
            Stage.API,
        ),
        (
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in"
            " region EU-WEST-1: bob@example.org",
            400,
            OutcomeKind.SERVER_FAILURE,
            Stage.API,
        ),
        ("MailFromDomainNotVerifiedException", "x", 400, OutcomeKind.SERVER_FAILURE, Stage.API),
        (
            "ConfigurationSetSendingPausedException",
            "paused",
            400,
            OutcomeKind.SERVER_FAILURE,
            Stage.API,
        ),
        ("BadRequestException", "Missing final '@domain'", 400, OutcomeKind.PERMANENT, Stage.RCPT),
        ("BadRequestException", "Illegal address", 400, OutcomeKind.PERMANENT, Stage.RCPT),
        ("MessageRejected", "Message contains a virus.", 400, OutcomeKind.PERMANENT, Stage.API),
        ("MessageRejected", "Rejected: bob@example.org", 400, OutcomeKind.PERMANENT, Stage.RCPT),
        ("SomethingNew", "who knows", 500, OutcomeKind.SERVER_FAILURE, Stage.API),
        ("SomethingNew", "who knows", 400, OutcomeKind.PERMANENT, Stage.API),
    ],
)
def test_error_codes(code: str, message: str, status: int, kind: OutcomeKind, stage: Stage) -> None:
    assert classify_ses(code, message, status, recipient="bob@example.org")[:2] == (kind, stage)


def test_xml_error_bodies_are_read() -> None:
    xml = (
        '<?xml version="1.0"?><ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>'
        "<Message>The security token is invalid.</Message></Error></Errors></ErrorResponse>"
    )
    response = {
        "Error": {"Code": "403", "Message": xml},
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    assert error_parts(response) == ("InvalidClientTokenId", "The security token is invalid.", 403)


@pytest.mark.parametrize(
    "settings",
    [
        {"region": "Europe"},
        {"region": "eu-west-1", "endpoint_url": "http://ses.example.net"},
        {"region": "eu-west-1", "secret_access_key": "belongs in secrets"},
        {"region": "eu-west-1", "access_key_id": "short"},
    ],
)
def test_settings_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ServerSettingsError):
        validate_settings("ses", settings)


def test_settings_accepted() -> None:
    assert validate_settings("ses", {"region": "us-gov-west-1"}) == {"region": "us-gov-west-1"}
