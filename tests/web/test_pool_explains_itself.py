"""The pool explains itself on its pages and in the API: the split's meaning and the forecast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sendpool.runtime import Runtime
from sendpool.services.access import tokens
from tests.support.admin_world import Web
from tests.support.scenario import apply, smtp_server
from tests.support.seeding import seed_activity
from tests.support.world import client_for


def _pool(rt: Runtime) -> None:
    apply(
        rt,
        {
            "servers": [
                smtp_server("relay-a", 9, 7000),
                smtp_server("relay-b", 9, 3000, enabled=False),
            ],
            "plans": [{"name": "Marketing", "servers": ["relay-a", "relay-b"]}],
            "customers": [{"name": "acme", "plan": "Marketing"}],
        },
    )
    # An hour ago: inside the 30-day split, outside the launch rate's ten minutes.
    then = datetime.now(UTC) - timedelta(hours=1)
    rt.db.transaction(
        lambda c: seed_activity(c, "relay-a", sent=1000, bounces=0, complaints=0, now=then)
    )


async def test_the_distribution_page_says_what_the_pattern_means(admin: Web) -> None:
    page = (await admin.client.get("/admin/distribution")).text
    shared = page[page.index('data-test="plan-Shared"') :]
    assert 'data-test="verdict"' in shared
    assert "Times (messages)" in shared  # the skips count messages


async def test_the_pool_page_shows_each_plan_s_split_and_forecast(admin: Web) -> None:
    page = (await admin.client.get("/admin/pool")).text
    assert 'data-test="forecast"' in page
    row = page[page.index('data-test="forecast-Shared"') :]
    assert "daily cap" in row[: row.index("</tr>")]


async def test_the_pool_page_and_the_api_carry_the_verdict_and_the_forecast(
    runtime: Runtime,
) -> None:
    _pool(runtime)
    issued = runtime.db.transaction(
        tokens.create_token, name="ops", customer=None, actor="t", now=datetime.now(UTC)
    )
    async with client_for(runtime) as client:
        r = await client.get(
            "/api/v1/admin/pool", headers={"Authorization": f"Bearer {issued.token}"}
        )
    assert r.status_code == 200
    (plan,) = r.json()["plans"]
    assert plan["plan"] == "Marketing" and plan["pattern"] == "starved"
    assert plan["verdict"] == "relay-b disabled or out of the plan: bug — fix"
    assert [(s["server"], round(s["observed_percent"])) for s in plan["shares"]] == [
        ("relay-a", 100),
        ("relay-b", 0),
    ]
    assert plan["forecast"] == "no server reaches its daily cap before its day ends"
    assert plan["waiting"] == 0 and plan["waiting_until"] is None
