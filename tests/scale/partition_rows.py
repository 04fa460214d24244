"""Rows for the tests of messages' day partitions (0021): a list, a campaign, messages by day."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text

from sendpool.core.states import CampaignStatus, MessageStatus
from sendpool.store.partitions import LEGACY
from sendpool.store.rollups import upkeep
from sendpool.store.tables import Campaign, Customer, MailingList, Message, Subscriber, table


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def seed_list(conn: Connection, subscribers: int, *, tag: str = "a") -> tuple[int, int, list[int]]:
    """A customer and a list of ``subscribers``: (customer id, list id, subscriber ids)."""
    at = utc_now()
    cid = conn.execute(
        insert(table(Customer)).values(uid=f"cu{tag}", name=f"customer {tag}", created_at=at)
    ).inserted_primary_key[0]
    lid = conn.execute(
        insert(table(MailingList)).values(uid=f"li{tag}", customer_id=cid, name=tag, created_at=at)
    ).inserted_primary_key[0]
    rows = [
        {
            "list_id": lid,
            "email": f"{tag}{i}@example.com",
            "email_key": f"{tag}{i}@example.com",
            "fields": {},
            "status": "subscribed",
            "created_at": at,
        }
        for i in range(subscribers)
    ]
    if rows:
        conn.execute(insert(table(Subscriber)), rows)
    ids = conn.execute(
        select(Subscriber.id).where(Subscriber.list_id == lid).order_by(Subscriber.id)
    ).scalars()
    return int(cid), int(lid), [int(i) for i in ids]


def seed_campaign(conn: Connection, customer_id: int, list_id: int, *, tag: str = "a") -> int:
    at = utc_now()
    return int(
        conn.execute(
            insert(table(Campaign)).values(
                uid=f"ca{tag}",
                customer_id=customer_id,
                list_id=list_id,
                name=tag,
                subject="s",
                from_email="news@example.com",
                status=CampaignStatus.LAUNCHING,
                recipient_count=0,
                launch_cursor=0,
                created_at=at,
                updated_at=at,
            )
        ).inserted_primary_key[0]
    )


def upgraded_long_ago(conn: Connection) -> None:
    """As if 0021 ran in 1970: the legacy partition holds day 0 only, so past days may be made.

    Every legacy row has part_day 0, so the narrower range still holds them all.
    """
    conn.execute(text(f"ALTER TABLE messages DETACH PARTITION {LEGACY}"))
    conn.execute(
        text(f"ALTER TABLE messages ATTACH PARTITION {LEGACY} FOR VALUES FROM (MINVALUE) TO (1)")
    )


def add(conn: Connection, customer_id: int, n: int, **values: Any) -> list[int]:
    """``n`` transactional messages with ``values`` (part_day, status, updated_at...)."""
    at = values.pop("updated_at", utc_now())
    start = conn.execute(text("SELECT coalesce(max(id), 0) FROM messages")).scalar_one()
    rows = [
        {
            "uid": f"t{start + i}x{values.get('part_day', 'd')}",
            "customer_id": customer_id,
            "recipient": f"r{start + i}@example.com",
            "kind": "transactional",
            "status": MessageStatus.QUEUED,
            "attempts": 0,
            "due_at": at,
            "queued_at": at,
            "updated_at": at,
            **values,
        }
        for i in range(n)
    ]
    found = conn.execute(insert(table(Message)).returning(table(Message).c.id), rows)
    return [int(i) for i in found.scalars()]


def where(conn: Connection) -> dict[int, str]:
    """Message id -> the partition that holds it."""
    rows = conn.execute(text("SELECT id, tableoid::regclass::text FROM messages"))
    return {int(i): str(p) for i, p in rows}


def folded_counts(conn: Connection) -> dict[str, int]:
    upkeep(conn, utc_now())
    rows = conn.execute(text("SELECT status, sum(n) FROM server_counts GROUP BY status"))
    return {s: int(n) for s, n in rows if n}


def message_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(text("SELECT status, count(*) FROM messages GROUP BY status"))
    return {s: int(n) for s, n in rows}
