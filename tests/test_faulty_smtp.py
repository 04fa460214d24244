"""The faulty SMTP server does what it says, checked with a plain aiosmtplib client."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
import sys

import aiosmtplib
import pytest

from tests.support.faulty_smtp import (
    BUSY_GREETING,
    CLOSE,
    STALL_GREETING,
    Data,
    Fault,
    FaultyServer,
    Moment,
    Tls,
)
from tests.support.loopback import HOST, TlsKit, refusing_port
from tests.support.smtp_fixtures import (  # noqa: F401
    PASSWORD,
    STALL_TIMEOUT,
    USER,
    StartServer,
    smtp_server_fixture,
    start_server_fixture,
    threaded_server_fixture,
    tls_kit_fixture,
)

BODY = b"Message-ID: <one@test>\r\nSubject: hi\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"


def client(server: FaultyServer, **options: object) -> aiosmtplib.SMTP:
    options = {"start_tls": False, "timeout": 5.0, **options}
    return aiosmtplib.SMTP(hostname=HOST, port=server.port, local_hostname="client.test", **options)


async def test_records_what_it_accepts(smtp_server: FaultyServer) -> None:
    async with client(smtp_server) as smtp:
        errors, reply = await smtp.sendmail("from@test", ["a@test", "b@test"], BODY)
    assert errors == {} and reply.endswith("queued as Q1")
    [got] = smtp_server.received
    assert (got.connection, got.mail_from, got.rcpt_tos) == (1, "from@test", ("a@test", "b@test"))
    assert got.raw == BODY  # aiosmtplib dot-stuffed it, aiosmtpd undid it
    assert got.message_id == "<one@test>"
    assert smtp_server.connections == 1 and smtp_server.errors == []


async def test_nothing_listening_refuses() -> None:
    with refusing_port() as port, pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(HOST, port)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [(CLOSE, b""), (BUSY_GREETING, b"421 4.3.2 Service not available, closing channel\r\n")],
)
async def test_hangs_up_at_connect(
    smtp_server: FaultyServer, fault: Fault, expected: bytes
) -> None:
    smtp_server.default = fault
    reader, writer = await asyncio.open_connection(HOST, smtp_server.port)
    assert await reader.read() == expected  # read() returns at EOF: the server hung up
    writer.close()
    await writer.wait_closed()
    assert smtp_server.connections == 1


async def test_stalls_at_greeting(smtp_server: FaultyServer) -> None:
    smtp_server.default = STALL_GREETING
    smtp = client(smtp_server, timeout=STALL_TIMEOUT)
    with pytest.raises(aiosmtplib.SMTPConnectTimeoutError):
        await smtp.connect()
    assert smtp_server.connections == 1


async def test_script_by_connection_then_default(smtp_server: FaultyServer) -> None:
    smtp_server.script = [CLOSE, BUSY_GREETING]
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await client(smtp_server).connect()
    with pytest.raises(aiosmtplib.SMTPConnectResponseError) as busy:
        await client(smtp_server).connect()
    assert busy.value.code == 421
    async with client(smtp_server) as smtp:
        await smtp.sendmail("from@test", ["a@test"], BODY)
    assert smtp_server.connections == 3 and len(smtp_server.received) == 1


async def test_auth_accepts_only_the_configured_login(start_server: StartServer) -> None:
    server = await start_server(credentials=(USER, PASSWORD))
    async with client(server) as smtp:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as anonymous:
            await smtp.sendmail("from@test", ["a@test"], BODY)
        assert anonymous.value.code == 530
        assert {"plain", "login"} <= set(smtp.server_auth_methods)
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as wrong:
            await smtp.login(USER, "wrong")
        assert wrong.value.code == 535
        await smtp.login(USER, PASSWORD)
        await smtp.sendmail("from@test", ["a@test"], BODY)
    assert len(server.received) == 1


async def test_auth_fault_refuses_good_credentials(start_server: StartServer) -> None:
    server = await start_server(
        credentials=(USER, PASSWORD), default=Fault(auth="454 4.7.0 Temporary failure")
    )
    async with client(server) as smtp:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
            await smtp.login(USER, PASSWORD)
    assert refused.value.code == 454


@pytest.mark.parametrize("reply", ["451 4.3.0 Try later", "452 4.5.3 Too many", "550 5.1.1 No"])
async def test_rcpt_reply_keeps_the_session(smtp_server: FaultyServer, reply: str) -> None:
    smtp_server.default = Fault(rcpt=reply)
    async with client(smtp_server) as smtp:
        await smtp.mail("from@test")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await smtp.rcpt("a@test")
        assert refused.value.code == int(reply[:3])
        await smtp.rset()


async def test_421_on_rcpt_closes_the_channel(smtp_server: FaultyServer) -> None:
    smtp_server.default = Fault(rcpt="421 4.7.0 Too busy")
    reader, writer = await asyncio.open_connection(HOST, smtp_server.port)
    writer.write(b"EHLO client.test\r\nMAIL FROM:<from@test>\r\nRCPT TO:<a@test>\r\n")
    replies = await reader.read()  # returns at EOF, so the server hung up
    writer.close()
    await writer.wait_closed()
    assert replies.endswith(b"250 OK\r\n421 4.7.0 Too busy\r\n")


async def test_every_nth_rcpt_and_chosen_recipients(smtp_server: FaultyServer) -> None:
    smtp_server.default = Fault(
        rcpt="452 4.5.3 Slow down", rcpt_every=2, refuse={"gone@test": "550 5.1.1 No such user"}
    )
    async with client(smtp_server) as smtp:
        errors, _ = await smtp.sendmail(
            "from@test", ["a@test", "b@test", "c@test", "gone@test", "d@test"], BODY
        )
    assert {rcpt: e.code for rcpt, e in errors.items()} == {"b@test": 452, "gone@test": 550}
    assert smtp_server.received[0].rcpt_tos == ("a@test", "c@test", "d@test")


async def test_hook_switches_after_accepted_messages(smtp_server: FaultyServer) -> None:
    def hook(moment: Moment) -> Fault | None:
        if moment.accepted >= 2 and moment.stage == "rcpt":
            return Fault(rcpt="421 4.7.0 Quota reached")
        return None

    smtp_server.hook = hook
    seen: list[int] = []
    async with client(smtp_server) as smtp:
        for _ in range(3):
            try:
                await smtp.sendmail("from@test", ["a@test"], BODY)
                seen.append(250)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                seen.append(exc.recipients[0].code)
    assert seen == [250, 250, 421]
    assert smtp_server.connections == 1


async def test_drop_in_data(smtp_server: FaultyServer) -> None:
    smtp_server.default = Fault(data=Data.DROP)
    async with client(smtp_server) as smtp:
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await smtp.sendmail("from@test", ["a@test"], BODY)
    assert smtp_server.received == []


async def test_stall_at_data(smtp_server: FaultyServer) -> None:
    smtp_server.default = Fault(data=Data.STALL)
    async with client(smtp_server, timeout=STALL_TIMEOUT) as smtp:
        with pytest.raises(aiosmtplib.SMTPReadTimeoutError):
            await smtp.sendmail("from@test", ["a@test"], BODY)
    assert smtp_server.received == []


async def test_slow_accept_and_data_reply(smtp_server: FaultyServer) -> None:
    smtp_server.script = [Fault(data_delay=0.05), Fault(data_reply="554 5.6.0 Rejected")]
    async with client(smtp_server) as smtp:
        await smtp.sendmail("from@test", ["a@test"], BODY)
    async with client(smtp_server) as smtp:
        with pytest.raises(aiosmtplib.SMTPDataError) as rejected:
            await smtp.sendmail("from@test", ["a@test"], BODY)
    assert rejected.value.code == 554
    assert [r.connection for r in smtp_server.received] == [1]


async def test_stop_hangs_up_on_stalled_clients(start_server: StartServer) -> None:
    stalled = asyncio.Event()

    def hook(moment: Moment) -> Fault | None:
        if moment.stage == "data":
            stalled.set()
            return Fault(data=Data.STALL)
        return None

    server = await start_server(hook=hook)
    smtp = client(server)
    await smtp.connect()
    sending = asyncio.create_task(smtp.sendmail("from@test", ["a@test"], BODY))
    await stalled.wait()
    await server.stop()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await sending
    assert server.received == []


async def test_starttls_with_trusted_certificate(
    start_server: StartServer, tls_kit: TlsKit
) -> None:
    server = await start_server(tls="starttls", tls_kit=tls_kit, credentials=(USER, PASSWORD))
    async with client(server, start_tls=True, tls_context=tls_kit.client_context()) as smtp:
        assert smtp.get_transport_info("sslcontext") is not None
        await smtp.login(USER, PASSWORD)
        await smtp.sendmail("from@test", ["a@test"], BODY)
    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("tls", "error"),
    [(Tls.UNTRUSTED, ssl.SSLCertVerificationError), (Tls.ABORT, aiosmtplib.SMTPServerDisconnected)],
)
async def test_starttls_failures(
    start_server: StartServer, tls_kit: TlsKit, tls: Tls, error: type[Exception]
) -> None:
    server = await start_server(tls="starttls", tls_kit=tls_kit, default=Fault(tls=tls))
    smtp = client(server, tls_context=tls_kit.client_context())
    await smtp.connect()
    await smtp.ehlo()
    assert smtp.supports_extension("starttls")
    with pytest.raises(error):
        await smtp.starttls()
    smtp.close()


async def test_implicit_tls(start_server: StartServer, tls_kit: TlsKit) -> None:
    server = await start_server(tls="implicit", tls_kit=tls_kit)
    async with client(server, use_tls=True, tls_context=tls_kit.client_context()) as smtp:
        await smtp.sendmail("from@test", ["a@test"], BODY)
    untrusted = ssl.create_default_context()  # trusts the system CAs, not ours
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await client(server, use_tls=True, tls_context=untrusted).connect()
    assert len(server.received) == 1


async def test_drop_connections(smtp_server: FaultyServer) -> None:
    smtp = client(smtp_server)
    await smtp.connect()
    await smtp_server.drop_connections()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await smtp.noop()


def test_threaded_server_serves_other_threads(threaded_server: FaultyServer) -> None:
    with smtplib.SMTP(HOST, threaded_server.port, local_hostname="client.test") as smtp:
        smtp.sendmail("from@test", ["a@test"], BODY)
    assert threaded_server.received[0].raw == BODY


@pytest.mark.slow
def test_threaded_server_serves_subprocesses(threaded_server: FaultyServer) -> None:
    threaded_server.script = [CLOSE]
    code = (
        "import smtplib, sys\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        with smtplib.SMTP(sys.argv[1], int(sys.argv[2])) as s:\n"
        "            s.sendmail('from@test', ['a@test'], b'Subject: x\\r\\n\\r\\nhi\\r\\n')\n"
        "    except smtplib.SMTPServerDisconnected:\n"
        "        print('dropped')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, HOST, str(threaded_server.port)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "dropped\n"
    assert threaded_server.connections == 2 and len(threaded_server.received) == 1
