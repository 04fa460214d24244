"""Unsubscribe by mail to ``unsubscribe+TOKEN@`` the bounce domain, over a real listener."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Connection, select

from sendpool.core.unsubscribe import make_unsubscribe_token
from sendpool.runtime import Runtime
from sendpool.secretbox import UNSUBSCRIBE_PURPOSE, SecretBox
from sendpool.services import refs
from sendpool.services.inbound.handle import Envelope, Handled, ReportHandler
from sendpool.services.inbound.listener import InboundListener
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.services.tenancy.customers import create_customer
from sendpool.store.tables import DeliveryEvent, Subscriber, Suppression
from tests.support.settings import make_settings
from tests.support.snapshots import db_snapshot

DOMAIN = "bounce.example.net"
REQUEST = (
    b"From: jane@example.org\r\nTo: unsubscribe\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n"
)


@dataclass
class World:
    rt: Runtime
    listener: InboundListener
    ids: dict[str, int]  # "jane", "joe" (subscriber ids), "news", "other" (list ids)
    handled: list[Handled] = field(default_factory=list)

    def token(self, who: str, on: str = "news", key: bytes | None = None) -> str:
        key = key if key is not None else self.rt.box.derive(UNSUBSCRIBE_PURPOSE)
        return make_unsubscribe_token(self.ids[who], self.ids[on], key)

    async def mail(self, *rcpts: str, sender: str = "jane@example.org") -> Handled:
        async with aiosmtplib.SMTP(hostname=self.listener.host, port=self.listener.port) as c:
            refused, answer = await c.sendmail(sender, list(rcpts), REQUEST)
        assert refused == {} and answer.startswith("2.0.0")
        return self.handled[-1]


def _seed(conn: Connection, now: datetime) -> dict[str, int]:
    acme = create_customer(conn, fields={"name": "acme"}, actor="t", now=now)
    other = create_customer(conn, fields={"name": "globex"}, actor="t", now=now)
    ids = {"news": get_or_create_list(conn, refs.customer_id(conn, acme.uid), "news", now)}
    ids["other"] = get_or_create_list(conn, refs.customer_id(conn, other.uid), "other", now)
    import_csv(conn, ids["news"], io.StringIO("email\njane@example.org\njoe@example.org\n"), now)
    import_csv(conn, ids["other"], io.StringIO("email\nzoe@example.org\n"), now)
    for email, sid in conn.execute(select(Subscriber.email, Subscriber.id)):
        ids[email.partition("@")[0]] = int(sid)
    return ids


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    rt = Runtime.open(make_settings(tmp_path, bounce_domain=DOMAIN))
    try:
        ids = rt.db.transaction(_seed, datetime.now(UTC))
        handler = ReportHandler.from_runtime(rt)
        w: World

        async def recording(raw: bytes, envelope: Envelope, now: datetime) -> Handled:
            handled = await handler(raw, envelope, now)
            w.handled.append(handled)
            return handled

        listener = InboundListener(recording, [DOMAIN], host="127.0.0.1", port=0)
        w = World(rt, listener, ids)
        await listener.start()
        try:
            yield w
        finally:
            await listener.close(drain=5)
    finally:
        rt.close()


Row = tuple[str | None, str | None, str | None]


def state(rt: Runtime) -> tuple[dict[str, str], list[Row], list[Row]]:
    """Each subscriber's status; the suppressions; the delivery events."""

    def read(conn: Connection) -> tuple[dict[str, str], list[Row], list[Row]]:
        statuses = {e: s for e, s in conn.execute(select(Subscriber.email, Subscriber.status))}
        supp = select(Suppression.email, Suppression.kind, Suppression.reason)
        events = select(DeliveryEvent.kind, DeliveryEvent.recipient, DeliveryEvent.source)
        return (
            statuses,
            [(a, b, c) for a, b, c in conn.execute(supp.order_by(Suppression.email))],
            [(a, b, c) for a, b, c in conn.execute(events.order_by(DeliveryEvent.id))],
        )

    return rt.db.transaction(read)


