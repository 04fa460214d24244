"""Rendered campaign mail over real SMTP: the bodies compiled for the wire arrive byte-exact.

A message whose plan vouches that no line starts with "." skips the
dot-stuffing search; one whose field puts a "." at a line's start is stuffed.
Either way the server must store exactly the MIME the message holds.
"""

from __future__ import annotations

import email
import email.policy

import pytest

from sendpool.content.render import CampaignTemplate
from sendpool.core.outcomes import OutcomeKind
from tests.support.faulty_smtp import FaultyServer
from tests.support.smtp_fixtures import (  # noqa: F401
    OpenTransport,
    open_transport_fixture,
    smtp_server_fixture,
)

TEMPLATE = CampaignTemplate(
    subject="News",
    from_email="news@sender.example",
    text_body="Hello {{ name }},\n{{ name }}\n.a static dot line\n",
    html_body="<p>" + "a long line " * 120 + "{{ name }}</p>",  # past 998: quoted-printable
)


@pytest.mark.parametrize("name", ["Ann", ".Ann", "José", "", "."])
async def test_rendered_mail_arrives_as_built(
    smtp_server: FaultyServer, open_transport: OpenTransport, name: str
) -> None:
    msg = TEMPLATE.render(
        uid="a" * 32, recipient="rcpt1@example.org", fields={"name": name}, date="d"
    )
    assert msg.text_wire is not None and msg.html_wire is not None
    assert msg.html_wire.cte == "quoted-printable"
    transport = open_transport(smtp_server.port)
    assert (await transport.send(msg)).kind is OutcomeKind.ACCEPTED
    [got] = smtp_server.received
    assert got.raw == msg.mime
    parsed = email.message_from_bytes(got.raw, policy=email.policy.default)
    text, html = (p.get_content().replace("\r\n", "\n") for p in parsed.iter_parts())
    assert (text, html) == (msg.text, msg.html)


async def test_mail_without_dot_lines_skips_the_search(
    smtp_server: FaultyServer, open_transport: OpenTransport
) -> None:
    plain = CampaignTemplate(
        subject="News", from_email="news@sender.example", text_body="Hi {{ name }}\n"
    )
    msg = plain.render(
        uid="b" * 32, recipient="rcpt1@example.org", fields={"name": "Ann"}, date="d"
    )
    assert not msg.dot_lines
    transport = open_transport(smtp_server.port)
    assert (await transport.send(msg)).kind is OutcomeKind.ACCEPTED
    assert smtp_server.received[0].raw == msg.mime
