"""An address suppressed after its message was queued gets nothing more, campaign or not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from sendpool.runtime import Runtime
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.store.tables import Customer, Message, Suppression
from tests.support.scenario import make_campaign, pool_of_sinks, send_until_settled
from tests.support.settings import make_settings
from tests.support.sinks import StartSinks


async def test_a_suppression_made_after_the_launch_stops_the_send(
    tmp_path: Path, sinks: StartSinks
) -> None:
    with Runtime.open(make_settings(tmp_path)) as rt:
        (sink,) = await sinks(1)
        pool_of_sinks(rt, [sink])
        _cid, uid = make_campaign(rt, 5)  # queued: user0 … user4
        now = datetime.now(UTC)
        acme = rt.db.transaction(lambda c: c.execute(select(Customer.id)).scalar_one())
        rt.db.transaction(
            lambda c: enqueue_transactional(
                c,
                customer_id=acme,
                to="User9@example.com",
                subject="Your receipt",
                from_email="shop@example.com",
                text="Thanks",
                now=now,
            )
        )
        # A bounce arrived for user1, a complaint for user9, while their mail waited.
        rows = [
            {"customer_id": acme, "email": "user1@example.com", "reason": "hard bounce 5.1.1"},
            {"customer_id": acme, "email": "user9@example.com", "reason": "complaint"},
        ]
        rt.db.transaction(lambda c: c.execute(insert(Suppression), rows))
        await send_until_settled(rt, uid)  # one batch: the transactional message too
        got = sorted(r for m in sink.messages for r in m.recipients)
        assert got == [f"user{i}@example.com" for i in (0, 2, 3, 4)]
        failed = dict(
            rt.db.transaction(
                lambda c: c.execute(
                    select(Message.recipient, Message.last_error).where(Message.status == "failed")
                ).all()
            )
        )
        assert failed == {
            "user1@example.com": "not sent: the address is suppressed (hard bounce 5.1.1)",
            "User9@example.com": "not sent: the address is suppressed (complaint)",
        }
