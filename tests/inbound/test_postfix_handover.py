"""The Postfix lines docs/deploy.md gives, in a real Postfix: a bounce domain's mail reaches us."""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest

from sendpool.services.inbound.handle import Envelope
from sendpool.services.inbound.listener import InboundListener
from tests.inbound.recorder import Recorder
from tests.inbound.samples import dsn
from tests.support.postfix import running_postfix

pytestmark = pytest.mark.slow  # starts a Postfix

BOUNCE = "bounces+tok@bounce.example.com"


@pytest.mark.parametrize("lmtp", [True, False], ids=["lmtp", "smtp"])
async def test_postfix_hands_the_bounce_domain_over(recorder: Recorder, lmtp: bool) -> None:
    listener = InboundListener(recorder, ["bounce.example.com"], lmtp=lmtp)
    host, port = await listener.start()
    # The transport table of docs/deploy.md, inline rather than in a file of its own.
    nexthop = f"lmtp:inet:{host}:{port}" if lmtp else f"smtp:[{host}]:{port}"
    extra = {"transport_maps": f"inline:{{ bounce.example.com={nexthop} }}"}
    services = ["lmtp       unix  - - n - - lmtp\n"]
    try:
        with running_postfix(
            relay_domains=["bounce.example.com"], extra=extra, services=services
        ) as postfix:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=postfix.port) as client:
                await client.sendmail("", [BOUNCE], dsn())
            for _ in range(1200):  # Postfix queues first, then delivers in its own time
                if recorder.calls:
                    break
                await asyncio.sleep(0.05)
            assert recorder.calls, postfix.log()[-3000:]
    finally:
        await listener.close(drain=5)
    [(raw, envelope, _)] = recorder.calls
    assert envelope == Envelope(None, (BOUNCE,), "lmtp" if lmtp else "smtp")
    assert raw.startswith(b"Received: from ")  # Postfix's trace, then the report itself
    assert dsn().split(b"\r\n\r\n", 1)[1] in raw
