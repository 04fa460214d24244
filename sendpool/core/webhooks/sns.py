"""Amazon SNS messages, parsed and verified exactly as AWS documents it, with no I/O.

"Verifying the signatures of Amazon SNS messages": the signature covers a
canonical string of named fields, is made with the key of a certificate that
SNS serves from its own host, and only the topics an operator named are
trusted. A peer that skips the signature, or fetches whatever ``SigningCertURL``
or ``SubscribeURL`` a stranger puts in a body, lets anyone forge bounces or
makes sendpool request URLs of the sender's choosing (SSRF). So the URLs are
pinned to ``sns.<region>.amazonaws.com`` before anything is fetched, and the
certificate, the time and the topic arrive here as arguments.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sendpool.core.webhooks.events import WebhookRefused

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
TYPES = (NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION)

# Longest value accepted per field. SNS caps a message at 256 KiB and a subject
# at 100 characters; the others are ids, ARNs, URLs and a base64 signature.
MAX_LENGTHS: Mapping[str, int] = {
    "Type": 32,
    "MessageId": 128,
    "TopicArn": 512,
    "Message": 262_144,
    "Timestamp": 64,
    "SignatureVersion": 8,
    "Signature": 2048,
    "SigningCertURL": 2048,
    "Subject": 512,
    "SubscribeURL": 2048,
    "Token": 2048,
    "UnsubscribeURL": 2048,
}
REQUIRED = (
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)
CONFIRMATION_REQUIRED = ("SubscribeURL", "Token")

# The fields each type signs, in AWS's order (only these; Subject only if present).
SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SIGNED_CONFIRMATION = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)

# SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA (PKCS#1 v1.5).
HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
FUTURE_SKEW = timedelta(minutes=5)

# sns.us-east-1.amazonaws.com, sns.us-gov-west-1..., sns.cn-north-1.amazonaws.com.cn.
REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"
SNS_HOST = re.compile(rf"sns\.(?P<region>{REGION})\.amazonaws\.com(?P<cn>\.cn)?")
CHINA_REGIONS = frozenset({"cn-north-1", "cn-northwest-1"})
# Characters that URL parsers disagree about: a URL with any of them is not AWS's.
UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


@dataclass(frozen=True, slots=True)
class SnsMessage:
    """One SNS POST body, its fields typed; nothing in it is trusted until verified."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: datetime  # aware UTC
    signature_version: str
    signature: bytes
    signing_cert_url: str
    subject: str | None = None
    subscribe_url: str | None = None
    token: str | None = None
    unsubscribe_url: str | None = None
    timestamp_text: str = ""  # as SNS wrote it: the signed string uses these very characters


class DuplicateKey(ValueError):
    """A JSON object naming a key twice: parsers disagree on which value counts."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise DuplicateKey("a key appears twice")
    return data


def _bad(reason: str) -> WebhookRefused:
    return WebhookRefused(400, f"SNS message: {reason}")


def _field(data: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _bad(f"{key} is missing")
        return None
    if not isinstance(value, str):
        raise _bad(f"{key} is not a string")
    if len(value) > MAX_LENGTHS[key]:
        raise _bad(f"{key} is longer than {MAX_LENGTHS[key]} characters")
    return value


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 time ("2012-04-25T21:49:25.719Z") as aware UTC; None if it is not one."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.astimezone(UTC)


def parse_sns(body: bytes) -> SnsMessage:
    """The fields of an SNS POST body, or WebhookRefused(400) naming what is wrong."""
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise _bad(str(exc) if isinstance(exc, DuplicateKey) else "not valid JSON") from exc
    if not isinstance(data, dict):
        raise _bad("not a JSON object")
    fields = {key: _field(data, key, required=key in REQUIRED) for key in MAX_LENGTHS}
    kind = fields["Type"]
    if kind not in TYPES:
        raise _bad(f"unknown Type {kind!r}")
    missing = [key for key in CONFIRMATION_REQUIRED if fields[key] is None]
    if kind != NOTIFICATION and missing:
        raise _bad(f"{missing[0]} is missing")
    stamp = str(fields["Timestamp"])
    when = parse_timestamp(stamp)
    if when is None:
        raise _bad("Timestamp is not an ISO 8601 time with a zone")
    try:
        signature = base64.b64decode(str(fields["Signature"]), validate=True)
    except ValueError as exc:  # binascii.Error
        raise _bad("Signature is not base64") from exc
    return SnsMessage(
        type=kind,
        message_id=str(fields["MessageId"]),
        topic_arn=str(fields["TopicArn"]),
        message=str(fields["Message"]),
        timestamp=when,
        signature_version=str(fields["SignatureVersion"]),
        signature=signature,
        signing_cert_url=str(fields["SigningCertURL"]),
        subject=fields["Subject"],
        subscribe_url=fields["SubscribeURL"],
        token=fields["Token"],
        unsubscribe_url=fields["UnsubscribeURL"],
        timestamp_text=stamp,
    )


def _sns_time(when: datetime) -> str:
    """SNS's own way to write a time, for a message built without its original text."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def string_to_sign(msg: SnsMessage) -> bytes:
    """The canonical string SNS signed: "Key\\nValue\\n" for each signed field, in order."""
    values = {
        "Message": msg.message,
        "MessageId": msg.message_id,
        "Subject": msg.subject,
        "SubscribeURL": msg.subscribe_url,
        "Timestamp": msg.timestamp_text or _sns_time(msg.timestamp),
        "Token": msg.token,
        "TopicArn": msg.topic_arn,
        "Type": msg.type,
    }
    keys = SIGNED_NOTIFICATION if msg.type == NOTIFICATION else SIGNED_CONFIRMATION
    parts = [f"{key}\n{values[key]}\n" for key in keys if values[key] is not None]
    return "".join(parts).encode("utf-8")


