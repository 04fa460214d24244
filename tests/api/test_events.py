"""/api/v1/admin/events, and the server page's rates and latest events, over real rows."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, update

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.store.tables import DeliveryEvent, Message, SendingServer, table
from tests.support.admin_world import Web, build_web_template
from tests.support.snapshots import db_snapshot
from tests.support.world import World, client_for
from tests.support.world_template import copy_database

E = "/api/v1/admin/events"
NOW = datetime.now(UTC)


def add_event(conn: Connection, server: str, kind: str, **values: Any) -> None:
    """An event as the inbound handler writes it: naming its server, customer and recipient."""
    values.setdefault("created_at", NOW)
    conn.execute(
        table(DeliveryEvent)
        .insert()
        .values(server_id=refs.server_id(conn, server), kind=kind, **values)
    )


def _seed(world: World) -> None:
    def seed(conn: Connection) -> None:
        a = refs.customer_id(conn, "tenant-a")
        b = refs.customer_id(conn, "tenant-b")
        add_event(
            conn, "smtp-1", "hard_bounce", customer_id=a, recipient="a0@a-tenant.example",
            status_code="5.1.1", source="inbound", reported_by="mx.a-tenant.example",
            created_at=NOW - timedelta(hours=2), dedup_key="k1",
        )  # fmt: skip
        add_event(
            conn, "ses-1", "reputation", customer_id=b, recipient="b0@b-tenant.example",
            status_code="4.7.0", source="imap:ses-1/bounce", reported_by="mx.b-tenant.example",
            created_at=NOW - timedelta(minutes=30), dedup_key="k2",
        )  # fmt: skip
        add_event(
            conn, "smtp-1", "delay", customer_id=b, recipient="b1@b-tenant.example",
            status_code="4.2.2", created_at=NOW - timedelta(days=3), dedup_key="k3",
        )  # fmt: skip

    world.rt.db.transaction(seed)


async def _get(world: World, **params: Any) -> Any:
    r = await world.client.get(E, params=params, headers=world.auth("admin"))
    assert r.status_code == 200, r.text
    return r.json()


async def test_events_newest_first_with_what_they_name(world: World) -> None:
    _seed(world)
    body = await _get(world)
    kinds = [i["kind"] for i in body["items"]]
    # The world's own two complaints (recorded at send time, naming no customer) come first.
    assert kinds == ["complaint", "complaint", "reputation", "hard_bounce", "delay"]
    bounce = body["items"][3]
    assert bounce["server_name"] == "smtp-1"
    assert bounce["customer_name"] == "tenant-a"
    assert (bounce["status_code"], bounce["recipient"]) == ("5.1.1", "a0@a-tenant.example")
    assert bounce["reported_by"] == "mx.a-tenant.example"
    legacy = body["items"][0]
    assert legacy["customer_name"] in ("tenant-a", "tenant-b")  # through its message
    assert legacy["message_uid"] is not None and legacy["sent_at"] is not None
    page = await _get(world, limit=2)
    assert (len(page["items"]), page["next_offset"]) == (2, 2)
    rest = await _get(world, limit=2, offset=4)
    assert ([i["kind"] for i in rest["items"]], rest["next_offset"]) == (["delay"], None)


async def test_filters_by_server_kind_time_and_customer(world: World) -> None:
    _seed(world)
    by_uid = await _get(world, server=world.ids["server_ses"])
    by_name = await _get(world, server="SES-1")
    assert (
        [i["kind"] for i in by_uid["items"]]
        == ["reputation"]
        == [i["kind"] for i in by_name["items"]]
    )
    assert [i["kind"] for i in (await _get(world, kind="delay"))["items"]] == ["delay"]
    recent = await _get(world, since=(NOW - timedelta(hours=1)).isoformat())
    assert sorted(i["kind"] for i in recent["items"]) == ["complaint", "complaint", "reputation"]
    old = await _get(world, until=(NOW - timedelta(days=1)).isoformat())
    assert [i["kind"] for i in old["items"]] == ["delay"]
    naive = (NOW - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert len((await _get(world, since=naive))["items"]) == 3
    of_a = await _get(world, customer="tenant-a")
    assert sorted(i["kind"] for i in of_a["items"]) == ["complaint", "hard_bounce"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"server": "no-such-server"}, "server"),
        ({"kind": "bogus"}, "kind"),
        ({"kind": "hard"}, "kind"),
        ({"customer": "nobody"}, "customer"),
        ({"since": "yesterday"}, "query.since"),
        ({"since": NOW.isoformat(), "until": (NOW - timedelta(days=1)).isoformat()}, "until"),
        ({"limit": 0}, "query.limit"),
        ({"server": "x" * 201}, "query.server"),
    ],
)
async def test_bad_filters_are_refused_naming_the_field(
    world: World, params: dict[str, Any], field: str
) -> None:
    before = db_snapshot(world.rt)
    r = await world.client.get(E, params=params, headers=world.auth("admin"))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert db_snapshot(world.rt) == before


async def test_tenants_may_not_read_the_event_list(world: World) -> None:
    _seed(world)
    r = await world.client.get(E, headers=world.auth("a"))
    assert r.status_code == 403
    assert "b0@b-tenant.example" not in r.text


@pytest.fixture
async def signed_in(tmp_path: Path) -> AsyncIterator[Web]:
    (tmp_path / "template").mkdir()
    (tmp_path / "copy").mkdir()
    template = build_web_template(tmp_path / "template")
    rt = Runtime.open(copy_database(template.path, template.key, tmp_path / "copy"))
    try:
        async with client_for(rt) as client:
            web = Web(rt, client, dict(template.ids))
            assert (await web.login()).status_code == 303
            yield web
    finally:
        rt.close()


def _sent_through(conn: Connection, server: str, count: int) -> list[int]:
    """``count`` of the messages marked sent through ``server`` an hour ago."""
    server_id = refs.server_id(conn, server)
    ids = list(conn.execute(select(Message.id).order_by(Message.id)).scalars())[:count]
    M = table(Message)
    conn.execute(
        update(M)
        .where(M.c.id.in_(ids))
        .values(status="sent", server_id=server_id, sent_at=NOW - timedelta(hours=1))
    )
    return ids


def _card(html: str, test: str) -> str:
    found = re.search(rf'data-test="{test}" data-level="(\w+)"', html)
    assert found, f"no {test} card"
    return found.group(1)


async def test_server_page_shows_rates_levels_and_latest_events(signed_in: Web) -> None:
    web = signed_in
    uid = web.ids["server_smtp"]

    def seed(conn: Connection) -> None:
        # Few sends: a high rate shows, but is under the minimum volume, so nothing is "pause".
        for n in range(25):
            add_event(
                conn, "smtp-1", "soft_bounce" if n % 2 else "delay",
                recipient=f"r{n}@example.net", status_code="4.2.2",
                reported_by=f"mx{n}.example.net", created_at=NOW - timedelta(minutes=n + 1),
                dedup_key=f"d{n}",
            )  # fmt: skip

    web.rt.db.transaction(seed)
    html = (await web.client.get(f"/admin/servers/{uid}")).text
    assert 'data-test="events"' in html
    # The latest 20: the world's two complaints (recorded last), then 18 of these, newest first.
    assert html.count('<tr><td class="name">') == 20
    shown = re.findall(r"mx(\d+)\.example\.net", html)
    assert shown == [str(n) for n in range(18)]
    assert "4.2.2" in html and "r0@example.net" in html
    assert _card(html, "complaint-rate") == "ok"
    assert "rates do not act yet" in html

    def crowd(conn: Connection) -> None:
        sent = _sent_through(conn, "smtp-1", 6)
        conn.execute(
            update(SendingServer)
            .where(SendingServer.uid == uid)
            .values(status="paused", status_reason="complaint rate 0.31 % over 2,140 sends")
        )
        add_event(conn, "smtp-1", "hard_bounce", message_id=sent[0], sent_at=NOW, dedup_key="h")

    web.rt.db.transaction(crowd)
    web.rt.settings.bounce_min_volume = 1
    html = (await web.client.get(f"/admin/servers/{uid}")).text
    assert _card(html, "bounce-rate") == "pause"
    assert "pause threshold" in html
    assert "Paused: complaint rate 0.31 % over 2,140 sends" in html
