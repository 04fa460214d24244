"""A programmable faulty SMTP server on aiosmtpd, on 127.0.0.1, for anything that speaks SMTP.

Each connection gets a ``Fault``: a ``hook`` may pick one from the moment (connection
number, messages accepted, recipient), else ``script[connection - 1]``, else ``default``.
The fault is looked up again at STARTTLS, AUTH, RCPT and DATA, so a hook can change the
server's mind in the middle of a reused connection ("421 after three messages"). In a
threaded server the hook runs on the server's thread.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from enum import Enum
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException

from tests.support.loopback import HOST, TlsKit

Stage = Literal["connect", "starttls", "auth", "rcpt", "data"]


class Connect(Enum):
    """What happens to a new connection before any greeting."""

    GREET = "greet"
    CLOSE = "close"  # accept, then hang up at once
    STALL = "stall"  # accept and say nothing until the client gives up


class Data(Enum):
    """What happens once the client starts DATA."""

    ACCEPT = "accept"
    DROP = "drop"  # answer 354, read one line, hang up
    STALL = "stall"  # read the whole message, never answer the final dot
    LOSE_REPLY = "lose-reply"  # take the message (it counts as delivered), hang up before 250


class Tls(Enum):
    """How STARTTLS goes (the implicit-TLS listener always presents the trusted certificate)."""

    OK = "ok"
    ABORT = "abort"  # answer 220, then hang up where the handshake should start
    UNTRUSTED = "untrusted"  # present a certificate from a CA the client does not know


@dataclass(frozen=True)
class Fault:
    """How one connection misbehaves; every field left at its default behaves."""

    connect: Connect = Connect.GREET
    greeting: str | None = None  # a reply instead of 220, then hang up ("421 4.3.2 ...")
    tls: Tls = Tls.OK
    auth: str | None = None  # reply to every AUTH, whatever the credentials
    rcpt: str | None = None  # reply to every ``rcpt_every``-th RCPT, counted server-wide
    rcpt_every: int = 1
    refuse: Mapping[str, str] = field(default_factory=dict)  # recipient -> RCPT reply
    data: Data = Data.ACCEPT
    data_delay: float = 0.0  # seconds to wait before the final reply
    data_reply: str | None = None  # a reply instead of 250 after the final dot


OK = Fault()
CLOSE = Fault(connect=Connect.CLOSE)
STALL_GREETING = Fault(connect=Connect.STALL)
BUSY_GREETING = Fault(greeting="421 4.3.2 Service not available, closing channel")


@dataclass(frozen=True, slots=True)
class Moment:
    """What a hook sees; ``recipient`` is the address at RCPT and the first one at DATA."""

    stage: Stage
    connection: int
    accepted: int
    recipient: str | None = None
    rcpt: int = 0  # RCPT commands so far, server-wide, this one included


@dataclass(frozen=True, slots=True)
class Received:
    """A message the server answered 250 to, as it arrived (dot-stuffing undone)."""

    connection: int
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message_id: str | None


Hook = Callable[[Moment], Fault | None]


def _message_id(raw: bytes) -> str | None:
    value = BytesHeaderParser().parsebytes(raw).get("Message-ID")
    return str(value).strip() if value is not None else None


class _Mute(asyncio.Protocol):
    """A connection that never reaches SMTP: hung up, answered once, or left hanging."""

    def __init__(self, owner: FaultyServer, fault: Fault) -> None:
        self.owner = owner
        self.fault = fault
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.fault.greeting is not None:
            transport.write(self.fault.greeting.encode() + b"\r\n")
            transport.close()
        elif self.fault.connect is Connect.CLOSE:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.owner._live.discard(self)

    def hang_up(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _QuietSession(Session):
    """aiosmtpd logs a deprecation here on every successful AUTH; nothing reads it."""

    login_data: Any = None


class _Session(SMTP):
    """aiosmtpd's session plus the faults it has no handler hook for (STARTTLS, DATA, 421)."""

    def __init__(self, owner: FaultyServer, connection: int, **kwargs: Any) -> None:
        super().__init__(owner._handler, **kwargs)
        self.owner = owner
        self.connection = connection

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # aiosmtpd runs the session in a task it cancels when the connection goes;
        # stop() waits for those so no task outlives the server's loop.
        task = self._handler_coroutine
        if task is not None and task not in self.owner._tasks:
            self.owner._tasks.add(task)
            task.add_done_callback(self.owner._tasks.discard)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.owner._live.discard(self)

    def fault(self, stage: Stage, recipient: str | None = None, rcpt: int = 0) -> Fault:
        accepted = self.owner.accepted
        return self.owner.fault_for(Moment(stage, self.connection, accepted, recipient, rcpt))

    def hang_up(self) -> None:
        # After STARTTLS the raw socket sits under the TLS transport; abort that one
        # so a stalled peer cannot hold the TLS shutdown open.
        transport = self._original_transport or self.transport
        if transport is not None:
            transport.abort()

    async def _vanish(self) -> None:
        """Hang up, and read nothing more: what is still buffered is not a command."""
        if self.transport is not None:
            self.transport.close()
        # connection_lost cancels this session's task, ending the wait.
        await asyncio.get_running_loop().create_future()

    async def push(self, status: Any) -> None:
        await super().push(status)
        # RFC 5321 §3.8: a server that answers 421 closes the channel.
        if status[:3] in ("421", b"421"):
            await self._vanish()

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self.fault("starttls").tls is Tls.ABORT and not arg and self.tls_context:
            await self.push("220 Ready to start TLS")
            await self._vanish()
        else:
            await super().smtp_STARTTLS(arg)

    async def smtp_DATA(self, arg: str) -> None:
        rcpt_tos = self.envelope.rcpt_tos if self.envelope is not None else []
        if rcpt_tos and not arg and self.fault("data", rcpt_tos[0]).data is Data.DROP:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")
            await self._vanish()
        else:
            await super().smtp_DATA(arg)


