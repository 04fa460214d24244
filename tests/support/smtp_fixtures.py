"""Fixtures for SMTP tests: faulty servers, transports pointed at them, and messages.

Import the ``*_fixture`` functions into a test module explicitly (``# noqa: F401``);
the fixtures go by their ``name=`` so test parameters do not shadow the imports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from sendpool.transports.message import OutgoingMessage
from sendpool.transports.smtp import SmtpTransport
from sendpool.transports.spec import ServerSpec
from tests.support.faulty_smtp import FaultyServer
from tests.support.loopback import HOST, TlsKit

USER, PASSWORD = "mailer", "s3cret"

# For stall tests: short enough to end soon, far above any loopback round trip.
STALL_TIMEOUT = 0.5

StartServer = Callable[..., Awaitable[FaultyServer]]
OpenTransport = Callable[..., SmtpTransport]


def smtp_spec(
    port: int,
    *,
    encryption: str = "none",
    username: str | None = None,
    password: str | None = None,
    timeout: float = 5.0,
    max_connections: int = 4,
    max_messages_per_connection: int | None = None,
    **settings: Any,
) -> ServerSpec:
    """A relay on 127.0.0.1; the default timeout is generous, stall tests pass a short one."""
    return ServerSpec(
        id=1,
        uid="srv-faulty",
        name="faulty",
        type="smtp",
        settings={
            "host": HOST,
            "port": port,
            "encryption": encryption,
            "username": username,
            "helo_name": "client.test",
            **settings,
        },
        secrets={"password": password} if password is not None else {},
        max_connections=max_connections,
        max_messages_per_connection=max_messages_per_connection,
        timeout=timeout,
    )


def make_message(
    n: int = 1,
    *,
    recipient: str | None = None,
    text: str | None = "Hello.\n",
    html: str | None = None,
    mime: bytes | None = None,
) -> OutgoingMessage:
    """Message ``n`` to ``rcpt{n}@example.org``; ``mime`` replaces the built bytes verbatim."""
    return OutgoingMessage(
        uid=f"msg{n}",
        envelope_from="bounce@sender.example",
        recipient=recipient or f"rcpt{n}@example.org",
        from_header="News <news@sender.example>",
        subject=f"Message {n}",
        text=text,
        html=html,
        message_id=f"<msg{n}@sender.example>",
        date="Fri, 27 Nov 2026 10:00:00 +0000",
        _mime=mime,
    )


@pytest.fixture(name="tls_kit", scope="session")
def tls_kit_fixture() -> TlsKit:
    return TlsKit.create()


@pytest.fixture(name="smtp_server")
async def smtp_server_fixture() -> AsyncIterator[FaultyServer]:
    """A plain server in the test's loop that behaves until the test scripts it."""
    async with FaultyServer() as server:
        yield server
    assert server.unexpected_errors == []


@pytest.fixture(name="start_server")
async def start_server_fixture() -> AsyncIterator[StartServer]:
    """Start servers with any ``FaultyServer`` options; all stop when the test ends."""
    started: list[FaultyServer] = []

    async def start(**options: Any) -> FaultyServer:
        server = await FaultyServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()
    assert [e for s in started for e in s.unexpected_errors] == []


@pytest.fixture(name="threaded_server")
def threaded_server_fixture() -> Iterator[FaultyServer]:
    """A plain server on a thread of its own, for clients outside the test's loop."""
    with FaultyServer() as server:
        yield server
    assert server.unexpected_errors == []


@pytest.fixture(name="open_transport")
async def open_transport_fixture() -> AsyncIterator[OpenTransport]:
    """Build ``SmtpTransport``s from ``smtp_spec`` options; all close when the test ends."""
    opened: list[SmtpTransport] = []

    def open_transport(port: int, *, tls_context: Any = None, **options: Any) -> SmtpTransport:
        transport = SmtpTransport(smtp_spec(port, **options), tls_context=tls_context)
        opened.append(transport)
        return transport

    yield open_transport
    for transport in opened:
        await transport.close()
