"""Unsubscribing: status, suppression and event, once, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.errors import InputError, NotFoundError
from sendpool.runtime import Runtime
from sendpool.services.lists.subscribers import add_subscribers, create_list
from sendpool.services.lists.unsubscribe import Unsubscribed, find_recipient, unsubscribe
from sendpool.services.tenancy import customers
from sendpool.store.tables import (
    Customer,
    DeliveryEvent,
    MailingList,
    Subscriber,
    Suppression,
    table,
)
from tests.support.services import PgDatabases
from tests.support.settings import make_settings
from tests.support.snapshots import db_snapshot

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def seed(rt: Runtime) -> dict[str, int]:
    """Two customers with a list each; the same address is on both."""
    for who in ("acme", "globex"):
        rt.db.transaction(customers.create_customer, fields={"name": who}, actor="t", now=NOW)
        with rt.db.engine.connect() as conn:
            cid = conn.execute(select(Customer.id).where(Customer.name == who)).scalar_one()
        listed = rt.db.transaction(create_list, cid, name="News", now=NOW)
        rt.db.transaction(
            add_subscribers, cid, listed.uid,
            subscribers=[("Jane@example.com", {}), (f"bob@{who}.example", {})], now=NOW,
        )  # fmt: skip
    ids: dict[str, int] = {}
    with rt.db.engine.connect() as conn:
        rows = conn.execute(
            select(Customer.name, MailingList.id, Subscriber.id, Subscriber.email)
            .join(MailingList, MailingList.customer_id == Customer.id)
            .join(Subscriber, Subscriber.list_id == MailingList.id)
        )
        for customer, list_id, sub_id, email in rows:
            ids[f"{customer}:list"] = list_id
            ids[f"{customer}:{email.split('@')[0].lower()}"] = sub_id
    return ids


def state(rt: Runtime) -> dict[str, Any]:
    with rt.db.engine.connect() as conn:
        return {
            "status": {r[0]: r[1] for r in conn.execute(select(Subscriber.id, Subscriber.status))},
            "suppressed": conn.execute(
                select(Suppression.customer_id, Suppression.email, Suppression.kind,
                       Suppression.reason).order_by(Suppression.customer_id)
            ).all(),
            "events": conn.execute(
                select(DeliveryEvent.kind, DeliveryEvent.customer_id, DeliveryEvent.recipient,
                       DeliveryEvent.source, DeliveryEvent.detail, DeliveryEvent.message_id)
            ).all(),
        }  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "sqlite":
        with Runtime.open(make_settings(tmp_path)) as opened:
            yield opened
        return
    dbs = PgDatabases(request.getfixturevalue("pg_url"))
    url = dbs.create()
    try:
        with Runtime.open(make_settings(tmp_path, database_url=url)) as opened:
            yield opened
    finally:
        dbs.drop(url)
        dbs.close()


def test_unsubscribes_suppresses_and_records_once(rt: Runtime) -> None:
    ids = seed(rt)
    jane, acme_list = ids["acme:jane"], ids["acme:list"]
    done = rt.db.transaction(
        unsubscribe, subscriber_id=jane, list_id=acme_list, source="one-click", now=NOW
    )
    assert done == Unsubscribed(True, "Jane@example.com", "News", done.customer_id)
    after = state(rt)
    assert after["status"][jane] == "unsubscribed"
    others = {k: v for k, v in after["status"].items() if k != jane}
    assert set(others.values()) == {"subscribed"}  # globex's Jane stays subscribed
    assert after["suppressed"] == [
        (done.customer_id, "Jane@example.com", "unsubscribe", "unsubscribed via one-click")
    ]
    assert after["events"] == [
        ("unsubscribe", done.customer_id, "Jane@example.com", "one-click",
         "unsubscribed via one-click at 2026-11-03 09:30 UTC", None)
    ]  # fmt: skip

    before = db_snapshot(rt)
    again = rt.db.transaction(
        unsubscribe, subscriber_id=jane, list_id=acme_list, source="page",
        now=NOW + timedelta(hours=1),
    )  # fmt: skip
    assert again == Unsubscribed(False, "Jane@example.com", "News", done.customer_id)
    assert db_snapshot(rt) == before
    who = rt.db.transaction(find_recipient, subscriber_id=jane, list_id=acme_list)
    assert who.status == "unsubscribed"


@pytest.mark.parametrize(
    "who",
    [
        pytest.param(("acme:jane", "globex:list"), id="subscriber-of-another-customers-list"),
        pytest.param(("acme:missing", "acme:list"), id="unknown-subscriber"),
        pytest.param(("acme:jane", "acme:missing"), id="unknown-list"),
    ],
)
def test_a_subscriber_not_on_that_list_is_not_found_and_nothing_changes(
    rt: Runtime, who: tuple[str, str]
) -> None:
    ids = seed(rt)
    sub, lst = (ids.get(k, 10**9) for k in who)
    before = db_snapshot(rt)
    with pytest.raises(NotFoundError):
        rt.db.transaction(unsubscribe, subscriber_id=sub, list_id=lst, source="page", now=NOW)
    assert db_snapshot(rt) == before


def test_an_unknown_source_is_refused(rt: Runtime) -> None:
    ids = seed(rt)
    before = db_snapshot(rt)
    with pytest.raises(InputError, match="unknown unsubscribe source"):
        rt.db.transaction(
            unsubscribe, subscriber_id=ids["acme:jane"], list_id=ids["acme:list"],
            source="telepathy", now=NOW,
        )  # fmt: skip
    assert db_snapshot(rt) == before


def test_an_existing_suppression_is_kept_as_it_was(rt: Runtime) -> None:
    """A hard bounce recorded first stays the reason; the unsubscribe is still recorded."""
    ids = seed(rt)
    with rt.db.engine.begin() as conn:
        cid = conn.execute(select(Customer.id).where(Customer.name == "acme")).scalar_one()
        conn.execute(
            table(Suppression).insert().values(
                customer_id=cid, email="Jane@example.com", reason="5.1.1 no such user",
                kind="hard_bounce", created_at=NOW,
            )
        )  # fmt: skip
    done = rt.db.transaction(
        unsubscribe, subscriber_id=ids["acme:jane"], list_id=ids["acme:list"],
        source="mailto", now=NOW,
    )  # fmt: skip
    assert done.changed
    after = state(rt)
    assert after["suppressed"] == [(cid, "Jane@example.com", "hard_bounce", "5.1.1 no such user")]
    assert [e[3] for e in after["events"]] == ["mailto"]
