"""What moto's SNS really POSTs (signed, version 2) is accepted, and refused once altered.

moto in server mode publishes to an http endpoint on 127.0.0.1 that records the
body; the certificate moto signed with is fetched from moto and served by a
local HTTPS server standing in for sns.us-east-1.amazonaws.com.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from sendpool.core.webhooks.events import EventKind, WebhookRefused
from sendpool.core.webhooks.sns import parse_sns
from sendpool.services.webhooks.sns import read_sns
from tests.support.webhooks.sns import HOST, SnsHttpsServer, certificates_for, ses_event


class PostRecorder:
    """An http endpoint on 127.0.0.1 keeping each POST body as it arrived."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                recorder.bodies.append(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.url = f"http://{HOST}:{self._httpd.server_address[1]}/sns"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@dataclass
class Published:
    body: bytes
    topic_arn: str
    cert_pem: bytes
    cert_path: str


@pytest.fixture(scope="module")
def published() -> Iterator[Published]:
    """One SES bounce published through moto's SNS to an http subscriber."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    moto.start()
    recorder = PostRecorder()
    try:
        host, port = moto.get_host_and_port()
        client = boto3.client(
            "sns",
            region_name="us-east-1",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        topic_arn = client.create_topic(Name="ses-events")["TopicArn"]
        client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=recorder.url)
        client.publish(TopicArn=topic_arn, Message=ses_event("Bounce", message_uid="uid-7"))
        (body,) = recorder.bodies
        cert_path = urlsplit(json.loads(body)["SigningCertURL"]).path
        # moto's server picks the service by a SigV4 credential scope; the PEM needs no key.
        scope = "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/sns/aws4_request, x"
        request = urllib.request.Request(
            f"http://{host}:{port}{cert_path}", headers={"Authorization": scope}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            cert_pem = answer.read()
        yield Published(body, topic_arn, cert_pem, cert_path)
    finally:
        recorder.stop()
        moto.stop()


@pytest.fixture
def sns(published: Published) -> Iterator[SnsHttpsServer]:
    with SnsHttpsServer() as server:
        server.serve(published.cert_path, published.cert_pem)
        yield server


async def _read(sns: SnsHttpsServer, body: bytes, topics: list[str], delay: timedelta) -> Any:
    now = parse_sns(body).timestamp + delay
    async with certificates_for(sns) as certs:
        return await read_sns(body, allowed_topics=topics, secret_ok=False, certs=certs, now=now)


def test_moto_signs_with_version_2_from_an_sns_host(published: Published) -> None:
    msg = parse_sns(published.body)
    assert msg.signature_version == "2"
    assert msg.signing_cert_url == f"https://sns.us-east-1.amazonaws.com{published.cert_path}"


async def test_what_moto_posts_is_accepted(published: Published, sns: SnsHttpsServer) -> None:
    verified = await _read(sns, published.body, [published.topic_arn], timedelta(seconds=1))
    (event,) = verified.events
    assert (event.kind, event.our_id, event.recipient) == (
        EventKind.HARD,
        "uid-7",
        "rcpt@example.net",
    )
    assert sns.requests == [published.cert_path]


def _altered(body: bytes) -> list[bytes]:
    """The body with one byte of the signed Message changed, in two ways."""
    at = body.index(b"rcpt@example.net")
    return [body[:at] + b"R" + body[at + 1 :], body.replace(b"Permanent", b"Transient")]


async def test_a_changed_byte_is_refused(published: Published, sns: SnsHttpsServer) -> None:
    for body in _altered(published.body):
        with pytest.raises(WebhookRefused) as caught:
            await _read(sns, body, [published.topic_arn], timedelta(seconds=1))
        assert (caught.value.status, caught.value.reason) == (403, "signature does not verify")


async def test_a_topic_not_allowed_is_refused(published: Published, sns: SnsHttpsServer) -> None:
    for topics in ([], [published.topic_arn + "-other"]):
        with pytest.raises(WebhookRefused, match="topic not allowed") as caught:
            await _read(sns, published.body, topics, timedelta(seconds=1))
        assert caught.value.status == 403


async def test_a_stale_notification_is_refused(published: Published, sns: SnsHttpsServer) -> None:
    with pytest.raises(WebhookRefused, match="stale") as caught:
        await _read(sns, published.body, [published.topic_arn], timedelta(hours=1, seconds=1))
    assert caught.value.status == 403
