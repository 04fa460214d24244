"""Run the inbound listener and the mailbox poller together until a stop is asked for.

``sendpool inbound`` runs this on its own; ``sendpool serve`` runs it beside
the API when SENDPOOL_INBOUND_ENABLED is set. Every poll also reads the
accepted domains again (SENDPOOL_INBOUND_DOMAINS, SENDPOOL_BOUNCE_DOMAIN and
each server's bounce domain), so a server given a bounce domain on its page
is taken mail for within one poll interval, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

from sqlalchemy import Connection, select

from sendpool.config import Settings, mail_domain
from sendpool.errors import ConfigError
from sendpool.pipeline.periodic import Every
from sendpool.runtime import Runtime
from sendpool.services.inbound.handle import ReportHandler
from sendpool.services.inbound.listener import InboundListener, ReportSink
from sendpool.services.inbound.mailboxes import MailboxConfig, MailboxPoller, enabled_mailboxes
from sendpool.store.tables import SendingServer, table

log = logging.getLogger("sendpool.inbound")

DRAIN_SECONDS = 30.0  # at a stop, how long a message being handed over may still take


def split_bind(value: str) -> tuple[str, int]:
    """``127.0.0.1:2526`` or ``[::1]:24`` as (host, port); Settings checked the shape."""
    host, _, port = value.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


def accepted_domains(conn: Connection, settings: Settings) -> list[str]:
    """Where reports are taken for: the inbound and bounce domains set, and each server's own."""
    T = table(SendingServer)
    own = conn.execute(select(T.c.bounce_domain).where(T.c.bounce_domain.is_not(None)))
    found = [*settings.inbound_domains, settings.bounce_domain, *(r[0] for r in own)]
    domains = []
    for value in found:
        try:
            domains.append(mail_domain(value))
        except ValueError:
            log.warning("bounce domain %r is not a mail domain: no mail taken for it", value)
    return sorted({d for d in domains if d})


class InboundRunner:
    """The listener (unless ``listen`` is off) and the poller (unless ``poll`` is off)."""

    def __init__(
        self,
        rt: Runtime,
        handler: ReportSink,
        *,
        listen: bool = True,
        poll: bool = True,
        sock: socket.socket | None = None,
        tls: ssl.SSLContext | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        s = rt.settings
        self.rt = rt
        self.listen, self.sock, self.announce = listen, sock, announce
        host, port = split_bind(s.inbound_bind)
        self.listener = InboundListener(
            handler,
            (),
            host=host,
            port=port,
            lmtp=s.inbound_lmtp,
            max_bytes=s.inbound_max_bytes,
            max_connections=s.inbound_max_connections,
        )
        self.poller = MailboxPoller(
            self._mailboxes if poll else _no_mailboxes,
            handler,
            interval=s.inbound_poll_seconds,
            processed_folder=s.inbound_processed_folder,
            max_bytes=s.inbound_max_bytes,
            tls=tls,
        )

    @classmethod
    def from_runtime(
        cls,
        rt: Runtime,
        *,
        listen: bool = True,
        poll: bool = True,
        sock: socket.socket | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> InboundRunner:
        """With the report handler every way in shares."""
        handler = ReportHandler.from_runtime(rt)
        return cls(rt, handler, listen=listen, poll=poll, sock=sock, announce=announce)

    async def _mailboxes(self) -> list[MailboxConfig]:
        return await self.rt.db.run(enabled_mailboxes, self.rt.box)

    async def refresh_domains(self) -> None:
        domains = await self.rt.db.run(accepted_domains, self.rt.settings)
        if frozenset(domains) != self.listener.domains:
            if self.listener.domains:  # the first read is announced at start
                log.warning("inbound domains are now: %s", ", ".join(domains) or "none")
            self.listener.domains = domains

    async def _tick(self) -> None:
        await self.refresh_domains()
        await self.poller.poll()

    async def start(self) -> None:
        """Read the domains and bind: a busy port is a clear error before anything runs."""
        await self.refresh_domains()
        if not self.listen:
            return
        try:
            host, port = await self.listener.start(self.sock)
        except OSError as exc:
            where = f"{self.listener.host}:{self.listener.port}"
            raise ConfigError(
                f"cannot listen on {where} (SENDPOOL_INBOUND_BIND): {exc.strerror}"
            ) from None
        if not self.listener.domains:
            log.warning(
                "the inbound listener takes mail for no domain: set SENDPOOL_INBOUND_DOMAINS, "
                "SENDPOOL_BOUNCE_DOMAIN or a server's bounce domain"
            )
        if self.announce is not None:
            self.announce(
                f"sendpool inbound: {self.listener.protocol_name} on {host}:{port} for "
                f"{', '.join(sorted(self.listener.domains)) or 'no domain yet'}; "
                f"mailboxes read every {self.rt.settings.inbound_poll_seconds:g}s"
            )

    async def run(self, stop: asyncio.Event, *, started: bool = False) -> None:
        """Start (unless ``started``), poll until ``stop`` is set, then stop taking mail."""
        if not started:
            await self.start()
        loop = Every(
            self.rt.settings.inbound_poll_seconds,
            self._tick,
            survive_errors=True,
            what="reading the bounce and FBL mailboxes",
        )
        try:
            await loop.run(stop)
        finally:
            await self.listener.close(DRAIN_SECONDS)
            await self.poller.close()


async def _no_mailboxes() -> list[MailboxConfig]:
    return []
