"""Reports about messages really sent through loopback sinks, applied once, to their own message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, select

from sendpool.core.return_path import make_token
from sendpool.runtime import Runtime
from sendpool.secretbox import RETURN_PATH_PURPOSE
from sendpool.services.inbound.handle import Envelope, Handled, ReportHandler
from sendpool.services.messages.log import message_log
from sendpool.services.servers.stats import activity_24h, server_stats
from sendpool.sinks import Received
from sendpool.store.tables import DeliveryEvent, Message, Suppression
from tests.support.report_mail import Rcpt, arf, dsn, human_mail
from tests.support.scenario import make_campaign, pool_of_sinks, send_until_settled
from tests.support.settings import make_settings
from tests.support.sinks import StartSinks
from tests.support.snapshots import db_snapshot

LISTENER = Envelope("", ("bounces@bounce.example.net",), "smtp")
MAILBOX = Envelope(None, ("bounces@bounce.example.net",), "imap:sink0/bounce")


@dataclass
class World:
    rt: Runtime
    handler: ReportHandler
    sent: dict[str, Received]  # recipient -> what the sink got
    sent_at: dict[str, datetime]  # recipient -> when sendpool recorded the send
    server_of: dict[str, str]  # recipient -> server name

    async def feed(self, raw: bytes, now: datetime, envelope: Envelope = LISTENER) -> Handled:
        return await self.handler(raw, envelope, now)

    def at(self, recipient: str, later: timedelta = timedelta(minutes=10)) -> datetime:
        return self.sent_at[recipient] + later


async def sent_world(rt: Runtime, sinks: StartSinks, n: int) -> World:
    started = await sinks(2)
    pool_of_sinks(rt, started)
    _, uid = make_campaign(rt, n)
    await send_until_settled(rt, uid)
    got = {m.recipients[0]: m for s in started for m in s.messages}
    names = {m.recipients[0]: s.name for s in started for m in s.messages}

    def sends(conn: Connection) -> dict[str, datetime]:
        rows = conn.execute(select(Message.recipient, Message.sent_at)).all()
        return {r: at for r, at in rows}

    return World(rt, ReportHandler.from_runtime(rt), got, rt.db.transaction(sends), names)


@pytest.fixture
async def world(tmp_path: Path, sinks: StartSinks) -> AsyncIterator[World]:
    rt = Runtime.open(make_settings(tmp_path, bounce_domain="bounce.example.net"))
    try:
        yield await sent_world(rt, sinks, 6)
    finally:
        rt.close()


def events(rt: Runtime) -> list[tuple[str | None, str, str | None]]:
    def read(conn: Connection) -> list[tuple[str | None, str, str | None]]:
        rows = conn.execute(
            select(DeliveryEvent.recipient, DeliveryEvent.kind, DeliveryEvent.status_code).order_by(
                DeliveryEvent.id
            )
        ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]

    return rt.db.transaction(read)


def suppressed(rt: Runtime) -> dict[str, tuple[str | None, str]]:
    def read(conn: Connection) -> dict[str, tuple[str | None, str]]:
        rows = conn.execute(select(Suppression.email, Suppression.kind, Suppression.reason))
        return {e: (k, r) for e, k, r in rows}

    return rt.db.transaction(read)


def hard(w: World, rcpt: str, **kw: object) -> bytes:
    diag = f"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"
    return dsn(w.sent[rcpt], [Rcpt(rcpt, "5.1.1", diagnostic=diag)], **kw)  # type: ignore[arg-type]


def test_every_send_carries_a_return_path_token(world: World) -> None:
    assert len(world.sent) == 6
    for m in world.sent.values():
        assert m.mail_from.startswith("bounces+") and m.mail_from.endswith("@bounce.example.net")
        assert b"X-Sendpool-Message: " in m.data


async def test_a_hard_bounce_is_an_event_a_suppression_and_a_line_in_the_message_log(
    world: World,
) -> None:
    rcpt = "user0@example.com"
    now = world.at(rcpt)
    handled = await world.feed(hard(world, rcpt), now)
    server = world.server_of[rcpt]
    assert (handled.outcome, handled.kind, handled.server_name) == (
        "applied",
        "hard_bounce",
        server,
    )
    assert events(world.rt) == [(rcpt, "hard_bounce", "5.1.1")]
    kind, reason = suppressed(world.rt)[rcpt]
    assert kind == "hard_bounce" and "5.1.1" in reason and "mx.example.net" in reason
    log = {r.recipient: r for r in world.rt.db.transaction(message_log)}
    line = log[rcpt].event
    assert line is not None
    assert line.startswith(f"bounced 5.1.1 via {server}, reported {now:%Y-%m-%d %H:%M} UTC")
    assert "by mx.example.net: 550 5.1.1" in line
    assert log[rcpt].status == "sent"  # it was sent; what came back is the event
    assert all(r.event is None for k, r in log.items() if k != rcpt)
    stats = world.rt.db.transaction(server_stats, world.rt.box, server, now)
    assert stats.bounces_last_24h == 1 and stats.bounce_rate_last_24h == 1 / stats.sent_last_24h


async def test_three_soft_bounces_within_the_days_suppress_on_the_third(world: World) -> None:
    rcpt = "user1@example.com"
    start = world.at(rcpt)

    def soft(n: int) -> bytes:
        mailbox_full = f"452 4.2.2 <{rcpt}>: mailbox full ({n})"
        return dsn(world.sent[rcpt], [Rcpt(rcpt, "4.2.2", diagnostic=mailbox_full)])

    # Two soft bounces, then eight days of quiet: the window has moved on.
    for day in (0, 1):
        assert (await world.feed(soft(day), start + timedelta(days=day))).outcome == "applied"
    assert rcpt not in suppressed(world.rt)
    assert (await world.feed(soft(2), start + timedelta(days=9))).outcome == "applied"
    assert rcpt not in suppressed(world.rt)  # one soft bounce within the last 7 days
    assert (await world.feed(soft(3), start + timedelta(days=10))).outcome == "applied"
    assert rcpt not in suppressed(world.rt)
    handled = await world.feed(soft(4), start + timedelta(days=11))
    assert "suppressed" in handled.note
    kind, reason = suppressed(world.rt)[rcpt]
    assert kind == "soft_bounce" and reason.startswith("3 soft bounces in 7 days")
    assert [k for _r, k, _s in events(world.rt)] == ["soft_bounce"] * 5


async def test_a_reputation_refusal_counts_against_the_server_and_suppresses_no_one(
    world: World,
) -> None:
    rcpt = "user2@example.com"
    policy = "554 5.7.1 Service unavailable; client host blocked using zen.example.org"
    raw = dsn(world.sent[rcpt], [Rcpt(rcpt, "5.7.1", diagnostic=policy)])
    now = world.at(rcpt)
    handled = await world.feed(raw, now)
    assert (handled.outcome, handled.kind) == ("applied", "reputation")
    assert suppressed(world.rt) == {}
    stats = world.rt.db.transaction(server_stats, world.rt.box, world.server_of[rcpt], now)
    assert stats.bounces_last_24h == 1


async def test_a_complaint_suppresses_at_once_and_moves_the_complaint_rate(world: World) -> None:
    rcpt = "user3@example.com"
    now = world.at(rcpt)
    handled = await world.feed(arf(world.sent[rcpt]), now, MAILBOX)
    assert (handled.outcome, handled.kind) == ("applied", "complaint")
    assert suppressed(world.rt)[rcpt][0] == "complaint"
    stats = world.rt.db.transaction(server_stats, world.rt.box, world.server_of[rcpt], now)
    assert stats.complaints_last_24h == 1
    assert stats.complaint_rate_last_24h == 1 / stats.sent_last_24h
    log = {r.recipient: r for r in world.rt.db.transaction(message_log)}
    assert (log[rcpt].event or "").startswith("complaint (abuse) via ")


async def test_the_same_report_twice_is_one_event(world: World) -> None:
    rcpt = "user0@example.com"
    raw = hard(world, rcpt)
    now = world.at(rcpt)
    first = await world.feed(raw, now, LISTENER)
    before = db_snapshot(world.rt)
    # The listener and a mailbox both got it; the second copy changes nothing.
    second = await world.feed(raw, now + timedelta(minutes=3), MAILBOX)
    assert (first.outcome, second.outcome) == ("applied", "duplicate")
    assert db_snapshot(world.rt) == before
    assert len(events(world.rt)) == 1


async def test_a_forged_token_changes_nothing(world: World) -> None:
    rcpt = "user0@example.com"
    sent = world.sent[rcpt]

    def mid(conn: Connection) -> int:
        return int(conn.execute(select(Message.id).where(Message.recipient == rcpt)).scalar_one())

    message_id = world.rt.db.transaction(mid)
    forged = make_token(message_id, b"not our key" * 3)
    raw = dsn(
        None,
        [Rcpt(rcpt, "5.1.1")],
        envid=forged,
        returned_headers=f"X-Sendpool-Message: {forged}\nTo: {rcpt}\n",
        to=f"bounces+{forged}@bounce.example.net",
    )
    before = db_snapshot(world.rt)
    handled = await world.feed(raw, world.at(rcpt), Envelope("", (f"bounces+{forged}@x",), "smtp"))
    assert handled.outcome == "forged" and "MAC" in handled.note
    assert db_snapshot(world.rt) == before
    # The real token, made with our key, is what the message went out with.
    real = make_token(message_id, world.rt.box.derive(RETURN_PATH_PURPOSE))
    assert real.lower() in sent.mail_from.lower() and forged != real


async def test_a_report_naming_another_address_changes_nothing(world: World) -> None:
    rcpt = "user0@example.com"
    victim = "ceo@globex.example"  # someone else's address, behind our valid token
    raw = dsn(world.sent[rcpt], [Rcpt(victim, "5.1.1")])
    before = db_snapshot(world.rt)
    handled = await world.feed(raw, world.at(rcpt))
    assert handled.outcome == "unmatched" and victim in handled.note
    assert db_snapshot(world.rt) == before


async def test_a_report_about_many_recipients_applies_only_to_its_message(world: World) -> None:
    rcpt = "user4@example.com"
    blocks = [
        Rcpt("user5@example.com", "5.1.1"),  # sent too, but not the message this token names
        Rcpt("USER4@Example.COM", "5.1.1"),
        Rcpt("stranger@example.org", "5.1.1"),
    ]
    handled = await world.feed(dsn(world.sent[rcpt], blocks), world.at(rcpt))
    assert handled.outcome == "applied"
    assert events(world.rt) == [(rcpt, "hard_bounce", "5.1.1")]
    assert list(suppressed(world.rt)) == [rcpt]


async def test_a_bounce_of_a_bounce_is_ignored(world: World) -> None:
    rcpt = "user0@example.com"
    ours = hard(world, rcpt).decode()
    returned = ours.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")  # a report's own headers
    raw = dsn(world.sent[rcpt], [Rcpt(rcpt, "5.1.1")], returned_headers=returned)
    before = db_snapshot(world.rt)
    handled = await world.feed(raw, world.at(rcpt))
    assert handled.outcome == "ignored" and "loop" in handled.note
    assert db_snapshot(world.rt) == before


@pytest.mark.parametrize("raw", [human_mail(), b"", b"\x00\xff" * 50, b"Content-Type: multipart/"])
async def test_ordinary_and_garbage_mail_is_left_alone(world: World, raw: bytes) -> None:
    before = db_snapshot(world.rt)
    handled = await world.feed(raw, world.at("user0@example.com"))
    assert (handled.outcome, handled.message_uid) == ("not_a_report", None)
    assert db_snapshot(world.rt) == before


async def test_a_report_without_any_token_is_unmatched(world: World) -> None:
    raw = dsn(None, [Rcpt("user0@example.com", "5.1.1")], returned_headers="Subject: hi\n")
    before = db_snapshot(world.rt)
    handled = await world.feed(raw, world.at("user0@example.com"))
    assert handled.outcome == "unmatched"
    assert db_snapshot(world.rt) == before


async def test_the_envelope_recipient_alone_finds_the_message(world: World) -> None:
    rcpt = "user1@example.com"
    sent = world.sent[rcpt]
    # A relay that returns nothing of the message: only our return path, where it was sent.
    raw = dsn(None, [Rcpt(rcpt, "5.1.1")], returned_headers="Subject: hi\n", to="postmaster")
    handled = await world.feed(raw, world.at(rcpt), Envelope("", (sent.mail_from,), "lmtp"))
    assert handled.outcome == "applied"


async def test_a_bounce_arriving_a_day_later_lands_on_the_original_send(world: World) -> None:
    rcpt = "user2@example.com"
    sent_at = world.sent_at[rcpt]
    later = sent_at + timedelta(hours=30)
    assert (await world.feed(hard(world, rcpt), later)).outcome == "applied"

    def figures(conn: Connection, now: datetime) -> tuple[int, int]:
        sid = conn.execute(select(Message.server_id).where(Message.recipient == rcpt)).scalar()
        act = activity_24h(conn, [int(sid or 0)], now)[int(sid or 0)]
        return act.sent, act.bounces

    # Counted in the 24 hours of its send, over the sends it is about ...
    sent, bounces = world.rt.db.transaction(figures, sent_at + timedelta(hours=1))
    assert sent >= 1 and bounces == 1
    # ... and not in the 24 hours when it arrived, when that send is out of the window.
    assert world.rt.db.transaction(figures, later) == (0, 0)


@pytest.mark.parametrize(
    ("block", "outcome"),
    [
        (Rcpt("user0@example.com", "2.0.0", action="delivered"), "ignored"),
        (Rcpt("user0@example.com", "9.9.9", action="failed"), "unknown"),
    ],
)
async def test_delivery_notices_and_unreadable_reports_change_nothing(
    world: World, block: Rcpt, outcome: str
) -> None:
    before = db_snapshot(world.rt)
    handled = await world.feed(dsn(world.sent[block.address], [block]), world.at(block.address))
    assert handled.outcome == outcome
    assert db_snapshot(world.rt) == before


async def test_a_delay_is_an_event_that_suppresses_no_one(world: World) -> None:
    rcpt = "user5@example.com"
    raw = dsn(world.sent[rcpt], [Rcpt(rcpt, "4.4.7", action="delayed")])
    handled = await world.feed(raw, world.at(rcpt))
    assert (handled.outcome, handled.kind) == ("applied", "delay")
    assert suppressed(world.rt) == {}


async def test_ten_thousand_recipients_are_cut_short_and_change_nothing(world: World) -> None:
    rcpt = "user0@example.com"
    crowd = [Rcpt(f"x{i}@example.org", "5.1.1") for i in range(10_000)] + [Rcpt(rcpt, "5.1.1")]
    before = db_snapshot(world.rt)
    handled = await world.feed(dsn(world.sent[rcpt], crowd), world.at(rcpt))
    # Only the first 1,000 blocks are read: the message's own recipient is not among them.
    assert handled.outcome == "unmatched"
    assert db_snapshot(world.rt) == before
