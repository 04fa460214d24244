"""A real Postfix takes the return path: it queues the message with our ENVID, RET and NOTIFY.

Postfix offers DSN and PIPELINING in its EHLO. The recipient is put on hold
(``HOLD`` in its access table), so the queue file can be read back with
``postcat``: what Postfix will put in its own reports (RFC 3464 Original-Envelope-Id,
the headers only, failures and delays) is what sendpool asked for.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest

from sendpool.core.outcomes import OutcomeKind
from sendpool.core.return_path import make_token, read_token, token_of_address
from sendpool.transports.smtp import SmtpTransport
from tests.support.postfix import SBIN, Postfix, running_postfix
from tests.support.smtp_fixtures import make_message, smtp_spec

pytestmark = pytest.mark.slow

KEY = bytes(range(32))
HELD = "held@example.org"
# Postfix's flags (src/global/dsn_mask.h): RET=HDRS is 2; NOTIFY FAILURE 4 | DELAY 8.
RET_HDRS, NOTIFY_FAILURE_DELAY = "2", "12"


def queued(instance: Postfix) -> tuple[dict[str, object], dict[str, str]]:
    """The one held message: its queue entry and its envelope's named attributes."""
    listed = subprocess.run(
        [str(SBIN / "postqueue"), "-c", str(instance.config_dir), "-j"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    assert len(listed) == 1, instance.log()
    entry = json.loads(listed[0])
    shown = subprocess.run(
        [str(SBIN / "postcat"), "-c", str(instance.config_dir), "-e", "-q", entry["queue_id"]],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    attributes = dict(
        line.removeprefix("named_attribute: ").split("=", 1)
        for line in shown.splitlines()
        if line.startswith("named_attribute: ")
    )
    return entry, attributes


async def test_postfix_queues_the_message_with_the_return_path_and_the_dsn_request() -> None:
    with running_postfix(relay_domains=["example.org"], refuse={HELD: "HOLD for the test"}) as pf:
        spec = dataclasses.replace(smtp_spec(pf.port), bounce_domain="bounce.example.com")
        transport = SmtpTransport(spec)
        msg = make_message(1, recipient=HELD)
        msg.return_token = make_token(31337, KEY)
        try:
            outcome = await transport.send(msg)
        finally:
            await transport.close()
        assert outcome.kind is OutcomeKind.ACCEPTED, pf.log()
        entry, attributes = queued(pf)
        assert entry["sender"] == f"bounces+{msg.return_token}@bounce.example.com"
        assert read_token(token_of_address(str(entry["sender"])) or "", KEY) == 31337
        assert attributes["envelope_id"] == msg.return_token
        assert read_token(attributes["envelope_id"], KEY) == 31337
        assert attributes["ret_flags"] == RET_HDRS
        assert attributes["notify_flags"] == NOTIFY_FAILURE_DELAY
