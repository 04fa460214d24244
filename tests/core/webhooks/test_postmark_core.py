"""read_postmark: each RecordType and bounce Type Postmark documents, and malformed bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sendpool.core.webhooks.events import (
    MAX_DIAGNOSTIC,
    MAX_TEXT,
    METADATA_KEY,
    EventKind,
    WebhookRefused,
)
from sendpool.core.webhooks.postmark import read_postmark
from sendpool.core.webhooks.vendor_fields import MAX_EVENT_ID
from tests.support.webhooks.postmark import basic_auth, postmark_event, postmark_request

K = EventKind
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
GENERIC = "The server was unable to deliver your message (ex: unknown user, mailbox not found)."


def read(record: Any) -> Any:
    (event,) = read_postmark(json.dumps(record).encode(), NOW).events
    return event


def refused(body: bytes) -> str:
    with pytest.raises(WebhookRefused) as caught:
        read_postmark(body, NOW)
    assert caught.value.status == 400
    return caught.value.reason


# Postmark's "Bounce webhook" sample.
def bounce(kind: str | None, details: str = "", description: str = GENERIC) -> dict[str, Any]:
    record: dict[str, Any] = {
        "RecordType": "Bounce",
        "ID": 901542550,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "Test",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": description,
        "Details": details,
        "Email": "john@example.com",
        "From": "sender@example.com",
        "BouncedAt": "2014-08-01T13:28:10.2735393-04:00",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Test subject",
        "Metadata": {METADATA_KEY: "msg_01HXYZ", "a_key": "a_value"},
    }
    if kind is not None:
        record["Type"] = kind
    return record


NOT_EXIST = "smtp;550 5.1.1 The email account that you tried to reach does not exist."
# bounce Type, Details, Description, kind, status
BOUNCES: list[tuple[str | None, str, str, EventKind, str | None]] = [
    ("HardBounce", NOT_EXIST, GENERIC, K.HARD, "5.1.1"),
    # Postmark's sample: no code, and the generic Description's words are not read.
    ("HardBounce", "Test bounce details", GENERIC, K.HARD, None),
    ("BadEmailAddress", "", "Invalid email address", K.HARD, None),
    # The code refines Postmark's class: a 5.7.x, or a blocklist's words, is our reputation.
    ("HardBounce", "smtp;550 5.7.1 Message rejected as spam", GENERIC, K.REPUTATION, "5.7.1"),
    ("HardBounce", "smtp;550 5.0.0 blocked using zen.spamhaus.org", GENERIC, K.REPUTATION, "5.0.0"),
    ("HardBounce", "smtp;552 5.2.2 Mailbox full", GENERIC, K.SOFT, "5.2.2"),
    ("HardBounce", "smtp;550 5.0.0 Requested action not taken", GENERIC, K.HARD, "5.0.0"),
    ("HardBounce", "", "smtp;550 5.7.26 DMARC policy", K.REPUTATION, "5.7.26"),
    ("SoftBounce", "smtp;452 4.2.2 Mailbox full", "", K.SOFT, "4.2.2"),
    ("SoftBounce", NOT_EXIST, "", K.HARD, "5.1.1"),
    ("SoftBounce", "Mailbox full", "", K.SOFT, None),
    ("DnsError", "DNS lookup failed", "A temporary DNS error", K.SOFT, None),
    # Transient: Postmark still tries, whatever the code.
    ("Transient", "smtp;421 4.7.0 Try again later", "", K.DELAY, "4.7.0"),
    ("Blocked", "smtp;554 Message rejected", "", K.REPUTATION, None),
    ("Blocked", "smtp;550 5.0.0 Rejected", "", K.REPUTATION, "5.0.0"),
    ("Blocked", NOT_EXIST, "", K.HARD, "5.1.1"),
    (
        "DMARCPolicy",
        "smtp;550 5.7.26 Unauthenticated email is not accepted",
        "",
        K.REPUTATION,
        "5.7.26",
    ),
    ("SpamNotification", "smtp;550 5.0.0 Message classified as spam", "", K.REPUTATION, "5.0.0"),
    ("SpamComplaint", "", "", K.COMPLAINT, None),
    ("ManuallyDeactivated", "", "The email was manually deactivated", K.SUPPRESSED, None),
    ("Unknown", "Unable to classify the NDR", "", K.UNKNOWN, None),
    ("Unknown", NOT_EXIST, "", K.HARD, "5.1.1"),
    ("Unknown", "smtp;550 5.0.0 Something", "", K.UNKNOWN, "5.0.0"),
    ("AutoResponder", "Out of office until Monday", "", K.IGNORED, None),
    ("Subscribe", "", "", K.IGNORED, None),
    ("AddressChange", "", "", K.IGNORED, None),
    ("OpenRelayTest", "", "", K.IGNORED, None),
    ("ChallengeVerification", "", "", K.IGNORED, None),
    ("VirusNotification", "", "", K.IGNORED, None),
    # The rest: nothing lets us classify them; an operator looks.
    ("Unsubscribe", "", "", K.UNKNOWN, None),
    ("Unconfirmed", "", "", K.UNKNOWN, None),
    ("SMTPApiError", "", "", K.UNKNOWN, None),
    ("InboundError", "", "", K.UNKNOWN, None),
    ("TemplateRenderingFailed", "", "", K.UNKNOWN, None),
    ("SomethingPostmarkAddsLater", NOT_EXIST, "", K.UNKNOWN, "5.1.1"),
    (None, "", "", K.UNKNOWN, None),
]


@pytest.mark.parametrize(("bounce_type", "details", "description", "kind", "status"), BOUNCES)
def test_each_bounce_type_reads_as_its_kind(
    bounce_type: str | None, details: str, description: str, kind: EventKind, status: str | None
) -> None:
    event = read(bounce(bounce_type, details, description))
    assert (event.kind, event.status) == (kind, status)
    assert event.detail == f"Bounce/{bounce_type or 'none'}"
    assert event.diagnostic == (details or None)


def test_the_bounce_sample_in_full() -> None:
    event = read(bounce("HardBounce", NOT_EXIST))
    assert event.vendor == "postmark"
    assert event.event_id == "901542550"
    assert event.recipient == "john@example.com"
    assert event.our_id == "msg_01HXYZ"
    assert event.vendor_message_id == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert event.occurred_at == datetime(2014, 8, 1, 17, 28, 10, 273539, tzinfo=UTC)
    assert (event.reported_by, event.feedback_type) == (None, None)


def test_a_spam_complaint_record() -> None:
    record = bounce("SpamComplaint", "Test spam complaint details") | {
        "RecordType": "SpamComplaint",
        "TypeCode": 512,
        "ID": 42,
    }
    event = read(record)
    assert (event.kind, event.event_id, event.detail) == (K.COMPLAINT, "42", "SpamComplaint")
    assert event.recipient == "john@example.com"
    assert event.diagnostic == "Test spam complaint details"


DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "outbound",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Recipient": "john@example.com",
    "Tag": "welcome-email",
    "DeliveredAt": "2014-08-01T13:28:10.2735393-04:00",
    "Details": "smtp;250 2.0.0 OK",
    "Metadata": {METADATA_KEY: "msg_01HXYZ"},
}


def test_a_delivery_record() -> None:
    event = read(DELIVERY)
    assert (event.kind, event.status, event.diagnostic) == (
        K.DELIVERED,
        "2.0.0",
        "smtp;250 2.0.0 OK",
    )
    assert (event.recipient, event.our_id) == ("john@example.com", "msg_01HXYZ")
    assert event.occurred_at == datetime(2014, 8, 1, 17, 28, 10, 273539, tzinfo=UTC)


def test_a_record_without_an_id_is_known_by_what_it_says_the_same_on_redelivery() -> None:
    first, again = read(DELIVERY), read(dict(reversed(list(DELIVERY.items()))))
    assert first.event_id == again.event_id
    assert first.event_id.startswith("Delivery|883953f4-6105-42a2-a16a-77a8eac79483|")
    # An ID in a record of another type is not a bounce's: it could name one.
    assert read(DELIVERY | {"ID": 42}).event_id == first.event_id
    later = read(DELIVERY | {"DeliveredAt": "2014-08-01T13:29:10Z"})
    other = read(DELIVERY | {"Recipient": "jane@example.com"})
    assert len({first.event_id, later.event_id, other.event_id}) == 3


def subscription(suppress: Any, reason: Any) -> dict[str, Any]:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": "a4909a96-73d7-4c49-b148-a54522d3f7ac",
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2022-06-05T17:17:32Z",
        "Recipient": "john@example.com",
        "Origin": "Recipient",
        "SuppressSending": suppress,
        "SuppressionReason": reason,
        "Tag": "welcome-email",
        "Metadata": {METADATA_KEY: "msg_01HXYZ"},
    }


@pytest.mark.parametrize(
    ("suppress", "reason", "kind", "detail"),
    [
        (
            True,
            "ManualSuppression",
            K.UNSUBSCRIBE,
            "SubscriptionChange/ManualSuppression/Recipient",
        ),
        (True, "HardBounce", K.SUPPRESSED, "SubscriptionChange/HardBounce/Recipient"),
        (True, "SpamComplaint", K.SUPPRESSED, "SubscriptionChange/SpamComplaint/Recipient"),
        # A reason Postmark adds later: still its own list, still not sending.
        (True, "SomethingNew", K.SUPPRESSED, "SubscriptionChange/SomethingNew/Recipient"),
        (True, None, K.SUPPRESSED, "SubscriptionChange/Recipient"),
        (False, None, K.IGNORED, "reactivated at Postmark"),
    ],
)
def test_a_subscription_change(
    suppress: bool, reason: str | None, kind: EventKind, detail: str
) -> None:
    event = read(subscription(suppress, reason))
    assert (event.kind, event.detail) == (kind, detail)
    assert event.occurred_at == datetime(2022, 6, 5, 17, 17, 32, tzinfo=UTC)
    assert event.recipient == "john@example.com"


@pytest.mark.parametrize("suppress", [None, "true", 1, []])
def test_a_subscription_change_that_says_neither_is_refused(suppress: Any) -> None:
    assert "SuppressSending" in refused(json.dumps(subscription(suppress, "HardBounce")).encode())


@pytest.mark.parametrize("record_type", ["Open", "Click", "Inbound", "SomethingNew"])
def test_opens_clicks_and_the_rest_are_ignored(record_type: str) -> None:
    record = {
        "RecordType": record_type,
        "MessageID": "f4830d10-9c35-4f0c-bca3-3d9b459821f8",
        "ReceivedAt": "2017-10-25T15:21:11.9065619Z",
        "Recipient": "recipient@example.com",
        "FirstOpen": True,
    }
    event = read(record)
    assert (event.kind, event.detail) == (K.IGNORED, record_type)
    assert event.occurred_at == datetime(2017, 10, 25, 15, 21, 11, 906561, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2022-06-05T17:17:32", datetime(2022, 6, 5, 17, 17, 32, tzinfo=UTC)),  # no zone: UTC
        ("yesterday", None),
        (1654449452, None),
        (None, None),
    ],
)
def test_times_postmark_may_send(moment: Any, expected: datetime | None) -> None:
    assert read(subscription(True, "HardBounce") | {"ChangedAt": moment}).occurred_at == expected


def test_fields_of_the_wrong_type_read_as_absent() -> None:
    record = bounce(["HardBounce"], "") | {  # type: ignore[arg-type]
        "ID": True,
        "Email": {"address": "john@example.com"},
        "MessageID": None,
        "Metadata": [METADATA_KEY],
        "Details": 550,
        "BouncedAt": 0,
    }
    event = read(record)
    assert event.kind is K.UNKNOWN and event.detail == "Bounce/none"
    assert (event.recipient, event.our_id, event.vendor_message_id) == (None, None, None)
    assert event.diagnostic == "550" and event.occurred_at is None
    assert 0 < len(event.event_id) <= MAX_EVENT_ID


def test_huge_strings_are_capped_or_dropped_never_a_crash() -> None:
    huge = "y" * 300_000
    record = bounce("HardBounce" + huge, NOT_EXIST + huge, huge) | {
        "ID": huge,
        "Email": huge,
        "MessageID": huge,
        "BouncedAt": huge,
        "Metadata": {METADATA_KEY: huge},
    }
    event = read(record)
    assert event.kind is K.UNKNOWN and event.status == "5.1.1"
    assert event.diagnostic is not None and len(event.diagnostic) == MAX_DIAGNOSTIC
    assert len(event.detail) <= MAX_TEXT
    assert len(event.event_id) <= MAX_EVENT_ID
    assert event.event_id == read(record).event_id
    assert (event.recipient, event.our_id, event.vendor_message_id) == (None, None, None)


@pytest.mark.parametrize(
    "body", [b"", b"Bounce", b"\xc3\x28", b'{"RecordType": Infinity}', b"{" * 50_000]
)
def test_a_body_that_is_not_json_is_refused(body: bytes) -> None:
    assert refused(body) == "the body is not JSON"


@pytest.mark.parametrize("body", [b"[]", b'[{"RecordType": "Bounce"}]', b"null", b'"Bounce"'])
def test_a_body_that_is_not_one_record_is_refused(body: bytes) -> None:
    refused(body)


@pytest.mark.parametrize("record", [{}, {"RecordType": ""}, {"RecordType": None}, {"From": "x@y"}])
def test_a_record_without_a_record_type_is_refused(record: dict[str, Any]) -> None:
    assert "RecordType" in refused(json.dumps(record).encode())


def test_a_batch_is_not_postmarks_shape_even_of_10000() -> None:
    assert "JSON object" in refused(json.dumps([DELIVERY] * 10_000).encode())


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        read_postmark(json.dumps(DELIVERY).encode(), NOW.replace(tzinfo=None))


@pytest.mark.parametrize("kind", list(EventKind))
def test_the_test_support_builds_each_kind(kind: EventKind) -> None:
    record = postmark_event(
        kind, message_uid="msg_1", vendor_id="b7bc2f4a-e38e", recipient="a@example.com", at=NOW
    )
    body, headers = postmark_request(record, username="postmark", password="s3cret")
    assert headers["authorization"] == basic_auth("postmark", "s3cret")
    (event,) = read_postmark(body, NOW).events
    assert (event.kind, event.our_id, event.vendor_message_id) == (kind, "msg_1", "b7bc2f4a-e38e")
    assert event.recipient == "a@example.com" and event.occurred_at == NOW
    _, anonymous = postmark_request(record)
    assert "authorization" not in anonymous
