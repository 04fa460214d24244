"""RFC 2920 pipelining and uvloop: the SMTP session as the workers run it, beside lockstep.

The fault cases in test_smtp_faults.py run both lockstep and pipelined; these
add what only a pipelining relay can do, and each session kind on uvloop.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from sendpool.core.outcomes import OutcomeKind, Stage
from sendpool.transports.smtp import SmtpTransport
from tests.support.faulty_smtp import Fault, FaultyServer
from tests.support.loopback import TlsKit
from tests.support.smtp_fixtures import (  # noqa: F401
    OpenTransport,
    make_message,
    open_transport_fixture,
    smtp_spec,
    tls_kit_fixture,
)

ACCEPTED, PERMANENT = OutcomeKind.ACCEPTED, OutcomeKind.PERMANENT


# Pipelining (RFC 2920) -------------------------------------------------------


class _ScriptedRelay:
    """A bare relay on loopback that offers PIPELINING and keeps every chunk it reads.

    It refuses ``refused`` with 550 yet answers the DATA that follows with 354, as
    some relays do; the client must then end that message empty before RSET.
    """

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.reads: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> _ScriptedRelay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted.test ESMTP\r\n")
        in_data, queued = False, 0
        while chunk := await reader.read(65536):
            self.reads.append(chunk)
            for line in chunk.split(b"\r\n")[:-1]:
                if in_data:
                    if line == b".":
                        in_data, queued = False, queued + 1
                        writer.write(b"250 2.0.0 queued as S%d\r\n" % queued)
                    continue
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-scripted.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == b"RCPT" and self.refused.encode() in line:
                    writer.write(b"550 5.1.1 User unknown\r\n")
                elif verb == b"DATA":
                    in_data = True
                    writer.write(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                else:
                    writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()


async def test_pipelined_envelope_goes_out_in_one_write(open_transport: OpenTransport) -> None:
    relay = await _ScriptedRelay(refused="nobody").start()
    try:
        transport = open_transport(relay.port, max_connections=1)
        outcome = await transport.send(make_message(1))
    finally:
        await relay.stop()
    assert (outcome.kind, outcome.remote_id) == (ACCEPTED, "S1")
    envelope = next(chunk for chunk in relay.reads if chunk.startswith(b"MAIL FROM"))
    assert envelope == (
        b"MAIL FROM:<bounce@sender.example>\r\nRCPT TO:<rcpt1@example.org>\r\nDATA\r\n"
    )


async def test_pipelined_refusal_answered_354_ends_the_message_empty(
    open_transport: OpenTransport,
) -> None:
    relay = await _ScriptedRelay(refused="gone@example.org").start()
    try:
        transport = open_transport(relay.port, max_connections=1)
        gone = await transport.send(make_message(1, recipient="gone@example.org"))
        fine = await transport.send(make_message(2))
    finally:
        await relay.stop()
    assert (gone.kind, gone.stage, gone.code) == (PERMANENT, Stage.RCPT, 550)
    # The stray DATA was closed with a bare dot (queued as S1), then RSET; the
    # session stayed usable, so the next message is S2 on the same connection.
    assert (fine.kind, fine.remote_id) == (ACCEPTED, "S2")
    sent = b"".join(relay.reads)
    assert b"DATA\r\n.\r\nRSET\r\n" in sent
    assert sent.count(b"EHLO") == 1


# Workers run on uvloop, whose transports are not asyncio's --------------------


@pytest.mark.parametrize(
    ("tls", "encryption", "pipelining"),
    [
        ("none", "none", False),
        ("none", "none", True),
        ("starttls", "starttls", True),
        ("implicit", "tls", False),
    ],
    ids=["plain", "pipelined", "starttls-pipelined", "implicit-tls"],
)
def test_sessions_on_uvloop(
    tls_kit: TlsKit, tls: Literal["none", "starttls", "implicit"], encryption: str, pipelining: bool
) -> None:
    import uvloop

    refused = Fault(refuse={"gone@example.org": "550 5.1.1 User unknown"})
    server = FaultyServer(tls=tls, tls_kit=tls_kit, pipelining=pipelining, default=refused)

    async def send_three() -> list[OutcomeKind]:
        spec = smtp_spec(server.port, encryption=encryption, max_connections=1)
        transport = SmtpTransport(spec, tls_context=tls_kit.client_context())
        try:
            return [
                (await transport.send(make_message(1))).kind,
                (await transport.send(make_message(2, recipient="gone@example.org"))).kind,
                (await transport.send(make_message(3))).kind,
            ]
        finally:
            await transport.close()

    with server:
        kinds = uvloop.run(send_three())
    assert kinds == [ACCEPTED, PERMANENT, ACCEPTED]
    assert server.connections == 1 and len(server.received) == 2