async def test_mail_to_the_unsubscribe_address_unsubscribes_that_subscriber(world: World) -> None:
    handled = await world.mail(f"unsubscribe+{world.token('jane')}@{DOMAIN}")
    assert (handled.outcome, handled.kind) == ("applied", "unsubscribe")
    assert "jane@example.org" in handled.note and "news" in handled.note
    statuses, suppressions, events = state(world.rt)
    assert statuses == {
        "jane@example.org": "unsubscribed",
        "joe@example.org": "subscribed",
        "zoe@example.org": "subscribed",
    }
    assert suppressions == [("jane@example.org", "unsubscribe", "unsubscribed via mailto")]
    assert events == [("unsubscribe", "jane@example.org", "mailto")]


async def test_a_second_mail_is_a_duplicate_and_changes_nothing(world: World) -> None:
    address = f"unsubscribe+{world.token('jane')}@{DOMAIN}"
    assert (await world.mail(address)).outcome == "applied"
    before = db_snapshot(world.rt)
    handled = await world.mail(address)
    assert (handled.outcome, handled.kind) == ("duplicate", "unsubscribe")
    assert db_snapshot(world.rt) == before


async def test_case_folded_by_an_mta_still_unsubscribes(world: World) -> None:
    handled = await world.mail(f"UNSUBSCRIBE+{world.token('joe').upper()}@{DOMAIN.upper()}")
    assert handled.outcome == "applied"
    assert state(world.rt)[0]["joe@example.org"] == "unsubscribed"


def _forgeries(world: World) -> dict[str, str]:
    good = world.token("jane")
    flipped = good[:-1] + ("a" if good[-1] != "a" else "b")
    other_key = SecretBox(Fernet.generate_key()).derive(UNSUBSCRIBE_PURPOSE)
    return {
        "re-signed with another key": world.token("jane", key=other_key),
        "one character changed": flipped,
        "truncated": good[:-3],
        "too long": good + "a" * 64,
        "not base32": "jane!1",
        "empty": "",
    }


@pytest.mark.parametrize(
    "case",
    [
        "re-signed with another key",
        "one character changed",
        "truncated",
        "too long",
        "not base32",
        "empty",
    ],
)
async def test_a_forged_token_changes_nothing(world: World, case: str) -> None:
    before = db_snapshot(world.rt)
    handled = await world.mail(f"unsubscribe+{_forgeries(world)[case]}@{DOMAIN}")
    assert (handled.outcome, handled.kind) == ("forged", "unsubscribe"), handled.note
    assert db_snapshot(world.rt) == before


async def test_without_a_token_nothing_changes(world: World) -> None:
    before = db_snapshot(world.rt)
    handled = await world.mail(f"unsubscribe@{DOMAIN}")
    assert handled.outcome == "unmatched"
    assert db_snapshot(world.rt) == before


async def test_a_signed_token_pairing_a_subscriber_with_another_list_changes_nothing(
    world: World,
) -> None:
    # Both ids are real and the MAC is ours, but zoe is on another customer's list.
    before = db_snapshot(world.rt)
    handled = await world.mail(f"unsubscribe+{world.token('zoe', on='news')}@{DOMAIN}")
    assert handled.outcome == "unmatched"
    assert db_snapshot(world.rt) == before


async def test_a_forged_token_beside_a_good_one_does_not_stop_it(world: World) -> None:
    forged = _forgeries(world)["one character changed"]
    handled = await world.mail(
        f"unsubscribe+{forged}@{DOMAIN}", f"unsubscribe+{world.token('joe')}@{DOMAIN}"
    )
    assert handled.outcome == "applied"
    statuses = state(world.rt)[0]
    assert (statuses["jane@example.org"], statuses["joe@example.org"]) == (
        "subscribed",
        "unsubscribed",
    )


async def test_other_mail_to_the_bounce_domain_is_still_a_report_or_left_alone(
    world: World,
) -> None:
    before = db_snapshot(world.rt)
    handled = await world.mail(
        f"bounces@{DOMAIN}", f"unsubscribe-not+{world.token('jane')}@{DOMAIN}"
    )
    assert handled.outcome == "not_a_report"
    assert db_snapshot(world.rt) == before
