"""The plan page shows its rotation and each server's weight with the share it asks."""

from __future__ import annotations

from datetime import UTC, datetime

from sendpool.services.tenancy.plans import update_plan
from tests.support.admin_world import Web


async def test_the_plan_page_shows_weights_and_shares(admin: Web) -> None:
    plan = admin.ids["plan"]

    def weigh(conn):  # type: ignore[no-untyped-def]
        changes = {"selector": "smooth_weighted", "weights": {"smtp-1": 3}}
        return update_plan(conn, plan, changes=changes, actor="admin", now=datetime.now(UTC))

    detail = admin.rt.db.transaction(weigh)
    total = sum(s.weight for s in detail.servers)
    page = await admin.client.get(f"/admin/plans/{plan}")
    assert "Rotation: <b>smooth_weighted</b>" in page.text
    row = page.text[page.text.index('<tr data-server="smtp-1">') :]
    cell = row[row.index('data-test="weight"') :]
    cell = cell[: cell.index("</td>")]
    assert ">3<" in cell and f"{300 / total:.1f} % of sends" in cell
