"""read_sendgrid and load_public_key: SendGrid's own test vector, its event shapes, refusals."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from sendpool.core.webhooks.events import (
    FRESHNESS_SECONDS,
    MAX_DIAGNOSTIC,
    MAX_EVENTS,
    MAX_TEXT,
    METADATA_KEY,
    EventKind,
    WebhookRefused,
)
from sendpool.core.webhooks.sendgrid import load_public_key, read_sendgrid
from sendpool.core.webhooks.vendor_fields import MAX_EVENT_ID
from tests.support.webhooks.sendgrid import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SendGridKeys,
    new_keys,
    sendgrid_event,
    sendgrid_request,
)

K = EventKind
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
KEYS = new_keys()

# SendGrid's own vector (sendgrid-python, test/unit/test_eventwebhook.py): its public key
# as the console shows it, the headers it sent and the body byte for byte.
VENDOR_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3G"
    "Rqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
VENDOR_OTHER_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWH"
    "w8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="
)
VENDOR_HEADERS = {
    SIGNATURE_HEADER: "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=",
    TIMESTAMP_HEADER: "1600112502",
}
VENDOR_BODY = (
    b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
    b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
    b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
    b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n'
)
VENDOR_NOW = datetime.fromtimestamp(1600112502, UTC)


def signed(
    events: Any, *, keys: SendGridKeys = KEYS, at: datetime = NOW
) -> tuple[bytes, dict[str, str]]:
    """A body of any JSON, signed as SendGrid signs: timestamp then the raw body."""
    body = json.dumps(events).encode() + b"\r\n"
    stamp = str(int(at.timestamp()))
    der = keys.private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {SIGNATURE_HEADER: base64.b64encode(der).decode(), TIMESTAMP_HEADER: stamp}


def read(events: list[dict[str, Any]]) -> Any:
    body, headers = signed(events)
    return read_sendgrid(body, headers, KEYS.public, NOW).events


def refused(
    body: bytes,
    headers: dict[str, str],
    status: int,
    *,
    key: str = KEYS.public,
    now: datetime = NOW,
) -> str:
    with pytest.raises(WebhookRefused) as caught:
        read_sendgrid(body, headers, key, now)
    assert caught.value.status == status
    return caught.value.reason


def test_sendgrids_own_vector_verifies() -> None:
    (event,) = read_sendgrid(VENDOR_BODY, VENDOR_HEADERS, VENDOR_KEY, VENDOR_NOW).events
    assert event.kind is K.SUPPRESSED and event.detail == "dropped/Bounced Address"
    assert event.event_id == "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    assert event.vendor_message_id == "LRzXl_NHStOGhQ4kofSm_A"  # the X-Message-Id
    assert event.recipient == "hello@world.com"
    assert event.occurred_at == datetime.fromtimestamp(1600112492, UTC)
    assert (event.diagnostic, event.status, event.our_id) == (None, None, None)


def test_sendgrids_vector_with_another_key_is_refused() -> None:
    refused(VENDOR_BODY, VENDOR_HEADERS, 403, key=VENDOR_OTHER_KEY, now=VENDOR_NOW)


def test_sendgrids_vector_with_its_bad_signature_is_refused() -> None:
    bad = VENDOR_HEADERS | {
        SIGNATURE_HEADER: "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0="
    }
    assert "does not verify" in refused(VENDOR_BODY, bad, 403, key=VENDOR_KEY, now=VENDOR_NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"payload",
        VENDOR_BODY.rstrip(b"\r\n"),  # the trailing CRLF is signed too
        VENDOR_BODY.replace(b"Bounced Address", b"Bounced Addresz"),
        VENDOR_BODY + b" ",
    ],
)
def test_a_body_changed_after_signing_is_refused(body: bytes) -> None:
    refused(body, VENDOR_HEADERS, 403, key=VENDOR_KEY, now=VENDOR_NOW)


def test_a_timestamp_header_changed_after_signing_is_refused() -> None:
    moved = VENDOR_HEADERS | {TIMESTAMP_HEADER: "1600112503"}
    refused(VENDOR_BODY, moved, 403, key=VENDOR_KEY, now=VENDOR_NOW)


@pytest.mark.parametrize("skew", [-FRESHNESS_SECONDS, 0, FRESHNESS_SECONDS])
def test_a_timestamp_within_the_window_is_fresh(skew: int) -> None:
    body, headers = signed(
        [sendgrid_event(K.DELIVERED, message_uid=None, vendor_id="x", recipient="a@b.c", at=NOW)],
        at=NOW + timedelta(seconds=skew),
    )
    assert len(read_sendgrid(body, headers, KEYS.public, NOW).events) == 1


@pytest.mark.parametrize("skew", [-FRESHNESS_SECONDS - 1, FRESHNESS_SECONDS + 1])
def test_a_stale_timestamp_is_refused_either_way(skew: int) -> None:
    body, headers = signed([], at=NOW + timedelta(seconds=skew))
    assert refused(body, headers, 403).startswith("stale")
    # SendGrid's vector itself, replayed today.
    assert refused(VENDOR_BODY, VENDOR_HEADERS, 403, key=VENDOR_KEY).startswith("stale")


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_a_missing_header_is_refused_as_unauthenticated(missing: str) -> None:
    body, headers = signed([])
    del headers[missing]
    assert missing in refused(body, headers, 401)
    assert missing in refused(body, headers | {missing: "  "}, 401)


def test_headers_are_read_lower_cased_as_the_route_hands_them_on() -> None:
    body, headers = signed([])
    assert read_sendgrid(body, headers, KEYS.public, NOW).events == ()
    shouted = {k.title(): v for k, v in headers.items()}
    refused(body, shouted, 401)


@pytest.mark.parametrize("key", ["", "not a key", base64.b64encode(b"garbage").decode()])
def test_an_unusable_key_for_the_server_is_refused(key: str) -> None:
    body, headers = signed([])
    assert "verification key" in refused(body, headers, 401, key=key)


@pytest.mark.parametrize(
    "signature",
    ["not base64!", "AAAA" * 60, "", "MEUCIQ", "é"],
)
def test_a_signature_that_is_not_base64_der_is_refused(signature: str) -> None:
    body, headers = signed([])
    reason = refused(body, headers | {SIGNATURE_HEADER: signature or "=="}, 403)
    assert "signature" in reason


def test_a_signature_by_another_key_is_refused() -> None:
    body, headers = signed([], keys=new_keys())
    assert "does not verify" in refused(body, headers, 403)


@pytest.mark.parametrize("stamp", ["timestamp", "-1", "1.5", "160011250200000", "١٦٠٠"])
def test_a_timestamp_that_is_not_a_unix_time_is_malformed(stamp: str) -> None:
    body, headers = signed([])
    assert "not a Unix time" in refused(body, headers | {TIMESTAMP_HEADER: stamp}, 400)


def test_at_most_max_events_in_one_request() -> None:
    event = sendgrid_event(K.DELIVERED, message_uid="m", vendor_id="v", recipient="a@b.c", at=NOW)
    body, headers = signed([event] * MAX_EVENTS)
    assert len(read_sendgrid(body, headers, KEYS.public, NOW).events) == MAX_EVENTS
    body, headers = signed([event] * 10_000)
    assert "10000 events" in refused(body, headers, 413)


@pytest.mark.parametrize(
    "body",
    [b"", b"[", b"\x80[]", b"[NaN]", b"[" + b"1" * 5000 + b"]", b"[" * 100_000],
)
def test_a_body_that_is_not_json_is_refused(body: bytes) -> None:
    stamp = str(int(NOW.timestamp()))
    der = KEYS.private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {SIGNATURE_HEADER: base64.b64encode(der).decode(), TIMESTAMP_HEADER: stamp}
    assert refused(body, headers, 400) == "the body is not JSON"


@pytest.mark.parametrize(
    "events",
    [
        {"event": "delivered"},
        "delivered",
        None,
        [1],
        [{"event": "delivered"}, []],
        [{"email": "a@b.c"}],
        [{"event": None}],
    ],
)
def test_a_body_that_is_not_an_array_of_events_is_refused(events: Any) -> None:
    body, headers = signed(events)
    refused(body, headers, 400)


def event(**fields: Any) -> dict[str, Any]:
    return {
        "email": "recipient@example.com",
        "timestamp": 1461095250,
        "smtp-id": "<wrfRRvF7Q0GgwUo2CvDmEA@ismtpd0006p1sjc2.sendgrid.net>",
        "sg_event_id": "lC0Rc-FuQmKbnxCWxX1jRQ",
        "sg_message_id": "Lli-03HcQ5-JLybO9fXsJg.filter0077p1las1.21536.5717FC482.0",
        METADATA_KEY: "msg_01HXYZ",
        **fields,
    }


NOT_EXIST = "550 5.1.1 The email account that you tried to reach does not exist."
FULL = "452 4.2.2 Over quota"


def bounce(type_: str | None, status: str | None, reason: str | None) -> dict[str, Any]:
    fields = {"event": "bounce", "type": type_, "status": status, "reason": reason}
    return {k: v for k, v in fields.items() if v is not None}


def dropped(reason: str) -> tuple[dict[str, Any], EventKind, None, None, str]:
    kind = K.IGNORED if reason.startswith(("Invalid ", "Spam Content")) else K.SUPPRESSED
    return {"event": "dropped", "reason": reason}, kind, None, None, f"dropped/{reason}"


def plain(
    name: str, kind: EventKind, **more: Any
) -> tuple[dict[str, Any], EventKind, None, None, str]:
    return {"event": name, **more}, kind, None, None, name.lower()


# the event's own fields, kind, status, diagnostic, detail
TABLE: list[tuple[dict[str, Any], EventKind, str | None, str | None, str]] = [
    (
        bounce("bounce", "5.1.1", NOT_EXIST) | {"bounce_classification": "Invalid Address"},
        K.HARD,
        "5.1.1",
        NOT_EXIST,
        "bounce/bounce/Invalid Address",
    ),
    (bounce(None, "5.2.2", "552 5.2.2 Full"), K.SOFT, "5.2.2", "552 5.2.2 Full", "bounce"),
    (
        bounce("bounce", "5.7.1", "550 Rejected"),
        K.REPUTATION,
        "5.7.1",
        "550 Rejected",
        "bounce/bounce",
    ),
    (bounce("bounce", None, "550 Unavailable"), K.HARD, None, "550 Unavailable", "bounce/bounce"),
    (bounce("bounce", None, None), K.HARD, None, None, "bounce/bounce"),
    # "blocked": refused for content or reputation; only a status saying otherwise changes it.
    (bounce("blocked", "5.0.0", "550 No"), K.REPUTATION, "5.0.0", "550 No", "bounce/blocked"),
    (bounce("Blocked", None, "554 Failed"), K.REPUTATION, None, "554 Failed", "bounce/Blocked"),
    (bounce("blocked", "5.1.1", NOT_EXIST), K.HARD, "5.1.1", NOT_EXIST, "bounce/blocked"),
    (bounce("blocked", "4.2.2", FULL), K.SOFT, "4.2.2", FULL, "bounce/blocked"),
    dropped("Bounced Address"),
    dropped("Spam Reporting Address"),
    dropped("Unsubscribed Address"),
    dropped("Invalid"),
    dropped("Invalid SMTPAPI header"),
    dropped("Spam Content (if spam checker app enabled)"),
    plain("dropped", K.IGNORED),
    (
        {"event": "deferred", "response": "451 4.7.1 Try again later", "attempt": "3"},
        K.DELAY,
        "4.7.1",
        "451 4.7.1 Try again later",
        "deferred",
    ),
    (
        {"event": "delivered", "response": "250 2.0.0 OK 1461095248 - gsmtp "},
        K.DELIVERED,
        "2.0.0",
        "250 2.0.0 OK 1461095248 - gsmtp",
        "delivered",
    ),
    plain("spamreport", K.COMPLAINT),
    plain("unsubscribe", K.UNSUBSCRIBE),
    plain("group_unsubscribe", K.UNSUBSCRIBE, asm_group_id=42),
    plain("group_resubscribe", K.IGNORED, asm_group_id=42),
    plain("processed", K.IGNORED),
    plain("open", K.IGNORED, useragent="Mozilla/5.0"),
    plain("click", K.IGNORED, url="https://example.com"),
    plain("Delivered", K.DELIVERED),
]


@pytest.mark.parametrize(("fields", "kind", "status", "diagnostic", "detail"), TABLE)
def test_each_documented_event_reads_as_its_kind(
    fields: dict[str, Any], kind: EventKind, status: str | None, diagnostic: str | None, detail: str
) -> None:
    (got,) = read([event(**fields)])
    assert (got.kind, got.status, got.diagnostic, got.detail) == (kind, status, diagnostic, detail)
    assert got.vendor == "sendgrid"
    assert got.event_id == "lC0Rc-FuQmKbnxCWxX1jRQ"
    assert got.our_id == "msg_01HXYZ"
    assert got.vendor_message_id == "Lli-03HcQ5-JLybO9fXsJg"
    assert got.recipient == "recipient@example.com"
    assert got.occurred_at == datetime(2016, 4, 19, 19, 47, 30, tzinfo=UTC)
    assert (got.reported_by, got.feedback_type) == (None, None)


def test_a_batch_keeps_its_order() -> None:
    events = read(
        [event(event="delivered", sg_event_id="1"), event(event="spamreport", sg_event_id="2")]
    )
    assert [(e.event_id, e.kind) for e in events] == [("1", K.DELIVERED), ("2", K.COMPLAINT)]


def test_an_event_without_an_id_gets_one_that_is_the_same_on_redelivery() -> None:
    fields = event(event="bounce", type="bounce")
    del fields["sg_event_id"]
    (first,), (again,) = read([fields]), read([dict(reversed(list(fields.items())))])
    assert first.event_id == again.event_id and "Lli-03HcQ5-JLybO9fXsJg" in first.event_id
    (other,) = read([fields | {"event": "dropped"}])
    assert other.event_id != first.event_id


@pytest.mark.parametrize(
    ("sg_message_id", "expected"),
    [("abc", "abc"), ("abc.def.0", "abc"), (".filter", None), (12345, None), (None, None)],
)
def test_the_vendor_id_is_sg_message_id_up_to_its_first_dot(
    sg_message_id: Any, expected: str | None
) -> None:
    (got,) = read([event(event="delivered", sg_message_id=sg_message_id)])
    assert got.vendor_message_id == expected


def test_fields_of_the_wrong_type_read_as_absent() -> None:
    fields = event(
        event="bounce",
        type=["blocked"],
        status={"code": "5.7.1"},
        reason=["550 5.7.1"],
        email=None,
        timestamp="1461095250x",
        sg_event_id=False,
        **{METADATA_KEY: {"uid": "m"}},
    )
    (got,) = read([fields])
    assert (got.kind, got.status, got.diagnostic) == (K.HARD, None, None)
    assert (got.recipient, got.our_id, got.occurred_at) == (None, None, None)
    assert 0 < len(got.event_id) <= MAX_EVENT_ID


def test_huge_strings_are_capped_or_dropped_never_a_crash() -> None:
    huge = "z" * 100_000
    fields = event(
        event="bounce",
        type="blocked" + huge,
        status="5.1.1" + huge,
        reason=NOT_EXIST + huge,
        bounce_classification=huge,
        email=huge,
        sg_event_id=huge,
        sg_message_id=huge,
        **{METADATA_KEY: huge},
    )
    (got,) = read([fields])
    assert got.kind is K.HARD  # its type is not "blocked", and the status is 5.1.1
    assert got.status == "5.1.1"
    assert got.diagnostic is not None and len(got.diagnostic) == MAX_DIAGNOSTIC
    assert len(got.detail) <= MAX_TEXT and len(got.event_id) <= MAX_EVENT_ID
    assert (got.recipient, got.our_id, got.vendor_message_id) == (None, None, None)


def test_a_naive_now_is_a_programming_error() -> None:
    body, headers = signed([])
    with pytest.raises(ValueError, match="aware"):
        read_sendgrid(body, headers, KEYS.public, NOW.replace(tzinfo=None))


@pytest.mark.parametrize("kind", [k for k in EventKind if k is not EventKind.UNKNOWN])
def test_the_test_support_builds_each_kind(kind: EventKind) -> None:
    keys = new_keys()
    built = sendgrid_event(
        kind, message_uid="msg_1", vendor_id="xMsgId_1", recipient="a@example.com", at=NOW
    )
    body, headers = sendgrid_request([built], keys=keys, now=NOW)
    (got,) = read_sendgrid(body, headers, keys.public, NOW).events
    assert (got.kind, got.our_id, got.vendor_message_id) == (kind, "msg_1", "xMsgId_1")
    assert got.recipient == "a@example.com" and got.occurred_at == NOW
    refused(body, headers, 403, key=KEYS.public)


def test_the_test_support_has_no_unknown_event() -> None:
    with pytest.raises(ValueError, match="unknown"):
        sendgrid_event(K.UNKNOWN, message_uid=None, vendor_id="v", recipient="a@b.c", at=NOW)


# load_public_key


def test_the_key_as_sendgrids_console_shows_it() -> None:
    key = load_public_key(VENDOR_KEY)
    assert isinstance(key.curve, ec.SECP256R1)
    # Copied with line breaks or spaces around it, it is the same key.
    wrapped = "\n  " + VENDOR_KEY[:40] + "\n" + VENDOR_KEY[40:] + "  \n"
    assert load_public_key(wrapped).public_numbers() == key.public_numbers()


def test_a_pem_public_key() -> None:
    pem = KEYS.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    key = load_public_key(pem.decode())
    assert key.public_numbers() == KEYS.private.public_key().public_numbers()


def _spki(public: Any, encoding: Encoding = Encoding.DER) -> str:
    data = public.public_bytes(encoding, PublicFormat.SubjectPublicKeyInfo)
    return data.decode() if encoding is Encoding.PEM else base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            _spki(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
            "RSAPublicKey",
        ),
        (
            _spki(
                rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
                Encoding.PEM,
            ),
            "not an elliptic-curve key",
        ),
        (_spki(ed25519.Ed25519PrivateKey.generate().public_key()), "not an elliptic-curve key"),
        (_spki(ec.generate_private_key(ec.SECP384R1()).public_key()), "curve secp384r1"),
        (
            _spki(ec.generate_private_key(ec.SECP256K1()).public_key(), Encoding.PEM),
            "curve secp256k1",
        ),
        ("", "not a SendGrid verification key"),
        ("garbage!", "not a SendGrid verification key"),
        (base64.b64encode(b"not DER").decode(), "not a SendGrid verification key"),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "not a SendGrid verification key",
        ),
        ("-----BEGIN PUBLIC KEY-----é", "not a SendGrid verification key"),
        (
            KEYS.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
            "not a SendGrid verification key",
        ),
    ],
    # Named, not shown: the keys are made at collection, and every xdist worker makes its own.
    ids=[
        "rsa-der",
        "rsa-pem",
        "ed25519",
        "secp384r1",
        "secp256k1",
        "empty",
        "garbage",
        "not-der",
        "bad-pem",
        "non-ascii",
        "private-key",
    ],  # fmt: skip
)
def test_anything_but_a_p256_public_key_is_refused_clearly(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        load_public_key(text)
