"""The inbound SMTP/LMTP listener: takes bounces and complaints for the bounce domains, nothing else.

It sits behind the operator's MTA (Postfix hands a bounce domain's mail over
LMTP or SMTP on loopback, as it does for Mailman 3) or is the bounce domain's
MX itself. It never relays: a recipient outside the accepted domains gets
``550 5.7.1``. Each accepted message goes whole to the report handler, and
the client hears ``250`` only once the handler has returned, so a report the
handler could not take (``451 4.3.0``) stays in the sender's queue and comes
again. Built on aiosmtpd, in the caller's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession

from sendpool.services.inbound.handle import Envelope, Handled

log = logging.getLogger("sendpool.inbound.listener")

ReportSink = Callable[[bytes, Envelope, datetime], Awaitable[Handled]]
Clock = Callable[[], datetime]

# RFC 5321 §4.5.3.1.8 asks a server to take at least 100 recipients; a report needs one.
MAX_RECIPIENTS = 100
BUSY = b"421 4.7.0 too many connections, try again later\r\n"


def utc_now() -> datetime:
    return datetime.now(UTC)


def domain_of(address: str) -> str | None:
    """The lowercased domain of ``local@domain``; None when there is none."""
    local, at, domain = address.rpartition("@")
    domain = domain.strip().removesuffix(".").lower()
    return domain if at and local and domain else None


class _Gate:
    """The open connections, so the one over the limit is turned away at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.members: set[asyncio.BaseTransport] = set()

    @property
    def open(self) -> int:
        return len(self.members)


class _Refusing:
    """Turns away a connection over the limit with 421 before any SMTP dialogue."""

    gate: _Gate
    _turned_away: bool
    _gated: asyncio.BaseTransport | None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = getattr(self, "transport", None) is None  # not the STARTTLS re-entry
        if first and self.gate.open >= self.gate.limit:
            self._turned_away = True
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(BUSY)
            transport.close()
            log.warning(
                "turned a connection away: %d connections open, the most allowed "
                "(SENDPOOL_INBOUND_MAX_CONNECTIONS)",
                self.gate.open,
            )
            return
        if first:
            self.gate.members.add(transport)
            self._gated = transport
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        if self._turned_away:
            return
        self.gate.members.discard(self._gated)
        super().connection_lost(error)  # type: ignore[misc]

    def eof_received(self) -> bool | None:
        if self._turned_away:
            return False
        return super().eof_received()  # type: ignore[misc, no-any-return]


class _GatedSMTP(_Refusing, SMTP):
    pass


class _GatedLMTP(_Refusing, LMTP):
    pass


class ReportReceiver:
    """aiosmtpd's handler: RCPT for the accepted domains only, DATA to the report handler."""

    def __init__(
        self, handler: ReportSink, domains: Collection[str], *, lmtp: bool, clock: Clock
    ) -> None:
        self.handler = handler
        self.domains = frozenset(d.lower() for d in domains)
        self.lmtp = lmtp
        self.clock = clock
        self.busy = 0  # messages being handed to the handler right now

    async def handle_RCPT(
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = domain_of(address)
        if domain is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        if domain not in self.domains:
            return f"550 5.7.1 <{address}>: relaying denied"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return f"452 4.5.3 too many recipients (at most {MAX_RECIPIENTS} per message)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or b""
        # MAIL FROM:<> is the null return path every report comes from (RFC 3464 §2)
        mail_from = None if envelope.mail_from in (None, "", "<>") else envelope.mail_from
        recipients = tuple(envelope.rcpt_tos)
        about = Envelope(mail_from, recipients, "lmtp" if self.lmtp else "smtp")
        peer = session.peer
        self.busy += 1
        try:
            handled = await self.handler(raw, about, self.clock())
        except Exception:
            log.exception(
                "report from %s <%s> (%d bytes) not taken: the handler failed; "
                "answered 451 so the sender tries again",
                peer,
                mail_from or "",
                len(raw),
            )
            return self._each("451 4.3.0 report not processed, try again later", recipients)
        finally:
            self.busy -= 1
        log.info(
            "report from %s <%s> to %s (%d bytes): %s: %s",
            peer,
            mail_from or "",
            ", ".join(recipients),
            len(raw),
            handled.outcome,
            handled.note,
        )
        return self._each("250 2.0.0 OK", recipients)

    def _each(self, reply: str, recipients: tuple[str, ...]) -> str:
        # RFC 2033 §4.2: after DATA an LMTP server answers once per accepted recipient.
        return "\r\n".join([reply] * len(recipients)) if self.lmtp else reply


class InboundListener:
    """The listening socket and its protocol; ``start`` binds, ``close`` stops taking mail."""

    def __init__(
        self,
        handler: ReportSink,
        domains: Collection[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lmtp: bool = False,
        max_bytes: int = 10 << 20,
        max_connections: int = 20,
        hostname: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.receiver = ReportReceiver(handler, domains, lmtp=lmtp, clock=clock)
        self.host, self.port = host, port
        self.lmtp = lmtp
        self.max_bytes = max_bytes
        self.gate = _Gate(max_connections)
        self.hostname = hostname or socket.gethostname()  # not getfqdn: no DNS wait on start
        self._server: asyncio.Server | None = None

    @property
    def domains(self) -> frozenset[str]:
        return self.receiver.domains

    @domains.setter
    def domains(self, domains: Collection[str]) -> None:
        """Takes effect from the next RCPT: a server's new bounce domain needs no restart."""
        self.receiver.domains = frozenset(d.lower() for d in domains)

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def protocol_name(self) -> str:
        return "LMTP" if self.lmtp else "SMTP"

    def _protocol(self) -> SMTP:
        kind = _GatedLMTP if self.lmtp else _GatedSMTP
        loop = asyncio.get_running_loop()
        proto: Any = kind(
            self.receiver,
            data_size_limit=self.max_bytes,
            hostname=self.hostname,
            ident="sendpool inbound",
            loop=loop,
        )
        proto.gate, proto._turned_away, proto._gated = self.gate, False, None
        return proto  # type: ignore[no-any-return]

    async def start(self, sock: socket.socket | None = None) -> tuple[str, int]:
        """Listen on ``sock``, or bind ``host``:``port``; returns the address bound."""
        loop = asyncio.get_running_loop()
        if sock is not None:
            self._server = await loop.create_server(self._protocol, sock=sock)
        else:
            self._server = await loop.create_server(self._protocol, self.host, self.port)
        bound = self._server.sockets[0].getsockname()
        self.host, self.port = str(bound[0]), int(bound[1])
        log.info(
            "%s listener on %s:%d for %s",
            self.protocol_name,
            self.host,
            self.port,
            ", ".join(sorted(self.domains)) or "no domain yet",
        )
        return self.host, self.port

    async def close(self, drain: float = 30.0) -> None:
        """Stop taking connections; let a message being handed over finish (up to
        ``drain`` seconds), so its sender hears 250 rather than a dropped line; then
        close the connections still open."""
        if self._server is None:
            return
        self._server.close()
        waited = 0.0
        while self.receiver.busy and waited < drain:
            await asyncio.sleep(0.05)
            waited += 0.05
        for transport in list(self.gate.members):
            transport.close()
        await self._server.wait_closed()
        self._server = None
