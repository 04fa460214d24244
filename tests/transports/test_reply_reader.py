"""The SMTP reply reader: multi-line replies, replies split across reads, oversize lines.

The reader is fed the bytes a server sends, cut at every possible place (one
read per piece, as a socket may deliver them), and over a real loopback
connection; every cut must give the same replies.
"""

from __future__ import annotations

import asyncio

import pytest

from sendpool.transports.smtp_wire import MAX_LINE, ReplyReader, WireError, take_over

# A server's answers to a pipelined MAIL, RCPT and DATA, then to the message (RFC 2920).
PIPELINED = (
    b"250 2.1.0 Ok\r\n"
    b"250-2.1.5 Ok\r\n250-second line\r\n250 2.1.5 last line\r\n"
    b"354 End data with <CR><LF>.<CR><LF>\r\n"
    b"250 2.0.0 Ok: queued as 4XyZ\n"  # a bare LF ends a line too
)
EXPECTED = [
    (250, "2.1.0 Ok"),
    (250, "2.1.5 Ok\nsecond line\n2.1.5 last line"),
    (354, "End data with <CR><LF>.<CR><LF>"),
    (250, "2.0.0 Ok: queued as 4XyZ"),
]


async def replies_of(pieces: list[bytes], count: int) -> list[tuple[int, str]]:
    reader = ReplyReader()
    for piece in pieces:
        reader.data_received(piece)
    return [(r.code, r.message) for r in [await reader.reply() for _ in range(count)]]


async def test_replies_in_one_read() -> None:
    assert await replies_of([PIPELINED], 4) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(PIPELINED)))
async def test_replies_cut_anywhere_read_the_same(cut: int) -> None:
    assert await replies_of([PIPELINED[:cut], PIPELINED[cut:]], 4) == EXPECTED


async def test_replies_one_byte_a_read() -> None:
    assert await replies_of([PIPELINED[i : i + 1] for i in range(len(PIPELINED))], 4) == EXPECTED


async def test_a_code_without_text_and_non_utf8_text() -> None:
    got = await replies_of([b"250\r\n", b"550 5.1.1 caf\xe9 \r\n"], 2)
    assert got == [(250, ""), (550, "5.1.1 caf\udce9")]


async def test_a_reply_waits_for_its_last_line() -> None:
    reader = ReplyReader()
    reader.data_received(b"250-first\r\n250-sec")
    waiting = asyncio.ensure_future(reader.reply())
    await asyncio.sleep(0)
    assert not waiting.done()
    reader.data_received(b"ond\r\n250 third\r\n")
    r = await asyncio.wait_for(waiting, 1)
    assert (r.code, r.message) == (250, "first\nsecond\nthird")


async def test_an_oversize_line_fails_the_session() -> None:
    reader = ReplyReader()
    reader.data_received(b"250 ok\r\n" + b"250 " + b"x" * MAX_LINE + b"\r\n")
    assert (await reader.reply()).code == 250  # what came before the bad line still counts
    with pytest.raises(WireError, match="malformed"):
        await reader.reply()
    assert not reader.alive


async def test_a_line_that_never_ends_fails_once_past_the_bound() -> None:
    reader = ReplyReader()
    reader.data_received(b"250 " + b"x" * (MAX_LINE - 10))
    assert reader._lost is None  # within the bound: still waiting for its end
    reader.data_received(b"x" * 20)
    with pytest.raises(WireError, match="too long"):
        await reader.reply()


async def test_a_line_at_the_bound_is_read() -> None:
    line = b"250 " + b"y" * (MAX_LINE - 6) + b"\r\n"
    assert len(line) == MAX_LINE
    assert (await replies_of([line[:100], line[100:]], 1))[0][0] == 250


async def test_a_line_that_is_no_reply_fails_the_session() -> None:
    reader = ReplyReader()
    reader.data_received(b"hello there\r\n")
    with pytest.raises(WireError, match="malformed"):
        await reader.reply()


async def test_replies_read_before_the_end_are_kept() -> None:
    reader = ReplyReader()
    reader.data_received(b"250 ok\r\n250-half")
    reader.eof_received()
    assert (await reader.reply()).code == 250
    with pytest.raises(WireError, match="closed"):
        await reader.reply()


async def test_replies_over_a_loopback_connection() -> None:
    """A server writing the replies in pieces, with pauses, as a real peer may."""

    async def serve(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for piece in (PIPELINED[:5], PIPELINED[5:40], PIPELINED[40:41], PIPELINED[41:]):
            w.write(piece)
            await w.drain()
            await asyncio.sleep(0.01)
        w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        reader = take_over(transport)
        got = [await asyncio.wait_for(reader.reply(), 5) for _ in range(4)]
        assert [(r.code, r.message) for r in got] == EXPECTED
        with pytest.raises(WireError):
            await asyncio.wait_for(reader.reply(), 5)
        reader.close()
        await asyncio.wait_for(reader.wait_closed(), 5)
    finally:
        server.close()
        await server.wait_closed()


# The deadline a transaction sets (expect_by) ---------------------------------


async def test_a_reply_late_for_its_deadline_raises_timeout() -> None:
    reader = ReplyReader()
    loop = asyncio.get_running_loop()
    reader.expect_by(loop.time() + 0.05)
    started = loop.time()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.reply(), 5)
    assert 0.04 <= loop.time() - started < 1.0
    reader.data_received(b"250 late\r\n")  # what comes later is still read in order
    assert (await reader.reply()).message == "late"


async def test_a_deadline_already_past_raises_before_waiting() -> None:
    reader = ReplyReader()
    reader.expect_by(asyncio.get_running_loop().time() - 1)
    with pytest.raises(TimeoutError):
        await reader.reply()
    reader.data_received(b"250 ok\r\n")
    assert (await reader.reply()).code == 250  # a reply already there needs no time


@pytest.mark.parametrize(
    ("first", "second", "times_out"),
    [
        (0.05, 0.5, False),  # the timer of the first deadline moves on to the second
        (5.0, 0.05, True),  # a nearer deadline is not left to the far timer
    ],
    ids=["later-deadline", "earlier-deadline"],
)
async def test_each_transaction_has_its_own_deadline(
    first: float, second: float, times_out: bool
) -> None:
    reader = ReplyReader()
    loop = asyncio.get_running_loop()
    reader.expect_by(loop.time() + first)
    waiting = asyncio.ensure_future(reader.reply())
    await asyncio.sleep(0.01)
    reader.data_received(b"250 one\r\n")
    assert (await waiting).message == "one"  # the timer stays armed for the first deadline
    reader.expect_by(loop.time() + second)
    waiting = asyncio.ensure_future(reader.reply())
    await asyncio.sleep(0.15)  # past the first deadline
    if times_out:
        with pytest.raises(TimeoutError):
            await waiting
        return
    assert not waiting.done()
    reader.data_received(b"250 two\r\n")
    assert (await asyncio.wait_for(waiting, 1)).message == "two"
