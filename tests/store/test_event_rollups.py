"""The event rollups equal a count of the events themselves, at every window edge (SQLite).

Events are counted by the time of the send they are about (``sent_at``, else
their own ``created_at``) and by their message's sending domain. The same
checks run on PostgreSQL in tests/scale/test_event_rollups_postgres.py,
before and after a fold.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, func, select

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.store import rollups
from sendpool.store.event_rollups import event_counts, events_per_day
from sendpool.store.reports import (
    RATE_KINDS,
    NewEvent,
    SentMessage,
    events_about_sends,
    insert_event,
)
from sendpool.store.tables import (
    Campaign,
    Customer,
    DeliveryEvent,
    EventsByMinute,
    Message,
    table,
)
from sendpool.store.types import new_uid
from tests.store.test_rollups_reads import SENDS, T0, WINDOWS
from tests.support.world import seed_world

KINDS = ("hard_bounce", "reputation", "complaint", "soft_bounce", "delay")


def _message(conn: Connection, server_id: int, sent_at: datetime | None, sender: str) -> int:
    customer = conn.execute(select(Customer.id).order_by(Customer.id)).scalars().first()
    return int(
        conn.execute(
            table(Message)
            .insert()
            .values(
                uid=new_uid(),
                customer_id=customer,
                recipient=f"r-{new_uid()[:8]}@example.com",
                kind="transactional",
                status="sent",
                server_id=server_id,
                sent_at=sent_at,
                due_at=T0,
                queued_at=T0,
                updated_at=T0,
                payload={"from_email": sender},
            )
            .returning(table(Message).c.id)
        ).scalar_one()
    )


def _edge_events(conn: Connection) -> int:
    """For each offset of SENDS: a bounce that knows its send's time, and a complaint that
    does not (written at the send itself, so it counts by its own time)."""
    server_id = refs.server_id(conn, "smtp-1")
    rows = []
    for s in SENDS:
        at = T0 + timedelta(seconds=s)
        mid = _message(conn, server_id, at, "Shop@Sub.A-Tenant.Example")
        common = {"server_id": server_id, "message_id": mid, "detail": "edge"}
        rows.append({**common, "kind": "hard_bounce", "sent_at": at, "created_at": T0 + DAY})
        rows.append({**common, "kind": "complaint", "sent_at": None, "created_at": at})
    conn.execute(table(DeliveryEvent).insert(), rows)
    return server_id


DAY = timedelta(days=1)


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_events_in_a_window_are_exact_at_every_edge(
    runtime: Runtime, start: float, end: float
) -> None:
    seed_world(runtime)
    server_id = runtime.db.transaction(_edge_events)
    since, until = T0 + timedelta(seconds=start), T0 + timedelta(seconds=end)
    want = sum(1 for s in SENDS if start <= s <= end)
    got = runtime.db.transaction(event_counts, since, until, RATE_KINDS, [server_id])
    expected = {}
    if want:
        expected = {
            (server_id, "sub.a-tenant.example", "hard_bounce"): want,
            (server_id, "sub.a-tenant.example", "complaint"): want,
        }
    assert got == expected
    assert runtime.db.transaction(events_about_sends, server_id, since, until) == (want, want)


def seed_mixed_events(runtime: Runtime, seed: int, now: datetime) -> None:
    """Events of every kind over three days: of campaign mail, of transactional mail, of no
    message; with and without a send time; written several to a statement and one by one."""
    seed_world(runtime)
    rng = random.Random(seed)

    def write(conn: Connection) -> None:
        servers = [refs.server_id(conn, n) for n in ("smtp-1", "ses-1")]
        campaigns = list(conn.execute(select(Campaign.id, Campaign.customer_id)))
        senders = ("News@Big.Example", "a@b@Odd.Example", "noat", "")
        messages = []
        for _ in range(40):
            at = now - timedelta(seconds=rng.uniform(0, 3 * 86400))
            messages.append((_message(conn, rng.choice(servers), at, rng.choice(senders)), at))
        for cid, customer in campaigns:  # campaign mail: the campaign's From counts
            for _ in range(10):
                at = now - timedelta(seconds=rng.uniform(0, 2 * 86400))
                mid = conn.execute(
                    table(Message)
                    .insert()
                    .values(
                        uid=new_uid(),
                        customer_id=customer,
                        campaign_id=cid,
                        recipient=f"c-{new_uid()[:8]}@example.com",
                        kind="campaign",
                        status="sent",
                        server_id=rng.choice(servers),
                        sent_at=at,
                        due_at=at,
                        queued_at=at,
                        updated_at=at,
                    )
                    .returning(table(Message).c.id)
                ).scalar_one()
                messages.append((int(mid), at))
        batch = []
        for i in range(300):
            mid, sent = rng.choice(messages) if rng.random() < 0.9 else (None, None)
            knows = sent is not None and rng.random() < 0.7
            written = now - timedelta(seconds=rng.uniform(0, 3 * 86400))
            batch.append(
                {
                    "server_id": rng.choice([*servers, None])
                    if mid is None
                    else rng.choice(servers),
                    "message_id": mid,
                    "kind": rng.choice(KINDS),
                    "detail": "mixed",
                    "sent_at": sent if knows else None,
                    "created_at": written,
                    "dedup_key": f"mixed-{seed}-{i}",
                }
            )
        conn.execute(table(DeliveryEvent).insert(), batch[:200])  # one statement, many rows
        for row in batch[200:]:  # one by one, as reports arrive
            if row["message_id"] is None or row["server_id"] is None:
                conn.execute(table(DeliveryEvent).insert(), [row])
                continue
            m = conn.execute(select(Message).where(Message.id == row["message_id"])).one()
            message = SentMessage(
                m.id, m.uid, m.customer_id, row["server_id"], None, m.recipient, row["sent_at"]
            )
            event = NewEvent(message, row["kind"], "mixed", None, "test", None, row["dedup_key"])
            assert insert_event(conn, event, row["created_at"])

    runtime.db.transaction(write)


def truth(conn: Connection) -> list[tuple[int, str, str, datetime]]:
    """(server, domain, kind, send time) of every event with a server, from the events."""
    E = DeliveryEvent
    sender = func.coalesce(Campaign.from_email, Message.payload["from_email"].as_string())
    rows = conn.execute(
        select(E.server_id, rollups.sender_domain(conn, sender), E.kind, E.sent_at, E.created_at)
        .outerjoin(Message, Message.id == E.message_id)
        .outerjoin(Campaign, Campaign.id == Message.campaign_id)
        .where(E.server_id.is_not(None))
    )
    return [(int(s), str(d), str(k), sent or made) for s, d, k, sent, made in rows]


def assert_events_match(conn: Connection, now: datetime) -> None:
    """Every reader of the event rollups against a count of the events, in one snapshot."""
    every = truth(conn)
    assert {d for _s, d, _k, _at in every} >= {"big.example", "odd.example", "noat", ""}
    windows: list[tuple[datetime, datetime]] = [
        (now - DAY, now),
        (now - timedelta(hours=47), now - timedelta(hours=1, seconds=0.5)),
        (now.replace(second=0, microsecond=0) - DAY, now.replace(second=0, microsecond=0)),
        (now - timedelta(seconds=30), now),
    ]
    for since, until in windows:
        want: Counter[tuple[int, str, str]] = Counter(
            (s, d, k) for s, d, k, at in every if since <= at <= until and k in RATE_KINDS
        )
        assert event_counts(conn, since, until, RATE_KINDS) == dict(want), (since, until)
        delays = Counter(
            (s, d, k) for s, d, k, at in every if since <= at <= until and k == "delay"
        )
        assert event_counts(conn, since, until, ["delay"]) == dict(delays)
    first = (now - timedelta(days=2)).date()
    for server_id in {s for s, _d, _k, _at in every}:
        per_day: Counter[date] = Counter(
            at.date()
            for s, _d, k, at in every
            if s == server_id and k in ("hard_bounce", "reputation") and at.date() >= first
        )
        got = events_per_day(conn, server_id, first, ("hard_bounce", "reputation"))
        assert got == dict(per_day)


def test_the_rollups_equal_the_events_of_every_kind_and_source(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    seed_mixed_events(runtime, 7, now)
    runtime.db.transaction(assert_events_match, now)


def test_no_server_or_no_kind_reads_nothing(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    seed_mixed_events(runtime, 11, now)
    assert runtime.db.transaction(event_counts, now - DAY, now, RATE_KINDS, []) == {}
    assert runtime.db.transaction(event_counts, now - DAY, now, [], None) == {}


def test_old_minutes_are_pruned_and_the_days_stay(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    seed_mixed_events(runtime, 13, now)

    def days(conn: Connection) -> dict[int, dict[date, int]]:
        servers = conn.execute(select(func.distinct(DeliveryEvent.server_id))).scalars()
        start = date(2000, 1, 1)
        return {int(s): events_per_day(conn, int(s), start, KINDS) for s in servers if s}

    before = runtime.db.transaction(days)
    runtime.db.transaction(rollups.upkeep, now + timedelta(days=2, minutes=1))
    assert runtime.db.transaction(days) == before
    # Every event is about a send before ``now``: each minute is older than two days now.
    left = runtime.db.transaction(
        lambda c: c.execute(select(func.count()).select_from(table(EventsByMinute))).scalar_one()
    )
    assert left == 0


def rebuild_from_0018(runtime: Runtime) -> None:
    """Down to the schema before the event rollups and up again: the upgrade's backfill."""
    from alembic import command

    from sendpool.store.db import alembic_config, migrate

    engine = runtime.db.engine
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0018_retention")
    with engine.connect() as conn:
        names = set(conn.dialect.get_table_names(conn))
    assert "events_by_minute" not in names and "event_deltas" not in names
    migrate(engine)


def test_the_upgrade_counts_the_events_already_there(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    seed_mixed_events(runtime, 19, now)
    rebuild_from_0018(runtime)
    runtime.db.transaction(assert_events_match, now)
    # And the trigger the upgrade made counts what comes next.
    runtime.db.transaction(
        lambda c: c.execute(
            table(DeliveryEvent).insert(),
            [{"server_id": refs.server_id(c, "smtp-1"), "kind": "complaint", "created_at": now}],
        )
    )
    runtime.db.transaction(assert_events_match, now)