class _Handler:
    """aiosmtpd's handler hooks: they decide replies from the fault and record what arrives."""

    def __init__(self, owner: FaultyServer) -> None:
        self.owner = owner

    async def handle_EHLO(
        self,
        server: _Session,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.owner.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self,
        server: _Session,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        # Checked here rather than with auth_required=True: aiosmtpd warns when AUTH
        # is required without TLS, and the tests run with warnings as errors.
        if self.owner.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: _Session,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        number = self.owner._count_rcpt()
        fault = server.fault("rcpt", address, number)
        reply = fault.refuse.get(address)
        if reply is None and fault.rcpt is not None and number % max(1, fault.rcpt_every) == 0:
            reply = fault.rcpt
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: _Session, session: Session, envelope: Envelope) -> str:
        fault = server.fault("data", envelope.rcpt_tos[0] if envelope.rcpt_tos else None)
        if fault.data is Data.STALL:
            # Never answered: the task is cancelled when the client hangs up or the server stops.
            await asyncio.get_running_loop().create_future()
        if fault.data_delay:
            await asyncio.sleep(fault.data_delay)
        if fault.data_reply is not None:
            return fault.data_reply
        raw = envelope.original_content or b""
        received = Received(
            server.connection,
            envelope.mail_from or "",
            tuple(envelope.rcpt_tos),
            raw,
            _message_id(raw),
        )
        queued = self.owner._record(received)
        if fault.data is Data.LOSE_REPLY:
            await server._vanish()  # delivered, and the client never hears so
        return f"250 2.0.0 Ok: queued as Q{queued}"

    async def handle_exception(self, error: Exception) -> str:
        # A failed TLS handshake lands here; keep it for the test instead of a logged traceback.
        self.owner.errors.append(error)
        return f"451 4.3.0 Error: {type(error).__name__}"


