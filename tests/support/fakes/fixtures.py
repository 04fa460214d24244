"""Fixtures for the transport tests: the vendor fakes, moto's SES server, a closed port."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto.server import ThreadedMotoServer

from tests.support.fakes.http_fake import HOST, FakeVendor
from tests.support.fakes.mailgun import MailgunFake
from tests.support.fakes.moto_ses import MotoSes
from tests.support.fakes.postmark import PostmarkFake
from tests.support.fakes.sendgrid import SendgridFake
from tests.support.fakes.ses import SesFake


@contextmanager
def running(fake: FakeVendor) -> Iterator[FakeVendor]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def mailgun_fake() -> Iterator[MailgunFake]:
    with running(MailgunFake()) as fake:
        assert isinstance(fake, MailgunFake)
        yield fake


@pytest.fixture
def postmark_fake() -> Iterator[PostmarkFake]:
    with running(PostmarkFake()) as fake:
        assert isinstance(fake, PostmarkFake)
        yield fake


@pytest.fixture
def sendgrid_fake() -> Iterator[SendgridFake]:
    with running(SendgridFake()) as fake:
        assert isinstance(fake, SendgridFake)
        yield fake


@pytest.fixture
def ses_fake() -> Iterator[SesFake]:
    with running(SesFake()) as fake:
        assert isinstance(fake, SesFake)
        yield fake


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def moto_ses() -> Iterator[MotoSes]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    try:
        yield MotoSes(server)
    finally:
        server.stop()
