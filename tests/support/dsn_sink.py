"""An SMTP sink on aiosmtpd that may offer DSN (RFC 3461) and keeps each envelope as sent.

aiosmtpd knows no DSN parameters: offered nothing more, it refuses them with 555,
as a relay without DSN does. Offering DSN, this sink checks them (RET is FULL or
HDRS, ENVID is xtext of at most 100 characters, NOTIFY is NEVER or a list of
SUCCESS/FAILURE/DELAY) and answers 501 to a bad one. Either way it keeps the
MAIL and RCPT arguments exactly as they arrived, case included, which
aiosmtpd's own envelope (upper-cased options) does not.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

_XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})+")
_NOTIFY = {"SUCCESS", "FAILURE", "DELAY"}


def _dsn_error(verb: str, params: dict[str, str]) -> str | None:
    """Why a DSN parameter is malformed (RFC 3461 §4), or None."""
    if verb == "MAIL":
        ret, envid = params.get("RET"), params.get("ENVID")
        if ret is not None and ret.upper() not in ("FULL", "HDRS"):
            return f"RET={ret}"
        if envid is not None and (len(envid) > 100 or not _XTEXT.fullmatch(envid)):
            return f"ENVID={envid}"
        return None
    notify = params.get("NOTIFY")
    if notify is not None:
        words = set(notify.upper().split(","))
        if not (words == {"NEVER"} or words <= _NOTIFY):
            return f"NOTIFY={notify}"
    return None


@dataclass(slots=True)
class Transaction:
    """One message as the sink took it: the MAIL and RCPT arguments verbatim, and the data."""

    mail: str
    rcpts: list[str] = field(default_factory=list)
    data: bytes = b""

    @property
    def mail_from(self) -> str:
        return self.mail.split(">", 1)[0].removeprefix("FROM:<")

    @property
    def mail_params(self) -> dict[str, str]:
        return _params(self.mail)

    @property
    def rcpt_params(self) -> list[dict[str, str]]:
        return [_params(r) for r in self.rcpts]


def _params(arg: str) -> dict[str, str]:
    words = arg.split(">", 1)[1].split() if ">" in arg else []
    return {w.partition("=")[0].upper(): w.partition("=")[2] for w in words}


class _Session(SMTP):
    def __init__(self, owner: DsnSink) -> None:
        super().__init__(owner, hostname="dsn.sink.test", enable_SMTPUTF8=True)
        self.owner = owner
        self.current: Transaction | None = None

    async def _dsn_split(self, verb: str, arg: str, names: tuple[str, ...]) -> str | None:
        """The argument without its DSN parameters, or None once it has been refused."""
        if not self.owner.dsn or ">" not in arg:
            return arg  # aiosmtpd refuses the parameters it does not know: 555
        head, rest = arg.split(">", 1)
        kept: list[str] = []
        dsn: dict[str, str] = {}
        for word in rest.split():
            name, _, value = word.partition("=")
            if name.upper() in names:
                dsn[name.upper()] = value
            else:
                kept.append(word)
        error = _dsn_error(verb, dsn)
        if error is not None:
            await self.push(f"501 5.5.4 malformed DSN parameter {error}")
            return None
        return " ".join([head + ">", *kept])

    async def smtp_MAIL(self, arg: str | None) -> None:
        raw = arg or ""
        plain = await self._dsn_split("MAIL", raw, ("RET", "ENVID"))
        if plain is None:
            return
        self.current = Transaction(raw)
        await super().smtp_MAIL(plain)

    async def smtp_RCPT(self, arg: str | None) -> None:
        raw = arg or ""
        plain = await self._dsn_split("RCPT", raw, ("NOTIFY", "ORCPT"))
        if plain is None:
            return
        if self.current is not None:
            self.current.rcpts.append(raw)
        await super().smtp_RCPT(plain)


class DsnSink:
    """Accepts every message; ``dsn`` and ``pipelining`` say what its EHLO offers."""

    def __init__(self, *, dsn: bool, pipelining: bool = False) -> None:
        self.dsn = dsn
        self.pipelining = pipelining
        self.port = 0
        self.transactions: list[Transaction] = []
        self._server: asyncio.Server | None = None
        self._sessions: list[_Session] = []

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.dsn:
            responses.insert(1, "250-DSN")
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")  # aiosmtpd answers in order anyway
        return responses

    async def handle_DATA(self, server: _Session, session: Session, envelope: Envelope) -> str:
        assert server.current is not None
        server.current.data = envelope.original_content or b""
        self.transactions.append(server.current)
        server.current = None
        return f"250 2.0.0 Ok: queued as D{len(self.transactions)}"

    async def handle_RSET(self, server: _Session, session: Session, envelope: Envelope) -> str:
        server.current = None
        return "250 OK"

    def _factory(self) -> SMTP:
        session = _Session(self)
        self._sessions.append(session)
        return session

    async def start(self) -> DsnSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, host="127.0.0.1", port=0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for s in self._sessions:
            transport: Any = s.transport
            if transport is not None and not transport.is_closing():
                transport.close()
        self._sessions.clear()
        await asyncio.sleep(0)