def _refuse(what: str, reason: str) -> WebhookRefused:
    return WebhookRefused(403, f"{what} refused: {reason}")


def _check_sns_url(url: str, what: str) -> tuple[str, str]:
    """The path and query of an https URL on an SNS host, or WebhookRefused(403)."""
    if UNSAFE.search(url):
        raise _refuse(what, "it contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL"
        raise _refuse(what, "it does not parse as a URL") from exc
    if parts.scheme != "https":
        raise _refuse(what, f"scheme {parts.scheme or 'none'!r}, only https is allowed")
    if "@" in parts.netloc:
        raise _refuse(what, "it carries a user name or password")
    try:
        port = parts.port
    except ValueError as exc:
        raise _refuse(what, "its port is not a number") from exc
    if port not in (None, 443):
        raise _refuse(what, f"port {port}, only 443 is allowed")
    host = parts.hostname or ""
    match = SNS_HOST.fullmatch(host)
    if match is None or (match["region"] in CHINA_REGIONS) != bool(match["cn"]):
        raise _refuse(what, f"host {host!r} is not sns.<region>.amazonaws.com")
    if parts.fragment:
        raise _refuse(what, "it carries a fragment")
    return parts.path, parts.query


def check_cert_url(url: str) -> None:
    """Refuse (403) a SigningCertURL that is not a .pem file on an SNS host over https."""
    path, query = _check_sns_url(url, "SigningCertURL")
    if not path.endswith(".pem") or query:
        raise _refuse("SigningCertURL", "the path is not a .pem file")


def check_subscribe_url(url: str) -> None:
    """Refuse (403) a SubscribeURL that is not SNS's ConfirmSubscription over https."""
    _, query = _check_sns_url(url, "SubscribeURL")
    if parse_qs(query).get("Action") != ["ConfirmSubscription"]:
        raise _refuse("SubscribeURL", "it is not Action=ConfirmSubscription")


def _public_key(cert_pem: bytes, now: datetime) -> rsa.RSAPublicKey:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise WebhookRefused(403, "signing certificate is not an X.509 PEM") from exc
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise WebhookRefused(403, "signing certificate is not valid at this time")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRefused(403, "signing certificate does not hold an RSA key")
    return key


def verify_sns(
    msg: SnsMessage,
    cert_pem: bytes,
    *,
    allowed_topics: Sequence[str],
    now: datetime,
    max_age: timedelta = timedelta(hours=1),
) -> None:
    """Refuse (403) unless SNS signed ``msg`` for an allowed topic, recently.

    The signature comes first: the topic advice is given only about a message
    SNS really sent, and a stranger learns nothing from it. The certificate is
    trusted for where it came from (an SNS host, TLS verified), so here it only
    has to be valid at ``now`` and hold the RSA key that made the signature.
    """
    algorithm = HASHES.get(msg.signature_version)
    if algorithm is None:
        raise WebhookRefused(403, f"SignatureVersion {msg.signature_version!r} is not 1 or 2")
    key = _public_key(cert_pem, now)
    try:
        key.verify(msg.signature, string_to_sign(msg), padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise WebhookRefused(403, "signature does not verify") from exc
    if msg.topic_arn not in allowed_topics:
        raise WebhookRefused(
            403, f"topic not allowed — add it to the server's sns_topic_arns: {msg.topic_arn}"
        )
    if msg.timestamp < now - max_age:
        raise WebhookRefused(403, f"stale: signed at {msg.timestamp_text}, over {max_age} ago")
    if msg.timestamp > now + FUTURE_SKEW:
        raise WebhookRefused(403, f"stale: signed at {msg.timestamp_text}, in the future")
