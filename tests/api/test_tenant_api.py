"""A customer's side: lists, subscribers, campaigns end to end, transactional mail."""

from __future__ import annotations

import asyncio
from typing import Any

from sendpool.services.servers.checks import list_servers
from tests.support.scenario import send_until_settled
from tests.support.sinks import StartSinks
from tests.support.world import World

API = "/api/v1"


async def as_a(world: World, method: str, path: str, **kwargs: Any) -> Any:
    return await world.client.request(method, API + path, headers=world.auth("a"), **kwargs)


async def test_lists_and_json_subscribers(world: World) -> None:
    r = await as_a(world, "POST", "/lists", json={"name": "VIP"})
    assert r.status_code == 201
    uid = r.json()["uid"]
    assert (await as_a(world, "POST", "/lists", json={"name": "VIP"})).status_code == 409
    people = [
        {"email": "Ann@Example.com", "fields": {"first_name": "Ann", "tier": 3}},
        {"email": "bob@example.com"},
    ]
    r = await as_a(world, "POST", f"/lists/{uid}/subscribers", json={"subscribers": people})
    assert r.json() == {"created": 2, "merged": 0}
    again = [{"email": "Ann@example.com", "fields": {"city": "Oslo"}}]
    r = await as_a(world, "POST", f"/lists/{uid}/subscribers", json={"subscribers": again})
    assert r.json() == {"created": 0, "merged": 1}
    page = (await as_a(world, "GET", f"/lists/{uid}/subscribers", params={"search": "ann"})).json()
    (ann,) = page["items"]
    assert ann["fields"] == {"first_name": "Ann", "tier": 3, "city": "Oslo"}
    assert (await as_a(world, "GET", f"/lists/{uid}")).json()["subscribers"] == 2


async def test_one_bad_address_refuses_the_whole_request(world: World) -> None:
    uid = world.ids["list_a"]
    people = [{"email": "ok@example.com"}, {"email": "not-an-address"}]
    r = await as_a(world, "POST", f"/lists/{uid}/subscribers", json={"subscribers": people})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "subscribers.1.email"
    found = await as_a(world, "GET", f"/lists/{uid}/subscribers", params={"search": "ok@"})
    assert found.json()["items"] == []


