"""End to end on the embedded default: SQLite, real SMTP sinks on loopback."""

from __future__ import annotations

import asyncio
import email
from collections import Counter

import pytest
from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.sinks import SmtpSink
from sendpool.store.tables import Message, SendingServer
from tests.support.scenario import make_campaign, pool_of_sinks, report, send_until_settled
from tests.support.sinks import StartSinks

pytestmark = pytest.mark.slow

N = 3000


def delivered_ids(sinks: list[SmtpSink]) -> Counter[str]:
    ids: Counter[str] = Counter()
    for s in sinks:
        ids.update(s.handler.message_ids)
    return ids


def log_by_message_id(rt: Runtime) -> dict[str, tuple[str, str | None, str]]:
    rows = rt.db.transaction(
        lambda c: c.execute(
            select(
                Message.message_id, Message.status, SendingServer.name, Message.recipient
            ).outerjoin(SendingServer, SendingServer.id == Message.server_id)
        ).all()
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows if r[0]}


async def test_3000_recipients_split_evenly_and_each_gets_one_message(
    runtime: Runtime, sinks: StartSinks
) -> None:
    three = await sinks(3)
    pool_of_sinks(runtime, three)
    _, uid = make_campaign(runtime, N, html="<p>Hi {{ first_name }}</p>")
    result = await send_until_settled(runtime, uid)

    assert result.by_status == {"sent": N}
    assert sorted(result.by_server.values()) == [1000, 1000, 1000]
    assert [s.count for s in three] == [1000, 1000, 1000]
    recipients = Counter(r for s in three for m in s.messages for r in m.recipients)
    assert len(recipients) == N and set(recipients.values()) == {1}
    ids = delivered_ids(three)
    assert len(ids) == N and set(ids.values()) == {1}

    # The log names the server that really got each message.
    log = log_by_message_id(runtime)
    for s in three:
        for m in s.messages:
            assert m.message_id is not None
            assert log[m.message_id][:2] == ("sent", s.name)

    parsed = email.message_from_bytes(three[0].messages[0].data)
    to = parsed["To"]
    number = to.removeprefix("user").split("@")[0]
    assert parsed["Subject"] == f"Hello User{number}"
    assert parsed["List-Unsubscribe"].startswith("<http://")
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in parsed.walk()}
    assert f"Hi User{number}".encode() in parts["text/plain"]
    assert b".a line that starts with a dot" in parts["text/plain"]
    assert f"<p>Hi User{number}</p>".encode() in parts["text/html"]


async def test_a_sink_that_goes_down_mid_campaign_hands_its_share_to_the_others(
    runtime: Runtime, sinks: StartSinks
) -> None:
    three = await sinks(3)
    pool_of_sinks(runtime, three)
    _, uid = make_campaign(runtime, N)
    victim = three[1]

    async def take_down() -> None:
        while victim.count < 300:
            await asyncio.sleep(0.005)
        await victim.stop()

    killer = asyncio.create_task(take_down())
    result = await send_until_settled(runtime, uid)
    await killer

    assert result.by_status == {"sent": N}, "nothing lost"
    ids = delivered_ids(three)
    assert len(ids) == N and max(ids.values()) == 1, "nothing doubled"
    assert sum(s.count for s in three) == N
    assert 300 <= victim.count < 1000
    assert three[0].count + three[2].count == N - victim.count
    # The survivors share the rest evenly (the dead server's turns are re-dealt).
    assert abs(three[0].count - three[2].count) <= N // 100
    assert result.by_server[victim.name] == victim.count
    health = runtime.db.transaction(
        lambda c: c.execute(
            select(SendingServer.health).where(SendingServer.name == victim.name)
        ).scalar()
    )
    assert health == "degraded"
    final = await report(runtime, uid)
    assert final.settled and final.waiting == 0
