"""GET /messages?recipient=: exact or prefix, keyset pages, and a clear 422 for bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.snapshots import db_snapshot
from tests.support.world import World

API = "/api/v1"


async def get(world: World, query: str) -> tuple[int, Any]:
    r = await world.client.get(f"{API}/messages?{query}", headers=world.auth("a"))
    return r.status_code, r.json()


async def test_exact_and_prefix_find_the_customers_own_messages(world: World) -> None:
    status, page = await get(world, "recipient=RECEIPT@A-TENANT.EXAMPLE&match=exact")
    assert status == 200
    assert [m["recipient"] for m in page["items"]] == ["receipt@a-tenant.example"]
    status, page = await get(world, "recipient=receipt@b-tenant")  # tenant b's, not ours
    assert (status, page["items"]) == (200, [])


async def test_after_pages_by_key(world: World) -> None:
    status, first = await get(world, "limit=1")
    assert status == 200 and first["next_after"] is not None
    status, second = await get(world, f"limit=1&after={first['next_after']}")
    assert status == 200
    assert second["items"] and second["items"] != first["items"]


BAD = [
    ("recipient=" + "x" * 10_000, "query.recipient"),
    ("recipient=", "recipient"),
    ("recipient=ann%00lee", "recipient"),
    ("recipient=ann%FF%FE", "recipient"),
    ("recipient=ann&match=fuzzy", "query.match"),
    ("after=../../etc", "query.after"),
    ("after=nosuchmessage", "after"),
    ("after=abc&offset=5", "offset"),
]


@pytest.mark.parametrize(("query", "field"), BAD)
async def test_bad_search_input_is_a_422_naming_the_field(
    world: World, query: str, field: str
) -> None:
    before = db_snapshot(world.rt)
    status, body = await get(world, query)
    assert status == 422, body
    assert field in str(body), body
    assert db_snapshot(world.rt) == before


async def test_a_campaigns_log_takes_the_same_search_and_cursor(world: World) -> None:
    url = f"{API}/campaigns/{world.ids['campaign_a']}/messages"
    first = (await world.client.get(url, params={"limit": 1}, headers=world.auth("a"))).json()
    rest = await world.client.get(
        url, params={"after": first["next_after"]}, headers=world.auth("a")
    )
    assert rest.status_code == 200
    recipients = [m["recipient"] for m in first["items"] + rest.json()["items"]]
    assert sorted(recipients) == [f"a{i}@a-tenant.example" for i in range(3)]
    exact = await world.client.get(
        url, params={"recipient": "A1@A-TENANT.EXAMPLE", "match": "exact"}, headers=world.auth("a")
    )
    assert [m["recipient"] for m in exact.json()["items"]] == ["a1@a-tenant.example"]
    bad = await world.client.get(url, params={"match": "like"}, headers=world.auth("a"))
    assert bad.status_code == 422 and "query.match" in bad.text
