"""A subscriber's history: its status and what happened to its messages, for its customer only."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.services.access.tokens import create_token
from sendpool.services.tenancy.customers import create_customer
from sendpool.store.tables import MailingList
from tests.support.scenario import make_campaign, pool_of_sinks, send_until_settled
from tests.support.sinks import StartSinks
from tests.support.world import client_for

PEOPLE = "email,first_name\nJane.Doe@example.com,Jane\nbob@example.org,Bob\n"


def token_for(rt: Runtime, customer: str) -> dict[str, str]:
    now = datetime.now(UTC)
    issued = rt.db.transaction(
        lambda c: create_token(c, name="t", customer=customer, actor="test", now=now)
    )
    return {"Authorization": f"Bearer {issued.token}"}


async def test_an_unsubscribe_shows_in_the_subscribers_history(
    runtime: Runtime, sinks: StartSinks
) -> None:
    [sink] = await sinks(1)
    pool_of_sinks(runtime, [sink])
    _cid, uid = make_campaign(runtime, 2, csv=PEOPLE)
    await send_until_settled(runtime, uid)
    jane = next(m for m in sink.messages if m.recipients == ["Jane.Doe@example.com"])
    link = re.search(rb"<(http[^>]+/u/[a-z2-7]+)>", jane.data)
    assert link is not None
    list_uid = runtime.db.transaction(lambda c: c.execute(select(MailingList.uid)).scalar_one())
    path = f"/api/v1/lists/{list_uid}/subscribers/jane.doe@example.com/history"
    async with client_for(runtime) as client:
        acme = token_for(runtime, "acme")
        before = (await client.get(path, headers=acme)).json()
        assert (before["status"], before["events"]) == ("subscribed", [])
        url = link.group(1).decode()
        posted = await client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert posted.status_code == 200
        after = await client.get(path, headers=acme)
        assert after.status_code == 200
        body = after.json()
        assert body["status"] == "unsubscribed"
        assert [(e["kind"], e["source"]) for e in body["events"]] == [("unsubscribe", "one-click")]
        assert body["events"][0]["message_uid"] is not None

        # Another customer sees no such list; an unknown address is a 404 too.
        now = datetime.now(UTC)
        runtime.db.transaction(
            lambda c: create_customer(c, fields={"name": "other"}, actor="t", now=now)
        )
        assert (await client.get(path, headers=token_for(runtime, "other"))).status_code == 404
        unknown = path.replace("jane.doe", "nobody")
        assert (await client.get(unknown, headers=acme)).status_code == 404
