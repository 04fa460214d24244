"""Amazon SNS as the tests play it: signed messages, SES events, and SNS's HTTPS host.

Typical use, end to end::

    signer = SnsSigner.create()                     # a test CA and an RSA signing cert
    with SnsHttpsServer() as sns:                   # sns.us-east-1.amazonaws.com on 127.0.0.1
        sns.serve(CERT_PATH, signer.cert_pem)       # the PEM a SigningCertURL names
        body = notification(signer, ses_event("Bounce", message_uid="m1"))
        async with certificates_for(sns) as certs:  # SnsCertificates reaching that server
            verified = await read_sns(body, allowed_topics=[TOPIC_ARN], secret_ok=False,
                                      certs=certs, now=NOW)

``subscription_confirmation(signer)`` makes a signed confirmation whose
SubscribeURL is on the same server; ``sns.confirmations`` lists the GETs of it.
Nothing here reads sendpool's own signing code: the string to sign is written
out again from AWS's documentation, so a mistake on either side fails a test.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from sendpool.core.webhooks.events import METADATA_KEY
from sendpool.services.webhooks.sns_certs import SnsCertificates

HOST = "127.0.0.1"
SNS_HOST = "sns.us-east-1.amazonaws.com"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ses-events"
CERT_PATH = "/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
CERT_URL = f"https://{SNS_HOST}{CERT_PATH}"
SUBSCRIBE_URL = (
    f"https://{SNS_HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token=2336412f37fb6"
)
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)

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


def sns_time(when: datetime) -> str:
    """A time as SNS writes it: "2026-12-01T12:00:00.000Z"."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass(frozen=True)