class FaultyServer:
    """An SMTP server on 127.0.0.1 port 0 that fails on cue; run it in a loop or in a thread."""

    def __init__(
        self,
        *,
        default: Fault = OK,
        script: Sequence[Fault] = (),
        hook: Hook | None = None,
        tls: Literal["none", "starttls", "implicit"] = "none",
        tls_kit: TlsKit | None = None,
        credentials: tuple[str, str] | None = None,
        smtputf8: bool = True,
        pipelining: bool = False,
    ) -> None:
        if tls != "none" and tls_kit is None:
            raise ValueError("a TLS server needs a TlsKit")
        self.default = default
        self.script = list(script)
        self.hook = hook
        self.tls = tls
        self.tls_kit = tls_kit
        self.credentials = credentials
        self.smtputf8 = smtputf8
        self.pipelining = pipelining  # advertise RFC 2920; aiosmtpd answers commands in order
        self.port = 0
        self.errors: list[Exception] = []  # what aiosmtpd caught: failed handshakes, hook bugs
        self._received: list[Received] = []
        self._connections = 0
        self._rcpts = 0
        self._lock = threading.Lock()
        self._handler = _Handler(self)
        self._live: set[_Mute | _Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._contexts: dict[bool, ssl.SSLContext] = {}

    @property
    def unexpected_errors(self) -> list[Exception]:
        """Errors other than failed TLS handshakes: a bug in the fake or in a test's hook."""
        return [e for e in self.errors if not isinstance(e, TLSSetupException)]

    @property
    def connections(self) -> int:
        """TCP connections accepted so far, including those hung up at once."""
        return self._connections

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._received)

    def fault_for(self, moment: Moment) -> Fault:
        if self.hook is not None:
            fault = self.hook(moment)
            if fault is not None:
                return fault
        if moment.connection <= len(self.script):
            return self.script[moment.connection - 1]
        return self.default

    def _count_rcpt(self) -> int:
        with self._lock:
            self._rcpts += 1
            return self._rcpts

    def _record(self, received: Received) -> int:
        with self._lock:
            self._received.append(received)
            return len(self._received)

    def _protocol(self) -> asyncio.Protocol:
        with self._lock:
            self._connections += 1
            number = self._connections
        fault = self.fault_for(Moment("connect", number, self.accepted))
        protocol: _Mute | _Session
        if fault.connect is not Connect.GREET or fault.greeting is not None:
            protocol = _Mute(self, fault)
        else:
            starttls = self._contexts.get(fault.tls is not Tls.UNTRUSTED)
            protocol = _Session(
                self,
                number,
                hostname="faulty.test",
                tls_context=starttls if self.tls == "starttls" else None,
                auth_require_tls=False,
                authenticator=self._authenticate,
                enable_SMTPUTF8=self.smtputf8,
                loop=self._loop,
            )
        self._live.add(protocol)
        return protocol

    def _authenticate(
        self, server: _Session, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        fault = server.fault("auth")
        if fault.auth is not None:
            return AuthResult(success=False, handled=False, message=fault.auth)
        if self.credentials is None:
            return AuthResult(success=True)
        given = (
            (data.login.decode(), data.password.decode())
            if isinstance(data, LoginPassword)
            else None
        )
        return AuthResult(success=given == self.credentials, handled=False)

    async def start(self) -> FaultyServer:
        """Listen in the running loop; ``port`` is set when this returns."""
        self._loop = asyncio.get_running_loop()
        implicit = None
        if self.tls_kit is not None:
            self._contexts = {
                True: self.tls_kit.server_context(),
                False: self.tls_kit.server_context(trusted=False),
            }
            implicit = self._contexts[True] if self.tls == "implicit" else None
        self._server = await self._loop.create_server(self._protocol, HOST, 0, ssl=implicit)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def drop_connections(self) -> None:
        """Hang up on every client, as a restarting server would."""
        for protocol in list(self._live):
            protocol.hang_up()
        self._live.clear()
        # Cancel rather than wait for connection_lost: a connection aborted in the middle
        # of a STARTTLS handshake never reports it, and its session would wait forever.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self.drop_connections()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> FaultyServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_thread(self) -> FaultyServer:
        """Serve from a loop of its own, for clients outside the test's loop (subprocesses)."""
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=_serve_forever, args=(loop,), daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result()
        return self

    def stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None

    def __enter__(self) -> FaultyServer:
        return self.start_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()


def _serve_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
