"""SmtpTransport against a faulty SMTP server: each fault comes back as the right Outcome."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sendpool.core.outcomes import OutcomeKind, Stage
from sendpool.transports.smtp import dot_stuff
from tests.support.faulty_smtp import (
    BUSY_GREETING,
    CLOSE,
    OK,
    STALL_GREETING,
    Data,
    Fault,
    FaultyServer,
    Moment,
    Tls,
)
from tests.support.loopback import TlsKit, refusing_port
from tests.support.smtp_fixtures import (  # noqa: F401
    PASSWORD,
    STALL_TIMEOUT,
    USER,
    OpenTransport,
    StartServer,
    make_message,
    open_transport_fixture,
    smtp_server_fixture,
    start_server_fixture,
    tls_kit_fixture,
)

FAILURE, TRANSIENT, PERMANENT, ACCEPTED = (
    OutcomeKind.SERVER_FAILURE,
    OutcomeKind.TRANSIENT,
    OutcomeKind.PERMANENT,
    OutcomeKind.ACCEPTED,
)


@dataclass(frozen=True)
class Case:
    fault: Fault
    kind: OutcomeKind
    stage: Stage
    code: int | None
    connections: int  # after the failed message and one good one
    spec: dict[str, Any] = field(default_factory=dict)


CASES = {
    "closed-at-connect": Case(CLOSE, FAILURE, Stage.CONNECT, None, 2),
    "421-greeting": Case(BUSY_GREETING, FAILURE, Stage.CONNECT, 421, 2),
    "stall-at-greeting": Case(
        STALL_GREETING, FAILURE, Stage.CONNECT, None, 2, {"timeout": STALL_TIMEOUT}
    ),
    "535-auth": Case(Fault(auth="535 5.7.8 Bad credentials"), FAILURE, Stage.AUTH, 535, 2),
    "454-auth": Case(Fault(auth="454 4.7.0 Try again later"), FAILURE, Stage.AUTH, 454, 2),
    "451-rcpt": Case(Fault(rcpt="451 4.3.0 Try again later"), TRANSIENT, Stage.RCPT, 451, 1),
    "452-rcpt": Case(Fault(rcpt="452 4.5.3 Too many recipients"), TRANSIENT, Stage.RCPT, 452, 1),
    "421-rcpt": Case(Fault(rcpt="421 4.7.0 Too busy, closing"), TRANSIENT, Stage.RCPT, 421, 2),
    "550-rcpt": Case(
        Fault(refuse={"rcpt1@example.org": "550 5.1.1 User unknown"}),
        PERMANENT,
        Stage.RCPT,
        550,
        1,
    ),
    # RFC 1047: once the body went out, a lost reply may hide a delivery.
    "drop-in-data": Case(Fault(data=Data.DROP), OutcomeKind.UNKNOWN, Stage.DATA, None, 2),
    "stall-at-data": Case(
        Fault(data=Data.STALL),
        OutcomeKind.UNKNOWN,
        Stage.DATA,
        None,
        2,
        {"timeout": STALL_TIMEOUT},
    ),
    "451-data": Case(Fault(data_reply="451 4.7.1 Greylisted"), TRANSIENT, Stage.DATA, 451, 1),
    # RFC 3463 §3.8: a policy refusal of the sender; another server should try.
    "554-data": Case(Fault(data_reply="554 5.7.1 Spam"), FAILURE, Stage.DATA, 554, 1),
    "slow-accept": Case(Fault(data_delay=0.05), ACCEPTED, Stage.DATA, 250, 1),
}


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelined"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_fault_outcome_then_recovery(
    start_server: StartServer, open_transport: OpenTransport, case: Case, pipelining: bool
) -> None:
    server = await start_server(
        credentials=(USER, PASSWORD), default=case.fault, pipelining=pipelining
    )
    transport = open_transport(
        server.port, username=USER, password=PASSWORD, max_connections=1, **case.spec
    )
    first = await transport.send(make_message(1))
    assert (first.kind, first.stage, first.code) == (case.kind, case.stage, case.code)
    assert first.reached is (case.kind not in (FAILURE, OutcomeKind.THROTTLED))

    server.default = OK
    second = await transport.send(make_message(2))
    assert second.kind is ACCEPTED, second
    assert server.received[-1].message_id == "<msg2@sender.example>"
    assert server.connections == case.connections


async def test_nothing_listening(open_transport: OpenTransport) -> None:
    with refusing_port() as port:
        transport = open_transport(port)
        outcome = await transport.send(make_message())
        health = await transport.check()
    assert (outcome.kind, outcome.stage, outcome.code) == (FAILURE, Stage.CONNECT, None)
    assert not outcome.reached
    assert not health.ok and health.detail.startswith("connect:")


async def test_550_suppresses_only_that_recipient(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    smtp_server.default = Fault(refuse={"gone@example.org": "550 5.1.1 User unknown"})
    transport = open_transport(smtp_server.port, max_connections=1)
    gone = await transport.send(make_message(1, recipient="gone@example.org"))
    fine = await transport.send(make_message(2))
    assert gone.kind is PERMANENT and gone.enhanced == "5.1.1" and gone.suppresses_recipient
    assert fine.kind is ACCEPTED
    assert smtp_server.connections == 1  # RSET kept the session usable


async def test_every_third_rcpt_deferred(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    smtp_server.default = Fault(rcpt="452 4.5.3 Slow down", rcpt_every=3)
    transport = open_transport(smtp_server.port, max_connections=1)
    kinds = [(await transport.send(make_message(n))).kind for n in range(1, 7)]
    assert kinds == [ACCEPTED, ACCEPTED, TRANSIENT] * 2
    assert smtp_server.connections == 1


async def test_server_turns_busy_after_two_messages(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    def hook(moment: Moment) -> Fault | None:
        return Fault(rcpt="421 4.7.0 Quota reached") if moment.accepted >= 2 else None

    smtp_server.hook = hook
    transport = open_transport(smtp_server.port, max_connections=1)
    outcomes = [await transport.send(make_message(n)) for n in range(1, 4)]
    assert [(o.kind, o.code) for o in outcomes] == [(ACCEPTED, 250)] * 2 + [(TRANSIENT, 421)]


# TLS ------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [Tls.UNTRUSTED, Tls.ABORT])
async def test_starttls_failure_then_recovery(
    start_server: StartServer, open_transport: OpenTransport, tls_kit: TlsKit, tls: Tls
) -> None:
    server = await start_server(tls="starttls", tls_kit=tls_kit, script=[Fault(tls=tls)])
    transport = open_transport(
        server.port, encryption="starttls", tls_context=tls_kit.client_context()
    )
    failed = await transport.send(make_message(1))
    assert (failed.kind, failed.stage, failed.code) == (FAILURE, Stage.TLS, None)
    assert (await transport.send(make_message(2))).kind is ACCEPTED
    assert server.connections == 2


async def test_starttls_without_auth_delivers(
    start_server: StartServer, open_transport: OpenTransport, tls_kit: TlsKit
) -> None:
    # Regression: without AUTH nothing re-sent EHLO after STARTTLS, and MAIL got 503.
    server = await start_server(tls="starttls", tls_kit=tls_kit)
    transport = open_transport(
        server.port, encryption="starttls", tls_context=tls_kit.client_context()
    )
    plain = await transport.send(make_message(1))
    utf8 = await transport.send(make_message(2, recipient="jürgen@example.org"))
    assert (plain.kind, utf8.kind) == (ACCEPTED, ACCEPTED), (plain, utf8)
    assert server.received[1].rcpt_tos == ("jürgen@example.org",)


async def test_starttls_with_auth_and_ca_file(
    start_server: StartServer, open_transport: OpenTransport, tls_kit: TlsKit, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    tls_kit.ca.cert_pem.write_to_path(str(ca_file))
    server = await start_server(tls="starttls", tls_kit=tls_kit, credentials=(USER, PASSWORD))
    transport = open_transport(
        server.port, encryption="starttls", username=USER, password=PASSWORD, ca_file=str(ca_file)
    )
    assert (await transport.send(make_message())).kind is ACCEPTED
    health = await transport.check()
    assert health.ok and health.detail == "connect / EHLO / STARTTLS / AUTH / NOOP 250"


async def test_implicit_tls(
    start_server: StartServer, open_transport: OpenTransport, tls_kit: TlsKit
) -> None:
    server = await start_server(tls="implicit", tls_kit=tls_kit)
    trusted = open_transport(server.port, encryption="tls", tls_context=tls_kit.client_context())
    untrusted = open_transport(server.port, encryption="tls")  # system CAs only
    assert (await trusted.send(make_message(1))).kind is ACCEPTED
    failed = await untrusted.send(make_message(2))
    assert (failed.kind, failed.stage, failed.code) == (FAILURE, Stage.TLS, None)
    assert not (await untrusted.check()).ok
    assert len(server.received) == 1


async def test_verify_tls_off_accepts_an_unknown_certificate(
    start_server: StartServer, open_transport: OpenTransport, tls_kit: TlsKit
) -> None:
    server = await start_server(tls="starttls", tls_kit=tls_kit, default=Fault(tls=Tls.UNTRUSTED))
    transport = open_transport(server.port, encryption="starttls", verify_tls=False)
    assert (await transport.send(make_message())).kind is ACCEPTED


# Bytes on the wire ----------------------------------------------------------


async def test_built_message_arrives_byte_exact(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    text = ".leading dot\n..two dots\n.\nlast line\n"
    msg = make_message(text=text, html="<p>\n.dotted</p>\n")
    transport = open_transport(smtp_server.port)
    assert (await transport.send(msg)).kind is ACCEPTED
    [got] = smtp_server.received
    assert got.raw == msg.mime
    assert b"\r\n.leading dot\r\n..two dots\r\n" in got.raw
    assert (got.mail_from, got.rcpt_tos) == ("bounce@sender.example", ("rcpt1@example.org",))
    assert got.message_id == "<msg1@sender.example>"


@pytest.mark.parametrize(
    "mime",
    [
        b"Subject: raw\r\n\r\n.first\r\n..second\r\n.\r\n\xc3\xa9t\xc3\xa9\r\nno final newline",
        b".starts with a dot\r\n\r\nbody\r\n",
        b"Subject: ends with a lone dot\r\n\r\n.\r\n",
    ],
    ids=["mixed", "leading-dot", "lone-dot"],
)
async def test_dot_stuffing_round_trips(
    smtp_server: FaultyServer, open_transport: OpenTransport, mime: bytes
) -> None:
    transport = open_transport(smtp_server.port)
    assert (await transport.send(make_message(mime=mime))).kind is ACCEPTED
    expected = mime if mime.endswith(b"\r\n") else mime + b"\r\n"
    assert smtp_server.received[0].raw == expected


def test_dot_stuff_doubles_every_leading_dot() -> None:
    assert dot_stuff(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n.\r\n"
    assert dot_stuff(b"x") == b"x\r\n.\r\n"


async def test_unsendable_message_leaves_the_pool_intact(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    transport = open_transport(smtp_server.port, max_connections=1)
    injected = make_message(1)
    injected.subject = "hi\r\nBcc: everyone@example.org"
    outcomes = [
        await transport.send(make_message(0)),
        await transport.send(injected),
        await transport.send(make_message(2, recipient="a@example.org\r\nRSET")),
        await transport.send(make_message(3)),
    ]
    assert [o.kind for o in outcomes] == [ACCEPTED, PERMANENT, PERMANENT, ACCEPTED]
    assert smtp_server.connections == 1 and len(smtp_server.received) == 2


async def test_non_ascii_address_needs_smtputf8(
    start_server: StartServer, open_transport: OpenTransport
) -> None:
    server = await start_server(smtputf8=False)
    transport = open_transport(server.port)
    outcome = await transport.send(make_message(recipient="jürgen@example.org"))
    # The server, not the address, fails: the message moves to one that offers SMTPUTF8.
    assert (outcome.kind, outcome.stage) == (FAILURE, Stage.MAIL)
    assert "SMTPUTF8" in outcome.text
    assert server.received == []


# Pooling --------------------------------------------------------------------


async def test_sequential_sends_share_one_connection(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    transport = open_transport(smtp_server.port, max_connections=1)
    outcomes = [await transport.send(make_message(n)) for n in range(1, 6)]
    assert all(o.kind is ACCEPTED for o in outcomes)
    assert [o.remote_id for o in outcomes] == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    assert smtp_server.connections == 1


@pytest.mark.parametrize("max_connections", [1, 3])
async def test_concurrent_sends_stay_within_max_connections(
    smtp_server: FaultyServer, open_transport: OpenTransport, max_connections: int
) -> None:
    smtp_server.default = Fault(data_delay=0.01)  # keep sends overlapping
    transport = open_transport(smtp_server.port, max_connections=max_connections)
    outcomes = await asyncio.gather(*(transport.send(make_message(n)) for n in range(1, 10)))
    assert all(o.kind is ACCEPTED for o in outcomes)
    assert 1 <= smtp_server.connections <= max_connections
    assert len(smtp_server.received) == 9


async def test_max_messages_per_connection(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    transport = open_transport(smtp_server.port, max_connections=1, max_messages_per_connection=2)
    for n in range(1, 6):
        assert (await transport.send(make_message(n))).kind is ACCEPTED
    assert [r.connection for r in smtp_server.received] == [1, 1, 2, 2, 3]
    await transport.close()  # waits for the QUITs it started in the background
    assert smtp_server.connections == 3


async def test_idle_connection_closed_by_server_is_replaced(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    transport = open_transport(smtp_server.port, max_connections=1)
    assert (await transport.send(make_message(1))).kind is ACCEPTED
    await smtp_server.drop_connections()
    assert (await transport.send(make_message(2))).kind is ACCEPTED
    assert [r.connection for r in smtp_server.received] == [1, 2]


# check() --------------------------------------------------------------------


async def test_check_passes(
    start_server: StartServer, open_transport: OpenTransport, tls_kit: TlsKit
) -> None:
    server = await start_server(credentials=(USER, PASSWORD))
    transport = open_transport(server.port, username=USER, password=PASSWORD)
    health = await transport.check()
    assert health.ok and health.detail == "connect / EHLO / AUTH / NOOP 250"
    assert "smtputf8" in health.facts["extensions"].split()
    assert server.connections == 1 and server.received == []


@pytest.mark.parametrize(
    ("fault", "stage"),
    [
        (CLOSE, "connect"),
        (BUSY_GREETING, "connect"),
        (STALL_GREETING, "connect"),
        (Fault(auth="535 5.7.8 Bad credentials"), "auth"),
        (Fault(tls=Tls.UNTRUSTED), "tls"),
        (Fault(tls=Tls.ABORT), "tls"),
    ],
    ids=["closed", "421-greeting", "stall", "535-auth", "untrusted-tls", "aborted-tls"],
)
async def test_check_fails(
    start_server: StartServer,
    open_transport: OpenTransport,
    tls_kit: TlsKit,
    fault: Fault,
    stage: str,
) -> None:
    server = await start_server(
        tls="starttls", tls_kit=tls_kit, credentials=(USER, PASSWORD), default=fault
    )
    transport = open_transport(
        server.port,
        encryption="starttls",
        username=USER,
        password=PASSWORD,
        tls_context=tls_kit.client_context(),
        timeout=STALL_TIMEOUT if fault is STALL_GREETING else 5.0,
    )
    health = await transport.check()
    assert not health.ok and health.detail.startswith(f"{stage}:"), health
    server.default = OK
    assert (await transport.check()).ok
