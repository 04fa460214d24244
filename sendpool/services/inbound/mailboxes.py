"""Read the servers' bounce and FBL mailboxes over IMAP, and hand each report to the handler.

Each enabled mailbox keeps one connection between polls (checked with NOOP
and opened again when it was dropped). A poll takes the folder's unseen
messages, reads their size first and skips any over the limit, reads the
rest with ``BODY.PEEK[]`` so reading marks nothing seen, and moves a
message to the processed folder once the handler has taken it. Mail the
handler calls ``not_a_report`` stays where it is, unseen, for the people who
read that mailbox; nothing is ever deleted. The IMAP calls block, so they
run on a thread (``asyncio.to_thread``); see ``imap_client`` for why
``imaplib``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from sendpool.errors import ConfigError
from sendpool.pipeline.periodic import Periodic
from sendpool.secretbox import SecretBox
from sendpool.services.inbound.handle import Envelope
from sendpool.services.inbound.imap_client import (
    ImapDropped,
    ImapError,
    ImapMailbox,
    MailboxAddress,
)
from sendpool.services.inbound.listener import Clock, ReportSink, utc_now
from sendpool.services.servers.fields import MAILBOX_SECRET
from sendpool.services.servers.mailboxes import SEALED
from sendpool.store.tables import SendingServer, table

log = logging.getLogger("sendpool.inbound.mailboxes")

ROLES = {"bounce_handler": "bounce", "fbl_handler": "fbl"}
BATCH = 200  # messages read per mailbox and poll; the rest wait for the next poll


@dataclass(frozen=True, slots=True)
class MailboxConfig:
    """One enabled mailbox of one server; ``problem`` says why it cannot be read as set."""

    server: str
    role: str  # bounce | fbl
    address: MailboxAddress
    protocol: str = "imap"
    problem: str | None = None

    @property
    def label(self) -> str:
        return f"{self.server}/{self.role}"


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """What one poll of one mailbox did; ``error`` is None when it was read."""

    mailbox: str
    error: str | None = None
    processed: int = 0  # taken by the handler and moved to the processed folder
    left: int = 0  # not a report: left where it was, unseen
    oversized: int = 0  # over the size limit: not read
    failed: int = 0  # the handler raised: left unseen for the next poll

    @property
    def ok(self) -> bool:
        return self.error is None


def enabled_mailboxes(conn: Connection, box: SecretBox) -> list[MailboxConfig]:
    """Every server's enabled bounce and FBL mailboxes, passwords opened, by server name."""
    T = table(SendingServer)
    rows = conn.execute(select(T.c.name, T.c.bounce_handler, T.c.fbl_handler).order_by(T.c.name))
    out: list[MailboxConfig] = []
    for row in rows:
        for column, role in ROLES.items():
            stored = getattr(row, column) or {}
            if stored.get("enabled"):
                out.append(_config(str(row.name), role, stored, box))
    return out


def _config(server: str, role: str, stored: dict[str, object], box: SecretBox) -> MailboxConfig:
    problem = None
    password = ""
    try:
        password = box.open(str(stored.get(SEALED) or "")).get(MAILBOX_SECRET, "")
    except ConfigError as exc:
        problem = f"its password cannot be opened: {exc}"
    address = MailboxAddress(
        host=str(stored.get("host") or ""),
        port=int(str(stored.get("port") or 0)),
        username=str(stored.get("username") or ""),
        password=password,
        encryption=str(stored.get("encryption") or "tls"),
        folder=str(stored.get("mailbox") or "INBOX"),
    )
    if problem is None and not (address.host and address.port and address.username and password):
        problem = "host, port, user and password must all be set"
    return MailboxConfig(server, role, address, str(stored.get("protocol") or "imap"), problem)


@dataclass
class _Mailbox:
    """A mailbox between polls: its connection, and the mail it already looked at."""

    config: MailboxConfig
    client: ImapMailbox
    passed: set[tuple[int | None, int]] = field(default_factory=set)  # not reports, left
    too_big: set[tuple[int | None, int]] = field(default_factory=set)
    last_error: str | None = None


