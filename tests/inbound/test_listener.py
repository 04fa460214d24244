"""The inbound listener over real SMTP and LMTP on loopback: what it takes, what it refuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiosmtplib
import pytest

from sendpool.services.inbound.handle import Envelope
from sendpool.services.inbound.listener import InboundListener
from tests.inbound.recorder import Recorder
from tests.inbound.samples import dsn, human

BOUNCE = "bounces+tok@bounce.example.com"
DOMAINS = ("bounce.example.com", "fbl.example.com")


@asynccontextmanager
async def listening(recorder: Recorder, **options: Any) -> AsyncIterator[InboundListener]:
    listener = InboundListener(recorder, DOMAINS, host="127.0.0.1", port=0, **options)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.close(drain=5)


class Wire:
    """A client speaking raw lines, for what aiosmtplib will not send (LMTP, bare LF, floods)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, listener: InboundListener) -> Wire:
        return cls(*await asyncio.open_connection(listener.host, listener.port))

    async def reply(self) -> str:
        """One reply, all its lines (``250-...`` continue, ``250 ...`` ends)."""
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 30)).decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    async def say(self, data: bytes | str) -> str:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()
        return await self.reply()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def send(listener: InboundListener, raw: bytes, rcpts: list[str], sender: str = "") -> Any:
    """One message by aiosmtplib; ``sender`` "" is the null return path reports come from."""
    async with aiosmtplib.SMTP(hostname=listener.host, port=listener.port) as client:
        return await client.sendmail(sender, rcpts, raw)


async def test_a_report_for_a_bounce_domain_is_handed_over_whole(recorder: Recorder) -> None:
    async with listening(recorder) as listener:
        refused, message = await send(listener, dsn(), [BOUNCE])
    assert refused == {} and message.startswith("2.0.0")
    [(raw, envelope, now)] = recorder.calls
    assert raw == dsn()
    assert envelope == Envelope(None, (BOUNCE,), "smtp")  # MAIL FROM:<> is the null path
    assert now.tzinfo is not None


async def test_the_handlers_note_is_logged_once_per_message(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "sendpool.inbound.listener")
    async with listening(recorder) as listener:
        await send(listener, dsn(), [BOUNCE], sender="mailer-daemon@relay.example.org")
    lines = [r.getMessage() for r in caplog.records if "recorded as" in r.getMessage()]
    assert len(lines) == 1
    assert "<mailer-daemon@relay.example.org>" in lines[0] and "applied" in lines[0]


async def test_another_domain_is_refused_and_nothing_is_relayed(recorder: Recorder) -> None:
    async with listening(recorder) as listener:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await send(listener, human(), ["someone@example.net"])
        [error] = refused.value.recipients
        assert error.code == 550 and "5.7.1" in error.message and "relaying denied" in error.message
        # One good recipient among bad ones: only it gets the message.
        answers, _ = await send(listener, dsn(), ["x@elsewhere.example", "Fbl@FBL.example.com"])
    assert answers["x@elsewhere.example"][0] == 550
    assert [env.recipients for _, env, _ in recorder.calls] == [("Fbl@FBL.example.com",)]


async def test_an_address_without_a_domain_gets_550_5_1_1(recorder: Recorder) -> None:
    async with listening(recorder) as listener:
        wire = await Wire.open(listener)
        await wire.reply()
        await wire.say("EHLO client.example\r\n")
        assert (await wire.say("MAIL FROM:<>\r\n")).startswith("250")
        assert (await wire.say("RCPT TO:<postmaster>\r\n")).startswith("550 5.1.1")
        assert (await wire.say("DATA\r\n")).startswith("503")  # no recipient was taken
        await wire.close()
    assert recorder.calls == []


async def test_new_domains_apply_from_the_next_recipient(recorder: Recorder) -> None:
    async with listening(recorder) as listener:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await send(listener, dsn(), ["b@new-bounce.example.org"])
        listener.domains = [*DOMAINS, "New-Bounce.example.org"]
        await send(listener, dsn(), ["b@new-bounce.example.org"])
    assert len(recorder.calls) == 1


