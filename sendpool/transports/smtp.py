"""SMTP relays through aiosmtplib, with a bounded pool of reused connections.

aiosmtplib does the connection work (greeting, EHLO, STARTTLS, AUTH and reply
parsing). The transaction itself is written as plain commands on the same
client: our bytes are already CRLF-normalised and we dot-stuff them once, so
the library's per-message regular expressions and address parsing, which cost
more than the socket work at thousands of messages a second, are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from dataclasses import dataclass, field

import aiosmtplib

from sendpool.core.outcomes import Outcome, OutcomeKind, Stage, accepted, smtp_outcome
from sendpool.core.servers import AddressNeed, address_need
from sendpool.transports.base import Health
from sendpool.transports.message import OutgoingMessage
from sendpool.transports.smtp_envelope import mail_command, rcpt_command, return_path
from sendpool.transports.smtp_settings import SmtpSettings
from sendpool.transports.smtp_wire import ReplyReader, take_over
from sendpool.transports.spec import ServerSpec

# The fact a check reports for what the server's EHLO offered: "yes" or "no".
SMTPUTF8_FACT = "smtputf8"


def _plain_address(address: str) -> bool:
    """Nothing that could end the command or add a parameter: no controls, spaces or <>."""
    return (
        address.isprintable() and " " not in address and "<" not in address and ">" not in address
    )


@functools.cache
def local_fqdn() -> str:
    """The name we greet with, looked up once: aiosmtplib would resolve it per connection."""
    return socket.getfqdn() or "localhost"


class _Failed(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.describe())
        self.outcome = outcome


def _no_reply(stage: Stage, exc: BaseException) -> Outcome:
    text = str(exc) or type(exc).__name__
    return Outcome(OutcomeKind.SERVER_FAILURE, stage, None, None, text)


def _tls_failed(exc: BaseException | None) -> bool:
    """aiosmtplib wraps a failed implicit-TLS handshake in SMTPConnectError: look through it."""
    while exc is not None:
        if isinstance(exc, ssl.SSLError):
            return True
        exc = exc.__cause__
    return False


def _from_exception(stage: Stage, exc: BaseException) -> Outcome:
    """Map a library error onto an outcome, naming where it happened."""
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
        return smtp_outcome(stage, exc.code, exc.message)
    if isinstance(exc, ssl.SSLError):
        return _no_reply(Stage.TLS, exc)
    return _no_reply(stage, exc)


def dot_stuff(data: bytes, dot_lines: bool = True) -> bytes:
    """RFC 5321 §4.5.2: a line that starts with a period gets one more.

    ``dot_lines=False``: the caller knows no line does (OutgoingMessage.dot_lines),
    and the search through the whole message is skipped.
    """
    if dot_lines:
        if data.startswith(b"."):
            data = b"." + data
        data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _remote_id(text: str) -> str | None:
    """Postfix and most MTAs answer '250 2.0.0 Ok: queued as ID'."""
    marker = "queued as "
    i = text.find(marker)
    if i < 0:
        return None
    return text[i + len(marker) :].split()[0].strip() or None


_EXPECTED = {Stage.MAIL: (250,), Stage.RCPT: (250, 251), Stage.DATA: (354,)}


@dataclass(slots=True)
class _Connection:
    client: aiosmtplib.SMTP
    sent: int = 0
    smtputf8: bool = False
    pipelining: bool = False
    dsn: bool = False  # RFC 3461: the EHLO offered DSN
    wire: ReplyReader | None = None
    by_group: dict[str, int] = field(default_factory=dict)  # messages per provider group

    @property
    def alive(self) -> bool:
        if self.wire is not None:
            return self.wire.alive
        return self.client.is_connected

    def close(self) -> None:
        if self.wire is not None:
            self.wire.close()
        self.client.close()

    async def aclose(self, timeout: float = 1.0) -> None:
        """Close and wait until the socket is gone, so no transport outlives its loop."""
        self.close()
        if self.wire is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.wire.wait_closed()


class SmtpTransport:
    """One relay. ``max_connections`` sends run at once; idle connections are kept."""

    def __init__(self, spec: ServerSpec, *, tls_context: ssl.SSLContext | None = None) -> None:
        self.spec = spec
        self.settings = SmtpSettings.model_validate(dict(spec.settings))
        self._tls_context = tls_context
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max(1, spec.max_connections))
        self._quitting: set[asyncio.Task[None]] = set()
        self._closed = False

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is not None:
            return self._tls_context
        ctx = ssl.create_default_context(cafile=self.settings.ca_file)
        if not self.settings.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self._tls_context = ctx
        return ctx

    async def _open(self, *, take_over_session: bool = True) -> _Connection:
        s = self.settings
        tls = s.encryption != "none"
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.encryption == "tls",
            start_tls=False,
            timeout=self.spec.timeout,
            local_hostname=s.helo_name or local_fqdn(),
            tls_context=self._context() if tls else None,
        )
        stage = Stage.CONNECT
        try:
            await client.connect()
            stage = Stage.EHLO
            await client.ehlo()
            if s.encryption == "starttls":
                stage = Stage.TLS
                await client.starttls(tls_context=self._context())
                # RFC 3207 §4.2: both sides forget the session after STARTTLS, and
                # servers refuse MAIL until a new EHLO (AUTH would send one, but
                # only when a username is set).
                stage = Stage.EHLO
                await client.ehlo()
            if s.username:
                stage = Stage.AUTH
                await client.login(s.username, self.spec.secrets.get("password", ""))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            if stage is Stage.CONNECT and _tls_failed(exc):
                stage = Stage.TLS
            raise _Failed(_from_exception(stage, exc)) from exc
        conn = _Connection(
            client,
            smtputf8=client.supports_extension("smtputf8"),
            pipelining=client.supports_extension("pipelining"),
            dsn=client.supports_extension("dsn"),
        )
        protocol = client.protocol
        if take_over_session and protocol is not None and protocol.transport is not None:
            conn.wire = take_over(protocol.transport)
        return conn

    async def _exchange(self, conn: _Connection, line: bytes) -> aiosmtplib.SMTPResponse:
        """Write one command (or the message) and read its reply."""
        assert conn.wire is not None
        conn.wire.write(line)
        return await conn.wire.reply()

    async def _recover(self, conn: _Connection, owed: int, code: int) -> None:
        """Make a refused transaction's connection usable again, or close it.

        Pipelined replies still owed are read; a DATA that was answered 354 anyway
        gets an empty message to end it; then RSET (RFC 5321 §4.1.1.5). After a 421
        the server is closing the channel (§3.8), so there is nothing to save.
        """
        if code == 421 or not conn.alive:
            conn.close()
            return
        wire = conn.wire
        assert wire is not None
        wire.expect_by(asyncio.get_running_loop().time() + self.spec.timeout)
        try:
            replies = [await wire.reply() for _ in range(owed)]
            if replies and replies[-1].code == 354:
                await self._exchange(conn, b".\r\n")
            await self._exchange(conn, b"RSET\r\n")
        except (OSError, TimeoutError):
            conn.close()

    async def _transact(
        self, conn: _Connection, msg: OutgoingMessage, data: bytes, bounces_to: str | None
    ) -> Outcome:
        """``bounces_to``: the message's return-path address on this server, if it has one."""
        smtputf8 = False
        if address_need(msg.envelope_from, msg.recipient) is AddressNeed.SMTPUTF8:
            if not conn.smtputf8:
                # The dispatcher sends such a message only to a server known to offer
                # SMTPUTF8, so this one stopped offering it: the server, not the
                # address, is at fault. Never send it the address (RFC 6531 §3.4);
                # the message moves on and the server's next check learns what it offers.
                return Outcome(
                    OutcomeKind.SERVER_FAILURE,
                    Stage.MAIL,
                    None,
                    None,
                    "the server no longer offers SMTPUTF8, which this non-ASCII address needs",
                )
            smtputf8 = True
        # DSN parameters only with a return path: the reports they ask for come to sendpool.
        dsn = conn.dsn and bounces_to is not None
        sender = bounces_to or msg.envelope_from
        envid = msg.return_token if dsn else None
        steps = (
            (Stage.MAIL, mail_command(sender, smtputf8=smtputf8, envid=envid)),
            (Stage.RCPT, rcpt_command(msg.recipient, notify=dsn)),
            (Stage.DATA, b"DATA\r\n"),
        )
        wire = conn.wire
        assert wire is not None
        stage = Stage.MAIL
        body_sent = False  # from here a lost reply may hide a delivery (RFC 1047)
        refused: Outcome | None = None
        owed = 0  # pipelined replies not yet read when a step is refused
        # The whole transaction within the timeout, kept by the wire (smtp_wire.py).
        wire.expect_by(asyncio.get_running_loop().time() + self.spec.timeout)
        try:
            if conn.pipelining:  # RFC 2920: the envelope and DATA go out in one write
                wire.write(b"".join(line for _, line in steps))
            for n, (stage, line) in enumerate(steps):
                if not conn.pipelining:
                    wire.write(line)
                r = await wire.reply()
                if r.code not in _EXPECTED[stage]:
                    refused = smtp_outcome(stage, r.code, r.message)
                    owed = len(steps) - 1 - n if conn.pipelining else 0
                    break
            else:
                body_sent = True
                r = await self._exchange(conn, data)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            conn.close()
            if body_sent:
                text = f"no reply after the message was sent: {str(exc) or type(exc).__name__}"
                raise _Failed(Outcome(OutcomeKind.UNKNOWN, Stage.DATA, None, None, text)) from exc
            raise _Failed(_from_exception(stage, exc)) from exc
        if refused is not None:
            await self._recover(conn, owed, r.code)
            return refused
        conn.sent += 1
        if msg.provider_group is not None:
            conn.by_group[msg.provider_group] = conn.by_group.get(msg.provider_group, 0) + 1
        if r.code != 250:
            return smtp_outcome(Stage.DATA, r.code, r.message)
        return accepted(_remote_id(r.message), r.message.strip())

    async def send(self, message: OutgoingMessage) -> Outcome:
        # Refuse what cannot be sent before a connection is taken: a failure halfway
        # through a transaction would leave it open on a connection nobody returns.
        bounces_to = return_path(message, self.spec)
        if not (
            _plain_address(message.envelope_from)
            and (bounces_to is None or _plain_address(bounces_to))
            and _plain_address(message.recipient)
        ):
            return Outcome(
                OutcomeKind.PERMANENT, Stage.MAIL, None, None, "address has a control character"
            )
        try:
            data = dot_stuff(message.mime, message.dot_lines)
        except ValueError as exc:  # HeaderInjectionError
            return Outcome(OutcomeKind.PERMANENT, None, None, None, str(exc))
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            try:
                if conn is None or not conn.alive:
                    reused = False
                    conn = await self._open()
                try:
                    outcome = await self._transact(conn, message, data, bounces_to)
                except _Failed as failed:
                    if not (reused and failed.outcome.stage is Stage.MAIL):
                        raise
                    # A pooled connection the server closed while idle is not
                    # the server failing: try once more on a fresh one.
                    conn = await self._open()
                    outcome = await self._transact(conn, message, data, bounces_to)
            except _Failed as failed:
                return failed.outcome
            self._keep_or_close(conn)
            return outcome

    def _used_up(self, conn: _Connection) -> bool:
        """Whether the connection carried its most, in all or of one provider group."""
        limit = self.spec.max_messages_per_connection
        if limit is not None and conn.sent >= limit:
            return True
        per_group = self.spec.group_messages_per_connection
        return any(conn.by_group.get(g, 0) >= n for g, n in per_group.items())

    def _keep_or_close(self, conn: _Connection) -> None:
        if self._closed or not conn.alive or self._used_up(conn):
            # The loop keeps only a weak reference to a task: hold it until done,
            # and let close() wait for it.
            task = asyncio.ensure_future(self._quit(conn))
            self._quitting.add(task)
            task.add_done_callback(self._quitting.discard)
        else:
            self._idle.append(conn)

    async def _quit(self, conn: _Connection) -> None:
        if conn.alive:
            try:
                if conn.wire is None:
                    await conn.client.quit()
                else:
                    conn.wire.expect_by(asyncio.get_running_loop().time() + self.spec.timeout)
                    await self._exchange(conn, b"QUIT\r\n")
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                pass
        await conn.aclose()

    async def check(self) -> Health:
        """Connect, EHLO, STARTTLS, AUTH, NOOP and QUIT, on a connection of its own."""
        try:
            conn = await self._open(take_over_session=False)
        except _Failed as failed:
            return Health(False, failed.outcome.describe())
        steps = ["connect", "EHLO"]
        if self.settings.encryption == "starttls":
            steps.append("STARTTLS")
        if self.settings.username:
            steps.append("AUTH")
        try:
            r = await conn.client.noop()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            conn.client.close()
            return Health(False, f"NOOP failed: {exc}")
        # QUIT makes aiosmtplib forget the EHLO reply, so read the extensions first.
        facts = {
            "greeting": "ok",
            "extensions": " ".join(sorted(conn.client.esmtp_extensions)),
            SMTPUTF8_FACT: "yes" if conn.smtputf8 else "no",
        }
        await self._quit(conn)
        return Health(True, " / ".join(steps) + f" / NOOP {r.code}", facts)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        quitting = list(self._quitting)
        await asyncio.gather(*(self._quit(c) for c in idle), *quitting, return_exceptions=True)
