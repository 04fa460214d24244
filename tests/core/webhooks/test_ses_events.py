"""SES events read from the SNS Message: both shapes, each type, each bounce class."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sendpool.core.webhooks.events import (
    MAX_DIAGNOSTIC,
    MAX_EVENTS,
    EventKind,
    WebhookRefused,
    failure_kind,
)
from sendpool.core.webhooks.ses import bounce_kind, ses_events
from tests.support.webhooks.sns import NOW, ses_event

SENT = NOW - timedelta(minutes=1)


def _one(message: str) -> Any:
    (event,) = ses_events(message, NOW).events
    return event


def _bounce(bounce_type: str, sub_type: str, status: str | None, diagnostic: str | None) -> str:
    recipient: dict[str, Any] = {"emailAddress": "{recipient}", "action": "failed"}
    if status is not None:
        recipient["status"] = status
    if diagnostic is not None:
        recipient["diagnosticCode"] = diagnostic
    details = {
        "bounceType": bounce_type,
        "bounceSubType": sub_type,
        "bouncedRecipients": [recipient],
        "timestamp": "{timestamp}",
        "feedbackId": "fb-1",
    }
    return ses_event("Bounce", details=details)


@pytest.mark.parametrize(
    ("bounce_type", "sub_type", "status", "diagnostic", "kind"),
    [
        ("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown", EventKind.HARD),
        ("Permanent", "NoEmail", "5.1.1", "smtp; 550 5.1.1 no such user", EventKind.HARD),
        ("Permanent", "General", "5.7.1", "smtp; 550 5.7.1 blocked", EventKind.REPUTATION),
        ("Permanent", "General", None, "smtp; 554 blocked using zen.spamhaus.org", EventKind.REPUTATION),
        ("Permanent", "General", "5.2.2", "smtp; 552 5.2.2 mailbox full", EventKind.SOFT),
        ("Permanent", "General", None, None, EventKind.HARD),
        ("Permanent", "General", "5.0.0", "smtp; 550 5.1.1 unknown", EventKind.HARD),
        ("Permanent", "Suppressed", "5.1.1", "Amazon SES has suppressed sending", EventKind.SUPPRESSED),
        ("Permanent", "OnAccountSuppressionList", "5.1.1", None, EventKind.SUPPRESSED),
        ("Transient", "General", "4.4.7", "smtp; 421 4.4.7 timeout", EventKind.SOFT),
        ("Transient", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 full", EventKind.SOFT),
        ("Transient", "MessageTooLarge", "5.3.4", "smtp; 552 5.3.4 too big", EventKind.SOFT),
        ("Transient", "ContentRejected", "5.7.1", "smtp; 550 5.7.1 spam content", EventKind.REPUTATION),
        ("Transient", "ContentRejected", "5.6.0", "smtp; 554 5.6.0 rejected", EventKind.SOFT),
        ("Transient", "AttachmentRejected", "5.3.0", "smtp; 550 attachment", EventKind.SOFT),
        ("Transient", "General", "5.1.1", "smtp; 550 5.1.1 unknown", EventKind.SOFT),
        ("Undetermined", "Undetermined", None, None, EventKind.UNKNOWN),
        ("Undetermined", "Undetermined", "5.1.1", "smtp; 550 5.1.1", EventKind.UNKNOWN),
    ],
)  # fmt: skip
def test_bounce_classes(
    bounce_type: str, sub_type: str, status: str | None, diagnostic: str | None, kind: EventKind
) -> None:
    assert bounce_kind(bounce_type, sub_type, status, diagnostic) is kind
    event = _one(_bounce(bounce_type, sub_type, status, diagnostic))
    assert event.kind is kind
    assert event.detail == f"{bounce_type}/{sub_type}"


def test_a_permanent_bounce_in_full() -> None:
    event = _one(ses_event("Bounce", message_uid="uid-42", message_id="ses-mid-42"))
    assert event.vendor == "ses"
    assert event.kind is EventKind.HARD
    assert event.recipient == "rcpt@example.net"
    assert event.our_id == "uid-42"
    assert event.vendor_message_id == "ses-mid-42"
    assert event.status == "5.1.1"
    assert event.diagnostic == "smtp; 550 5.1.1 user unknown"
    assert event.detail == "Permanent/General"
    assert event.occurred_at == SENT
    assert event.reported_by == "dsn; a8-70.smtp-out.amazonses.com"
    assert event.event_id == "ses:0100017b-feedback-ses-mid-42:rcpt@example.net"


def test_a_bounce_reads_the_same_in_both_shapes() -> None:
    published = _one(ses_event("Bounce", shape="event"))
    notified = _one(ses_event("Bounce", shape="notification"))
    assert notified.our_id is None  # identity notifications carry no tags
    assert published.event_id == notified.event_id  # published both ways, applied once
    assert (published.kind, published.status) == (notified.kind, notified.status)


def test_one_event_per_bounced_recipient() -> None:
    details = {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {"emailAddress": "a@example.net", "status": "5.1.1"},
            {"emailAddress": "b@example.net", "status": "5.7.1"},
            {"emailAddress": "c@example.net"},
        ],
        "feedbackId": "fb-9",
    }
    events = ses_events(ses_event("Bounce", details=details), NOW).events
    assert [(e.recipient, e.kind) for e in events] == [
        ("a@example.net", EventKind.HARD),
        ("b@example.net", EventKind.REPUTATION),
        ("c@example.net", EventKind.HARD),
    ]
    assert len({e.event_id for e in events}) == 3
    # No bounce time: the send's time stands in.
    assert events[0].occurred_at == SENT - timedelta(seconds=5)


def test_a_bounce_without_feedback_id_is_keyed_by_message_and_time() -> None:
    details = {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "{recipient}"}],
        "timestamp": "{timestamp}",
    }
    event = _one(ses_event("Bounce", details=details, message_id="mid"))
    assert event.event_id == "ses:mid:rcpt@example.net:Bounce:" + "2026-12-01T11:59:00.000Z"
    assert event.status is None and event.diagnostic is None and event.reported_by is None


def test_a_bounce_without_types_is_unknown() -> None:
    details = {"bouncedRecipients": [{"emailAddress": "{recipient}"}], "feedbackId": "f"}
    event = _one(ses_event("Bounce", details=details))
    assert event.kind is EventKind.UNKNOWN
    assert event.detail == "Undetermined/Undetermined"


@pytest.mark.parametrize(
    ("details", "kind", "detail", "feedback_type"),
    [
        ({"complaintFeedbackType": "abuse", "userAgent": "AOL SComp"}, EventKind.COMPLAINT,
         "Complaint/abuse", "abuse"),
        ({"complaintFeedbackType": "fraud"}, EventKind.COMPLAINT, "Complaint/fraud", "fraud"),
        ({}, EventKind.COMPLAINT, "Complaint/unspecified", None),
        ({"complaintSubType": None}, EventKind.COMPLAINT, "Complaint/unspecified", None),
        ({"complaintSubType": "OnAccountSuppressionList"}, EventKind.SUPPRESSED,
         "Complaint/OnAccountSuppressionList", None),
    ],
)  # fmt: skip
def test_complaints(
    details: dict[str, Any], kind: EventKind, detail: str, feedback_type: str | None
) -> None:
    full = {
        "complainedRecipients": [{"emailAddress": "{recipient}"}],
        "timestamp": "{timestamp}",
        "feedbackId": "fb-c",
        **details,
    }
    for shape in ("event", "notification"):
        event = _one(ses_event("Complaint", shape=shape, details=full))
        assert (event.kind, event.detail, event.feedback_type) == (kind, detail, feedback_type)
        assert event.reported_by == details.get("userAgent")
        assert event.event_id == "ses:fb-c:rcpt@example.net"
        assert event.occurred_at == SENT and event.status is None


def test_a_complaint_without_feedback_id() -> None:
    details = {"complainedRecipients": [{"emailAddress": "{recipient}"}]}
    event = _one(ses_event("Complaint", details=details, message_id="mid"))
    assert event.event_id == "ses:mid:rcpt@example.net:Complaint:"


def test_a_delivery_per_recipient() -> None:
    details = {
        "timestamp": "{timestamp}",
        "recipients": ["a@example.net", "b@example.net"],
        "smtpResponse": "250 2.0.0 OK 1234",
        "reportingMTA": "a8-70.smtp-out.amazonses.com",
    }
    events = ses_events(ses_event("Delivery", details=details, message_id="mid"), NOW).events
    assert [(e.kind, e.recipient, e.status) for e in events] == [
        (EventKind.DELIVERED, "a@example.net", "2.0.0"),
        (EventKind.DELIVERED, "b@example.net", "2.0.0"),
    ]
    assert events[0].event_id == "ses:mid:a@example.net:Delivery:2026-12-01T11:59:00.000Z"
    assert events[0].diagnostic == "250 2.0.0 OK 1234"
    assert events[0].reported_by == "a8-70.smtp-out.amazonses.com"
    assert events[0].detail == "Delivery"


@pytest.mark.parametrize("shape", ["event", "notification"])
def test_a_delivery_in_both_shapes(shape: str) -> None:
    assert _one(ses_event("Delivery", shape=shape)).kind is EventKind.DELIVERED


@pytest.mark.parametrize(
    ("delay_type", "status", "diagnostic", "detail", "expected_status"),
    [
        ("MailboxFull", "4.2.2", "smtp; 452 4.2.2 full", "DeliveryDelay/MailboxFull", "4.2.2"),
        ("TransientCommunicationFailure", None, "smtp; 421 4.4.1 no answer",
         "DeliveryDelay/TransientCommunicationFailure", "4.4.1"),
        (None, None, None, "DeliveryDelay/Undetermined", None),
    ],
)  # fmt: skip
def test_delivery_delays(
    delay_type: str | None,
    status: str | None,
    diagnostic: str | None,
    detail: str,
    expected_status: str | None,
) -> None:
    recipient = {"emailAddress": "{recipient}", "status": status, "diagnosticCode": diagnostic}
    details = {"timestamp": "{timestamp}", "delayType": delay_type,
               "delayedRecipients": [recipient], "reportingMTA": "mta.example"}  # fmt: skip
    event = _one(ses_event("DeliveryDelay", details=details, message_id="mid"))
    assert (event.kind, event.detail, event.status) == (EventKind.DELAY, detail, expected_status)
    assert event.diagnostic == diagnostic and event.reported_by == "mta.example"
    assert event.event_id == "ses:mid:rcpt@example.net:DeliveryDelay:2026-12-01T11:59:00.000Z"


@pytest.mark.parametrize(
    ("details", "detail"),
    [
        ({"reason": "Bad content"}, "Reject: SES refused the message (Bad content)"),
        ({}, "Reject: SES refused the message (no reason given)"),
    ],
)
def test_a_reject_is_ignored_and_says_why(details: dict[str, Any], detail: str) -> None:
    event = _one(ses_event("Reject", details=details, message_id="mid"))
    assert (event.kind, event.detail) == (EventKind.IGNORED, detail)
    assert event.recipient == "rcpt@example.net" and event.our_id == "msg-uid-1"
    assert event.event_id == "ses:mid:rcpt@example.net:Reject:2026-12-01T11:58:55.000Z"


@pytest.mark.parametrize(
    ("event_type", "details", "stamp"),
    [
        ("Open", {"timestamp": "{timestamp}"}, "2026-12-01T11:59:00.000Z"),
        ("Click", {"timestamp": "{timestamp}", "link": "https://x"}, "2026-12-01T11:59:00.000Z"),
        ("Send", {}, "2026-12-01T11:58:55.000Z"),
        ("Rendering Failure", {"errorMessage": "no var"}, "2026-12-01T11:58:55.000Z"),
        ("Subscription", {"timestamp": "{timestamp}"}, "2026-12-01T11:59:00.000Z"),
        ("SomethingNew", {"timestamp": "{timestamp}"}, "2026-12-01T11:58:55.000Z"),
    ],
)
def test_other_types_are_ignored(event_type: str, details: dict[str, Any], stamp: str) -> None:
    event = _one(ses_event(event_type, details=details, message_id="mid"))
    assert (event.kind, event.detail) == (EventKind.IGNORED, f"{event_type}: not acted on")
    assert event.event_id == f"ses:mid:rcpt@example.net:{event_type}:{stamp}"
    assert event.our_id == "msg-uid-1" and event.vendor_message_id == "mid"


def test_an_ignored_type_with_details_of_another_shape() -> None:
    data = json.loads(ses_event("Open", message_id="mid"))
    data["open"] = "not an object"
    event = _one(json.dumps(data))
    assert event.event_id.endswith(":Open:2026-12-01T11:58:55.000Z")


@pytest.mark.parametrize(
    "message",
    [
        json.dumps({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}),
        json.dumps({"eventType": "Open", "mail": {"timestamp": "x"}}),
        json.dumps({"eventType": "Open", "mail": []}),
    ],
)
def test_a_notice_naming_no_message_is_ignored(message: str) -> None:
    event = _one(message)
    assert event.kind is EventKind.IGNORED
    assert event.vendor_message_id is None and event.our_id is None and event.recipient is None
    assert event.occurred_at == NOW
    assert event.event_id.startswith("ses:") and len(event.event_id) <= 128
    assert _one(message).event_id == event.event_id  # the same on a redelivery


@pytest.mark.parametrize(
    ("mail_changes", "our_id", "recipient"),
    [
        ({"tags": {"sendpool_message": ["u1", "u2"]}}, "u1", "rcpt@example.net"),
        ({"tags": {"sendpool_message": []}}, None, "rcpt@example.net"),
        ({"tags": {"sendpool_message": "u1"}}, None, "rcpt@example.net"),
        ({"tags": {"sendpool_message": [7]}}, None, "rcpt@example.net"),
        ({"tags": {"sendpool_message": ["u" * 65]}}, None, "rcpt@example.net"),
        ({"tags": {"sendpool_message": ["u" * 64]}}, "u" * 64, "rcpt@example.net"),
        ({"tags": ["sendpool_message"]}, None, "rcpt@example.net"),
        ({"tags": {}}, None, "rcpt@example.net"),
        ({"destination": ["a@example.net", "b@example.net"]}, "msg-uid-1", None),
        ({"destination": "a@example.net"}, "msg-uid-1", None),
        ({"destination": [7]}, "msg-uid-1", None),
    ],
)
def test_the_mail_object_read_leniently(
    mail_changes: dict[str, Any], our_id: str | None, recipient: str | None
) -> None:
    data = json.loads(ses_event("Reject"))
    data["mail"].update(mail_changes)
    event = _one(json.dumps(data))
    assert (event.our_id, event.recipient) == (our_id, recipient)


def test_times() -> None:
    data = json.loads(ses_event("Bounce"))
    data["bounce"]["timestamp"] = "not a time"
    assert _one(json.dumps(data)).occurred_at == SENT - timedelta(seconds=5)  # the send's
    data["mail"]["timestamp"] = 12
    assert _one(json.dumps(data)).occurred_at == NOW  # none at all
    data["bounce"]["timestamp"] = "2026-12-01T12:30:00.000Z"
    assert _one(json.dumps(data)).occurred_at == NOW  # never after the clock that got it
    data["bounce"]["timestamp"] = "2026-12-01T13:00:00+02:00"
    assert _one(json.dumps(data)).occurred_at == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


def test_lengths_are_capped_and_ids_dropped_whole() -> None:
    details = {
        "bounceType": "Permanent",
        "bounceSubType": "G" * 400,
        "bouncedRecipients": [
            {"emailAddress": "x" * 321, "diagnosticCode": "d" * 5000, "status": "5.1.1"}
        ],
        "feedbackId": "f" * 200,
        "reportingMTA": "m" * 300,
    }
    event = _one(ses_event("Bounce", details=details, message_id="i" * 256))
    assert event.recipient is None  # a cut address would be another mailbox
    assert event.vendor_message_id is None
    assert event.diagnostic == "d" * MAX_DIAGNOSTIC
    assert len(event.detail) == 300 and len(event.reported_by) == 255
    assert event.event_id.startswith("ses:sha256:") and len(event.event_id) <= 128
    again = _one(ses_event("Bounce", details=details, message_id="i" * 256))
    assert again.event_id == event.event_id


def test_a_long_complaint_feedback_type_is_cut() -> None:
    details = {"complainedRecipients": ["a@example.net"], "complaintFeedbackType": "t" * 99}
    assert _one(ses_event("Complaint", details=details)).feedback_type == "t" * 40


def test_wrong_typed_optional_fields_read_as_absent() -> None:
    details = {
        "bounceType": 5,
        "bounceSubType": ["General"],
        "bouncedRecipients": [{"emailAddress": "{recipient}", "status": 511, "diagnosticCode": ""}],
        "feedbackId": {"id": 1},
        "timestamp": 0,
    }
    event = _one(ses_event("Bounce", details=details, message_id="mid"))
    assert event.kind is EventKind.UNKNOWN and event.status is None
    assert event.event_id == "ses:mid:rcpt@example.net:Bounce:"


def test_up_to_max_events_recipients_are_read() -> None:
    details = {"recipients": [f"r{i}@example.net" for i in range(MAX_EVENTS)]}
    assert len(ses_events(ses_event("Delivery", details=details), NOW).events) == MAX_EVENTS


def test_more_than_max_events_recipients_is_refused_413() -> None:
    details = {
        "bounceType": "Permanent",
        "bouncedRecipients": [{"emailAddress": f"r{i}@x"} for i in range(MAX_EVENTS + 1)],
    }
    with pytest.raises(WebhookRefused) as caught:
        ses_events(ses_event("Bounce", details=details), NOW)
    assert caught.value.status == 413


def _without(event_type: str, *path: str) -> str:
    data = json.loads(ses_event(event_type))
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return json.dumps(data)


def _with(event_type: str, value: Any, *path: str) -> str:
    data = json.loads(ses_event(event_type))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not json", "not JSON"),
        ("[" * 100_000, "not JSON"),
        ('["Bounce"]', "not a JSON object"),
        ("{}", "neither eventType nor notificationType"),
        ('{"eventType": 7}', "neither eventType nor notificationType"),
        ('{"notificationType": ""}', "neither eventType nor notificationType"),
        ('{"eventType": "Bounce"}', "mail is not an object"),
        (_without("Bounce", "bounce"), "bounce is not an object"),
        (_with("Delivery", [], "delivery"), "delivery is not an object"),
        (_without("Bounce", "mail", "messageId"), "mail.messageId is missing"),
        (_with("Reject", 12, "mail", "messageId"), "mail.messageId is missing"),
        (_without("Bounce", "bounce", "bouncedRecipients"), "bouncedRecipients is not a list"),
        (_with("Complaint", {}, "complaint", "complainedRecipients"), "is not a list"),
        (_with("Delivery", [{}], "delivery", "recipients"), "no email address"),
        (_with("DeliveryDelay", [7], "deliveryDelay", "delayedRecipients"), "no email address"),
        (_with("Bounce", [{"emailAddress": ""}], "bounce", "bouncedRecipients"), "no email"),
        (_with("Bounce", [{"status": "5.1.1"}], "bounce", "bouncedRecipients"), "no email"),
    ],
)
def test_messages_of_no_known_shape_are_refused_400(message: str, reason: str) -> None:
    with pytest.raises(WebhookRefused) as caught:
        ses_events(message, NOW)
    assert caught.value.status == 400
    assert reason in caught.value.reason


def test_event_type_wins_over_notification_type() -> None:
    data = json.loads(ses_event("Delivery"))
    data["notificationType"] = "Bounce"
    assert _one(json.dumps(data)).kind is EventKind.DELIVERED


def test_failure_kind_reads_a_temporary_failure_as_a_delay() -> None:
    # SES's DeliveryDelay is that case; a Transient bounce is not (SES gave up).
    assert failure_kind("4.2.2", "452 full", permanent=False) is EventKind.DELAY
    assert bounce_kind("Transient", "MailboxFull", "4.2.2", "452 full") is EventKind.SOFT
