"""Plans, customers, region rules, tokens and the audit log through the admin API."""

from __future__ import annotations

from typing import Any

from tests.support.world import World

ADMIN = "/api/v1/admin"


async def admin(world: World, method: str, path: str, **kwargs: Any) -> Any:
    return await world.client.request(method, ADMIN + path, headers=world.auth("admin"), **kwargs)


async def test_plans_crud_and_membership(world: World) -> None:
    r = await admin(world, "POST", "/plans", json={"name": "EU", "servers": ["ses-1"]})
    assert r.status_code == 201, r.text
    uid = r.json()["uid"]
    assert [s["name"] for s in r.json()["servers"]] == ["ses-1"]
    assert (await admin(world, "POST", "/plans", json={"name": "EU"})).status_code == 409
    put = f"/plans/{uid}/sending-servers/{world.ids['server_postmark']}"
    for _ in range(2):  # attaching twice changes nothing the second time
        r = await admin(world, "PUT", put)
        assert [s["name"] for s in r.json()["servers"]] == ["postmark-1", "ses-1"]
    r = await admin(world, "DELETE", put)
    assert [s["name"] for s in r.json()["servers"]] == ["ses-1"]
    r = await admin(world, "PATCH", f"/plans/{uid}", json={"burst_threshold": 100, "servers": []})
    assert (r.json()["burst_threshold"], r.json()["servers"]) == (100, [])
    assert (await admin(world, "GET", f"/plans/{uid}")).json()["name"] == "EU"
    assert (await admin(world, "DELETE", f"/plans/{uid}")).json()["outcome"] == "deleted"
    assert (await admin(world, "GET", f"/plans/{uid}")).status_code == 404


async def test_a_plan_in_use_cannot_be_deleted(world: World) -> None:
    r = await admin(world, "DELETE", f"/plans/{world.ids['plan']}")
    assert r.status_code == 409
    assert "tenant-a" in r.json()["detail"] and "eu" in r.json()["detail"]
    assert (await admin(world, "GET", f"/plans/{world.ids['plan']}")).status_code == 200


async def test_customers_crud_with_plan_and_region(world: World) -> None:
    r = await admin(world, "POST", "/customers", json={"name": "globex", "region": "eu"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["plan"] is None and body["effective_plan"]["name"] == "Shared"  # region rule
    uid = body["uid"]
    r = await admin(world, "PATCH", f"/customers/{uid}", json={"plan": "Spare", "region": None})
    assert (r.json()["plan"]["name"], r.json()["region"]) == ("Spare", None)
    assert r.json()["effective_plan"]["name"] == "Spare"
    bad = await admin(world, "PATCH", f"/customers/{uid}", json={"plan": "Nope"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "plan"
    names = [c["name"] for c in (await admin(world, "GET", "/customers")).json()]
    assert names == ["globex", "tenant-a", "tenant-b", "tenant-empty"]
    assert (await admin(world, "DELETE", f"/customers/{uid}")).status_code == 200
    assert (await admin(world, "GET", f"/customers/{uid}")).status_code == 404


async def test_deleting_a_customer_takes_its_data_and_tokens(world: World) -> None:
    r = await admin(world, "DELETE", f"/customers/{world.ids['customer_a']}")
    assert r.status_code == 200, r.text
    assert (await world.client.get("/api/v1/lists", headers=world.auth("a"))).status_code == 401
    assert (await world.client.get("/api/v1/lists", headers=world.auth("b"))).status_code == 200


async def test_region_rules(world: World) -> None:
    assert (await admin(world, "GET", "/region-rules")).json() == [
        {"region": "eu", "plan": {"uid": world.ids["plan"], "name": "Shared"}}
    ]
    r = await admin(world, "PUT", "/region-rules/eu", json={"plan": "Spare"})
    assert r.json()["plan"]["name"] == "Spare"
    await admin(world, "PATCH", f"/customers/{world.ids['customer_a']}", json={"region": "eu"})
    a = (await admin(world, "GET", f"/customers/{world.ids['customer_a']}")).json()
    assert a["effective_plan"]["name"] == "Spare"
    servers = await world.client.get("/api/v1/servers", headers=world.auth("a"))
    assert servers.json() == {"servers": []}  # Spare has no servers
    assert (await admin(world, "DELETE", "/region-rules/eu")).status_code == 200
    assert (await admin(world, "GET", "/region-rules/eu")).status_code == 404


async def test_tokens_made_through_the_api_work_and_revoke(world: World) -> None:
    r = await admin(world, "POST", "/tokens", json={"name": "ci", "customer": "tenant-b"})
    assert r.status_code == 201
    token, uid = r.json()["token"], r.json()["info"]["uid"]
    me = await world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["customer_name"] == "tenant-b"
    listed = (await admin(world, "GET", "/tokens")).text
    assert token not in listed and uid in listed
    assert (await admin(world, "DELETE", f"/tokens/{uid}")).json()["revoked_at"] is not None
    again = await world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401 and "revoked" in again.json()["detail"]
    assert again.headers["www-authenticate"] == "Bearer"


async def test_admin_writes_are_in_the_audit_log(world: World) -> None:
    await admin(
        world, "PATCH", f"/sending-servers/{world.ids['server_ses']}", json={"sending_limit": 3}
    )
    r = await admin(world, "GET", "/audit-log", params={"action": "server.update"})
    (entry,) = r.json()
    assert entry["actor"] == "token:ops" and entry["server_name"] == "ses-1"
    assert entry["detail"]["changes"]["sending_limit"] == {"from": 1000, "to": 3}
    by_server = await admin(world, "GET", "/audit-log", params={"server": world.ids["server_ses"]})
    assert {e["action"] for e in by_server.json()} == {"server.create", "server.update"}
    page = await admin(world, "GET", "/audit-log", params={"limit": 2, "offset": 1})
    assert len(page.json()) == 2
