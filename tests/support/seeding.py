"""Traffic for stats and rebalancing tests, written straight to the store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from sendpool.services import refs
from sendpool.store.tables import Customer, DeliveryEvent, Message, table
from sendpool.store.types import new_uid


def seed_activity(
    conn: Connection, server: str, *, sent: int, bounces: int, complaints: int, now: datetime
) -> None:
    """``sent`` messages sent through ``server`` at ``now``, and the bounces and complaints."""
    server_id = refs.server_id(conn, server)
    customer_id = conn.execute(select(Customer.id).order_by(Customer.id)).scalars().first()
    if customer_id is None:
        customer_id = conn.execute(
            table(Customer)
            .insert()
            .values(uid=new_uid(), name="seed", created_at=now)
            .returning(table(Customer).c.id)
        ).scalar_one()
    rows = [
        {
            "uid": new_uid(),
            "customer_id": customer_id,
            "recipient": f"r{i}-{new_uid()[:6]}@example.com",
            "kind": "transactional",
            "status": "sent",
            "server_id": server_id,
            "sent_at": now,
            "due_at": now,
            "queued_at": now,
            "updated_at": now,
            "attempts": 1,
        }
        for i in range(sent)
    ]
    if rows:
        conn.execute(table(Message).insert(), rows)
    events = [("hard_bounce", bounces), ("complaint", complaints)]
    values = [
        {"server_id": server_id, "kind": kind, "created_at": now, "detail": "seeded"}
        for kind, n in events
        for _ in range(n)
    ]
    if values:
        conn.execute(table(DeliveryEvent).insert(), values)
