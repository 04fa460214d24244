"""An engaged back-off shows on the pool page, in doctor, in the admin API, /metrics and the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from sendpool.config import Settings
from sendpool.core.backoff_rules import Deferral
from sendpool.runtime import Runtime
from sendpool.services.access import tokens
from sendpool.services.operations.audit import list_audit
from sendpool.store.backoffs import record_backoffs
from sendpool.store.tables import SendingServer
from tests.support.admin_world import Web
from tests.support.cli_env import CliEnv
from tests.support.scenario import apply, smtp_server
from tests.support.world import client_for

GMAIL = "Our system has detected an unusual rate of unsolicited mail - gsmtp"


def engage(rt: Runtime, server: str) -> None:
    now = datetime.now(UTC)
    query = select(SendingServer.id).where(SendingServer.name == server)
    sid = int(rt.db.transaction(lambda c: c.execute(query).scalar_one()))
    hits = [Deferral(sid, "gmail", 421, "4.7.28", GMAIL, now)] * 2
    rt.db.transaction(record_backoffs, hits, {(sid, "gmail"): 60}, now)


async def test_the_admin_api_metrics_and_audit_show_it(runtime: Runtime) -> None:
    apply(runtime, {"servers": [smtp_server("relay-a", 9)]})
    engage(runtime, "relay-a")
    issued = runtime.db.transaction(
        tokens.create_token, name="ops", customer=None, actor="t", now=datetime.now(UTC)
    )
    async with client_for(runtime) as client:
        auth = {"Authorization": f"Bearer {issued.token}"}
        pool = (await client.get("/api/v1/admin/pool", headers=auth)).json()
        metrics = (await client.get("/metrics")).text
    [b] = pool["backoffs"]
    assert (b["server"], b["group"], b["factor"], b["rule"]) == (
        "relay-a",
        "gmail",
        0.5,
        "gmail-4.7.28",
    )
    assert b["since"] <= b["hold_until"] <= b["until"]
    assert "421 4.7.28 from gmail" in b["reason"]
    line = 'sendpool_backoff_factor{group="gmail",rule="gmail-4.7.28",server="relay-a"} 0.5'
    assert line in metrics
    audit = runtime.db.transaction(list_audit, action="backoff.engage")
    assert [(a.actor, a.server_name, a.detail["group"]) for a in audit] == [
        ("sendpool", "relay-a", "gmail")
    ]


def test_doctor_lists_it(cli: CliEnv) -> None:
    with Runtime.open(Settings()) as rt:
        apply(rt, {"servers": [smtp_server("relay-a", 9)]})
        engage(rt, "relay-a")
    checks = {c["name"]: c for c in json.loads(cli.invoke(["doctor", "--json"]).output)["checks"]}
    check = checks["back-off relay-a/gmail"]
    assert check["status"] == "warn"
    assert check["detail"].startswith("relay-a → gmail at 50% since ")
    assert "gmail-4.7.28" in check["detail"] and "gives the rate back" in check["advice"]


async def test_the_pool_page_shows_it(admin: Web) -> None:
    page = (await admin.client.get("/admin/pool")).text
    assert 'data-test="backoffs"' not in page  # nothing engaged: no card
    name = admin.rt.db.transaction(
        lambda c: str(
            c.execute(select(SendingServer.name).order_by(SendingServer.id)).scalars().first()
        )
    )
    engage(admin.rt, name)
    page = (await admin.client.get("/admin/pool")).text
    row = page[page.index(f'data-test="backoff-{name}-gmail"') :]
    row = row[: row.index("</tr>")]
    assert "50 %" in row and "gmail-4.7.28" in row
