"""International addresses end to end: A-label domains, SMTPUTF8 only where it is offered.

Two real SMTP sinks on loopback, one offering SMTPUTF8 (RFC 6531) and one not.
An address with an internationalised domain goes to either, as A-labels; one
with a non-ASCII local part goes only to the sink that offers SMTPUTF8, and
fails with the reason when no server of its plan does (docs/design.md §1.2).
"""

from __future__ import annotations

import asyncio
import email
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from sendpool.runtime import Runtime
from sendpool.services.campaigns.drafts import CampaignDraft
from sendpool.services.campaigns.from_csv import run_from_csv
from sendpool.services.campaigns.report import CampaignReport
from sendpool.services.servers.checks import test_connection as check_connection
from sendpool.sinks import RecordingHandler, SmtpSink
from sendpool.store.tables import Message, SendingServer, Suppression
from tests.support.scenario import apply, report, smtp_server

pytestmark = pytest.mark.slow

SENDER = "news@bücher.example"
SENDER_WIRE = "news@xn--bcher-kva.example"
IDN = [f"user{i}@bücher.example" for i in range(6)]
JOERG = "jörg@example.com"
PLAIN = [f"plain{i}@example.com" for i in range(4)]


@dataclass
class Transaction:
    mail_from: str
    recipients: list[str]
    smtputf8: bool  # MAIL FROM carried the SMTPUTF8 parameter
    data: bytes


@dataclass
class EnvelopeRecorder(RecordingHandler):
    """Keeps, beside the message, whether MAIL FROM asked for SMTPUTF8."""

    transactions: list[Transaction] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.transactions.append(
            Transaction(
                str(envelope.mail_from),
                [str(r) for r in envelope.rcpt_tos],
                "SMTPUTF8" in [o.upper() for o in envelope.mail_options],
                envelope.original_content or b"",
            )
        )
        return await super().handle_DATA(server, session, envelope)


class Sink(SmtpSink):
    """A loopback sink that offers SMTPUTF8 in its EHLO, or not."""

    def __init__(self, name: str, *, smtputf8: bool) -> None:
        super().__init__(name)
        self.recorder = EnvelopeRecorder(name)
        self.handler = self.recorder
        self.smtputf8 = smtputf8

    def _factory(self) -> SMTP:
        smtp = SMTP(
            self.handler,
            hostname=f"{self.name}.sink.local",
            ident="sendpool sink",
            enable_SMTPUTF8=self.smtputf8,
            data_size_limit=None,
        )
        self._sessions.append(smtp)
        return smtp

    def to(self, recipient: str) -> list[Transaction]:
        return [t for t in self.recorder.transactions if recipient in t.recipients]


@pytest.fixture
async def two_sinks() -> Any:
    utf8 = await Sink("utf8", smtputf8=True).start()
    plain = await Sink("plain", smtputf8=False).start()
    yield utf8, plain
    await utf8.stop()
    await plain.stop()


def pool(rt: Runtime, sinks: list[Sink], plan: list[Sink]) -> None:
    apply(
        rt,
        {
            "servers": [smtp_server(s.name, s.port) for s in sinks],
            "plans": [{"name": "P", "servers": [s.name for s in plan]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["bücher.example"]}],
        },
    )


def campaign(rt: Runtime, recipients: list[str]) -> str:
    csv = "email,first_name\n" + "".join(f"{r},Name\n" for r in recipients)
    now = datetime.now(UTC)
    made = run_from_csv(
        engine=rt.db.engine,
        customer="acme",
        csv=io.StringIO(csv),
        draft=CampaignDraft("intl", "Hello", SENDER, "Bücher News", None, "Hi {{ email }}\n", None),
        public_url="http://x",
        now=now,
        list_name=f"list {now.timestamp()}",
    )
    return made.uid


async def send_until_finished(rt: Runtime, uid: str, timeout: float = 60.0) -> CampaignReport:
    """Every message sent or failed; a wait for a server's first check takes a few seconds."""
    stop = asyncio.Event()
    task = asyncio.create_task(rt.worker().run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not (r := await report(rt, uid)).finished:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
            return r
    finally:
        stop.set()
        await task


def log(rt: Runtime) -> dict[str, tuple[str, str | None, str | None]]:
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(Message.recipient, Message.status, SendingServer.name, Message.last_error)
            .outerjoin(SendingServer, SendingServer.id == Message.server_id)
            .order_by(Message.id)
        ).all()
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def smtputf8_of(rt: Runtime) -> dict[str, bool | None]:
    rows = rt.db.transaction(
        lambda c: c.execute(select(SendingServer.name, SendingServer.smtputf8)).all()
    )
    return {name: offered for name, offered in rows}


