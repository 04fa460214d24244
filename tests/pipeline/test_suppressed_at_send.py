"""What the preparer finds before a send: suppressed addresses, and a look-up that fails."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from sendpool.pipeline.worker import Worker
from sendpool.runtime import Runtime
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.store.catalog import SqlCatalog
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


class FailingOnce(SqlCatalog):
    """A catalog whose suppression look-up fails once, as on a dropped connection."""

    failed = False

    async def suppressed(self, recipients: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
        if not self.failed:
            self.failed = True
            raise ConnectionError("server closed the connection unexpectedly")
        return await super().suppressed(recipients)


async def test_a_claim_that_fails_before_any_send_is_handed_back_at_once(
    tmp_path: Path, sinks: StartSinks
) -> None:
    with Runtime.open(make_settings(tmp_path, lease_seconds=600.0)) as rt:
        (sink,) = await sinks(1)
        pool_of_sinks(rt, [sink])
        _cid, uid = make_campaign(rt, 5)
        worker = Worker(
            queue=rt.queue,
            ledger=rt.ledger,
            catalog=FailingOnce(rt.db, rt.box),
            settings=rt.settings,
        )
        with pytest.raises(ConnectionError):
            await worker.step(10)
        # Not held until its 10-minute lease runs out, and not counted as in flight.
        assert worker._unflushed == 0
        statuses = rt.db.transaction(lambda c: list(c.execute(select(Message.status)).scalars()))
        assert statuses == ["queued"] * 5
        await send_until_settled(rt, uid, [worker])
        assert sink.count == 5
