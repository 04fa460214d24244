"""Campaigns sent by a real worker: each message leaves with a return path that names it.

The servers are aiosmtpd sinks on loopback that keep each envelope as it arrived
(tests/support/dsn_sink.py); the pool comes from a pool file, so the server's own
``bounce_domain`` takes the path an operator's does. The token in what the sink
got must read back, with the key derived from the secret key, to the id of the
message the recipient's row holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.core.return_path import TOKEN_HEADER, read_token, token_of_address
from sendpool.pipeline.pool import PoolCache
from sendpool.pipeline.prepare import Preparer
from sendpool.runtime import Runtime
from sendpool.secretbox import RETURN_PATH_PURPOSE
from sendpool.store.tables import Message, SendingServer
from tests.support.dsn_sink import DsnSink, Transaction
from tests.support.scenario import apply, make_campaign, send_until_settled, smtp_server
from tests.support.settings import make_settings

N = 6
FROM = "news@example.com"


@pytest.fixture
async def start_sink() -> AsyncIterator[Callable[..., Any]]:
    started: list[DsnSink] = []

    async def start(*, dsn: bool, pipelining: bool = False) -> DsnSink:
        sink = await DsnSink(dsn=dsn, pipelining=pipelining).start()
        started.append(sink)
        return sink

    yield start
    for sink in started:
        await sink.stop()


def open_runtime(tmp_path: Path, **settings: Any) -> Runtime:
    return Runtime.open(make_settings(tmp_path, **settings))


def pool(rt: Runtime, servers: list[dict[str, Any]]) -> None:
    apply(
        rt,
        {
            "servers": servers,
            "plans": [{"name": "P", "servers": [s["name"] for s in servers]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )


def message_ids(rt: Runtime) -> dict[str, int]:
    rows = rt.db.transaction(lambda c: c.execute(select(Message.recipient, Message.id)).all())
    return {r: i for r, i in rows}


def servers_of(rt: Runtime) -> dict[str, str | None]:
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(Message.recipient, SendingServer.name).join(
                SendingServer, SendingServer.id == Message.server_id
            )
        ).all()
    )
    return {r: n for r, n in rows}


def recipient_of(t: Transaction) -> str:
    return t.rcpts[0].split(">", 1)[0].removeprefix("TO:<")


def header(t: Transaction, name: str) -> str | None:
    return BytesHeaderParser().parsebytes(t.data).get(name)


async def send_campaign(rt: Runtime, n: int = N) -> None:
    _, uid = make_campaign(rt, n, sender=FROM)
    result = await send_until_settled(rt, uid, timeout=60)
    assert result.by_status == {"sent": n}


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelined"])
async def test_the_global_bounce_domain_names_each_message_and_asks_for_dsns(
    tmp_path: Path, start_sink: Callable[..., Any], pipelining: bool
) -> None:
    rt = open_runtime(tmp_path, bounce_domain="Bounce.Example.COM", bounce_local="rp")
    try:
        sink = await start_sink(dsn=True, pipelining=pipelining)
        pool(rt, [smtp_server("relay", sink.port)])
        await send_campaign(rt)
        ids = message_ids(rt)
        key = rt.box.derive(RETURN_PATH_PURPOSE)
        assert len(sink.transactions) == N
        for t in sink.transactions:
            token = token_of_address(t.mail_from)
            assert token is not None
            assert t.mail_from == f"rp+{token}@bounce.example.com"
            assert t.mail_params == {"RET": "HDRS", "ENVID": token}
            assert t.rcpt_params == [{"NOTIFY": "FAILURE,DELAY"}]
            assert header(t, TOKEN_HEADER) == token
            assert header(t, "From") == FROM
            # The token names this recipient's message, and only with the derived key.
            assert read_token(token, key) == ids[recipient_of(t)]
        assert len({token_of_address(t.mail_from) for t in sink.transactions}) == N
    finally:
        rt.close()


async def test_a_servers_own_bounce_domain_beats_the_default_and_dsn_follows_each_ehlo(
    tmp_path: Path, start_sink: Callable[..., Any]
) -> None:
    rt = open_runtime(tmp_path, bounce_domain="bounce.example.com")
    try:
        own, plain = await start_sink(dsn=True), await start_sink(dsn=False)
        pool(
            rt,
            [
                smtp_server("own", own.port, bounce_domain="Rücklauf.Example.NET"),
                smtp_server("default", plain.port),
            ],
        )
        await send_campaign(rt)
        ids, key, by = message_ids(rt), rt.box.derive(RETURN_PATH_PURPOSE), servers_of(rt)
        assert own.transactions and plain.transactions
        for t in own.transactions:
            assert t.mail_from.endswith("@xn--rcklauf-n2a.example.net")
            assert set(t.mail_params) == {"RET", "ENVID"}
            assert by[recipient_of(t)] == "own"
        for t in plain.transactions:
            assert t.mail_from.endswith("@bounce.example.com")
            # No DSN offered: no DSN parameter (aiosmtpd would have answered 555).
            assert t.mail_params == {} and t.rcpt_params == [{}]
            assert by[recipient_of(t)] == "default"
        for t in own.transactions + plain.transactions:
            assert read_token(token_of_address(t.mail_from) or "", key) == ids[recipient_of(t)]
    finally:
        rt.close()


async def test_without_a_bounce_domain_the_envelope_and_the_message_are_as_before(
    tmp_path: Path, start_sink: Callable[..., Any]
) -> None:
    rt = open_runtime(tmp_path)
    try:
        sink = await start_sink(dsn=True)
        pool(rt, [smtp_server("relay", sink.port)])
        await send_campaign(rt)
        assert len(sink.transactions) == N
        for t in sink.transactions:
            assert t.mail == f"FROM:<{FROM}>"
            assert t.rcpt_params == [{}]
            assert header(t, TOKEN_HEADER) is None
    finally:
        rt.close()


async def test_a_token_only_for_plans_with_a_bounce_domain(tmp_path: Path) -> None:
    """A plan none of whose servers has a bounce domain renders its messages as before."""
    rt = open_runtime(tmp_path)
    try:
        apply(
            rt,
            {
                "servers": [
                    smtp_server("with", 9, bounce_domain="bounce.example.com"),
                    smtp_server("without", 9),
                ],
                "plans": [
                    {"name": "Bounced", "servers": ["with", "without"]},
                    {"name": "Plain", "servers": ["without"]},
                ],
                "customers": [
                    {"name": "acme", "plan": "Bounced", "sending_domains": ["example.com"]},
                    {"name": "other", "plan": "Plain", "sending_domains": ["example.org"]},
                ],
            },
        )
        make_campaign(rt, 2, customer="acme")
        make_campaign(rt, 2, customer="other", sender="news@example.org")
        now = datetime.now(UTC) + timedelta(minutes=1)
        claimed = await rt.queue.claim("w1", 10, now, now + timedelta(minutes=5))
        key = rt.box.derive(RETURN_PATH_PURPOSE)
        preparer = Preparer(
            rt.catalog, public_url="http://x", burst_threshold=5, return_path_key=key
        )
        state = await PoolCache(rt.catalog).get(now)
        jobs = (await preparer.prepare(claimed, now, state)).jobs
        assert len(jobs) == 4
        read: dict[str, dict[int, int | None]] = {"news@example.com": {}, "news@example.org": {}}
        for j in jobs:
            token = j.message.return_token
            read[j.message.envelope_from][j.row.id] = read_token(token, key) if token else None
            assert (TOKEN_HEADER.encode() in j.message.mime) is (token is not None)
        # Plan "Bounced" has a server with a bounce domain: each token names its message.
        assert [i for i, got in read["news@example.com"].items() if got != i] == []
        assert list(read["news@example.org"].values()) == [None, None]
        # Without the key no message gets a token, whatever the pool says.
        keyless = Preparer(rt.catalog, public_url="http://x", burst_threshold=5)
        assert all(
            j.message.return_token is None
            for j in (await keyless.prepare(claimed, now, state)).jobs
        )
    finally:
        rt.close()
