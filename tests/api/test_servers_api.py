"""Sending servers through the admin API: create, read, PATCH, delete, stats, checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sendpool.services import refs
from sendpool.services.servers.stats import activity_24h
from sendpool.store.tables import AuditEntry, SendingServer
from tests.support.seeding import seed_activity
from tests.support.sinks import StartSinks
from tests.support.world import ALL_SECRETS, SECRETS, World, server_fields

SRV = "/api/v1/admin/sending-servers"


async def admin(world: World, method: str, path: str, **kwargs: Any) -> Any:
    return await world.client.request(method, path, headers=world.auth("admin"), **kwargs)


def no_nulls(value: Any, where: str = "") -> list[str]:
    if value is None:
        return [where]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in no_nulls(v, f"{where}.{k}")]
    return []


@pytest.mark.parametrize("kind", sorted(SECRETS))
async def test_create_each_type_keeps_its_secret_sealed_and_never_shows_it(
    world: World, kind: str
) -> None:
    r = await admin(world, "POST", SRV, json=server_fields(kind, f"new-{kind}"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["type"] == kind and body["secrets_set"] == sorted(SECRETS[kind])
    assert not any(s in r.text for s in ALL_SECRETS)
    listed = await admin(world, "GET", SRV)
    assert not any(s in listed.text for s in ALL_SECRETS)
    with world.rt.db.engine.connect() as conn:
        sealed = conn.execute(
            select(SendingServer.secrets_sealed).where(SendingServer.uid == body["uid"])
        ).scalar_one()
    assert all(s not in sealed for s in ALL_SECRETS)
    assert world.rt.box.open(sealed) == SECRETS[kind]


async def test_a_server_as_json_carries_the_contract_fields(world: World) -> None:
    r = await admin(world, "GET", f"{SRV}/{world.ids['server_smtp']}")
    body = r.json()
    for key in (
        "uid", "name", "type", "status", "health", "sending_limit", "hourly_limit",
        "rate_per_second", "warmup", "default_from_email", "plans", "last_activity_at",
        "host", "port", "encryption", "username",
    ):  # fmt: skip
        assert key in body, key
    assert [p["name"] for p in body["plans"]] == ["Shared"]
    assert "password" not in body


async def test_patch_labelled_as_form_data_is_read_as_json(world: World) -> None:
    uid = world.ids["server_smtp"]
    r = await world.client.patch(
        f"{SRV}/{uid}",
        content=b'{"sending_limit": 5000}',
        headers={**world.auth("admin"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    assert (await admin(world, "GET", f"{SRV}/{uid}")).json()["sending_limit"] == 5000


async def test_patch_any_field_and_secrets_with_an_audit_trail(world: World) -> None:
    uid = world.ids["server_smtp"]
    change = {
        "name": "relay-renamed",
        "hourly_limit": 50,
        "rate_per_second": 2.5,
        "timezone": "Europe/Paris",
        "default_from_email": "ops@example.com",
        "warmup": {
            "start_daily": 10,
            "growth_percent": 50,
            "target_daily": 900,
            "started_on": "2026-01-01",
        },
        "port": 2526,
        "password": "SECRET-new-password",
        "plans": ["Spare"],
        "status": "disabled",
    }
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json=change)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "SECRET-new-password" not in r.text
    for key in ("name", "hourly_limit", "rate_per_second", "timezone", "port", "status"):
        assert body[key] == change[key]
    assert body["warmup"]["target_daily"] == 900
    assert [p["name"] for p in body["plans"]] == ["Spare"]
    assert body["health"] == "unknown"  # new connection settings: health is learnt again
    with world.rt.db.engine.connect() as conn:
        sealed = conn.execute(
            select(SendingServer.secrets_sealed).where(SendingServer.uid == uid)
        ).scalar_one()
        audit = conn.execute(
            select(AuditEntry.detail).where(AuditEntry.action == "server.update")
        ).scalar_one()
    assert world.rt.box.open(sealed) == {"password": "SECRET-new-password"}
    assert "SECRET" not in str(audit)
    assert audit["changes"]["name"] == {"from": "smtp-1", "to": "relay-renamed"}
    cleared = await admin(
        world,
        "PATCH",
        f"{SRV}/{uid}",
        json={"hourly_limit": None, "warmup": None, "password": None},
    )
    assert cleared.status_code == 200
    assert cleared.json()["hourly_limit"] is None and cleared.json()["secrets_set"] == []


async def test_patch_to_another_type_takes_that_types_fields(world: World) -> None:
    uid = world.ids["server_smtp"]
    r = await admin(world, "PATCH", f"{SRV}/{uid}", json={"type": "postmark"})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "postmark" and "host" not in r.json()
    refused = await admin(world, "PATCH", f"{SRV}/{uid}", json={"type": "mailgun"})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["domain"]


async def test_delete_disables_a_server_with_history_and_deletes_one_without(world: World) -> None:
    used, idle = world.ids["server_smtp"], world.ids["server_idle"]
    r = await admin(world, "DELETE", f"{SRV}/{used}")
    assert r.json() == {"uid": used, "outcome": "disabled"}
    assert (await admin(world, "GET", f"{SRV}/{used}")).json()["status"] == "disabled"
    r = await admin(world, "DELETE", f"{SRV}/{idle}")
    assert r.json() == {"uid": idle, "outcome": "deleted"}
    assert (await admin(world, "GET", f"{SRV}/{idle}")).status_code == 404


async def test_stats_are_numbers_never_null(world: World) -> None:
    now = datetime.now(UTC)
    world.rt.db.transaction(
        seed_activity, world.ids["server_ses"], sent=200, bounces=5, complaints=1, now=now
    )
    world.rt.db.transaction(
        seed_activity,
        world.ids["server_ses"],
        sent=50,
        bounces=3,
        complaints=0,
        now=now - timedelta(days=2),
    )
    r = await admin(world, "GET", f"{SRV}/{world.ids['server_ses']}/stats")
    body = r.json()
    assert no_nulls(body) == []
    assert body["sent_last_24h"] == 200 and body["bounces_last_24h"] == 5
    assert body["bounce_rate_last_24h"] == pytest.approx(0.025)
    assert body["complaints_last_24h"] == 1
    # The totals are the per-domain figures summed, and the 24-hour figures' own count.
    domains = body["by_sending_domain"]
    assert [d["domain"] for d in domains] and all(d["sent"] for d in domains)
    for total, part in (("sent", "sent"), ("bounces", "bounces"), ("complaints", "complaints")):
        assert body[f"{total}_last_24h"] == sum(d[part] for d in domains)
    server_id = world.rt.db.transaction(refs.server_id, world.ids["server_ses"])
    act = world.rt.db.transaction(activity_24h, [server_id], now)[server_id]
    assert (act.sent, act.bounces, act.complaints) == (200, 5, 1)
    assert body["day_cap"] == 1000 and body["hour_cap"] == 1000
    quiet = (await admin(world, "GET", f"{SRV}/{world.ids['server_idle']}/stats")).json()
    assert quiet["bounce_rate_last_24h"] == 0.0 and quiet["sent_last_24h"] == 0
    assert no_nulls(quiet) == []


async def test_pool_shows_composition_usage_and_health(world: World) -> None:
    body = (await admin(world, "GET", "/api/v1/admin/pool")).json()
    assert body["by_type"] == {"mailgun": 1, "postmark": 1, "sendgrid": 1, "ses": 1, "smtp": 2}
    assert body["by_health"] == {"unknown": 6}
    one = next(s for s in body["servers"] if s["name"] == "smtp-1")
    assert (one["day_used"], one["day_cap"], one["hour_cap"]) == (0, 1000, 1000)


async def test_test_connection_records_health(world: World, sinks: StartSinks) -> None:
    (sink,) = await sinks(1)
    uid = world.ids["server_smtp"]
    down = (await admin(world, "POST", f"{SRV}/{uid}/test-connection")).json()
    assert down["ok"] is False and down["health"] == "degraded"
    assert (await admin(world, "GET", f"{SRV}/{uid}")).json()["health"] == "degraded"
    no_auth = {"port": sink.port, "username": None, "password": None}
    await admin(world, "PATCH", f"{SRV}/{uid}", json=no_auth)
    up = (await admin(world, "POST", f"{SRV}/{uid}/test-connection")).json()
    assert up["ok"] is True, up
    assert (await admin(world, "GET", f"{SRV}/{uid}")).json()["health"] == "healthy"


async def test_test_email_goes_through_the_server(world: World, sinks: StartSinks) -> None:
    (sink,) = await sinks(1)
    uid = world.ids["server_smtp"]
    await admin(
        world, "PATCH", f"{SRV}/{uid}", json={"port": sink.port, "password": None, "username": None}
    )
    body = {"to": "ops@example.com", "from_email": "sender@example.com"}
    r = await admin(world, "POST", f"{SRV}/{uid}/test-email", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] is True
    assert sink.count == 1 and sink.messages[0].recipients == ["ops@example.com"]
    no_sender = await admin(
        world, "POST", f"{SRV}/{uid}/test-email", json={"to": "ops@example.com"}
    )
    assert no_sender.status_code == 422
    assert no_sender.json()["errors"][0]["field"] == "from_email"
