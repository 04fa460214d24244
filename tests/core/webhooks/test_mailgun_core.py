"""read_mailgun: Mailgun's documented event shapes, and every way a request is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sendpool.core.webhooks.events import (
    FRESHNESS_SECONDS,
    MAX_DIAGNOSTIC,
    MAX_TEXT,
    METADATA_KEY,
    EventKind,
    WebhookRefused,
)
from sendpool.core.webhooks.mailgun import read_mailgun
from sendpool.core.webhooks.vendor_fields import MAX_EVENT_ID
from tests.support.webhooks.mailgun import mailgun_event, mailgun_request, new_signing_key

K = EventKind
KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
TOKEN = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123"


def hmac_hex(key: str, timestamp: str, token: str) -> str:
    # "Concatenate timestamp and token values together with no separator", HMAC-SHA256, hex.
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def body_of(
    data: Any,
    *,
    key: str = KEY,
    at: datetime = NOW,
    token: str = TOKEN,
    signature: dict[str, Any] | None = None,
) -> bytes:
    timestamp = str(int(at.timestamp()))
    block = signature or {
        "timestamp": timestamp,
        "token": token,
        "signature": hmac_hex(key, timestamp, token),
    }
    return json.dumps({"signature": block, "event-data": data}).encode()


def refused(body: bytes, status: int, *, key: str = KEY, now: datetime = NOW) -> str:
    with pytest.raises(WebhookRefused) as caught:
        read_mailgun(body, key, now)
    assert caught.value.status == status
    return caught.value.reason


# Mailgun's own samples ("Tracking Messages" / webhooks), trimmed to what is read.
DELIVERED = {
    "tags": [],
    "timestamp": 1534108637.153125,
    "id": "hTWCTD81RtiDN-lVEgO0Hg",
    "user-variables": {METADATA_KEY: "msg_01HXYZ", "other": "x"},
    "envelope": {"sender": "test@example.org", "targets": "recipient@example.com"},
    "message": {
        "headers": {
            "to": "recipient@example.com",
            "message-id": "20180812211713.1.DF5966851B4BAA99@example.org",
            "from": "test@example.org",
        },
        "size": 809,
    },
    "recipient": "recipient@example.com",
    "event": "delivered",
    "delivery-status": {
        "tls": True,
        "mx-host": "smtp-in.example.com",
        "attempt-no": 1,
        "description": "",
        "code": 250,
        "message": "OK",
    },
}


def failed(
    severity: str | None, reason: str | None, delivery: dict[str, Any] | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event": "failed",
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "timestamp": 1534110422.389832,
        "recipient": "invalid@example.com",
        "message": {"headers": {"message-id": "20180812214658.1.0DF563D0B3597700@example.org"}},
    }
    if severity is not None:
        data["severity"] = severity
    if reason is not None:
        data["reason"] = reason
    if delivery is not None:
        data["delivery-status"] = delivery
    return data


def other(event: str) -> dict[str, Any]:
    return {
        "event": event,
        "id": f"id-{event}",
        "timestamp": 1377214260.049634,
        "recipient": "recipient@example.com",
        "message": {"headers": {"message-id": "20130718032413.263EE2E0926@example.org"}},
    }


def bounced(
    code: int, message: str, *, severity: str = "permanent", reason: str = "bounce", **more: str
) -> dict[str, Any]:
    return failed(severity, reason, {"code": code, "message": message, **more})


NOT_EXIST = "5.1.1 The email account that you tried to reach does not exist. Please try"
DEFERRED = "4.7.0 Messages temporarily deferred"
SPAMHAUS = "blocked using zen.spamhaus.org"
PREVIOUSLY = "Not delivering to previously bounced address"
NO_MX = "No MX for nomx.example.com"
GREYLISTED = "Recipient address rejected: Greylisted"
# event-data, kind, status, diagnostic
TABLE: list[tuple[dict[str, Any], EventKind, str | None, str | None]] = [
    (DELIVERED, K.DELIVERED, None, "250 OK"),
    (bounced(550, NOT_EXIST), K.HARD, "5.1.1", f"550 {NOT_EXIST}"),
    # The enhanced code decides even where the words say nothing.
    (bounced(552, "Full", **{"enhanced-code": "5.2.2"}), K.SOFT, "5.2.2", "552 Full"),
    # Expired after days of 4.7.0 deferrals: the sending server's reputation, not the address.
    (bounced(421, DEFERRED, reason="old"), K.REPUTATION, "4.7.0", f"421 {DEFERRED}"),
    (bounced(550, "5.7.1 Blocked"), K.REPUTATION, "5.7.1", "550 5.7.1 Blocked"),
    # A 550 under a blocklist's words is our IP, whatever the code.
    (bounced(550, SPAMHAUS), K.REPUTATION, None, f"550 {SPAMHAUS}"),
    # No enhanced code: the SMTP code and the words.
    (bounced(550, "Mailbox does not exist"), K.HARD, None, "550 Mailbox does not exist"),
    (bounced(552, "Mailbox is full"), K.SOFT, None, "552 Mailbox is full"),
    # Only the description carries the code.
    (bounced(550, "", description="5.1.10 Not found"), K.HARD, "5.1.10", "550 5.1.10 Not found"),
    # Permanent and nothing specific: a hard bounce, as failure_kind says.
    (failed("permanent", "bounce", None), K.HARD, None, None),
    (failed("Permanent", "bounce", {"code": "not a code"}), K.HARD, None, None),
    (failed("permanent", "bounce", {"code": 55}), K.HARD, None, None),
    (failed("permanent", "bounce", {"code": 5501}), K.HARD, None, None),
    # Mailgun did not send: the address is on its own list. Code 605 is Mailgun's, not SMTP.
    (
        bounced(605, "", reason="suppress-bounce", description=PREVIOUSLY),
        K.SUPPRESSED,
        None,
        PREVIOUSLY,
    ),
    (failed("permanent", "suppress-complaint", {"code": 607}), K.SUPPRESSED, None, None),
    (failed("permanent", "Suppress-Unsubscribe", None), K.SUPPRESSED, None, None),
    # Temporary: Mailgun still tries. The same words twice are kept once.
    (bounced(498, NO_MX, severity="temporary", description=NO_MX), K.DELAY, None, f"498 {NO_MX}"),
    (bounced(450, GREYLISTED, severity="temporary"), K.DELAY, None, f"450 {GREYLISTED}"),
    (failed(None, None, None), K.UNKNOWN, None, None),
    (failed("sideways", "bounce", None), K.UNKNOWN, None, None),
    (other("complained"), K.COMPLAINT, None, None),
    (other("unsubscribed"), K.UNSUBSCRIBE, None, None),
    (other("Delivered"), K.DELIVERED, None, None),
    *[
        (other(name), K.IGNORED, None, None)
        for name in ("opened", "clicked", "accepted", "rejected", "stored", "list_member_uploaded")
    ],
]


@pytest.mark.parametrize(("data", "kind", "status", "diagnostic"), TABLE)
def test_each_documented_event_reads_as_its_kind(
    data: dict[str, Any], kind: EventKind, status: str | None, diagnostic: str | None
) -> None:
    verified = read_mailgun(body_of(data), KEY, NOW)
    (event,) = verified.events
    assert (event.kind, event.status, event.diagnostic) == (kind, status, diagnostic)
    assert event.vendor == "mailgun"
    assert event.event_id == data["id"]
    assert event.recipient == data["recipient"]
    assert event.occurred_at == datetime.fromtimestamp(data["timestamp"], UTC)
    assert event.vendor_message_id == data["message"]["headers"]["message-id"]
    assert verified.replay_key == TOKEN
    assert verified.replay_until == NOW + timedelta(seconds=FRESHNESS_SECONDS)


def test_the_delivered_sample_in_full() -> None:
    (event,) = read_mailgun(body_of(DELIVERED), KEY, NOW).events
    assert event.our_id == "msg_01HXYZ"
    assert event.reported_by == "smtp-in.example.com"
    assert event.detail == "delivered"
    assert event.occurred_at == datetime(2018, 8, 12, 21, 17, 17, 153125, tzinfo=UTC)
    assert event.feedback_type is None


def test_detail_is_mailguns_own_classification() -> None:
    data = failed("permanent", "suppress-bounce", None)
    (event,) = read_mailgun(body_of(data), KEY, NOW).events
    assert event.detail == "failed/permanent/suppress-bounce"


def test_the_message_id_is_kept_as_the_transport_keeps_it_without_brackets() -> None:
    data = other("delivered") | {
        "message": {"headers": {"message-id": " <abc.123@mg.example.org> "}}
    }
    (event,) = read_mailgun(body_of(data), KEY, NOW).events
    assert event.vendor_message_id == "abc.123@mg.example.org"


def test_an_event_without_an_id_gets_one_that_is_the_same_on_redelivery() -> None:
    data = other("complained")
    del data["id"]
    first = read_mailgun(body_of(data, token="a" * 50), KEY, NOW).events[0]
    again = read_mailgun(body_of(data, token="b" * 50), KEY, NOW).events[0]
    assert first.event_id == again.event_id
    assert "20130718032413.263EE2E0926@example.org" in first.event_id
    changed = read_mailgun(body_of(data | {"recipient": "x@example.com"}), KEY, NOW).events[0]
    assert changed.event_id != first.event_id


def test_fields_of_the_wrong_type_read_as_absent() -> None:
    data = {
        "event": "failed",
        "severity": "permanent",
        "reason": ["bounce"],
        "id": {"not": "a string"},
        "timestamp": "yesterday",
        "recipient": True,
        "user-variables": [METADATA_KEY],
        "message": {"headers": "message-id: x"},
        "delivery-status": ["550"],
    }
    (event,) = read_mailgun(body_of(data), KEY, NOW).events
    assert event.kind is K.HARD
    assert (event.recipient, event.our_id, event.vendor_message_id) == (None, None, None)
    assert (event.occurred_at, event.reported_by, event.diagnostic) == (None, None, None)
    assert 0 < len(event.event_id) <= MAX_EVENT_ID


def test_numbers_are_read_as_text_where_mailgun_may_send_either() -> None:
    data = other("delivered") | {"user-variables": {METADATA_KEY: 12345}, "timestamp": 1534108637}
    (event,) = read_mailgun(body_of(data), KEY, NOW).events
    assert event.our_id == "12345"
    assert event.occurred_at == datetime.fromtimestamp(1534108637, UTC)


def test_a_time_out_of_range_or_of_another_type_reads_as_absent() -> None:
    for moment in (1e300, -1e300, "nan", True, None, {"seconds": 1}):
        (event,) = read_mailgun(body_of(other("opened") | {"timestamp": moment}), KEY, NOW).events
        assert event.occurred_at is None


def test_huge_strings_are_capped_or_dropped_never_a_crash() -> None:
    huge = "x" * 200_000
    data = failed("permanent", huge, {"code": 550, "message": "5.1.1 " + huge, "mx-host": huge})
    data |= {
        "id": huge,
        "recipient": huge + "@example.com",
        "user-variables": {METADATA_KEY: huge},
        "message": {"headers": {"message-id": huge}},
        "event": "failed",
    }
    (event,) = read_mailgun(body_of(data), KEY, NOW).events
    assert event.kind is K.HARD and event.status == "5.1.1"
    assert event.diagnostic is not None and len(event.diagnostic) == MAX_DIAGNOSTIC
    assert event.reported_by is not None and len(event.reported_by) == 255
    assert len(event.detail) <= MAX_TEXT
    assert len(event.event_id) <= MAX_EVENT_ID  # hashed, and still stable
    assert event.event_id == read_mailgun(body_of(data), KEY, NOW).events[0].event_id
    # An address or an id cut short would name another one: dropped instead.
    assert (event.recipient, event.our_id, event.vendor_message_id) == (None, None, None)


def test_a_huge_event_name_is_cut() -> None:
    (event,) = read_mailgun(body_of(other("x" * 10_000)), KEY, NOW).events
    assert event.kind is K.IGNORED and len(event.detail) <= 40


def test_the_signed_timestamp_may_be_a_json_number() -> None:
    stamp = int(NOW.timestamp())
    block = {"timestamp": stamp, "token": TOKEN, "signature": hmac_hex(KEY, str(stamp), TOKEN)}
    verified = read_mailgun(body_of(DELIVERED, signature=block), KEY, NOW)
    assert verified.replay_until == NOW + timedelta(seconds=FRESHNESS_SECONDS)


def test_a_subaccount_event_verifies_with_the_primary_accounts_key() -> None:
    stamp = str(int(NOW.timestamp()))
    block = {
        "timestamp": stamp,
        "token": TOKEN,
        "signature": hmac_hex("the subaccount's key", stamp, TOKEN),
        "parent-signature": hmac_hex(KEY, stamp, TOKEN),
    }
    assert read_mailgun(body_of(DELIVERED, signature=block), KEY, NOW).events
    refused(body_of(DELIVERED, signature=block), 403, key="a third key")


@pytest.mark.parametrize("skew", [-FRESHNESS_SECONDS, FRESHNESS_SECONDS])
def test_a_timestamp_at_the_edge_of_the_window_is_fresh(skew: int) -> None:
    at = NOW + timedelta(seconds=skew)
    verified = read_mailgun(body_of(DELIVERED, at=at), KEY, NOW)
    assert verified.replay_until == at + timedelta(seconds=FRESHNESS_SECONDS)


@pytest.mark.parametrize("skew", [-FRESHNESS_SECONDS - 1, FRESHNESS_SECONDS + 1, -86_400 * 365])
def test_a_stale_timestamp_is_refused_either_way(skew: int) -> None:
    reason = refused(body_of(DELIVERED, at=NOW + timedelta(seconds=skew)), 403)
    assert reason.startswith("stale")


def test_a_wrong_key_is_refused() -> None:
    assert "does not verify" in refused(body_of(DELIVERED, key="key-of-another-domain"), 403)


def test_an_empty_key_is_refused_even_when_signed_with_it() -> None:
    # Anyone can compute an HMAC under the empty key.
    assert "no Mailgun webhook signing key" in refused(body_of(DELIVERED, key=""), 401, key="")


@pytest.mark.parametrize("field", ["timestamp", "token", "signature"])
def test_a_signed_field_changed_after_signing_is_refused(field: str) -> None:
    good = json.loads(body_of(DELIVERED))
    value = good["signature"][field]
    good["signature"][field] = value[:-1] + ("1" if value[-1] != "1" else "2")
    refused(json.dumps(good).encode(), 403)


def test_event_data_is_not_covered_by_mailguns_signature() -> None:
    """Mailgun signs the timestamp and token only; freshness and the token bound a replay."""
    changed = json.loads(body_of(DELIVERED))
    changed["event-data"]["event"] = "complained"
    verified = read_mailgun(json.dumps(changed).encode(), KEY, NOW)
    assert verified.replay_key == TOKEN  # the same token: the adapter refuses the second use


@pytest.mark.parametrize(
    "signature",
    [
        {"timestamp": "1764590400", "token": TOKEN, "signature": "é" * 64},
        {"timestamp": "1764590400", "token": TOKEN, "signature": ""},
    ],
)
def test_a_signature_that_is_not_a_hex_digest_is_refused(signature: dict[str, Any]) -> None:
    refused(body_of(DELIVERED, signature=signature), 403)


@pytest.mark.parametrize(
    "body",
    [
        {"event-data": DELIVERED},
        {"signature": "abc", "event-data": DELIVERED},
        {"signature": {"token": TOKEN, "signature": "00"}, "event-data": DELIVERED},
        {"signature": {"timestamp": "1", "signature": "00"}, "event-data": DELIVERED},
        {"signature": {"timestamp": "1", "token": "", "signature": "00"}, "event-data": DELIVERED},
        {
            "signature": {"timestamp": 1.5, "token": TOKEN, "signature": "00"},
            "event-data": DELIVERED,
        },
        {
            "signature": {"timestamp": True, "token": TOKEN, "signature": "00"},
            "event-data": DELIVERED,
        },
        {"signature": {"timestamp": "1", "token": TOKEN}, "event-data": DELIVERED},
        {
            "signature": {"timestamp": "1", "token": TOKEN, "signature": None},
            "event-data": DELIVERED,
        },
        {
            "signature": {"timestamp": "1", "token": TOKEN, "signature": 12345},
            "event-data": DELIVERED,
        },
    ],
)
def test_a_request_without_a_complete_signature_is_refused_as_unauthenticated(
    body: dict[str, Any],
) -> None:
    refused(json.dumps(body).encode(), 401)


@pytest.mark.parametrize(
    "stamp", ["yesterday", "-1", "1e9", "17645904000000", " 1764590400", "١٧٦٤٥٩٠٤٠٠"]
)
def test_a_signed_timestamp_that_is_not_a_unix_time_is_malformed(stamp: str) -> None:
    block = {"timestamp": stamp, "token": TOKEN, "signature": hmac_hex(KEY, stamp, TOKEN)}
    assert "not a Unix time" in refused(body_of(DELIVERED, signature=block), 400)


def test_a_token_too_long_to_remember_is_refused() -> None:
    refused(body_of(DELIVERED, token="t" * 129), 400)
    assert read_mailgun(body_of(DELIVERED, token="t" * 128), KEY, NOW).replay_key == "t" * 128


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b'{"signature": ',
        b'{"signature": NaN}',
        b'{"n": ' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b"signature[timestamp]=1&token=x",  # Mailgun's legacy form-encoded webhooks
    ],
)
def test_a_body_that_is_not_json_is_refused(body: bytes) -> None:
    assert refused(body, 400) == "the body is not JSON"


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_a_body_that_is_not_an_object_is_refused(body: bytes) -> None:
    refused(body, 400)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "delivered",
        {"id": "x"},
        {"event": ""},
        {"event": None},
        {"event": ["delivered"]},
        {"event": "   "},
    ],
)
def test_event_data_of_the_wrong_shape_is_refused(data: Any) -> None:
    refused(body_of(data), 400)


def test_a_batch_is_not_mailguns_shape_even_of_10000() -> None:
    one = json.loads(body_of(DELIVERED))
    assert "JSON object" in refused(json.dumps([one] * 10_000).encode(), 400)


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        read_mailgun(body_of(DELIVERED), KEY, NOW.replace(tzinfo=None))


@pytest.mark.parametrize("kind", list(EventKind))
def test_the_test_support_builds_each_kind(kind: EventKind) -> None:
    key = new_signing_key()
    data = mailgun_event(
        kind,
        message_uid="msg_1",
        vendor_id="2026.abc@mg.example.org",
        recipient="a@example.com",
        at=NOW,
    )
    body, headers = mailgun_request(data, signing_key=key, now=NOW)
    assert headers["content-type"] == "application/json"
    verified = read_mailgun(body, key, NOW)
    (event,) = verified.events
    assert (event.kind, event.our_id, event.vendor_message_id) == (
        kind,
        "msg_1",
        "2026.abc@mg.example.org",
    )
    assert event.recipient == "a@example.com" and event.occurred_at == NOW
    again, _ = mailgun_request(data, signing_key=key, now=NOW)
    assert read_mailgun(again, key, NOW).replay_key != verified.replay_key
