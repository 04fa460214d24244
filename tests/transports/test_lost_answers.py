"""An HTTP vendor that takes the request and never answers: the outcome is unknown, not a failure."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from sendpool.core.outcomes import OutcomeKind, Stage
from sendpool.transports.registry import build_transport
from tests.support.fakes.messages import outgoing
from tests.support.vendor_specs import vendor_spec


class Mute:
    """Reads each request whole, then hangs up (``hang``) or says nothing until the client gives up."""

    def __init__(self, *, hang: bool) -> None:
        self.hang = hang
        self.requests = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._done = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        self.requests += 1
        if not self.hang:
            await self._done.wait()  # the client times out first
        writer.close()
        await writer.wait_closed()

    async def __aenter__(self) -> Mute:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._done.set()
        await asyncio.sleep(0.05)  # let the handlers close their sockets
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture(params=["hang up", "no answer"])
async def mute(request: pytest.FixtureRequest) -> AsyncIterator[Mute]:
    async with Mute(hang=request.param == "hang up") as server:
        yield server


async def test_a_request_sent_whole_without_an_answer_is_unknown(mute: Mute) -> None:
    spec = vendor_spec(
        "postmark",
        {"base_url": f"http://127.0.0.1:{mute.port}"},
        {"server_token": "pm-server-token-test"},
    )
    transport = build_transport(dataclasses.replace(spec, timeout=0.5))
    try:
        outcome = await transport.send(outgoing())
    finally:
        await transport.close()
    assert mute.requests == 1
    assert (outcome.kind, outcome.stage) == (OutcomeKind.UNKNOWN, Stage.API)


async def test_a_vendor_that_cannot_be_reached_is_still_a_server_failure() -> None:
    spec = vendor_spec(
        "postmark", {"base_url": "http://127.0.0.1:9"}, {"server_token": "pm-server-token-test"}
    )
    transport = build_transport(spec)
    try:
        outcome = await transport.send(outgoing())
    finally:
        await transport.close()
    assert outcome.kind is OutcomeKind.SERVER_FAILURE
