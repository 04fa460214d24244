"""Per server x provider group limits show on the pool page, in doctor and in the admin API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.services.access import tokens
from sendpool.services.pool.apply import apply_pool
from sendpool.services.pool.file import parse_pool
from sendpool.store.tables import SendingServer
from tests.support.admin_world import Web
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, smtp_server
from tests.support.world import client_for


def limits(server: str) -> dict[str, Any]:
    return {
        "provider_groups": [{"name": "corp", "mx": ["*.corp.example"]}],
        "provider_limits": [
            {"server": server, "group": "gmail", "rate_per_second": 5, "burst": 5},
            {"server": server, "group": "corp", "max_connections": 2},
        ],
    }


async def test_the_admin_api_shows_them(runtime: Runtime) -> None:
    apply(runtime, {"servers": [smtp_server("relay-a", 9)], **limits("relay-a")})
    issued = runtime.db.transaction(
        tokens.create_token, name="ops", customer=None, actor="t", now=datetime.now(UTC)
    )
    async with client_for(runtime) as client:
        auth = {"Authorization": f"Bearer {issued.token}"}
        pool = (await client.get("/api/v1/admin/pool", headers=auth)).json()
    got = [(v["server"], v["group"], v["rate_per_second"], v["burst"], v["max_connections"])
           for v in pool["provider_limits"]]  # fmt: skip
    assert got == [("relay-a", "corp", None, None, 2), ("relay-a", "gmail", 5.0, 5.0, None)]


def test_doctor_lists_them_and_warns_of_a_group_mx_lookups_would_need(cli: CliEnv) -> None:
    with Runtime.open(Settings()) as rt:
        apply(rt, {"servers": [smtp_server("relay-a", 9)], **limits("relay-a")})
    checks = {c["name"]: c for c in json.loads(cli.invoke(["doctor", "--json"]).output)["checks"]}
    assert "relay-a → gmail: 5/s (burst 5)" in checks["provider limits"]["detail"]
    corp = checks["provider group corp"]
    assert corp["status"] == "warn" and "SENDPOOL_MX_LOOKUPS" in corp["advice"]


async def test_the_pool_page_shows_them(admin: Web) -> None:
    page = (await admin.client.get("/admin/pool")).text
    assert 'data-test="provider-limits"' not in page  # none set: no card
    name = admin.rt.db.transaction(
        lambda c: str(
            c.execute(select(SendingServer.name).order_by(SendingServer.id)).scalars().first()
        )
    )
    data = limits(name)
    data["provider_limits"][0]["messages_per_connection"] = 100
    parsed, decls = parse_pool(data, {})
    admin.rt.db.transaction(apply_pool, parsed, decls, admin.rt.box)
    page = (await admin.client.get("/admin/pool")).text
    row = page[page.index(f'data-test="limit-{name}-gmail"') :]
    row = row[: row.index("</tr>")]
    assert "5/s" in row and "burst 5" in row and "100" in row