async def test_a_declared_oversized_message_is_refused_at_mail(recorder: Recorder) -> None:
    async with listening(recorder, max_bytes=64 * 1024) as listener:
        wire = await Wire.open(listener)
        await wire.reply()
        assert "SIZE 65536" in await wire.say("EHLO client.example\r\n")
        assert (await wire.say(f"MAIL FROM:<> SIZE={50 * 1024 * 1024}\r\n")).startswith("552")
        await wire.close()
    assert recorder.calls == []


async def test_an_undeclared_oversized_message_gets_552_and_the_next_one_goes_through(
    recorder: Recorder,
) -> None:
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 80
    async with listening(recorder, max_bytes=64 * 1024) as listener:
        wire = await Wire.open(listener)
        await wire.reply()
        await wire.say("EHLO client.example\r\n")
        for body, answer in ((big, "552"), (dsn(), "250")):  # no SIZE= said: found at the end
            assert (await wire.say("MAIL FROM:<>\r\n")).startswith("250")
            assert (await wire.say(f"RCPT TO:<{BOUNCE}>\r\n")).startswith("250")
            assert (await wire.say("DATA\r\n")).startswith("354")
            assert (await wire.say(body + b".\r\n")).startswith(answer)
        await wire.close()
    assert recorder.raws == [dsn()]


@pytest.mark.slow
async def test_a_50_mb_message_gets_552_with_the_default_limit(recorder: Recorder) -> None:
    line = b"y" * 998 + b"\r\n"
    async with listening(recorder) as listener:  # 10 MiB, the setting's default
        assert listener.max_bytes == 10 << 20
        wire = await Wire.open(listener)
        await wire.reply()
        await wire.say("EHLO client.example\r\n")
        await wire.say("MAIL FROM:<>\r\n")
        await wire.say(f"RCPT TO:<{BOUNCE}>\r\n")
        assert (await wire.say("DATA\r\n")).startswith("354")
        for _ in range(50):  # 50 MB in 1 MB writes: the listener drops what is over the limit
            wire.writer.write(line * 1000)
            await wire.writer.drain()
        assert (await wire.say(b".\r\n")).startswith("552")
        await wire.close()
    assert recorder.calls == []


async def test_a_connection_over_the_limit_gets_421_at_once(recorder: Recorder) -> None:
    async with listening(recorder, max_connections=2) as listener:
        first, second = await Wire.open(listener), await Wire.open(listener)
        assert (await first.reply()).startswith("220")
        assert (await second.reply()).startswith("220")
        third = await Wire.open(listener)
        assert (await third.reply()).startswith("421 4.7.0")
        assert await third.reader.read() == b""  # and it was closed
        await first.say("QUIT\r\n")
        await first.close()
        for _ in range(200):  # until the listener has seen the first one go
            if listener.gate.open < 2:
                break
            await asyncio.sleep(0.01)
        fourth = await Wire.open(listener)
        assert (await fourth.reply()).startswith("220")
        for wire in (second, third, fourth):
            await wire.close()