async def test_csv_upload_reports_skipped_rows_by_line(world: World) -> None:
    uid = world.ids["list_a"]
    csv = b"email,first_name\nnew1@example.com,N1\nbroken,X\nnew2@example.com,N2,extra\nnew3@example.com,N3\n"
    r = await as_a(
        world,
        "POST",
        f"/lists/{uid}/subscribers/import",
        files={"file": ("p.csv", csv, "text/csv")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["created"], body["skipped"]) == (2, 2, 2)
    assert [e["line"] for e in body["errors"]] == [3, 4]
    assert "invalid email address" in body["errors"][0]["message"]


async def test_csv_with_no_good_rows_changes_nothing(world: World) -> None:
    uid = world.ids["list_a"]
    before = (await as_a(world, "GET", f"/lists/{uid}")).json()["subscribers"]
    for content in (b"email\nbroken\n", b"name\nann\n", b"email\n\xff\xfe\n"):
        r = await as_a(
            world,
            "POST",
            f"/lists/{uid}/subscribers/import",
            files={"file": ("p.csv", content, "text/csv")},
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"]
    assert (await as_a(world, "GET", f"/lists/{uid}")).json()["subscribers"] == before


async def test_campaign_end_to_end_through_the_pool(world: World, sinks: StartSinks) -> None:
    relays = await sinks(2)
    headers = world.auth("admin")
    for i, sink in enumerate(relays):
        body = {"name": f"relay-{i}", "type": "smtp", "host": "127.0.0.1", "port": sink.port,
                "encryption": "none", "sending_limit": 1000}  # fmt: skip
        assert (
            await world.client.post(API + "/admin/sending-servers", json=body, headers=headers)
        ).status_code == 201
    await world.client.post(
        API + "/admin/plans",
        json={"name": "Relays", "servers": ["relay-0", "relay-1"]},
        headers=headers,
    )
    await world.client.patch(
        API + f"/admin/customers/{world.ids['customer_a']}",
        json={"plan": "Relays"},
        headers=headers,
    )

    lst = (await as_a(world, "POST", "/lists", json={"name": "launch"})).json()["uid"]
    people = [{"email": f"p{i}@example.com", "fields": {"first_name": f"P{i}"}} for i in range(10)]
    await as_a(world, "POST", f"/lists/{lst}/subscribers", json={"subscribers": people})
    draft = {
        "name": "Autumn",
        "list_uid": lst,
        "subject": "Hi {{ first_name }}",
        "from_email": "news@a-tenant.example",
        "text": "Hello {{ first_name }}",
    }
    created = await as_a(world, "POST", "/campaigns", json=draft)
    assert created.status_code == 201, created.text
    uid = created.json()["uid"]
    launched = await as_a(world, "POST", f"/campaigns/{uid}/launch")
    assert launched.json()["by_status"] == {"queued": 10}
    assert (await as_a(world, "POST", f"/campaigns/{uid}/launch")).status_code == 409

    await send_until_settled(world.rt, uid)
    progress = (await as_a(world, "GET", f"/campaigns/{uid}")).json()
    assert progress["by_status"] == {"sent": 10}
    assert progress["by_server"] == {"relay-0": 5, "relay-1": 5}
    # The list says what the detail says: a campaign whose messages all settled is done.
    listed = (await as_a(world, "GET", "/campaigns")).json()
    assert progress["status"] == "done"
    assert [c["status"] for c in listed if c["uid"] == uid] == ["done"]
    got = [r for s in relays for m in s.messages for r in m.recipients]
    assert sorted(r for r in got if r.startswith("p")) == sorted(p["email"] for p in people)
    log = (await as_a(world, "GET", f"/campaigns/{uid}/messages", params={"limit": 4})).json()
    assert len(log["items"]) == 4 and log["next_offset"] == 4
    assert {m["server"] for m in log["items"]} <= {"relay-0", "relay-1"}
    found = (
        await as_a(world, "GET", f"/campaigns/{uid}/messages", params={"recipient": "p7@"})
    ).json()
    assert [m["recipient"] for m in found["items"]] == ["p7@example.com"]


async def held_back(world: World, uid: str) -> bool:
    """Every message of the campaign was claimed by a worker and put back as paused."""
    log = (await as_a(world, "GET", f"/campaigns/{uid}/messages")).json()["items"]
    return bool(log) and all(m["last_error"] == "campaign paused" for m in log)


async def test_pause_holds_messages_and_resume_lets_them_go(
    world: World, sinks: StartSinks
) -> None:
    (sink,) = await sinks(1)
    headers = world.auth("admin")
    body = {"port": sink.port, "username": None, "password": None}
    await world.client.patch(
        API + f"/admin/sending-servers/{world.ids['server_smtp']}", json=body, headers=headers
    )
    await world.client.put(
        API + f"/admin/plans/{world.ids['plan']}/sending-servers/{world.ids['server_smtp']}",
        headers=headers,
    )
    for other in ("server_ses", "server_mailgun"):
        await world.client.delete(
            API + f"/admin/plans/{world.ids['plan']}/sending-servers/{world.ids[other]}",
            headers=headers,
        )
    uid = world.ids["draft_a"]
    await as_a(world, "POST", f"/campaigns/{uid}/launch")
    paused = await as_a(world, "POST", f"/campaigns/{uid}/pause")
    assert paused.json()["status"] == "paused"
    stop = asyncio.Event()
    task = asyncio.create_task(world.rt.worker().run(stop))
    try:
        async with asyncio.timeout(60):  # a guard against hanging, not a speed check
            while not await held_back(world, uid):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    assert not [r for m in sink.messages for r in m.recipients if r.startswith("a")]
    resumed = await as_a(world, "POST", f"/campaigns/{uid}/resume")
    assert resumed.json()["status"] == "sending"
    assert (
        await as_a(world, "POST", f"/campaigns/{uid}/resume")
    ).status_code == 200  # twice is fine
    report = await send_until_settled(world.rt, uid, timeout=60)
    assert report.by_status == {"sent": 3}
    assert len([r for m in sink.messages for r in m.recipients if r.startswith("a")]) == 3


async def test_transactional_message_is_queued_and_logged(world: World) -> None:
    body = {
        "to": "Buyer@Example.com",
        "subject": "Order {{ order }}",
        "from_email": "shop@a-tenant.example",
        "text": "Thanks",
        "fields": {"order": 42},
    }
    r = await as_a(world, "POST", "/messages", json=body)
    assert r.status_code == 202, r.text
    uid = r.json()["uid"]
    m = (await as_a(world, "GET", f"/messages/{uid}")).json()
    assert (m["kind"], m["status"], m["recipient"]) == (
        "transactional",
        "queued",
        "Buyer@example.com",
    )
    assert (
        await world.client.get(API + f"/messages/{uid}", headers=world.auth("b"))
    ).status_code == 404
    log = (await as_a(world, "GET", "/messages", params={"recipient": "buyer"})).json()
    assert [x["uid"] for x in log["items"]] == [uid]


async def test_customers_see_their_plans_servers_by_name_only(world: World) -> None:
    r = await as_a(world, "GET", "/servers")
    assert r.json() == {"servers": ["mailgun-1", "ses-1", "smtp-1"]}
    names = {s.name for s in world.rt.db.transaction(list_servers, world.rt.box)}
    assert set(r.json()["servers"]) <= names


async def test_a_long_list_answers_launching_and_is_queued_in_the_background(
    world: World,
) -> None:
    lst = (await as_a(world, "POST", "/lists", json={"name": "long"})).json()["uid"]
    csv = "email\n" + "".join(f"reader{i}@example.com\n" for i in range(5_050))
    imported = await as_a(
        world,
        "POST",
        f"/lists/{lst}/subscribers/import",
        files={"file": ("long.csv", csv.encode(), "text/csv")},
    )
    assert imported.json()["created"] == 5_050, imported.text
    draft = {
        "name": "Long",
        "list_uid": lst,
        "subject": "News",
        "from_email": "news@a-tenant.example",
        "text": "Hello",
    }
    uid = (await as_a(world, "POST", "/campaigns", json=draft)).json()["uid"]
    launched = await as_a(world, "POST", f"/campaigns/{uid}/launch")
    # The answer came after the first batch; the rest was queued after it was sent.
    assert launched.status_code == 200, launched.text
    assert launched.json()["status"] == "launching"
    assert launched.json()["by_status"] == {"queued": 5_000}
    progress = (await as_a(world, "GET", f"/campaigns/{uid}")).json()
    assert progress["status"] == "sending" and progress["by_status"] == {"queued": 5_050}