class SnsSigner:
    """An RSA key and its certificate, issued by a test CA, as SNS signs with.

    ``SnsSigner.create(not_before=..., not_after=...)`` makes a fresh one;
    ``cert_pem`` is what the HTTPS server serves at the SigningCertURL.
    """

    key: rsa.RSAPrivateKey
    cert_pem: bytes
    ca_pem: bytes

    @classmethod
    def create(
        cls,
        *,
        not_before: datetime = NOW - timedelta(days=30),
        not_after: datetime = NOW + timedelta(days=365),
    ) -> SnsSigner:
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("sendpool test CA"))
            .issuer_name(_name("sendpool test CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before - timedelta(days=1))
            .not_valid_after(not_after + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("sns.amazonaws.com"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        return cls(key, cert.public_bytes(pem), ca.public_bytes(pem))

    def sign(self, fields: Mapping[str, str], version: str = "2") -> str:
        """Base64 of SHA1withRSA (version "1") or SHA256withRSA ("2") over the fields."""
        keys = SIGNED_NOTIFICATION if fields["Type"] == "Notification" else SIGNED_CONFIRMATION
        text = "".join(f"{k}\n{fields[k]}\n" for k in keys if k in fields)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        raw = self.key.sign(text.encode("utf-8"), padding.PKCS1v15(), algorithm)
        return base64.b64encode(raw).decode("ascii")


def signed_body(signer: SnsSigner, fields: Mapping[str, str], *, version: str = "2") -> bytes:
    """A POST body: ``fields`` plus SignatureVersion and Signature, as SNS sends it."""
    body: dict[str, str] = {**fields, "SignatureVersion": version}
    body["Signature"] = signer.sign(fields, version)
    return json.dumps(body, indent=2).encode("utf-8")


def notification(
    signer: SnsSigner,
    message: str,
    *,
    topic_arn: str = TOPIC_ARN,
    cert_url: str = CERT_URL,
    timestamp: datetime = NOW,
    subject: str | None = None,
    version: str = "2",
    message_id: str | None = None,
) -> bytes:
    """A signed SNS Notification carrying ``message`` (an SES event: ``ses_event``)."""
    fields = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": message,
        "Timestamp": sns_time(timestamp),
        "SigningCertURL": cert_url,
        "UnsubscribeURL": f"https://{SNS_HOST}/?Action=Unsubscribe&SubscriptionArn={topic_arn}:1",
    }
    if subject is not None:
        fields["Subject"] = subject
    return signed_body(signer, fields, version=version)


def subscription_confirmation(
    signer: SnsSigner,
    *,
    topic_arn: str = TOPIC_ARN,
    cert_url: str = CERT_URL,
    subscribe_url: str = SUBSCRIBE_URL,
    timestamp: datetime = NOW,
    version: str = "2",
    kind: str = "SubscriptionConfirmation",
) -> bytes:
    """A signed SubscriptionConfirmation (or, with ``kind``, UnsubscribeConfirmation)."""
    fields = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a",
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.",
        "SubscribeURL": subscribe_url,
        "Timestamp": sns_time(timestamp),
        "SigningCertURL": cert_url,
    }
    return signed_body(signer, fields, version=version)


DEFAULT_DETAILS: Mapping[str, dict[str, Any]] = {
    "Bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": "{recipient}",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
        "timestamp": "{timestamp}",
        "feedbackId": "0100017b-feedback-{message_id}",
        "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
    },
    "Complaint": {
        "complainedRecipients": [{"emailAddress": "{recipient}"}],
        "timestamp": "{timestamp}",
        "feedbackId": "0100017b-complaint-{message_id}",
        "userAgent": "Yahoo!-Mail-Feedback/2.0",
        "complaintFeedbackType": "abuse",
        "arrivalDate": "{timestamp}",
    },
    "Delivery": {
        "timestamp": "{timestamp}",
        "processingTimeMillis": 546,
        "recipients": ["{recipient}"],
        "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": "a8-70.smtp-out.amazonses.com",
    },
    "DeliveryDelay": {
        "timestamp": "{timestamp}",
        "delayType": "MailboxFull",
        "expirationTime": "{timestamp}",
        "delayedRecipients": [
            {
                "emailAddress": "{recipient}",
                "status": "4.2.2",
                "diagnosticCode": "smtp; 452 4.2.2 mailbox full",
            }
        ],
        "reportingMTA": "a8-70.smtp-out.amazonses.com",
    },
    "Reject": {"reason": "Bad content"},
    "Open": {"timestamp": "{timestamp}", "ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0"},
}
DETAIL_KEYS = {"DeliveryDelay": "deliveryDelay", "Rendering Failure": "failure"}


def _fill(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, text in names.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def ses_event(
    event_type: str,
    *,
    shape: str = "event",
    message_uid: str | None = "msg-uid-1",
    message_id: str = "0100017b-ses-message-id-000001",
    recipient: str = "rcpt@example.net",
    details: Mapping[str, Any] | None = None,
    timestamp: datetime = NOW - timedelta(minutes=1),
) -> str:
    """An SES event as the SNS Message carries it (a JSON string).

    ``shape``: "event" (configuration-set publishing: ``eventType``, and
    ``mail.tags`` naming ``message_uid`` under METADATA_KEY) or "notification"
    (identity notifications: ``notificationType``, no tags). ``details``
    replaces the type's default object; "{recipient}", "{timestamp}" and
    "{message_id}" in its strings are filled in.
    """
    names = {"recipient": recipient, "timestamp": sns_time(timestamp), "message_id": message_id}
    mail: dict[str, Any] = {
        "timestamp": sns_time(timestamp - timedelta(seconds=5)),
        "messageId": message_id,
        "source": "news@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.com",
        "sendingAccountId": "123456789012",
        "destination": [recipient],
        "headersTruncated": False,
        "commonHeaders": {"from": ["news@example.com"], "to": [recipient]},
    }
    data: dict[str, Any] = {}
    if shape == "event":
        data["eventType"] = event_type
        mail["tags"] = {"ses:configuration-set": ["sendpool"]}
        if message_uid is not None:
            mail["tags"][METADATA_KEY] = [message_uid]
    else:
        data["notificationType"] = event_type
    data["mail"] = mail
    key = DETAIL_KEYS.get(event_type, event_type[:1].lower() + event_type[1:])
    data[key] = _fill(dict(details if details is not None else DEFAULT_DETAILS[event_type]), names)
    return json.dumps(data)


@dataclass
class Route:
    """What the server answers at one path: a status, a body, extra headers."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


class SnsHttpsServer:
    """SNS's HTTPS host on 127.0.0.1 (a free port), with a certificate from a test CA.

    ``serve(path, body, status=..., headers=...)`` scripts an answer;
    ``requests`` lists every GET (path with query); ``confirmations`` those
    carrying Action=ConfirmSubscription, which are answered 200 unless
    scripted otherwise. ``hosts`` are the names its certificate is valid for.
    """

    def __init__(self, hosts: Sequence[str] = (SNS_HOST,)) -> None:
        self.hosts = tuple(hosts)
        self.ca = trustme.CA()
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*self.hosts).configure_cert(context)
        self._httpd = ThreadingHTTPServer((HOST, 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's name)
                with server._lock:
                    server.requests.append(self.path)
                parts = urlsplit(self.path)
                route = server.routes.get(self.path) or server.routes.get(parts.path)
                route = route or server.route(self.path)
                if route is None and parse_qs(parts.query).get("Action") == ["ConfirmSubscription"]:
                    route = Route(200, b"<ConfirmSubscriptionResponse/>")
                route = route or Route(404, b"not found")
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        return Handler

    def route(self, path: str) -> Route | None:
        """The answer at a path no ``serve`` scripted; a subclass may make one up (None: 404)."""
        return None

    def serve(
        self, path: str, body: bytes, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self.routes[path] = Route(status, body, dict(headers or {}))

    @property
    def confirmations(self) -> list[str]:
        with self._lock:
            return [p for p in self.requests if "Action=ConfirmSubscription" in p]

    def client_context(self) -> ssl.SSLContext:
        """An SSL context trusting this server's CA (and nothing else)."""
        return ssl.create_default_context(cadata=self.ca.cert_pem.bytes().decode("ascii"))

    def start(self) -> SnsHttpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SnsHttpsServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def certificates_for(server: SnsHttpsServer, **options: Any) -> SnsCertificates:
    """SnsCertificates whose SNS hosts connect to ``server`` and trust only its CA."""
    connect_to = {host: (HOST, server.port) for host in server.hosts}
    return SnsCertificates(ssl_context=server.client_context(), connect_to=connect_to, **options)
