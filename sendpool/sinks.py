"""Local SMTP sinks on loopback: they accept everything and remember it.

Used by ``sendpool demo`` to show a pool at work without a real relay, and by
the tests as the real SMTP servers messages are delivered to.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass(slots=True)
class Received:
    mail_from: str
    recipients: list[str]
    message_id: str | None
    data: bytes


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that keeps every message it accepts."""

    name: str
    keep_data: bool = True
    messages: list[Received] = field(default_factory=list)
    message_ids: Counter[str] = field(default_factory=Counter)
    closing: bool = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.closing:
            # Shutting down: finish this transaction, then hang up once the
            # reply is on its way (the reply is written before this runs).
            asyncio.get_running_loop().call_soon(_hang_up, server)
        data = envelope.original_content or b""
        found = _MESSAGE_ID.search(data)
        mid = found.group(1).decode("ascii", "replace") if found else None
        if mid:
            self.message_ids[mid] += 1
        self.messages.append(
            Received(
                str(envelope.mail_from),
                [str(r) for r in envelope.rcpt_tos],
                mid,
                data if self.keep_data else b"",
            )
        )
        return f"250 2.0.0 Ok: queued as {self.name}-{len(self.messages)}"

    @property
    def count(self) -> int:
        return len(self.messages)


class SmtpSink:
    """One sink in the running event loop, on 127.0.0.1 and a free port."""

    def __init__(self, name: str, *, keep_data: bool = True) -> None:
        self.handler = RecordingHandler(name, keep_data=keep_data)
        self.name = name
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._sessions: list[SMTP] = []

    def _factory(self) -> SMTP:
        smtp = SMTP(
            self.handler,
            hostname=f"{self.name}.sink.local",
            ident="sendpool sink",
            enable_SMTPUTF8=True,
            data_size_limit=None,
        )
        self._sessions.append(smtp)
        return smtp

    async def start(self, port: int = 0) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, host="127.0.0.1", port=port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Go down as a relay does on shutdown: refuse new connections, hang up on idle
        ones, and let a transaction under way finish before hanging up on it."""
        self.handler.closing = True
        if self._server is not None:
            self._server.close()
            self._server = None
        for smtp in self._sessions:
            envelope = getattr(smtp, "envelope", None)
            if envelope is None or envelope.mail_from is None:
                _hang_up(smtp)
        self._sessions.clear()
        await asyncio.sleep(0)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    @property
    def count(self) -> int:
        return self.handler.count


def _hang_up(smtp: SMTP) -> None:
    transport: Any = getattr(smtp, "transport", None)
    if transport is not None and not transport.is_closing():
        transport.close()