async def test_a_failing_handler_gets_451_and_a_log_line(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    async def fail(raw: bytes) -> None:
        raise RuntimeError("database is locked")

    recorder.before = fail
    async with listening(recorder) as listener:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send(listener, dsn(), [BOUNCE])
    assert refused.value.code == 451 and "4.3.0" in refused.value.message
    [record] = [r for r in caplog.records if "not taken" in r.getMessage()]
    assert record.levelno == logging.ERROR and "database is locked" in caplog.text


async def test_too_many_recipients_are_refused_past_100(recorder: Recorder) -> None:
    async with listening(recorder) as listener:
        answers, _ = await send(listener, dsn(), [f"b{i}@bounce.example.com" for i in range(101)])
    assert answers["b100@bounce.example.com"][0] == 452
    assert len(recorder.calls[0][1].recipients) == 100


async def lmtp_dialogue(wire: Wire, rcpts: list[str], raw: bytes) -> list[str]:
    assert (await wire.reply()).startswith("220")
    assert (await wire.say("EHLO client.example\r\n")).startswith("500")  # LMTP: LHLO only
    assert (await wire.say("LHLO client.example\r\n")).startswith("250")
    assert (await wire.say("MAIL FROM:<>\r\n")).startswith("250")
    taken = [r for r in rcpts if (await wire.say(f"RCPT TO:<{r}>\r\n")).startswith("250")]
    assert (await wire.say("DATA\r\n")).startswith("354")
    first = await wire.say(raw + b".\r\n")
    return [first] + [await wire.reply() for _ in taken[1:]]  # RFC 2033 §4.2: one per recipient


async def test_lmtp_answers_once_per_recipient(recorder: Recorder) -> None:
    rcpts = [BOUNCE, "nobody@elsewhere.example", "fbl@fbl.example.com"]
    async with listening(recorder, lmtp=True) as listener:
        wire = await Wire.open(listener)
        replies = await lmtp_dialogue(wire, rcpts, dsn())
        await wire.close()
    assert [r[:3] for r in replies] == ["250", "250"]
    [(raw, envelope, _)] = recorder.calls
    assert raw == dsn()
    assert envelope == Envelope(None, (BOUNCE, "fbl@fbl.example.com"), "lmtp")


async def test_lmtp_with_a_failing_handler_defers_each_recipient(recorder: Recorder) -> None:
    async def fail(raw: bytes) -> None:
        raise OSError("disk full")

    recorder.before = fail
    async with listening(recorder, lmtp=True) as listener:
        wire = await Wire.open(listener)
        replies = await lmtp_dialogue(wire, [BOUNCE, "fbl@fbl.example.com"], dsn())
        await wire.close()
    assert [r[:9] for r in replies] == ["451 4.3.0", "451 4.3.0"]


async def dialogue(listener: InboundListener, body: bytes) -> str:
    wire = await Wire.open(listener)
    await wire.reply()
    await wire.say("EHLO client.example\r\n")
    await wire.say("MAIL FROM:<> BODY=8BITMIME\r\n")
    await wire.say(f"RCPT TO:<{BOUNCE}>\r\n")
    await wire.say("DATA\r\n")
    answer = await wire.say(body + b".\r\n")
    await wire.say("QUIT\r\n")
    await wire.close()
    return answer


HOSTILE: dict[str, tuple[bytes, Callable[[list[bytes]], bool], str]] = {
    # A bare LF dot (SMTP smuggling, CVE-2023-51766) ends nothing: one message, bytes kept.
    "bare LF": (
        b"Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.net>\nRCPT TO:<x@bounce.example.com>"
        b"\nDATA\nSubject: smuggled\n\r\n",
        lambda raws: len(raws) == 1 and b"\n.\nMAIL FROM:<evil@example.net>" in raws[0],
        "250",
    ),
    # A header line past RFC 5321's 1000 octets is refused whole; nothing is handed over.
    "huge header": (
        b"Subject: " + b"h" * 5000 + b"\r\n\r\nbody\r\n",
        lambda raws: raws == [],
        "500",
    ),
    # Bytes that are not UTF-8 are handed over as they came; nothing is decoded here.
    "non-UTF-8": (
        b"Subject: \xff\xfe caf\xe9\r\n\r\n\x80\x81\x82 \xc3\x28\r\n",
        lambda raws: raws == [b"Subject: \xff\xfe caf\xe9\r\n\r\n\x80\x81\x82 \xc3\x28\r\n"],
        "250",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_input_gets_a_clear_answer(recorder: Recorder, case: str) -> None:
    body, check, code = HOSTILE[case]
    async with listening(recorder) as listener:
        answer = await dialogue(listener, body)
        refused, _ = await send(listener, dsn(), [BOUNCE])  # and the listener still takes mail
    assert answer.startswith(code), answer
    assert refused == {}
    assert check(recorder.raws[:-1])
