"""The return path on the wire: envelope sender, DSN parameters and the header, as received.

A real aiosmtpd sink on loopback keeps each MAIL and RCPT argument exactly as it
arrived; one sink offers DSN (RFC 3461), the other does not and, like any relay
without it, refuses DSN parameters with 555. Every case runs in lockstep and
pipelined sessions (RFC 2920), as the transport speaks both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from email.parser import BytesHeaderParser

import pytest

from sendpool.core.outcomes import OutcomeKind
from sendpool.core.return_path import TOKEN_HEADER, make_token, read_token, token_of_address
from sendpool.transports.message import OutgoingMessage
from sendpool.transports.postmark import build_payload as postmark_payload
from sendpool.transports.sendgrid import build_payload as sendgrid_payload
from sendpool.transports.smtp import SmtpTransport
from sendpool.transports.smtp_envelope import ENVID_MAX, mail_command, return_path, xtext
from sendpool.transports.spec import ServerSpec
from tests.support.dsn_sink import DsnSink, Transaction
from tests.support.smtp_fixtures import make_message, smtp_spec

KEY = bytes(range(32))
DOMAIN = "bounce.example.com"
SESSIONS = pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelined"])

Send = Callable[..., Awaitable[list[Transaction]]]


def tokened(n: int, message_id: int, **options: object) -> OutgoingMessage:
    msg = make_message(n, **options)  # type: ignore[arg-type]
    msg.return_token = make_token(message_id, KEY)
    return msg


def spec_for(port: int, bounce_domain: str | None = DOMAIN, local: str = "bounces") -> ServerSpec:
    spec = smtp_spec(port)
    return dataclasses.replace(spec, bounce_domain=bounce_domain, bounce_local=local)


@pytest.fixture
async def send() -> AsyncIterator[Send]:
    """Send messages through a new sink offering DSN or not; what the sink took, in order."""
    opened: list[tuple[DsnSink, SmtpTransport]] = []

    async def run(
        messages: list[OutgoingMessage],
        *,
        dsn: bool,
        pipelining: bool,
        bounce_domain: str | None = DOMAIN,
    ) -> list[Transaction]:
        sink = await DsnSink(dsn=dsn, pipelining=pipelining).start()
        transport = SmtpTransport(spec_for(sink.port, bounce_domain))
        opened.append((sink, transport))
        for msg in messages:
            outcome = await transport.send(msg)
            assert outcome.kind is OutcomeKind.ACCEPTED, outcome.describe()
        return sink.transactions

    yield run
    for sink, transport in opened:
        await transport.close()
        await sink.stop()


def headers(data: bytes) -> dict[str, str]:
    return dict(BytesHeaderParser().parsebytes(data).items())


# The envelope as the server received it -----------------------------------------------


@SESSIONS
async def test_a_relay_with_dsn_gets_the_return_path_envid_ret_and_notify(
    send: Send, pipelining: bool
) -> None:
    msg = tokened(1, 4242)
    [got] = await send([msg], dsn=True, pipelining=pipelining)
    token = msg.return_token
    assert token is not None
    assert got.mail == f"FROM:<bounces+{token}@{DOMAIN}> RET=HDRS ENVID={token}"
    assert got.rcpts == ["TO:<rcpt1@example.org> NOTIFY=FAILURE,DELAY"]
    # Each of the three ways back names the message, and only with the key.
    assert read_token(got.mail_params["ENVID"], KEY) == 4242
    assert read_token(token_of_address(got.mail_from) or "", KEY) == 4242
    assert read_token(headers(got.data)[TOKEN_HEADER], KEY) == 4242
    assert read_token(token, b"another key" * 3) is None


@SESSIONS
async def test_a_relay_without_dsn_gets_the_return_path_and_no_dsn_parameter(
    send: Send, pipelining: bool
) -> None:
    msg = tokened(1, 7)
    [got] = await send([msg], dsn=False, pipelining=pipelining)
    assert got.mail == f"FROM:<bounces+{msg.return_token}@{DOMAIN}>"
    assert got.rcpts == ["TO:<rcpt1@example.org>"]
    assert read_token(token_of_address(got.mail_from) or "", KEY) == 7
    assert headers(got.data)[TOKEN_HEADER] == msg.return_token


@SESSIONS
async def test_the_from_header_and_the_rest_of_the_message_are_unchanged(
    send: Send, pipelining: bool
) -> None:
    plain, marked = make_message(1), tokened(1, 99)
    [got] = await send([marked], dsn=True, pipelining=pipelining)
    seen = headers(got.data)
    assert seen["From"] == "News <news@sender.example>"
    assert seen["Message-ID"] == "<msg1@sender.example>"
    # The same message but for the one header naming it.
    extra = f"{TOKEN_HEADER}: {marked.return_token}\r\n".encode()
    assert got.data.replace(extra, b"") == plain.mime


@SESSIONS
@pytest.mark.parametrize("dsn", [True, False], ids=["dsn", "no-dsn"])
async def test_without_a_bounce_domain_nothing_changes(
    send: Send, pipelining: bool, dsn: bool
) -> None:
    [got] = await send([make_message(1)], dsn=dsn, pipelining=pipelining, bounce_domain=None)
    assert got.mail == "FROM:<bounce@sender.example>"
    assert got.rcpts == ["TO:<rcpt1@example.org>"]
    assert TOKEN_HEADER not in headers(got.data)
    assert got.data == make_message(1).mime


@SESSIONS
async def test_a_server_without_a_bounce_domain_keeps_the_sender_even_for_a_token(
    send: Send, pipelining: bool
) -> None:
    """The message may go to servers with and without one: the bytes stay the same."""
    msg = tokened(1, 5)
    [got] = await send([msg], dsn=True, pipelining=pipelining, bounce_domain=None)
    assert got.mail == "FROM:<bounce@sender.example>"  # no return path: no DSN asked for
    assert got.rcpts == ["TO:<rcpt1@example.org>"]
    assert headers(got.data)[TOKEN_HEADER] == msg.return_token


@SESSIONS
async def test_each_message_on_a_reused_connection_names_itself(
    send: Send, pipelining: bool
) -> None:
    messages = [tokened(n, 1000 + n) for n in range(1, 5)]
    got = await send(messages, dsn=True, pipelining=pipelining)
    assert [read_token(t.mail_params["ENVID"], KEY) for t in got] == [1001, 1002, 1003, 1004]
    assert [token_of_address(t.mail_from) for t in got] == [m.return_token for m in messages]


@SESSIONS
async def test_smtputf8_and_dsn_parameters_go_together(send: Send, pipelining: bool) -> None:
    msg = tokened(1, 3, recipient="jörg@example.org")
    [got] = await send([msg], dsn=True, pipelining=pipelining)
    assert (
        got.mail
        == f"FROM:<bounces+{msg.return_token}@{DOMAIN}> SMTPUTF8 RET=HDRS ENVID={msg.return_token}"
    )
    assert got.rcpts == ["TO:<jörg@example.org> NOTIFY=FAILURE,DELAY"]


async def test_the_bounce_local_part_comes_from_the_spec() -> None:
    sink = await DsnSink(dsn=True).start()
    transport = SmtpTransport(spec_for(sink.port, "b.example.net", local="returns"))
    try:
        msg = tokened(1, 8)
        assert (await transport.send(msg)).kind is OutcomeKind.ACCEPTED
        assert sink.transactions[0].mail_from == f"returns+{msg.return_token}@b.example.net"
    finally:
        await transport.close()
        await sink.stop()


async def test_a_token_with_a_line_break_is_refused_before_any_connection() -> None:
    sink = await DsnSink(dsn=True).start()
    transport = SmtpTransport(spec_for(sink.port))
    try:
        msg = make_message(1)
        msg.return_token = "abc\r\nRCPT TO:<victim@example.net>"
        outcome = await transport.send(msg)
        assert outcome.kind is OutcomeKind.PERMANENT
        assert sink.transactions == [] and sink._sessions == []
    finally:
        await transport.close()
        await sink.stop()


# The pieces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("fl37blcgzidvrncw7y", "fl37blcgzidvrncw7y"),
        ("a+b=c", "a+2Bb+3Dc"),
        ("two words", "two+20words"),
        ("tab\there", "tab+09here"),
        ("é", "+C3+A9"),
        ("~!", "~!"),
        ("", ""),
    ],
)
def test_xtext_encodes_what_rfc_3461_says(text: str, encoded: str) -> None:
    assert xtext(text) == encoded


def test_an_envid_too_long_for_rfc_3461_is_left_out_but_ret_stays() -> None:
    fits, too_long = "a" * ENVID_MAX, "a" * (ENVID_MAX + 1)
    assert mail_command("x@y.example", smtputf8=False, envid=fits).endswith(
        b" RET=HDRS ENVID=" + fits.encode() + b"\r\n"
    )
    assert mail_command("x@y.example", smtputf8=False, envid=too_long) == (
        b"MAIL FROM:<x@y.example> RET=HDRS\r\n"
    )
    # Encoding counts: 40 "+" are 120 characters of xtext.
    assert b"ENVID" not in mail_command("x@y.example", smtputf8=False, envid="+" * 40)


def test_a_return_path_needs_both_a_token_and_a_domain() -> None:
    spec = spec_for(25)
    assert return_path(make_message(1), spec) is None
    assert return_path(tokened(1, 1), dataclasses.replace(spec, bounce_domain=None)) is None
    msg = tokened(1, 1)
    assert return_path(msg, spec) == f"bounces+{msg.return_token}@{DOMAIN}"


# Vendors: the header travels, the envelope does not change ---------------------------


def test_vendors_carry_the_header_and_keep_their_sender() -> None:
    msg = tokened(1, 77, html="<p>Hi</p>")
    token = msg.return_token
    assert headers(msg.mime)[TOKEN_HEADER] == token  # SES and Mailgun send these bytes
    postmark = postmark_payload(msg, "outbound")
    assert {"Name": TOKEN_HEADER, "Value": token} in postmark["Headers"]
    assert postmark["From"] == '"News" <news@sender.example>'
    sendgrid = sendgrid_payload(msg)
    assert sendgrid["headers"][TOKEN_HEADER] == token
    assert sendgrid["from"] == {"email": "news@sender.example", "name": "News"}


def test_vendors_add_no_header_without_a_token() -> None:
    msg = make_message(1)
    assert TOKEN_HEADER not in headers(msg.mime)
    assert all(h["Name"] != TOKEN_HEADER for h in postmark_payload(msg, "outbound")["Headers"])
    assert TOKEN_HEADER not in sendgrid_payload(msg)["headers"]
