"""/metrics, /healthz and /docs: what operators and Prometheus read."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from sendpool.metrics import MESSAGES
from tests.support.world import World


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_read_the_database_at_scrape_time(world: World) -> None:
    MESSAGES.labels("sent", "smtp-1").inc(0)  # the pipeline's counters are exposed as well
    r = await world.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    assert (
        got[("sendpool_messages_by_status", frozenset({("status", "sent"), ("server", "smtp-1")}))]
        == 6
    )
    assert (
        got[("sendpool_messages_by_status", frozenset({("status", "queued"), ("server", "")}))] == 2
    )
    assert got[("sendpool_queue_depth", frozenset({("state", "due")}))] == 2
    health = frozenset({("server", "ses-1"), ("type", "ses"), ("state", "unknown")})
    assert got[("sendpool_server_health", health)] == 1
    assert got[("sendpool_server_day_cap", frozenset({("server", "smtp-1")}))] == 1000
    assert ("sendpool_messages_total", frozenset({("status", "sent"), ("server", "smtp-1")})) in got
    for name in ("sendpool_picks", "sendpool_skips", "sendpool_send_latency_seconds"):
        assert f"# HELP {name}" in r.text


async def test_metrics_follow_changes(world: World) -> None:
    await world.client.patch(
        f"/api/v1/admin/sending-servers/{world.ids['server_ses']}",
        json={"status": "disabled"},
        headers=world.auth("admin"),
    )
    got = samples((await world.client.get("/metrics")).text)
    disabled = frozenset({("server", "ses-1"), ("type", "ses"), ("state", "disabled")})
    assert got[("sendpool_server_health", disabled)] == 1


async def test_healthz_and_docs(world: World) -> None:
    assert (await world.client.get("/healthz")).json() == {"status": "ok", "database": "ok"}
    docs = await world.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await world.client.get("/openapi.json")).json()
    assert "/api/v1/admin/sending-servers/{uid}/stats" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    create = spec["paths"]["/api/v1/admin/sending-servers"]["post"]["requestBody"]
    variants = create["content"]["application/json"]["schema"]["oneOf"]
    assert len(variants) == 5  # one body per server type, chosen by "type"


async def test_healthz_reports_a_lost_database(world: World, tmp_path: Path) -> None:
    # Point the engine at a database file that cannot be opened.
    world.rt.db.engine.dispose()
    world.rt.db.engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    r = await world.client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "unreachable"}
