"""The SMTP session after the handshake: commands out, replies parsed in place, in bulk.

aiosmtplib opens the connection (greeting, EHLO, STARTTLS, AUTH); then the
transport is handed to this small protocol for the transactions. It parses
every reply that arrives in one read, so pipelined commands (RFC 2920) work,
and costs a fraction of the library's per-reply machinery, which at thousands
of messages a second was most of a process's time.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import cast

from aiosmtplib import SMTPResponse

MAX_LINE = 8192  # RFC 5321 §4.5.3.1.5 allows 512; be generous, not unbounded


class WireError(ConnectionError):
    """The session is gone or spoke nonsense; the server, not the message, failed."""


class ReplyReader(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._replies: deque[SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None
        self._gone = asyncio.Event()
        self._deadline = math.inf  # on the loop's clock
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def data_received(self, data: bytes) -> None:
        if self._buffer:  # the rest of a line that came in an earlier read
            self._buffer.extend(data)
            data = bytes(self._buffer)
            self._buffer.clear()
        # Lines are sliced out of the read as it came: one copy per line, no shifting.
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            line = data[start : end + 1]
            start = end + 1
            if len(line) > MAX_LINE or not line[:3].isdigit():
                self._fail(WireError(f"malformed SMTP reply line: {line[:80]!r}"))
                return
            text = line[4:].strip(b" \t\r\n").decode("utf-8", "surrogateescape")
            if line[3:4] == b"-":  # not the last line of its reply (RFC 5321 §4.2.1)
                self._lines.append(text)
            elif self._lines:
                self._lines.append(text)
                self._replies.append(SMTPResponse(int(line[:3]), "\n".join(self._lines)))
                self._lines = []
            else:  # a one-line reply, nearly all of them
                self._replies.append(SMTPResponse(int(line[:3]), text))
        if start < len(data):
            if len(data) - start > MAX_LINE:
                self._fail(WireError("SMTP reply line too long"))
                return
            self._buffer += data[start:]
        if self._replies:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(WireError("the server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fail(WireError(f"connection lost: {exc}") if exc else WireError("connection lost"))
        self._gone.set()

    def _fail(self, exc: BaseException) -> None:
        if self._lost is None:
            self._lost = exc
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def alive(self) -> bool:
        return self._lost is None and self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.alive:
            raise self._lost or WireError("connection lost")
        assert self.transport is not None
        self.transport.write(data)

    def expect_by(self, deadline: float) -> None:
        """Every reply awaited from now on comes by ``deadline`` (``loop.time()``), or TimeoutError."""
        self._deadline = deadline
        if self._timer is not None and self._timer_at > deadline:
            self._timer.cancel()  # an earlier deadline than the timer's: set it afresh
            self._timer = None

    async def reply(self) -> SMTPResponse:
        while not self._replies:
            if self._lost is not None:
                raise self._lost
            loop = asyncio.get_running_loop()
            if self._timer is None and self._deadline < math.inf:
                if loop.time() >= self._deadline:
                    raise TimeoutError
                self._arm(loop)
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer_at = self._deadline
        self._timer = loop.call_at(self._deadline, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """The timer came due: fail a wait past its deadline, or move on to the current one."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nobody waits: the next wait arms it again
        if self._deadline <= self._timer_at:
            waiter.set_exception(TimeoutError())
        else:
            self._arm(loop)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self) -> None:
        """Until the transport is gone; a TLS one still has its close_notify to exchange."""
        await self._gone.wait()


def take_over(transport: asyncio.BaseTransport) -> ReplyReader:
    """Move an open session's transport to a ReplyReader; the old protocol hears nothing more."""
    # uvloop's transports quack like asyncio.Transport without subclassing it.
    reader = ReplyReader()
    reader.transport = cast(asyncio.Transport, transport)
    transport.set_protocol(reader)
    return reader