class MailboxPoller(Periodic):
    """Polls every enabled mailbox each ``interval`` seconds; ``poll`` is one round."""

    tick_first = True
    survive_errors = True
    what = "reading the bounce and FBL mailboxes"

    def __init__(
        self,
        configs: Callable[[], Awaitable[list[MailboxConfig]]],
        handler: ReportSink,
        *,
        interval: float = 60.0,
        processed_folder: str = "sendpool-processed",
        max_bytes: int = 10 << 20,
        tls: ssl.SSLContext | None = None,
        clock: Clock = utc_now,
        batch: int = BATCH,
    ) -> None:
        self.configs = configs
        self.handler = handler
        self.interval = interval
        self.processed_folder = processed_folder
        self.max_bytes = max_bytes
        self.tls = tls
        self.clock = clock
        self.batch = batch
        self._boxes: dict[tuple[str, str], _Mailbox] = {}
        self._unsupported: set[tuple[str, str]] = set()

    async def tick(self) -> None:
        await self.poll()

    async def poll(self) -> list[MailboxStatus]:
        """Read each mailbox once, all at the same time; one status per mailbox."""
        configs = await self.configs()
        await self._forget_all_but({(c.server, c.role) for c in configs})
        return list(await asyncio.gather(*(self._poll_one(c) for c in configs)))

    async def close(self) -> None:
        await self._forget_all_but(set())

    async def _forget_all_but(self, keep: set[tuple[str, str]]) -> None:
        for key in [k for k in self._boxes if k not in keep]:
            await asyncio.to_thread(self._boxes.pop(key).client.close)

    async def _poll_one(self, config: MailboxConfig) -> MailboxStatus:
        key = (config.server, config.role)
        if config.protocol != "imap":
            error = f"{config.protocol.upper()} is not supported yet: only IMAP mailboxes are read"
            if key not in self._unsupported:
                self._unsupported.add(key)
                log.warning("mailbox %s: %s", config.label, error)
            return MailboxStatus(config.label, error)
        box = self._boxes.get(key)
        last_error = box.last_error if box is not None else None
        if box is not None and box.config != config:  # changed on the server's page
            await asyncio.to_thread(box.client.close)
            box = None
        if box is None:
            box = self._boxes[key] = _Mailbox(config, ImapMailbox(config.address, self.tls))
            box.last_error = last_error  # so the end of an outage is logged
        status = await self._read(box)
        self._log_change(box, status)
        return status

    def _log_change(self, box: _Mailbox, status: MailboxStatus) -> None:
        # An outage is logged when it starts and when it ends, not at every poll.
        if status.error is not None and status.error != box.last_error:
            log.error(
                "mailbox %s: %s; trying again at the next poll", box.config.label, status.error
            )
        elif status.error is None and box.last_error is not None:
            log.warning("mailbox %s: read again", box.config.label)
        box.last_error = status.error

    async def _read(self, box: _Mailbox) -> MailboxStatus:
        label, client = box.config.label, box.client
        if box.config.problem:
            return MailboxStatus(label, box.config.problem)
        if box.config.address.folder == self.processed_folder:
            return MailboxStatus(label, f"it is read from {self.processed_folder!r}, the folder "
                                 "processed mail is moved to; read another folder")  # fmt: skip
        counts = {"processed": 0, "left": 0, "oversized": 0, "failed": 0}
        try:
            await asyncio.to_thread(self._ready, box)
            seen = box.passed | box.too_big
            uids = [
                u for u in await asyncio.to_thread(client.unseen)
                if (client.uidvalidity, u) not in seen
            ][: self.batch]  # fmt: skip
            sizes = await asyncio.to_thread(client.sizes, uids)
            for uid in uids:
                if uid in sizes:
                    counts[await self._one(box, uid, sizes[uid])] += 1
        except ImapError as exc:
            if isinstance(exc, ImapDropped):
                await asyncio.to_thread(client.close)
            return MailboxStatus(label, str(exc), **counts)
        return MailboxStatus(label, None, **counts)

    def _ready(self, box: _Mailbox) -> None:
        """A live connection with the folder selected: the kept one, or a new one."""
        client = box.client
        if client.connected:
            try:
                client.noop()
                return
            except ImapDropped:
                log.info(
                    "mailbox %s: the connection was dropped; opening a new one", box.config.label
                )
        before = client.uidvalidity
        client.open(self.processed_folder)
        if client.uidvalidity != before:  # RFC 3501 §2.3.1.1: old UIDs mean nothing now
            box.passed.clear()
            box.too_big.clear()

    async def _one(self, box: _Mailbox, uid: int, size: int) -> str:
        """Read, hand over and file one message; the name of the count it adds to."""
        label, client = box.config.label, box.client
        if size > self.max_bytes:
            box.too_big.add((client.uidvalidity, uid))
            log.warning(
                "mailbox %s: message UID %d is %d bytes, over the %d-byte limit "
                "(SENDPOOL_INBOUND_MAX_BYTES): left unread where it is",
                label, uid, size, self.max_bytes,
            )  # fmt: skip
            return "oversized"
        raw = await asyncio.to_thread(client.fetch, uid)
        if raw is None:
            return "left"  # expunged by someone else meanwhile
        envelope = Envelope(None, (box.config.address.username,), f"imap:{label}")
        try:
            handled = await self.handler(raw, envelope, self.clock())
        except Exception:
            log.exception("mailbox %s: message UID %d not taken: the handler failed", label, uid)
            return "failed"
        if handled.outcome == "not_a_report":
            box.passed.add((client.uidvalidity, uid))
            log.info("mailbox %s: UID %d left where it is: %s", label, uid, handled.note)
            return "left"
        await asyncio.to_thread(client.move, uid, self.processed_folder)
        log.info(
            "mailbox %s: UID %d moved to %s: %s: %s",
            label, uid, self.processed_folder, handled.outcome, handled.note,
        )  # fmt: skip
        return "processed"
