"""Bounces that come back later, through a real Postfix: the pool learns from them.

sendpool sends a campaign through a real Postfix relay. Postfix accepts every
message with 250, then its onward delivery to a downstream relay (a faulty
SMTP server on loopback) is refused for some recipients: 550 5.1.1 (no such
user), 452 4.2.2 (mailbox full) and 421 4.7.0 (the sender's reputation). With
a queue lifetime of zero, Postfix gives up at once and sends its own DSNs to
each message's return path, ``bounces+TOKEN@`` the bounce domain, which its
transport table hands to sendpool's inbound listener. From those DSNs alone:
each message gets its event, hard-bounced recipients are suppressed, the 4.7.x
ones are counted against the server and suppress no one, the server's bounce
rate moves, the server is paused past the threshold, and the rebalancer cuts
its limit instead of raising it. The same DSNs read again from a real IMAP
mailbox (Dovecot) count once; and a pool whose DSNs reach it only through
that mailbox learns the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from sendpool.core.states import ServerStatus
from sendpool.runtime import Runtime
from sendpool.services.inbound.handle import Envelope, Handled, ReportHandler
from sendpool.services.inbound.inspect import inspect_report, return_path_key
from sendpool.services.inbound.listener import InboundListener
from sendpool.services.inbound.mailboxes import MailboxPoller, enabled_mailboxes
from sendpool.services.operations.rebalance import policy_from, rebalance
from sendpool.services.servers import commands as server_commands
from sendpool.services.servers.stats import activity_24h, server_stats
from sendpool.store.tables import DeliveryEvent, Message, SendingServer, Suppression
from tests.support.dovecot import Dovecot, running_dovecot
from tests.support.faulty_smtp import Fault, FaultyServer
from tests.support.postfix import running_postfix
from tests.support.scenario import apply, make_campaign, send_until_settled, smtp_server
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow  # starts a Postfix and a Dovecot

N = 100
BOUNCE_DOMAIN = "bounce.example.net"
HARD = [f"user{i}@example.com" for i in (3, 17, 42, 61, 88)]  # 5 % of the list
FULL = [f"user{i}@example.com" for i in (5, 50)]
POLICY = [f"user{i}@example.com" for i in (7, 70)]
REFUSE = {
    **{a: f"550 5.1.1 <{a}>: Recipient address rejected: User unknown" for a in HARD},
    **{a: f"452 4.2.2 <{a}>: Mailbox full" for a in FULL},
    **{a: "421 4.7.0 Try again later, closing connection (reputation)" for a in POLICY},
}


USER, PASSWORD = "bounces", "s3cret-bounces"
Handler = Callable[[bytes, Envelope, datetime], Awaitable[Handled]]


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    settings = make_settings(
        tmp_path,
        bounce_domain=BOUNCE_DOMAIN,
        bounce_min_volume=N,
        rebalance_min_sent=N - 1,  # one send is moved to the day before (assert_the_pool_learnt)
    )
    with Runtime.open(settings) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot({USER: PASSWORD}) as instance:
        yield instance


def postfix_settings(downstream: int, listener: int) -> dict[str, str]:
    table = f"example.com=smtp:[127.0.0.1]:{downstream} {BOUNCE_DOMAIN}=smtp:[127.0.0.1]:{listener}"
    return {
        "transport_maps": f"inline:{{ {table} }}",
        # Give up at the first failure, so 4xx recipients bounce now, not in days.
        "maximal_queue_lifetime": "0",
        "bounce_queue_lifetime": "0",
        # One delivery per session: a 421 ends only its own message's session.
        "smtp_connection_cache_on_demand": "no",
        "smtp_destination_concurrency_limit": "4",
    }


def rows(rt: Runtime, model: type, *where: Any) -> list[Any]:
    return list(rt.db.transaction(lambda c: c.execute(select(model).where(*where)).all()))


async def wait_for(what: str, check: Callable[[], bool], log: Callable[[], str]) -> None:
    deadline = asyncio.get_running_loop().time() + 120
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen in 120 s\n{log()[-4000:]}")
        await asyncio.sleep(0.2)


async def campaign_through_postfix(rt: Runtime, handler: Handler) -> list[bytes]:
    """Send N messages through a real Postfix; return the DSNs it sent back, as received."""
    dsns: list[bytes] = []
    sent = asyncio.Event()

    async def received(raw: bytes, envelope: Envelope, now: datetime) -> Handled:
        # Postfix waits for the 250 while the campaign finishes: the figures the
        # reports move are then those of the whole campaign, however fast they come.
        await sent.wait()
        done = await handler(raw, envelope, datetime.now(UTC))
        # Counted once handled: on a loaded machine a report can still be in its
        # transaction when the last one arrives, and the test must wait for both.
        dsns.append(raw)
        return done

    listener = InboundListener(received, [BOUNCE_DOMAIN])
    _host, listen_port = await listener.start()
    downstream = FaultyServer(default=Fault(refuse=REFUSE))
    await downstream.start()
    try:
        with running_postfix(
            relay_domains=["example.com"], extra=postfix_settings(downstream.port, listen_port)
        ) as postfix:
            servers = [smtp_server("relay", postfix.port, limit=10_000)]
            plan = {"name": "P", "servers": ["relay"]}
            customer = {"name": "acme", "plan": "P", "sending_domains": ["example.com"]}
            apply(rt, {"servers": servers, "plans": [plan], "customers": [customer]})
            _cid, uid = make_campaign(rt, N)
            report = await send_until_settled(rt, uid)
            assert report.by_status.get("sent") == N, "Postfix accepts every message with 250"
            sent.set()
            failing = len(HARD) + len(FULL) + len(POLICY)
            await wait_for(
                "Postfix's DSNs reaching sendpool", lambda: len(dsns) >= failing, postfix.log
            )
            # The DSNs may come back before Postfix has handed on the last good messages.
            delivered = N - len(REFUSE)
            await wait_for(
                "Postfix delivering the rest", lambda: downstream.accepted >= delivered, postfix.log
            )
    finally:
        await listener.close(drain=5)
        await downstream.stop()
    assert downstream.accepted == N - len(REFUSE)
    return dsns


def assert_the_pool_learnt(rt: Runtime) -> None:
    events = {e.recipient: e for e in rows(rt, DeliveryEvent)}
    assert sorted(events) == sorted(HARD + FULL + POLICY), "one event per bounced message"
    assert {events[a].kind for a in HARD} == {"hard_bounce"}
    assert {events[a].status_code for a in HARD} == {"5.1.1"}
    assert {events[a].kind for a in FULL} == {"soft_bounce"}
    # Reported "failed" after the 4.7.0 deferral: about the sender, not the address.
    assert {events[a].kind for a in POLICY} == {"reputation"}
    assert {e.reported_by for e in events.values()} == {"relay.postfix.test"}

    suppressed = {s.email: s for s in rows(rt, Suppression)}
    assert sorted(suppressed) == sorted(HARD), "hard bounces only; 4.7.x and a first soft never"
    assert {s.kind for s in suppressed.values()} == {"hard_bounce"}

    server = rows(rt, SendingServer)[0]
    now = datetime.now(UTC)
    activity = rt.db.transaction(activity_24h, [server.id], now)[server.id]
    assert activity.sent == N
    # Hard bounces and the refusals about the server's reputation count against it.
    assert activity.bounces == len(HARD) + len(POLICY)
    stats = rt.db.transaction(server_stats, rt.box, "relay", now)
    [domain] = stats.by_sending_domain
    assert (domain.domain, domain.activity) == ("example.com", activity)
    # Past the 5 % threshold over at least the minimum volume: paused, with the figures.
    assert server.status == ServerStatus.PAUSED
    assert "bounce rate" in (server.status_reason or "")

    # The daily rebalancer cuts the limit of a server that bounces this much. It judges
    # only a server with a full day of sends on record: its first send is moved to the
    # day before, the history a server has by its first rebalancing.
    policy = policy_from(rt.settings)
    later = now + timedelta(hours=1)
    first = rt.db.transaction(
        lambda c: c.execute(
            select(func.min(Message.id)).where(Message.server_id == server.id)
        ).scalar_one()
    )
    rt.db.transaction(
        lambda c: c.execute(
            update(Message).where(Message.id == first).values(sent_at=later - timedelta(hours=25))
        )
    )
    run = rt.db.transaction(
        lambda c: rebalance(c, policy=policy, now=later, dry_run=False, actor="test")
    )
    assert [(d.name, d.decision.action.value) for d in run.changed] == [("relay", "cut")]
    assert rows(rt, SendingServer)[0].sending_limit < server.sending_limit

    # Every DSN was classified from Postfix's own words; the message log shows the event.
    (msg,) = rows(rt, Message, Message.recipient == HARD[0])
    assert msg.status == "sent"
    assert events[HARD[0]].message_id == msg.id


def bounce_mailbox(rt: Runtime, dovecot: Dovecot) -> MailboxPoller:
    mailbox = {
        "enabled": True,
        "protocol": "imap",
        "host": "127.0.0.1",
        "port": dovecot.port,
        "encryption": "none",
        "username": USER,
        "password": PASSWORD,
        "mailbox": "INBOX",
    }
    now = datetime.now(UTC)
    rt.db.transaction(
        lambda c: server_commands.update_server(
            c, rt.box, "relay", changes={"bounce_handler": mailbox}, actor="test", now=now
        )
    )

    async def configs() -> Any:
        return await rt.db.run(enabled_mailboxes, rt.box)

    return MailboxPoller(configs, ReportHandler.from_runtime(rt))


async def test_postfix_dsns_through_the_listener_move_the_pool_and_count_once(
    rt: Runtime, dovecot: Dovecot
) -> None:
    handled: list[Handled] = []
    real = ReportHandler.from_runtime(rt)

    async def handler(raw: bytes, envelope: Envelope, now: datetime) -> Handled:
        handled.append(await real(raw, envelope, now))
        return handled[-1]

    dsns = await campaign_through_postfix(rt, handler)
    assert [h.outcome for h in handled] == ["applied"] * len(dsns), [h.note for h in handled]
    assert_the_pool_learnt(rt)

    # What `sendpool bounces classify` says of each of Postfix's reports, changing nothing.
    key = return_path_key(rt.box)
    kinds = {}
    for raw in dsns:
        report, trace = rt.db.transaction(inspect_report, raw, key)
        assert (report.format, trace.token) == ("dsn", "verified")
        kinds[trace.recipient] = report.kind.value
    assert kinds == {
        **dict.fromkeys(HARD, "hard"),
        **dict.fromkeys(FULL, "soft"),
        **dict.fromkeys(POLICY, "reputation"),
    }

    # The same reports in the bounce mailbox too (read by IMAP): each counts once.
    for raw in dsns:
        dovecot.append(USER, raw)
    poller = bounce_mailbox(rt, dovecot)
    try:
        [status] = await poller.poll()
    finally:
        await poller.close()
    assert status.error is None
    assert len(rows(rt, DeliveryEvent)) == len(dsns)
    assert dovecot.messages(USER) == [], "processed reports are moved out of the inbox"
    assert len(dovecot.messages(USER, "sendpool-processed")) == len(dsns)


async def test_postfix_dsns_read_from_the_bounce_mailbox_move_the_pool_the_same(
    rt: Runtime, dovecot: Dovecot
) -> None:
    async def to_the_mailbox(raw: bytes, envelope: Envelope, now: datetime) -> Handled:
        # This bounce domain's mail is delivered to a mailbox that sendpool reads by IMAP.
        dovecot.append(USER, raw)
        return Handled("applied", None, None, None, "delivered to the bounce mailbox")

    dsns = await campaign_through_postfix(rt, to_the_mailbox)
    assert rows(rt, DeliveryEvent) == [], "nothing learnt before the mailbox is read"
    poller = bounce_mailbox(rt, dovecot)
    try:
        [status] = await poller.poll()
    finally:
        await poller.close()
    assert status.error is None
    assert len(rows(rt, DeliveryEvent)) == len(dsns)
    assert_the_pool_learnt(rt)
