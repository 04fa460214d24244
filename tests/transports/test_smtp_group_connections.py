"""Messages per connection per provider group: the connection is closed after that many of it."""

from __future__ import annotations

import dataclasses

from sendpool.core.outcomes import OutcomeKind
from sendpool.transports.smtp import SmtpTransport
from tests.support.faulty_smtp import FaultyServer
from tests.support.smtp_fixtures import (  # noqa: F401
    make_message,
    smtp_server_fixture,
    smtp_spec,
)


async def test_a_group_limit_closes_the_connection_after_that_many_of_the_group(
    smtp_server: FaultyServer,
) -> None:
    spec = dataclasses.replace(
        smtp_spec(smtp_server.port, max_connections=1),
        group_messages_per_connection={"gmail": 2},
    )
    transport = SmtpTransport(spec)
    groups = ["gmail", None, "gmail", "yahoo", None, "gmail", "gmail"]
    try:
        for n, group in enumerate(groups, start=1):
            message = make_message(n)
            message.provider_group = group
            assert (await transport.send(message)).kind is OutcomeKind.ACCEPTED
    finally:
        await transport.close()
    # Two gmail messages per connection; the others ride along without counting.
    assert [r.connection for r in smtp_server.received] == [1, 1, 1, 2, 2, 2, 2]
    assert smtp_server.connections == 2
