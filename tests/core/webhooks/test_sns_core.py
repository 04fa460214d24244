"""SNS messages parsed, their URLs pinned and their signatures verified (core, no I/O)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sendpool.core.webhooks.events import WebhookRefused
from sendpool.core.webhooks.sns import (
    SnsMessage,
    check_cert_url,
    check_subscribe_url,
    parse_sns,
    parse_timestamp,
    string_to_sign,
    verify_sns,
)
from tests.support.webhooks.sns import (
    CERT_URL,
    NOW,
    SUBSCRIBE_URL,
    TOPIC_ARN,
    SnsSigner,
    notification,
    subscription_confirmation,
)


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner.create()


def _fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC_ARN,
        "Message": '{"eventType": "Send"}',
        "Timestamp": "2026-12-01T12:00:00.000Z",
        "SignatureVersion": "2",
        "Signature": base64.b64encode(b"x" * 256).decode(),
        "SigningCertURL": CERT_URL,
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not ...}


def _body(**changes: Any) -> bytes:
    return json.dumps(_fields(**changes)).encode()


def _refusal(call: Any, *args: Any, **kwargs: Any) -> WebhookRefused:
    with pytest.raises(WebhookRefused) as caught:
        call(*args, **kwargs)
    return caught.value


# -- parse_sns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'["Notification"]', "not a JSON object"),
        (b'{"Type": "Notification", "Type": "Notification"}', "a key appears twice"),
        (_body(Type="Surprise"), "unknown Type 'Surprise'"),
        (_body(MessageId=...), "MessageId is missing"),
        (_body(TopicArn=None), "TopicArn is missing"),
        (_body(Signature=...), "Signature is missing"),
        (_body(SigningCertURL=...), "SigningCertURL is missing"),
        (_body(Message=42), "Message is not a string"),
        (_body(Subject=["x"]), "Subject is not a string"),
        (_body(Message="x" * 262_145), "Message is longer than 262144 characters"),
        (_body(Token="t" * 2049), "Token is longer than 2048 characters"),
        (_body(Type="SubscriptionConfirmation", Token="t"), "SubscribeURL is missing"),
        (_body(Type="UnsubscribeConfirmation", SubscribeURL=SUBSCRIBE_URL), "Token is missing"),
        (_body(Timestamp="yesterday"), "Timestamp is not an ISO 8601 time"),
        (_body(Timestamp="2026-12-01T12:00:00"), "Timestamp is not an ISO 8601 time"),
        (_body(Signature="not base64!"), "Signature is not base64"),
    ],
)
def test_a_malformed_body_is_refused_400(body: bytes, reason: str) -> None:
    refused = _refusal(parse_sns, body)
    assert refused.status == 400
    assert reason in refused.reason


def test_a_notification_parses_into_typed_fields() -> None:
    msg = parse_sns(_body(Subject="Hi", UnsubscribeURL="https://sns.us-east-1.amazonaws.com/?x"))
    assert msg.type == "Notification" and msg.topic_arn == TOPIC_ARN
    assert msg.timestamp == datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert msg.timestamp_text == "2026-12-01T12:00:00.000Z"
    assert msg.signature == b"x" * 256 and msg.subject == "Hi"
    assert msg.unsubscribe_url == "https://sns.us-east-1.amazonaws.com/?x"
    assert msg.subscribe_url is None and msg.token is None


def test_a_null_subject_is_no_subject() -> None:
    assert parse_sns(_body(Subject=None)).subject is None


def test_a_confirmation_keeps_its_url_and_token(signer: SnsSigner) -> None:
    msg = parse_sns(subscription_confirmation(signer))
    assert msg.type == "SubscriptionConfirmation"
    assert msg.subscribe_url == SUBSCRIBE_URL and msg.token


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2012-04-25T21:49:25.719Z", datetime(2012, 4, 25, 21, 49, 25, 719000, tzinfo=UTC)),
        ("2012-04-25T23:49:25+02:00", datetime(2012, 4, 25, 21, 49, 25, tzinfo=UTC)),
        ("2012-04-25T21:49:25", None),
        ("", None),
        ("soon", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


# -- string_to_sign ----------------------------------------------------------------------


def test_the_notification_string_is_awss_fields_in_order() -> None:
    msg = parse_sns(_body(Subject="My subject", UnsubscribeURL="https://x"))
    assert string_to_sign(msg) == (
        b'Message\n{"eventType": "Send"}\n'
        b"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        b"Subject\nMy subject\n"
        b"Timestamp\n2026-12-01T12:00:00.000Z\n"
        b"TopicArn\n" + TOPIC_ARN.encode() + b"\n"
        b"Type\nNotification\n"
    )


def test_the_subject_is_signed_only_when_present() -> None:
    assert b"Subject" not in string_to_sign(parse_sns(_body()))


def test_the_confirmation_string_has_url_and_token() -> None:
    msg = parse_sns(
        _body(Type="SubscriptionConfirmation", SubscribeURL="https://s/?a", Token="tok")
    )
    assert string_to_sign(msg) == (
        b'Message\n{"eventType": "Send"}\n'
        b"MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        b"SubscribeURL\nhttps://s/?a\n"
        b"Timestamp\n2026-12-01T12:00:00.000Z\n"
        b"Token\ntok\n"
        b"TopicArn\n" + TOPIC_ARN.encode() + b"\n"
        b"Type\nSubscriptionConfirmation\n"
    )


def test_a_message_built_by_hand_signs_its_time_as_sns_writes_it() -> None:
    msg = SnsMessage(
        type="Notification",
        message_id="m",
        topic_arn="t",
        message="x",
        timestamp=datetime(2026, 12, 1, 12, 0, 0, 5000, tzinfo=UTC),
        signature_version="2",
        signature=b"",
        signing_cert_url=CERT_URL,
    )
    assert b"Timestamp\n2026-12-01T12:00:00.005Z\n" in string_to_sign(msg)


# -- check_cert_url / check_subscribe_url -------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL,
        "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.ap-southeast-3.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        "https://sns.cn-northwest-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        "https://SNS.US-EAST-1.AMAZONAWS.COM/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-abc.pem",
    ],
)
def test_sns_certificate_urls_pass(url: str) -> None:
    check_cert_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://sns.us-east-1.amazonaws.com/a.pem", "scheme 'http', only https"),
        ("sns.us-east-1.amazonaws.com/a.pem", "scheme 'none'"),
        ("file:///etc/passwd.pem", "scheme 'file'"),
        ("https://evil.example/a.pem", "host 'evil.example' is not sns.<region>.amazonaws.com"),
        ("https://sns.us-east-1.amazonaws.com.evil.example/a.pem", "is not sns.<region>"),
        ("https://sns.amazonaws.com/a.pem", "is not sns.<region>"),
        ("https://sqs.us-east-1.amazonaws.com/a.pem", "is not sns.<region>"),
        ("https://sns.us-east-1.amazonaws.com./a.pem", "is not sns.<region>"),
        ("https://sns.cn-north-1.amazonaws.com/a.pem", "is not sns.<region>"),
        ("https://sns.us-east-1.amazonaws.com.cn/a.pem", "is not sns.<region>"),
        ("https://127.0.0.1/a.pem", "host '127.0.0.1'"),
        ("https://user@sns.us-east-1.amazonaws.com/a.pem", "user name or password"),
        ("https://evil.example@sns.us-east-1.amazonaws.com/a.pem", "user name or password"),
        ("https://sns.us-east-1.amazonaws.com:8443/a.pem", "port 8443, only 443"),
        ("https://sns.us-east-1.amazonaws.com:https/a.pem", "port is not a number"),
        ("https://sns.us-east-1.amazonaws.com\\@evil.example/a.pem", "backslashes"),
        ("https://sns.us-east-1.amazonaws.com/a b.pem", "spaces"),
        ("https://sns.us-east-1.amazonaws.com/a.pem\r\nHost: evil", "control characters"),
        ("https://sns.us-east-1.amazonaws.com/a.pem#frag", "fragment"),
        ("https://sns.us-east-1.amazonaws.com/a.txt", "not a .pem file"),
        ("https://[::1/a.pem", "does not parse as a URL"),
        ("https://sns.us-east-1.amazonaws.com]/a.pem", "does not parse as a URL"),
        ("https://[::1]/a.pem", "host '::1'"),
        ("https://sns.us-east-1.amazonaws.com:443:443/a.pem", "port is not a number"),
        ("https://sns.us-east-1.amazonaws.com/", "not a .pem file"),
        ("https://sns.us-east-1.amazonaws.com/a.pem?next=evil", "not a .pem file"),
    ],
)
def test_other_certificate_urls_are_refused_403(url: str, reason: str) -> None:
    refused = _refusal(check_cert_url, url)
    assert refused.status == 403
    assert refused.reason.startswith("SigningCertURL refused: ")
    assert reason in refused.reason


def test_the_subscribe_url_sns_sends_passes() -> None:
    check_subscribe_url(SUBSCRIBE_URL)
    check_subscribe_url(
        "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription&Token=t"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example/?Action=ConfirmSubscription", "host 'evil.example'"),
        ("https://169.254.169.254/latest/meta-data/?Action=ConfirmSubscription", "host"),
        ("http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", "only https"),
        ("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe", "Action=ConfirmSubscription"),
        ("https://sns.us-east-1.amazonaws.com/", "Action=ConfirmSubscription"),
        (
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Action=Publish",
            "Action=ConfirmSubscription",
        ),
    ],
)
def test_other_subscribe_urls_are_refused_403(url: str, reason: str) -> None:
    refused = _refusal(check_subscribe_url, url)
    assert refused.status == 403
    assert refused.reason.startswith("SubscribeURL refused: ")
    assert reason in refused.reason


# -- verify_sns ----------------------------------------------------------------------------


def _verify(
    body: bytes, cert: bytes, *, topics: list[str] | None = None, now: datetime = NOW
) -> None:
    verify_sns(parse_sns(body), cert, allowed_topics=[TOPIC_ARN] if topics is None else topics,
               now=now)  # fmt: skip


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_notification_verifies(signer: SnsSigner, version: str) -> None:
    _verify(notification(signer, "hello", version=version, subject="s"), signer.cert_pem)


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_confirmations_verify(signer: SnsSigner, version: str) -> None:
    for kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        _verify(subscription_confirmation(signer, version=version, kind=kind), signer.cert_pem)


def _changed(body: bytes, key: str, value: str) -> bytes:
    data = json.loads(body)
    data[key] = value
    return json.dumps(data).encode()


def test_each_signed_field_is_covered(signer: SnsSigner) -> None:
    body = notification(signer, "hello", subject="s")
    changes = {
        "Message": "hellO",
        "MessageId": "other",
        "Subject": "S",
        "Timestamp": "2026-12-01T12:00:00.001Z",
        "TopicArn": TOPIC_ARN + "x",
        "Type": "SubscriptionConfirmation",
    }
    for key, value in changes.items():
        changed = _changed(body, key, value)
        if key == "Type":
            changed = _changed(_changed(changed, "SubscribeURL", SUBSCRIBE_URL), "Token", "t")
        refused = _refusal(_verify, changed, signer.cert_pem, topics=[TOPIC_ARN, TOPIC_ARN + "x"])
        assert (key, refused.status, refused.reason) == (key, 403, "signature does not verify")


def test_unsigned_fields_may_change(signer: SnsSigner) -> None:
    body = _changed(notification(signer, "hello"), "UnsubscribeURL", "https://elsewhere")
    _verify(body, signer.cert_pem)


def test_a_version_1_signature_is_not_a_version_2_one(signer: SnsSigner) -> None:
    body = _changed(notification(signer, "hello", version="1"), "SignatureVersion", "2")
    assert _refusal(_verify, body, signer.cert_pem).reason == "signature does not verify"


def _ec_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_refusals_of_the_signature_and_certificate(signer: SnsSigner) -> None:
    other = SnsSigner.create()
    expired = SnsSigner.create(not_after=NOW - timedelta(seconds=1))
    future = SnsSigner.create(not_before=NOW + timedelta(seconds=1))
    good = notification(signer, "hello")
    cases = [
        (_changed(good, "Signature", base64.b64encode(b"\0" * 256).decode()), signer.cert_pem,
         "signature does not verify"),
        (good, other.cert_pem, "signature does not verify"),  # the wrong key
        (notification(expired, "x"), expired.cert_pem, "not valid at this time"),
        (notification(future, "x"), future.cert_pem, "not valid at this time"),
        (good, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not an X.509 PEM"),
        (good, b"", "not an X.509 PEM"),
        (good, _ec_certificate(), "does not hold an RSA key"),
        (_changed(good, "SignatureVersion", "3"), signer.cert_pem, "SignatureVersion '3' is not 1 or 2"),
    ]  # fmt: skip
    for body, cert, reason in cases:
        refused = _refusal(_verify, body, cert)
        assert refused.status == 403
        assert reason in refused.reason


@pytest.mark.parametrize("topics", [[], ["arn:aws:sns:us-east-1:123456789012:other"]])
def test_a_topic_not_allowed_is_refused(signer: SnsSigner, topics: list[str]) -> None:
    refused = _refusal(_verify, notification(signer, "hello"), signer.cert_pem, topics=topics)
    assert refused.status == 403
    assert refused.reason.startswith("topic not allowed — add it to the server's sns_topic_arns")
    assert TOPIC_ARN in refused.reason


def test_the_topic_must_match_exactly(signer: SnsSigner) -> None:
    refused = _refusal(
        _verify, notification(signer, "hello"), signer.cert_pem, topics=[TOPIC_ARN.upper()]
    )
    assert "topic not allowed" in refused.reason


@pytest.mark.parametrize(
    ("signed_at", "ok"),
    [
        (NOW - timedelta(hours=1), True),
        (NOW - timedelta(hours=1, milliseconds=1), False),
        (NOW + timedelta(minutes=5), True),
        (NOW + timedelta(minutes=5, milliseconds=1), False),
        (NOW, True),
    ],
)
def test_the_timestamp_must_be_recent(signer: SnsSigner, signed_at: datetime, ok: bool) -> None:
    body = notification(signer, "hello", timestamp=signed_at)
    if ok:
        _verify(body, signer.cert_pem)
    else:
        refused = _refusal(_verify, body, signer.cert_pem)
        assert refused.status == 403 and refused.reason.startswith("stale")


def test_max_age_is_an_argument(signer: SnsSigner) -> None:
    msg = parse_sns(notification(signer, "hello", timestamp=NOW - timedelta(minutes=10)))
    verify_sns(msg, signer.cert_pem, allowed_topics=[TOPIC_ARN], now=NOW)
    with pytest.raises(WebhookRefused, match="stale"):
        verify_sns(msg, signer.cert_pem, allowed_topics=[TOPIC_ARN], now=NOW,
                   max_age=timedelta(minutes=9))  # fmt: skip
