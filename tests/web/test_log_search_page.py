"""The campaign page's message log: a prefix search, keyset pages, and bad input refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select

from sendpool.store.tables import Campaign, Message, table
from tests.support.admin_world import Web
from tests.support.snapshots import db_snapshot

NOW = datetime(2030, 11, 27, 12, tzinfo=UTC)
ROWS = re.compile(r'<tr data-recipient="([^"]+)">')
MORE = re.compile(r'href="\?(?:recipient=[^&"]*&amp;)?after=([A-Za-z0-9]+)" data-test="more"')


def more_messages(conn: Connection, campaign_uid: str, n: int) -> None:
    campaign_id, customer_id = conn.execute(
        select(Campaign.id, Campaign.customer_id).where(Campaign.uid == campaign_uid)
    ).one()
    conn.execute(
        table(Message).insert(),
        [
            {
                "uid": f"page{i}",
                "customer_id": customer_id,
                "campaign_id": campaign_id,
                "subscriber_id": 10_000 + i,
                "recipient": f"Page{i:03}@a-tenant.example",
                "kind": "campaign",
                "status": "queued",
                "attempts": 0,
                "attempts_here": 0,
                "due_at": NOW,
                "queued_at": NOW,
                "updated_at": NOW,
            }  # fmt: skip
            for i in range(n)
        ],
    )


async def test_more_reads_on_from_the_last_row_until_the_end(admin: Web) -> None:
    uid = admin.ids["campaign_a"]
    admin.rt.db.transaction(more_messages, uid, 60)
    seen: list[str] = []
    url = f"/admin/campaigns/{uid}"
    params = {"recipient": "page"}
    while True:
        page = (await admin.client.get(url, params=params)).text
        seen += ROWS.findall(page)
        link = MORE.search(page)
        if link is None:
            break
        params = {"recipient": "page", "after": link.group(1)}
    assert seen == [f"Page{i:03}@a-tenant.example" for i in range(60)]
    assert "← first" in page


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"recipient": "a\x00b"}, 422, "control characters"),
        ({"recipient": "x" * 10_000}, 400, "Bad request"),
        ({"after": "nosuchmessage"}, 422, "no message"),
        ({"after": "../etc"}, 400, "Bad request"),
    ],
)
async def test_bad_log_input_is_a_clear_4xx_and_changes_nothing(
    admin: Web, params: dict[str, str], status: int, says: str
) -> None:
    before = db_snapshot(admin.rt)
    response = await admin.client.get(f"/admin/campaigns/{admin.ids['campaign_a']}", params=params)
    assert response.status_code == status and says in response.text
    assert db_snapshot(admin.rt) == before