async def test_idn_domains_go_anywhere_as_a_labels_and_a_non_ascii_local_part_only_with_smtputf8(
    runtime: Runtime, two_sinks: tuple[Sink, Sink]
) -> None:
    utf8, plain = two_sinks
    pool(runtime, [utf8, plain], plan=[utf8, plain])
    uid = campaign(runtime, [*IDN, JOERG, *PLAIN])
    result = await send_until_finished(runtime, uid)

    assert result.by_status == {"sent": len(IDN) + 1 + len(PLAIN)}
    assert smtputf8_of(runtime) == {"utf8": True, "plain": False}  # learnt at the checks

    # The IDN domain goes as A-labels, to either server, without SMTPUTF8.
    for shown in IDN:
        wire = shown.replace("bücher", "xn--bcher-kva")
        (t,) = utf8.to(wire) + plain.to(wire)
        assert not t.smtputf8 and t.mail_from == SENDER_WIRE
        parsed = email.message_from_bytes(t.data)
        assert parsed["To"] == wire
        assert parsed["From"].endswith(f"<{SENDER_WIRE}>")
        assert parsed["Message-ID"].endswith("@xn--bcher-kva.example>")
        body = parsed.get_payload(decode=True)
        assert isinstance(body, bytes) and f"Hi {shown}".encode() in body  # as people read it
    assert plain.to("user0@xn--bcher-kva.example") + plain.to("user1@xn--bcher-kva.example")
    assert len([t for t in plain.recorder.transactions if "bcher" in t.recipients[0]]) >= 2

    # The non-ASCII local part goes only where SMTPUTF8 is offered, and says so on MAIL FROM.
    (t,) = utf8.to(JOERG)
    assert t.smtputf8 and t.mail_from == SENDER_WIRE
    assert f"\r\nTo: {JOERG}\r\n".encode() in t.data  # UTF-8 in the header (RFC 6532 §3.2)
    assert plain.to(JOERG) == []
    assert all(not t.smtputf8 for t in plain.recorder.transactions)
    assert all(all(r.isascii() for r in t.recipients) for t in plain.recorder.transactions)

    # The log keeps what people read: the U-label and the local part as written.
    entries = log(runtime)
    assert entries["user0@bücher.example"][0] == "sent"
    assert entries[JOERG][:2] == ("sent", "utf8")


async def test_without_an_smtputf8_server_in_the_plan_only_the_non_ascii_local_part_fails(
    runtime: Runtime, two_sinks: tuple[Sink, Sink]
) -> None:
    utf8, plain = two_sinks
    pool(runtime, [utf8, plain], plan=[utf8, plain])
    first = await send_until_finished(runtime, campaign(runtime, [JOERG, *PLAIN]))
    assert first.by_status == {"sent": 1 + len(PLAIN)}

    pool(runtime, [utf8, plain], plan=[plain])  # the SMTPUTF8 sink leaves the plan
    before = len(utf8.recorder.transactions)
    uid = campaign(runtime, [IDN[0], JOERG, *PLAIN])
    result = await send_until_finished(runtime, uid)

    assert result.by_status == {"sent": 1 + len(PLAIN), "failed": 1}
    status, server, error = log(runtime)[JOERG]  # the last message to that address
    assert status == "failed" and server is None and error is not None
    assert "needs SMTPUTF8" in error and "no server of plan P offers it (plain)" in error
    assert len(utf8.recorder.transactions) == before
    assert plain.to("user0@xn--bcher-kva.example")
    assert plain.to(JOERG) == []
    # No server refused the address: it is not suppressed, and can be sent once a server can.
    suppressed = runtime.db.transaction(
        lambda c: c.execute(select(func.count()).select_from(Suppression)).scalar_one()
    )
    assert suppressed == 0


async def test_a_plan_of_servers_not_yet_checked_waits_for_the_check(
    runtime: Runtime, two_sinks: tuple[Sink, Sink]
) -> None:
    """Unknown is not "offers": the message waits for the check, then goes where it said yes."""
    utf8, plain = two_sinks
    # plain first: rotation would deal it the message, were it not left out
    pool(runtime, [plain, utf8], plan=[plain, utf8])
    assert smtputf8_of(runtime) == {"utf8": None, "plain": None}
    result = await send_until_finished(runtime, campaign(runtime, [JOERG]))
    assert result.by_status == {"sent": 1}
    assert len(utf8.to(JOERG)) == 1 and plain.to(JOERG) == []
    health = runtime.db.transaction(
        lambda c: dict(c.execute(select(SendingServer.name, SendingServer.health)).all())
    )
    assert health == {"plain": "healthy", "utf8": "healthy"}  # never handed what it cannot take


async def test_an_operators_connection_check_records_what_the_server_offers(
    runtime: Runtime, two_sinks: tuple[Sink, Sink]
) -> None:
    utf8, plain = two_sinks
    pool(runtime, [utf8, plain], plan=[utf8, plain])
    for sink in (utf8, plain):
        result = await check_connection(
            runtime.db, runtime.box, sink.name, timeout=5.0, interval=300.0
        )
        assert result.ok and result.facts["smtputf8"] == ("yes" if sink.smtputf8 else "no")
    assert smtputf8_of(runtime) == {"utf8": True, "plain": False}
